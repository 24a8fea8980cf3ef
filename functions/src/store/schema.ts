// The Firestore schema: collection names, document ids, the shape of a new
// relation, and the checked reading of a stored relation back into the model.
// A hand-edited document, an unknown enum value or a malformed name is
// reported with every problem found, so the flag on the document says what
// to fix (docs/ARCHITECTURE.md#the-documents and #bad-data). A document a
// newer version wrote (schemaVersion above ours) is not read at all: its
// fields may mean something this code does not know, so it is left alone,
// never flagged (docs/OPERATIONS.md, "Schema versions").
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
/** relations/{orderId}/transitions: the history, and for the creates the claims (engine/claims.ts). */
export const TRANSITIONS = 'transitions';
export const LEASES = 'leases';
/** health/summary: the stuck-order report's counts by reason (operations/health-report.ts). */
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

/** The whole stored relation: the fields the model reads, and those only people and the store need. */
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
  /** The queryable twins of `error` and `possibleOrphans` (written with them; derived for older documents). */
  flagged: z.boolean().optional(),
  hasOpenOrphans: z.boolean().optional(),
  /** The names of its history documents, which forgetHistory deletes by name (historyFields). */
  history: z.array(z.string()).optional().catch(undefined),
  /** Read by stageSinceOf, which falls back to the step times for documents from before it. */
  stageSince: timestamp.nullish().catch(null),
  /** Checked apart (parseStored): a newer one means the rest is not read at all. */
  schemaVersion: z.int().optional().catch(undefined),
});

/**
 * A new relation document, as the poller creates it for a NEW order: nothing
 * created yet, the poller's first observation, the trigger's fields empty.
 */
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

/** Absent means 1: documents from before the field. */
const SchemaVersion = z
  .int(expected('an integer from 1'))
  .min(1, expected('an integer from 1'))
  .default(1);

/**
 * Reads a stored document of a relation with `schema`; `id` is its document id, which must be
 * its order's. Every problem is reported, the schema version's among them.
 */
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

/** Reads a stored relation; `id` is its document id, which must be its order's. */
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

/** Reads a whole stored relation; a field of the wrong kind is a problem, as in parseRelation. */
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
