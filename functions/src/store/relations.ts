// Reads of relations/{orderId}, and the poller's writes. Poller and trigger each update only their
// own fields, by path, so neither overwrites the other (docs/ARCHITECTURE.md#one-writer-per-field);
// the trigger's writes are in engine/records.ts.
import {
  DELETE_FIELD,
  DOCUMENT_ID,
  type DocumentData,
  type DocumentReference,
  type DocumentSnapshot,
  type Version,
} from './database';
import { store } from './db';
import type { FinishWindow } from '../model/relation';
import { FINISHES } from '../model/stage';
import { isAlreadyExists } from './errors';
import {
  newRelation,
  parseRelation,
  relationId,
  RELATIONS,
  TRANSITIONS,
  type ParsedRelation,
} from './schema';

export interface StoredRelation {
  ref: DocumentReference;
  data: DocumentData;
  /** When the document last changed: the poller uses it to notice stalled relations. */
  updateTime: Date;
  /** The same, exactly: for a write made only if nothing changed since. */
  version: Version;
  parsed: ParsedRelation;
}

export function relationRef(orderName: string): DocumentReference {
  return store().collection(RELATIONS).doc(relationId(orderName));
}

export function storedRelation(snapshot: DocumentSnapshot): StoredRelation | null {
  const data = snapshot.data();
  if (!data || !snapshot.updateTime || !snapshot.version) return null;
  return {
    ref: snapshot.ref,
    data,
    updateTime: snapshot.updateTime,
    version: snapshot.version,
    parsed: parseRelation(data, snapshot.id),
  };
}

export async function readRelation(ref: DocumentReference): Promise<StoredRelation | null> {
  return storedRelation(await ref.get());
}

/** Relation ids after `after` (exclusive) up to `upTo` (inclusive); open where absent. */
export interface IdRange {
  after?: string;
  upTo?: string;
}

/** A Firestore that ignores id order or cursors (the embedded emulator) repeats a page forever. */
function checkPage(after: string | undefined, ids: string[], full: boolean): void {
  ids.forEach((id, i) => {
    const before = full && i > 0 ? ids[i - 1] : after;
    if (before !== undefined && id <= before) {
      throw new Error(
        `active relations came back out of id order (${id} after ${before}): this Firestore does not honour orderBy(documentId()) and startAfter (the embedded emulator does not), so the poll cannot page through them`,
      );
    }
  });
}

/** Far more pages than any poll reads; more means the cursor is not moving. */
const MAX_RELATION_PAGES = 100_000;

/** O(active) reads, never O(history), and O(page) memory; needs only the automatic index. */
export async function* activeRelationPages(
  pageSize: number,
  range: IdRange = {},
): AsyncGenerator<StoredRelation[]> {
  let after = range.after;
  for (let page = 0; page < MAX_RELATION_PAGES; page++) {
    let query = store()
      .collection(RELATIONS)
      .where('active', '==', true)
      .orderBy(DOCUMENT_ID)
      .limit(pageSize);
    if (after !== undefined) query = query.startAfter(after);
    if (range.upTo !== undefined) query = query.endAt(range.upTo);
    const { docs } = await query.get();
    checkPage(
      after,
      docs.map((doc) => doc.id),
      docs.length === pageSize,
    );
    if (docs.length > 0) yield docs.flatMap((doc) => storedRelation(doc) ?? []);
    if (docs.length < pageSize) return;
    after = docs[docs.length - 1].id;
  }
  throw new Error(`active relations did not end within ${MAX_RELATION_PAGES} pages of ${pageSize}`);
}

const GET_ALL_CHUNK = 300;

export async function relationsOf(orderNames: readonly string[]): Promise<StoredRelation[]> {
  const found: StoredRelation[] = [];
  for (let i = 0; i < orderNames.length; i += GET_ALL_CHUNK) {
    const refs = orderNames.slice(i, i + GET_ALL_CHUNK).map(relationRef);
    for (const snapshot of await store().getAll(...refs)) {
      const stored = storedRelation(snapshot);
      if (stored) found.push(stored);
    }
  }
  return found;
}

/** Starts driving a NEW order; create() makes a second poll that saw it too lose quietly. */
export async function createRelation(
  orderName: string,
  customerId: string,
  at: Date,
): Promise<'created' | 'exists'> {
  try {
    await relationRef(orderName).create(newRelation(orderName, customerId, at));
    return 'created';
  } catch (error) {
    if (isAlreadyExists(error)) return 'exists';
    throw error;
  }
}

export interface Observation {
  orderStatus?: string;
  /** The order's update_time with its status: how an overwrite is told (model/overwrite.ts). */
  orderUpdateTime?: string;
  kitchenOrderStatus?: string;
  shipmentStatus?: string;
  /** Set when a look-up failed permanently, null when every look-up worked. */
  observationError?: string | null;
  /** A fault that usually heals, and for how many polls in a row (poller/observation-faults.ts). */
  observationFaults?: { code: string; message: string; count: number; since: Date } | null;
  /** The finish's send window, opened by the observation that makes it due (FinishWindowField). */
  finishWindow?: FinishWindow;
}

/**
 * `nudge` wakes the trigger for a due step (a retry, a stalled step) by touching a field only the
 * poller writes. `endWatch` ends an ended relation's watch: this observation is its last look.
 */
export async function writeObservation(
  stored: Pick<StoredRelation, 'ref' | 'version'>,
  observation: Observation,
  nudge: boolean,
  at: Date,
  endWatch = false,
): Promise<void> {
  const fields: DocumentData = { ...observation };
  if (Object.keys(observation).length > 0) fields.observedAt = at;
  if (nudge) fields.nudgedAt = at;
  if (endWatch) fields.watchUntil = DELETE_FIELD;
  // A finish window is opened once: an overlapping poll must not open a second, wider one over it.
  await stored.ref.update(
    fields,
    observation.finishWindow ? { lastUpdateTime: stored.version } : undefined,
  );
}

/** Each page's watches end before the next is read, so this stops (automatic index only). */
export async function dueWatches(now: Date, pageSize: number): Promise<StoredRelation[]> {
  const { docs } = await store()
    .collection(RELATIONS)
    .where('watchUntil', '<=', now)
    .limit(pageSize)
    .get();
  return docs.flatMap((doc) => storedRelation(doc) ?? []);
}

const HISTORY_PAGE = 200;
const MAX_HISTORY_PAGES = 1_000;

/**
 * Deletes the history once the relation is gone, never before: possible orphans are derived from
 * the attempts. What `history` names and both finishes' entries go by name, unread; a listing
 * finds the rest, normally none (docs/ARCHITECTURE.md#the-documents). Running it again is harmless.
 */
export async function deleteHistory(
  ref: DocumentReference,
  deleted: DocumentData | undefined,
): Promise<{ named: number; listed: number }> {
  const history: unknown = deleted?.history;
  const named = Array.isArray(history)
    ? [...new Set([...history.map(String), ...FINISHES.map((outcome) => `${outcome}-1`)])]
    : [];
  await Promise.all(named.map((id) => ref.collection(TRANSITIONS).doc(id).delete()));
  let listed = 0;
  for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
    const { docs } = await ref.collection(TRANSITIONS).limit(HISTORY_PAGE).get();
    await Promise.all(docs.map((doc) => doc.ref.delete()));
    listed += docs.length;
    if (docs.length < HISTORY_PAGE) return { named: named.length, listed };
  }
  throw new Error(
    `${ref.path}: its history did not end within ${MAX_HISTORY_PAGES} pages of ${HISTORY_PAGE}`,
  );
}
