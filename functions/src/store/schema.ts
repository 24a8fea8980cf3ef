// The Firestore schema: collection names, document ids, the shape of a new
// relation, and the checked reading of a stored relation back into the model.
// A hand-edited document, an unknown enum value or a malformed name is
// reported with every problem found, so the flag on the document says what
// to fix (docs/ARCHITECTURE.md#the-documents and #bad-data). A document a
// newer version wrote (schemaVersion above ours) is not read at all: its
// fields may mean something this code does not know, so it is left alone,
// never flagged (docs/OPERATIONS.md, "Schema versions").
import { describeValue, toDate, type Parsed } from '../model/fields';
import {
  isOrderName,
  isResourceName,
  nameFormat,
  orderId,
  type ResourceKind,
} from '../model/names';
import {
  isFlagged,
  openOrphans,
  type CreateStep,
  type LateUpdate,
  type OrphanResolution,
  type PossibleOrphan,
  type Relation,
  type StepError,
} from '../model/relation';
import { isStage, isTerminal, type Outcome } from '../model/stage';
import { isKitchenOrderStatus, isOrderStatus, isShipmentStatus } from '../model/statuses';
import { isUpdateTime } from '../model/update-time';
import type { DocumentData, DocumentSnapshot } from './database';

export const RELATIONS = 'relations';
/** relations/{orderId}/transitions: the history, and for the creates the claims (store/claims.ts). */
export const TRANSITIONS = 'transitions';
export const LEASES = 'leases';
/** health/summary: the stuck-order report's counts by reason (orchestration/health-report.ts). */
export const HEALTH = 'health';
export const HEALTH_SUMMARY = 'summary';

/** The document id of an order's relation. */
export const relationId = orderId;

/**
 * The shape of the relations this code writes. Raise it only when a change
 * would make older code misread a document; older code then leaves such
 * documents alone. Documents without the field predate it and are version 1.
 */
export const SCHEMA_VERSION = 1;

/**
 * The field a Firestore TTL policy on the `relations` and `transitions`
 * collection groups deletes by (docs/OPERATIONS.md, "Retention"). Only
 * finished relations and their history carry it.
 */
export const EXPIRE_AT = 'expireAt';

const DAY_MS = 86_400_000;

/** When a relation finished at `finishedAt` may be deleted, RETENTION_DAYS later. */
export function expiryFor(finishedAt: Date, retentionDays: number): Date {
  return new Date(finishedAt.getTime() + retentionDays * DAY_MS);
}

/**
 * A new relation document, as the poller creates it for a NEW order: nothing
 * created yet, the poller's first observation, the trigger's fields empty.
 */
export function newRelation(order: string, customerId: string, at: Date): DocumentData {
  return {
    schemaVersion: SCHEMA_VERSION,
    order,
    customerId,
    stage: 'NEW',
    active: true,
    outcome: null,
    orderStatus: 'NEW',
    kitchenOrder: null,
    kitchenOrderStatus: null,
    shipment: null,
    shipmentStatus: null,
    error: null,
    flagged: false,
    observationError: null,
    possibleOrphans: [],
    hasOpenOrphans: false,
    history: [],
    createdAt: at,
    stageSince: at,
    observedAt: at,
    advancedAt: null,
  };
}

/** When the relation entered its stage; documents from before `stageSince` existed fall back to the step times. */
export function stageSinceOf(data: DocumentData): Date | null {
  return toDate(data.stageSince) ?? toDate(data.advancedAt) ?? toDate(data.createdAt);
}

/** A relation as read: `newerSchema` is set when a newer version wrote it, and then nothing else was read. */
export type ParsedRelation =
  { ok: true; value: Relation } | { ok: false; problems: string[]; newerSchema?: number };

/** Whether a newer version of the orchestrator wrote this relation: it is then left alone. */
export function isNewerSchema(
  parsed: ParsedRelation,
): parsed is { ok: false; problems: string[]; newerSchema: number } {
  return !parsed.ok && parsed.newerSchema !== undefined;
}

/** Reads a stored relation; `id` is its document id, which must be its order's. */
export function parseRelation(data: DocumentData, id: string): ParsedRelation {
  const problems: string[] = [];
  const version: unknown = data.schemaVersion ?? 1;
  if (!Number.isInteger(version) || (version as number) < 1) {
    problems.push(
      `schemaVersion: expected an integer from 1, got ${describeValue(data.schemaVersion)}`,
    );
  } else if ((version as number) > SCHEMA_VERSION) {
    return {
      ok: false,
      newerSchema: version as number,
      problems: [
        `schemaVersion: ${String(version)} is newer than this code's ${SCHEMA_VERSION}; left alone for the version that wrote it`,
      ],
    };
  }

  const name = (
    field: 'order' | 'kitchenOrder' | 'shipment',
    kind: ResourceKind,
    optional: boolean,
  ): string | null => {
    const value: unknown = data[field];
    if ((value === null || value === undefined) && optional) return null;
    if (isResourceName(kind, value)) return value;
    problems.push(
      `${field}: expected ${optional ? 'null or ' : ''}"${nameFormat(kind)}", got ${describeValue(value)}`,
    );
    return null;
  };
  const status = <T extends string>(
    field: string,
    check: (v: unknown) => v is T,
    optional: boolean,
  ): T | null => {
    const value: unknown = data[field];
    if ((value === null || value === undefined) && optional) return null;
    if (check(value)) return value;
    problems.push(`${field}: unknown status ${describeValue(value)}`);
    return null;
  };

  const order = name('order', 'order', false);
  if (order !== null && isOrderName(order) && orderId(order) !== id) {
    problems.push(
      `order: ${order} is not the order of relation ${id} (its id must be the order's)`,
    );
  }
  const stage = isStage(data.stage)
    ? data.stage
    : (problems.push(`stage: unknown stage ${describeValue(data.stage)}`), null);
  const orderStatus = status('orderStatus', isOrderStatus, false);
  const kitchenOrder = name('kitchenOrder', 'kitchenOrder', true);
  const kitchenOrderStatus = status('kitchenOrderStatus', isKitchenOrderStatus, true);
  const shipment = name('shipment', 'shipment', true);
  const shipmentStatus = status('shipmentStatus', isShipmentStatus, true);
  const error = parseStepError(data.error, problems);
  const observationError = data.observationError ?? null;
  if (observationError !== null && typeof observationError !== 'string') {
    problems.push(
      `observationError: expected null or a message, got ${describeValue(observationError)}`,
    );
  }
  const possibleOrphans = parsePossibleOrphans(data.possibleOrphans, problems);
  const updateTime = (field: 'knownUpdateTime' | 'orderUpdateTime'): string | null => {
    const value: unknown = data[field] ?? null;
    if (value === null || isUpdateTime(value)) return value;
    problems.push(`${field}: expected null or an RFC 3339 time, got ${describeValue(value)}`);
    return null;
  };
  const knownUpdateTime = updateTime('knownUpdateTime');
  const orderUpdateTime = updateTime('orderUpdateTime');
  const lateUpdates = parseLateUpdates(data.lateUpdates, problems);

  if (problems.length > 0 || order === null || stage === null || orderStatus === null)
    return { ok: false, problems };
  return {
    ok: true,
    value: {
      id,
      order,
      stage,
      orderStatus,
      kitchenOrder,
      kitchenOrderStatus,
      shipment,
      shipmentStatus,
      error,
      observationError: typeof observationError === 'string' ? observationError : null,
      possibleOrphans,
      knownUpdateTime,
      orderUpdateTime,
      lateUpdates,
    },
  };
}

function parseStepError(value: unknown, problems: string[]): StepError | null {
  if (value === null || value === undefined) return null;
  const e = (typeof value === 'object' && !Array.isArray(value) ? value : {}) as Partial<
    Record<keyof StepError, unknown>
  >;
  const at = toDate(e.at);
  const retryAt = e.retryAt === null || e.retryAt === undefined ? null : toDate(e.retryAt);
  const valid =
    typeof e.message === 'string' &&
    typeof e.transient === 'boolean' &&
    at !== null &&
    (e.retryAt === null || e.retryAt === undefined || retryAt !== null) &&
    (e.failures === undefined || (Number.isInteger(e.failures) && (e.failures as number) >= 1)) &&
    (e.step === undefined || typeof e.step === 'string') &&
    (e.code === undefined || typeof e.code === 'string');
  if (!valid) {
    problems.push(
      'error: expected null or {step, code, message, transient, failures >= 1, at: timestamp, retryAt: timestamp or null}',
    );
    return null;
  }
  return {
    step: (e.step ?? 'document') as StepError['step'],
    code: (e.code as string | undefined) ?? 'UNKNOWN',
    message: e.message as string,
    transient: e.transient as boolean,
    failures: (e.failures as number | undefined) ?? 1,
    at: at as Date,
    retryAt,
  };
}

/**
 * The whole stored relation, typed: the model's Relation plus the fields
 * only the store and the people reading it need (who it is for, whether it
 * is still polled, and when things happened).
 */
export interface RelationDocument extends Relation {
  customerId: string;
  active: boolean;
  outcome: Outcome | null;
  createdAt: Date;
  observedAt: Date | null;
  nudgedAt: Date | null;
  advancedAt: Date | null;
  /** The queryable twins of `error` and `possibleOrphans` (written with them; derived for older documents). */
  flagged: boolean;
  hasOpenOrphans: boolean;
  stageSince: Date | null;
}

/** Reads a whole stored relation; a field of the wrong kind is a problem, as in parseRelation. */
export function parseRelationDocument(data: DocumentData, id: string): Parsed<RelationDocument> {
  const relation = parseRelation(data, id);
  const problems = relation.ok ? [] : [...relation.problems];
  const time = (field: string, optional: boolean): Date | null => {
    const value: unknown = data[field];
    if ((value === null || value === undefined) && optional) return null;
    const date = toDate(value);
    if (!date)
      problems.push(
        `${field}: expected ${optional ? 'null or ' : ''}a timestamp, got ${describeValue(value)}`,
      );
    return date;
  };
  const createdAt = time('createdAt', false);
  const observedAt = time('observedAt', true);
  const nudgedAt = time('nudgedAt', true);
  const advancedAt = time('advancedAt', true);
  if (typeof data.customerId !== 'string')
    problems.push(`customerId: expected a string, got ${describeValue(data.customerId)}`);
  if (typeof data.active !== 'boolean')
    problems.push(`active: expected true or false, got ${describeValue(data.active)}`);
  const outcome: unknown = data.outcome ?? null;
  if (outcome !== null && !(isStage(outcome) && isTerminal(outcome)))
    problems.push(`outcome: expected null or a final stage, got ${describeValue(outcome)}`);
  if (!relation.ok || problems.length > 0 || !createdAt) return { ok: false, problems };
  return {
    ok: true,
    value: {
      ...relation.value,
      customerId: data.customerId as string,
      active: data.active as boolean,
      outcome: outcome as Outcome | null,
      createdAt,
      observedAt,
      nudgedAt,
      advancedAt,
      flagged: typeof data.flagged === 'boolean' ? data.flagged : isFlagged(relation.value),
      hasOpenOrphans:
        typeof data.hasOpenOrphans === 'boolean'
          ? data.hasOpenOrphans
          : openOrphans(relation.value).length > 0,
      stageSince: stageSinceOf(data),
    },
  };
}

const CREATE_STEPS: readonly string[] = [
  'createKitchenOrder',
  'createShipment',
] satisfies CreateStep[];

function parseLateUpdates(value: unknown, problems: string[]): LateUpdate[] {
  if (value === undefined || value === null) return [];
  const parsed = Array.isArray(value)
    ? value.map((u: unknown) => {
        const entry = (typeof u === 'object' && u !== null ? u : {}) as Record<string, unknown>;
        const sentAt = toDate(entry.sentAt);
        const heldAfter = toDate(entry.heldAfter);
        return isOrderStatus(entry.status) && sentAt && heldAfter
          ? { status: entry.status, sentAt, heldAfter }
          : null;
      })
    : null;
  if (!parsed || parsed.some((u) => u === null)) {
    problems.push(
      'lateUpdates: expected a list of {status, sentAt: timestamp, heldAfter: timestamp}',
    );
    return [];
  }
  return parsed as LateUpdate[];
}

/** The stored notes, read back; a malformed list is a problem, and reads as none. */
export function parsePossibleOrphans(value: unknown, problems: string[]): PossibleOrphan[] {
  if (value === undefined || value === null) return [];
  const notes = Array.isArray(value) ? value : null;
  const parsed = notes?.map((note: unknown): PossibleOrphan | null => {
    const n = (typeof note === 'object' && note !== null ? note : {}) as Record<string, unknown>;
    const claimedAt = toDate(n.claimedAt);
    const resolution = parseResolution(n.resolution);
    const ok =
      resolution !== undefined &&
      typeof n.step === 'string' &&
      CREATE_STEPS.includes(n.step) &&
      Number.isInteger(n.attempt) &&
      (n.name === null || n.name === undefined || typeof n.name === 'string') &&
      claimedAt !== null &&
      typeof n.reason === 'string';
    return ok
      ? {
          step: n.step as CreateStep,
          attempt: n.attempt as number,
          name: (n.name as string | null | undefined) ?? null,
          claimedAt: claimedAt as Date,
          eventId: String(n.eventId ?? ''),
          reason: n.reason as string,
          resolution: resolution ?? null,
        }
      : null;
  });
  if (!parsed || parsed.some((note) => note === null)) {
    problems.push(
      'possibleOrphans: expected a list of {step, attempt, name, claimedAt: timestamp, eventId, reason, resolution: null or {by, note, at: timestamp}}',
    );
    return [];
  }
  return parsed as PossibleOrphan[];
}

/** A person's resolution as read back: null when absent, undefined when malformed. Resolutions from before names were kept with them count for no name. */
export function parseResolution(value: unknown): OrphanResolution | null | undefined {
  if (value === null || value === undefined) return null;
  const r = (typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const at = toDate(r.at);
  const name = r.name ?? null;
  if (
    typeof r.by !== 'string' ||
    typeof r.note !== 'string' ||
    at === null ||
    (name !== null && typeof name !== 'string')
  )
    return undefined;
  return { by: r.by, note: r.note, at, name };
}

/** A possible orphan note as stored. */
export function storedOrphan(orphan: PossibleOrphan): DocumentData {
  const { resolution } = orphan;
  return {
    ...orphan,
    claimedAt: orphan.claimedAt,
    resolution: resolution ? { ...resolution } : null,
  };
}

/** A step error as stored. */
export function storedError(error: StepError): DocumentData {
  return { ...error };
}

/**
 * The error and the queryable `flagged` beside it, always written together,
 * so `flagged == true` finds exactly the relations whose error waits for a
 * person (docs/ARCHITECTURE.md, "The documents").
 */
export function errorFields(error: StepError | null): DocumentData {
  return { error: error ? storedError(error) : null, flagged: isFlagged({ error }) };
}

/** The orphan notes and the queryable `hasOpenOrphans` beside them, always written together. */
export function orphanFields(orphans: readonly PossibleOrphan[]): DocumentData {
  return {
    possibleOrphans: orphans.map(storedOrphan),
    hasOpenOrphans: openOrphans({ possibleOrphans: [...orphans] }).length > 0,
  };
}

/**
 * The relation's `history` with `ids` added: the names of its history
 * documents, so that forgetHistory deletes them by name instead of listing
 * them. A relation written before the list existed keeps none, and is listed.
 */
export function historyFields(
  relation: Pick<DocumentSnapshot, 'get'>,
  ids: readonly string[],
): DocumentData {
  const known: unknown = relation.get('history');
  if (!Array.isArray(known)) return {};
  const fresh = ids.filter((id) => !known.includes(id));
  return fresh.length ? { history: [...(known as string[]), ...fresh] } : {};
}

/** Late updates kept on a relation: enough to tell a person, never unbounded. */
const MAX_LATE_UPDATES = 10;

/** The relation's lateUpdates with `added` appended, for its update; nothing when none were added. */
export function lateUpdateFields(
  relation: Pick<DocumentSnapshot, 'data' | 'id'>,
  added: readonly LateUpdate[] | undefined,
): DocumentData {
  if (!added?.length) return {};
  const stored = parseRelation(relation.data() ?? {}, relation.id);
  const earlier = stored.ok ? stored.value.lateUpdates : [];
  // One entry per send; the same send seen again with a wider window (a finish taken over) keeps the wider.
  const key = (u: LateUpdate) => `${u.status}@${u.sentAt.getTime()}`;
  const merged = new Map(earlier.map((u) => [key(u), u]));
  let changed = false;
  for (const update of added) {
    const known = merged.get(key(update));
    if (known && known.heldAfter >= update.heldAfter) continue;
    merged.set(key(update), update);
    changed = true;
  }
  return changed ? { lateUpdates: [...merged.values()].slice(-MAX_LATE_UPDATES) } : {};
}
