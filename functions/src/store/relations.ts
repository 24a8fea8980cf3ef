// Reads and writes of relations/{orderId}. The poller writes the statuses it
// observed; the trigger writes progress (stage, names, outcome, errors,
// orphan notes). Each side updates only its own fields, by field path, so
// neither overwrites the other. The trigger's writes are fenced: a
// transaction checks that the relation is still at the stage the step
// started from (and, for a create, that the step's claim is still this
// attempt's) before it writes, so a late or duplicate attempt changes
// nothing but its own note (docs/ARCHITECTURE.md#one-writer-per-field). The write that finishes a relation also gives it
// and its whole history `expireAt`, in the same transaction, so a TTL policy
// deletes them together and never anything still active.
import { stepFrom } from '../model/orphans';
import type { CreateStep, LateUpdate, Step, StepError } from '../model/relation';
import { FINISHES, isStage, isTerminal, type Finish, type Stage } from '../model/stage';
import type { KitchenOrderStatusName, ShipmentStatusName } from '../model/statuses';
import { readAttempts, readInTransaction, type Attempt, type HeldClaim } from './claims';
import {
  DELETE_FIELD,
  DOCUMENT_ID,
  type DocumentData,
  type DocumentReference,
  type DocumentSnapshot,
  type Transaction,
} from './database';
import { store } from './db';
import { isAlreadyExists } from './errors';
import {
  errorFields,
  EXPIRE_AT,
  historyFields,
  lateUpdateFields,
  newRelation,
  parseRelation,
  relationId,
  RELATIONS,
  TRANSITIONS,
  type ParsedRelation,
} from './schema';
import { toDate } from '../model/fields';
import { settle } from './settle';

export interface StoredRelation {
  ref: DocumentReference;
  data: DocumentData;
  /** When the document last changed: the poller uses it to notice stalled relations. */
  updateTime: Date;
  parsed: ParsedRelation;
}

export function relationRef(orderName: string): DocumentReference {
  return store().collection(RELATIONS).doc(relationId(orderName));
}

/** A relation as read, with its parse; null for a missing document. */
export function storedRelation(snapshot: DocumentSnapshot): StoredRelation | null {
  const data = snapshot.data();
  if (!data || !snapshot.updateTime) return null;
  return {
    ref: snapshot.ref,
    data,
    updateTime: snapshot.updateTime,
    parsed: parseRelation(data, snapshot.id),
  };
}

export async function readRelation(ref: DocumentReference): Promise<StoredRelation | null> {
  return storedRelation(await ref.get());
}

/** A range of relation ids: after `after` (exclusive) up to `upTo` (inclusive); open where absent. */
export interface IdRange {
  after?: string;
  upTo?: string;
}

/** How many relations are active: an aggregation, billed one read per thousand. */
export async function countActiveRelations(): Promise<number> {
  return store().collection(RELATIONS).where('active', '==', true).count();
}

/**
 * A page must come after its cursor and, when another page follows, in id
 * order, since its last id is the next cursor. A Firestore that ignores
 * either (the embedded emulator ignores both) would hand the same page back
 * forever: fail loudly instead.
 */
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

/**
 * The relations the orchestrator is still driving, in `range`, a page at a
 * time in id order: O(active) reads, never O(history), and O(page) memory.
 * `active == true` with the document id as the order needs only the
 * automatic single-field index.
 */
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

/** The relations of these orders that exist, read in batches. */
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

/** Starts driving a NEW order. create() makes a second poll that saw the same order lose quietly. */
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

/** What the poller writes: the statuses it saw, and whether a look-up failed for good. */
export interface Observation {
  orderStatus?: string;
  /** The order's update_time with its status: how an overwrite is told (model/overwrite.ts). */
  orderUpdateTime?: string;
  kitchenOrderStatus?: string;
  shipmentStatus?: string;
  /** Set when a look-up failed permanently, null when every look-up worked. */
  observationError?: string | null;
  /** Polls in a row whose look-ups failed with a fault that usually heals (orchestration/observation-faults.ts), or null. */
  observationFaults?: { code: string; message: string; count: number; since: Date } | null;
}

/**
 * The poller's write of what it observed. `nudge` asks the trigger to look
 * again at a relation whose step is due (a retry after backoff, or a stalled
 * step) by touching a field only the poller writes. `endWatch` ends an ended
 * relation's watch for late writes: its last look is in this observation.
 */
export async function writeObservation(
  ref: DocumentReference,
  observation: Observation,
  nudge: boolean,
  at: Date,
  endWatch = false,
): Promise<void> {
  const fields: DocumentData = { ...observation };
  if (Object.keys(observation).length > 0) fields.observedAt = at;
  if (nudge) fields.nudgedAt = at;
  if (endWatch) fields.watchUntil = DELETE_FIELD;
  await ref.update(fields);
}

/**
 * Ended relations whose watch for late writes is due, a page at a time:
 * each page's watches are ended before the next is read, so this stops.
 * `watchUntil` alone needs only the automatic single-field index.
 */
export async function dueWatches(now: Date, pageSize: number): Promise<StoredRelation[]> {
  const { docs } = await store()
    .collection(RELATIONS)
    .where('watchUntil', '<=', now)
    .limit(pageSize)
    .get();
  return docs.flatMap((doc) => storedRelation(doc) ?? []);
}

export interface Made {
  field: 'kitchenOrder' | 'shipment';
  name: string;
  status: KitchenOrderStatusName | ShipmentStatusName | null;
}

/** A step carried out, to be recorded on the relation. */
export interface Progress {
  step: Step;
  from: Stage;
  to: Stage;
  eventId: string;
  /** For a create: the claim under which it ran; the record is refused if another attempt took over. */
  claim?: HeldClaim;
  /** The kitchen order or shipment the step made (or adopted), with the status its create returned. */
  made?: Made;
  /** The order's update_time at which the step knew its status: its update's reply, or the look it acted on. */
  knownUpdateTime?: string | null;
  /** UpdateOrders the step sent whose outcome is unknown: recorded even when the step is fenced out. */
  lateUpdates?: readonly LateUpdate[];
  /** Closing a flagged relation keeps the flag for a person to read. */
  keepError?: boolean;
  /** The step wrote its history entry before its update (a finish): it is not read again. */
  entryWritten?: boolean;
  /**
   * How long after a relation ends its order is looked at once more, for a
   * late write of ours (docs/ARCHITECTURE.md#late-writes): every path that
   * ends a relation sets `watchUntil` from it.
   */
  lateWriteWatchMs: number;
  /** RETENTION_DAYS: how long a relation this step finishes is kept. */
  retentionDays: number;
}

/** The attempts a transaction must read to settle a relation leaving `from` (and a claim's own step). */
async function attemptsFor(
  tx: Transaction,
  ref: DocumentReference,
  steps: Array<CreateStep | null | undefined>,
): Promise<Partial<Record<CreateStep, Attempt[]>>> {
  const attempts: Partial<Record<CreateStep, Attempt[]>> = {};
  for (const step of new Set(steps)) {
    if (!step) continue;
    const read = await readAttempts(readInTransaction(tx), ref, step);
    // A malformed attempt is the trigger's to flag (claims.ts): the notes are then left as they are.
    if (typeof read !== 'string') attempts[step] = read;
  }
  return attempts;
}

/**
 * Records a step, fenced: only if the relation is still at `from` and, for a
 * create, its claim is still this attempt's and the latest. The relation's
 * possible orphans and expiry are settled in the same transaction. A step
 * fenced out changes nothing but what it alone knows: its own attempt's
 * notes, and its updates that may still land.
 */
export async function recordProgress(
  ref: DocumentReference,
  progress: Progress,
  at: Date,
): Promise<'recorded' | 'fenced'> {
  const { claim } = progress;
  // A create's claim document is its history; the other steps get one entry, written once (a finish writes it before its update).
  const entry = stepEntryRef(ref, progress.to);
  return store().runTransaction(async (tx) => {
    const relation = await tx.get(ref);
    if (!relation.exists) return 'fenced';
    const attempts = await attemptsFor(tx, ref, [stepFrom(progress.from), claim?.step]);
    const existing = claim || progress.entryWritten ? undefined : await tx.get(entry);
    const own = claim ? attempts[claim.step]?.find((a) => a.attempt === claim.attempt) : undefined;
    const stillHeld =
      !claim ||
      (own?.holder === claim.holder &&
        own.failure === null &&
        attempts[claim.step]?.length === claim.attempt);
    const late = lateUpdateFields(relation, progress.lateUpdates);
    // A flag raised while the step ran (by the trigger or the poller) waits for a person: the step does not clear it.
    const flaggedSince =
      !progress.keepError &&
      (relation.get('error') as { transient?: unknown } | null | undefined)?.transient === false;
    if (relation.get('stage') === progress.from && stillHeld && !flaggedSince) {
      const entries = [
        ...Object.values(attempts).flatMap((read) => read.map((a) => a.ref.id)),
        ...(claim ? [] : [entry.id]),
      ];
      const update = {
        ...progressFields(progress, at),
        ...late,
        ...historyFields(relation, entries),
      };
      if (claim && own && progress.to === 'CANCELLED') {
        // The claim says why its step stopped; what it made is recorded on the relation with the cancel.
        const failure = {
          code: 'CANCELLED',
          message: 'the customer cancelled the order; the step stopped',
          transient: false,
          ambiguous: false,
        };
        tx.update(claim.ref, { failure, releasedAt: at });
        attempts[claim.step] = attempts[claim.step]?.map((a) =>
          a === own ? { ...a, failure } : a,
        );
      }
      tx.update(
        ref,
        settle({ relation, update, attempts, at, retentionDays: progress.retentionDays }) ?? update,
      );
      if (existing && !existing.exists) {
        tx.create(entry, {
          step: progress.step,
          from: progress.from,
          to: progress.to,
          attempt: 1,
          eventId: progress.eventId,
          claimedAt: at,
        });
      }
      return 'recorded';
    }
    const fenced = settle({
      relation,
      update: late,
      attempts,
      at,
      retentionDays: progress.retentionDays,
    });
    if (fenced) tx.update(ref, fenced);
    return 'fenced';
  });
}

/** The history entry of a step that is not a create: one per stage it leads to. */
function stepEntryRef(relation: DocumentReference, to: Stage): DocumentReference {
  return relation.collection(TRANSITIONS).doc(`${to}-1`);
}

/**
 * Writes the finishing step's history entry before its UpdateOrder, with the
 * end of the window in which that may be sent. A finisher that dies leaves
 * the entry behind: the next one is told what the earlier one may have sent,
 * an update that may still land, and goes on in the window on record, which
 * it moves on only before a send of its own (a wider window written without
 * one would pass the earlier update's late landing off as its own).
 */
export async function announceFinish(
  ref: DocumentReference,
  step: { from: Stage; to: Finish; eventId: string },
  at: Date,
  sendUntil: Date,
  late: { heldAfter: (sendUntil: Date) => Date; invocationMs: number },
): Promise<{ sendUntil: Date; earlier: LateUpdate | null }> {
  const entry = stepEntryRef(ref, step.to);
  try {
    await entry.create({ step: 'finish', ...step, attempt: 1, claimedAt: at, sendUntil });
    return { sendUntil, earlier: null };
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  const earlier = await entry.get();
  const claimedAt = toDate(earlier.get('claimedAt')) ?? at;
  // An entry from a version without send windows: its finisher may have sent until its invocation's timeout.
  const until =
    toDate(earlier.get('sendUntil')) ?? new Date(claimedAt.getTime() + late.invocationMs);
  return {
    sendUntil: until,
    earlier: { status: step.to, sentAt: claimedAt, heldAfter: late.heldAfter(until) },
  };
}

/**
 * Moves a finish's send window on, before an UpdateOrder that would fall past
 * it. Not fenced, unlike a claim's: finishers side by side (a duplicate event)
 * only widen each other's windows, which can cost a false alarm, never a miss.
 */
export async function extendFinishWindow(
  ref: DocumentReference,
  to: Finish,
  sendUntil: Date,
): Promise<void> {
  await stepEntryRef(ref, to).update({ sendUntil });
}

/**
 * A live relation must never carry expireAt, or a TTL policy would delete it
 * mid-flight. Nothing in the orchestrator makes a finished relation active
 * again, but a hand edit or a restore can: this removes it, fenced on the stage.
 */
export async function clearExpiry(ref: DocumentReference, stage: Stage): Promise<boolean> {
  return store().runTransaction(async (tx) => {
    const relation = await tx.get(ref);
    if (
      !relation.exists ||
      relation.get('stage') !== stage ||
      relation.get(EXPIRE_AT) === undefined
    )
      return false;
    tx.update(ref, { [EXPIRE_AT]: DELETE_FIELD });
    return true;
  });
}

function progressFields(progress: Progress, at: Date): DocumentData {
  const terminal = isTerminal(progress.to);
  const fields: DocumentData = {
    stage: progress.to,
    active: !terminal,
    outcome: terminal ? progress.to : null,
    advancedAt: at,
    // Recorded steps always change the stage (they are fenced on `from`).
    stageSince: at,
  };
  if (!progress.keepError) Object.assign(fields, errorFields(null));
  if (progress.made) {
    // The status the create returned (null when adopted); the poller keeps it
    // current from here on, and cannot have written it before: it only
    // observes what this write names.
    fields[progress.made.field] = progress.made.name;
    fields[`${progress.made.field}Status`] = progress.made.status;
  }
  if (progress.knownUpdateTime) fields.knownUpdateTime = progress.knownUpdateTime;
  if (terminal) fields.watchUntil = new Date(at.getTime() + progress.lateWriteWatchMs);
  return fields;
}

/**
 * Records a failed step or a flag, fenced on the stage it is about (`from`,
 * as stored, even when it is not a valid stage): an error from an attempt
 * that the relation has moved past would only hold up the next step. The
 * possible orphans and expiry are settled with it (a flag keeps a finished
 * relation from expiring; no step is under way while one waits).
 */
export async function recordError(
  ref: DocumentReference,
  from: unknown,
  error: StepError,
  retentionDays: number,
  lateUpdates?: readonly LateUpdate[],
): Promise<boolean> {
  return store().runTransaction(async (tx) => {
    const relation = await tx.get(ref);
    if (!relation.exists || relation.get('stage') !== from) return false;
    // A retry never replaces a flag: a late attempt must not unblock what waits for a person.
    const current = relation.get('error') as { transient?: unknown } | null | undefined;
    const replaces = !(error.transient && current?.transient === false);
    const attempts = isStage(from) ? await attemptsFor(tx, ref, [stepFrom(from)]) : {};
    const update = {
      ...(replaces ? errorFields(error) : {}),
      ...lateUpdateFields(relation, lateUpdates),
    };
    const settled = settle({ relation, update, attempts, at: error.at, retentionDays });
    if (settled) tx.update(ref, settled);
    return replaces;
  });
}

/** A page of history deleted at a time; more pages than this would be a history no relation writes. */
const HISTORY_PAGE = 200;
const MAX_HISTORY_PAGES = 1_000;

/**
 * Deletes a relation's history once the relation is gone (its TTL expired,
 * or a person deleted it): the history goes with it, never before, so no
 * attempt a possible orphan is derived from can expire on its own. What the
 * ended relation names (`history`, and both finishes' entries, which a
 * finish cancelled over leaves unnamed) is deleted by name, without reading
 * it; then the rest is listed and deleted, which normally finds nothing (one
 * read): a relation from before the list, one deleted mid-step, or steps an
 * older instance recorded during a deploy. Running it again is harmless.
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
