// The Firestore schema, and the checked reading of a stored relation: every problem is named, so
// the flag says what to fix (docs/ARCHITECTURE.md#bad-data). A newer schemaVersion's document is
// left unread: it may mean what this code does not know (docs/OPERATIONS.md#schema-versions).
import { z } from 'zod';

import { expected, orNull, problemsOf, timestamp, toDate, type Parsed } from '../model/fields';
import { isOrderName, orderId } from '../model/names';
import {
  isFlagged,
  openOrphans,
  RelationFields,
  type LateUpdate,
  type PossibleOrphan,
  type Relation,
  type StepError,
} from '../model/relation';
import { isStage, isTerminal, type Outcome } from '../model/stage';
import type { DocumentData, DocumentSnapshot } from './database';

export const RELATIONS = 'relations';
/** relations/{orderId}/transitions: the history, and the creates' claims (engine/claims.ts). */
export const TRANSITIONS = 'transitions';
export const LEASES = 'leases';
/** health/summary: the stuck-order report's counts by reason (operations/health-report.ts). */
export const HEALTH = 'health';
export const HEALTH_SUMMARY = 'summary';

export const relationId = orderId;

/** Raise it only if older code would misread new documents: older code leaves those alone. */
export const SCHEMA_VERSION = 1;

/** The field a Firestore TTL policy deletes relations by (docs/OPERATIONS.md, "Retention"). */
export const EXPIRE_AT = 'expireAt';

const DAY_MS = 86_400_000;

export function expiryFor(finishedAt: Date, retentionDays: number): Date {
  return new Date(finishedAt.getTime() + retentionDays * DAY_MS);
}

/** The whole stored relation: the model's fields, and those only people and the store need. */
const RelationDocumentFields = RelationFields.extend({
  customerId: z.string(expected('a string')),
  /** Still polled. */
  active: z.boolean(expected('true or false')),
  outcome: orNull(
    z.custom<Outcome>((v) => isStage(v) && isTerminal(v), expected('null or a final stage')),
  ),
  createdAt: timestamp,
  observedAt: orNull(timestamp),
  nudgedAt: orNull(timestamp),
  advancedAt: orNull(timestamp),
  /** Queryable twins of `error` and `possibleOrphans`, written with them (derived if absent). */
  flagged: z.boolean().optional(),
  hasOpenOrphans: z.boolean().optional(),
  /** The names of its history documents, which forgetHistory deletes by name (historyFields). */
  history: z.array(z.string()).optional().catch(undefined),
  stageSince: timestamp.nullish().catch(null),
  /** Checked apart (parseStored): a newer one means the rest is not read at all. */
  schemaVersion: z.int().optional().catch(undefined),
});

export function newRelation(order: string, customerId: string, at: Date): DocumentData {
  const relation: z.input<typeof RelationDocumentFields> = {
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
  return relation;
}

/** When the relation entered its stage; documents from before `stageSince` use the step times. */
export function stageSinceOf(data: DocumentData): Date | null {
  return toDate(data.stageSince) ?? toDate(data.advancedAt) ?? toDate(data.createdAt);
}

/** `newerSchema`: a newer version wrote it, and nothing else was read. */
export type ParsedRelation =
  { ok: true; value: Relation } | { ok: false; problems: string[]; newerSchema?: number };

export function isNewerSchema(
  parsed: ParsedRelation,
): parsed is { ok: false; problems: string[]; newerSchema: number } {
  return !parsed.ok && parsed.newerSchema !== undefined;
}

/** Absent means 1: documents from before the field. */
const SchemaVersion = z
  .int(expected('an integer from 1'))
  .min(1, expected('an integer from 1'))
  .default(1);

/** `id`, the document id, must be its order's; every problem is reported, the version's too. */
function parseStored<T extends z.ZodType<{ order: string }>>(
  schema: T,
  data: DocumentData,
  id: string,
): { ok: true; value: z.output<T> } | { ok: false; problems: string[]; newerSchema?: number } {
  const version = SchemaVersion.safeParse(data.schemaVersion);
  if (version.success && version.data > SCHEMA_VERSION) {
    return {
      ok: false,
      newerSchema: version.data,
      problems: [
        `schemaVersion: ${version.data} is newer than this code's ${SCHEMA_VERSION}; left alone for the version that wrote it`,
      ],
    };
  }
  const problems = version.success
    ? []
    : problemsOf(version.error).map((p) => `schemaVersion: ${p}`);
  if (isOrderName(data.order) && orderId(data.order) !== id)
    problems.push(
      `order: ${data.order} is not the order of relation ${id} (its id must be the order's)`,
    );
  const parsed = schema.safeParse(data);
  if (!parsed.success) problems.push(...problemsOf(parsed.error));
  return parsed.success && problems.length === 0
    ? { ok: true, value: parsed.data }
    : { ok: false, problems };
}

export function parseRelation(data: DocumentData, id: string): ParsedRelation {
  const parsed = parseStored(RelationFields, data, id);
  return parsed.ok ? { ok: true, value: { id, ...parsed.value } } : parsed;
}

export type RelationDocument = Relation &
  Omit<z.output<typeof RelationDocumentFields>, 'flagged' | 'hasOpenOrphans'> & {
    flagged: boolean;
    hasOpenOrphans: boolean;
    stageSince: Date | null;
  };

export function parseRelationDocument(data: DocumentData, id: string): Parsed<RelationDocument> {
  const parsed = parseStored(RelationDocumentFields, data, id);
  if (!parsed.ok) return { ok: false, problems: parsed.problems };
  const relation = { id, ...parsed.value };
  return {
    ok: true,
    value: {
      ...relation,
      flagged: relation.flagged ?? isFlagged(relation),
      hasOpenOrphans: relation.hasOpenOrphans ?? openOrphans(relation).length > 0,
      stageSince: stageSinceOf(data),
    },
  };
}

/** The stored notes, read back; a malformed list reads as none. */
export function parsePossibleOrphans(value: unknown): PossibleOrphan[] {
  return RelationFields.shape.possibleOrphans.safeParse(value).data ?? [];
}

export function storedOrphan(orphan: PossibleOrphan): DocumentData {
  const { resolution } = orphan;
  return {
    ...orphan,
    claimedAt: orphan.claimedAt,
    resolution: resolution ? { ...resolution } : null,
  };
}

/** `error` with its queryable `flagged`, always together, so `flagged == true` finds every flag. */
export function errorFields(error: StepError | null): DocumentData {
  return { error: error ? { ...error } : null, flagged: isFlagged({ error }) };
}

/** `history` plus `ids`, so forgetHistory deletes by name; one from before the list keeps none. */
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

export function lateUpdateFields(
  relation: Pick<DocumentSnapshot, 'data' | 'id'>,
  added: readonly LateUpdate[] | undefined,
): DocumentData {
  if (!added?.length) return {};
  const stored = parseRelation(relation.data() ?? {}, relation.id);
  const earlier = stored.ok ? stored.value.lateUpdates : [];
  // One entry per send; one seen again with a wider window (a finish taken over) keeps the wider.
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
