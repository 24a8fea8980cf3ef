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
import { isFlagged, openOrphans, type PossibleOrphan, type Step, type StepError } from '../model/relation';
import { isStage, isTerminal, type Stage } from '../model/stage';
import type { KitchenOrderStatusName, ShipmentStatusName } from '../model/statuses';
import type { HeldClaim } from './claims';
import { DELETE_FIELD, DOCUMENT_ID, type DocumentData, type DocumentReference, type DocumentSnapshot, type Transaction } from './database';
import { store } from './db';
import { isAlreadyExists } from './errors';
import {
  errorFields,
  EXPIRE_AT,
  expiryFor,
  newRelation,
  orphanFields,
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
  parsed: ParsedRelation;
}

export function relationRef(orderName: string): DocumentReference {
  return store().collection(RELATIONS).doc(relationId(orderName));
}

/** A relation as read, with its parse; null for a missing document. */
export function storedRelation(snapshot: DocumentSnapshot): StoredRelation | null {
  const data = snapshot.data();
  if (!data || !snapshot.updateTime) return null;
  return { ref: snapshot.ref, data, updateTime: snapshot.updateTime, parsed: parseRelation(data, snapshot.id) };
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
export async function* activeRelationPages(pageSize: number, range: IdRange = {}): AsyncGenerator<StoredRelation[]> {
  let after = range.after;
  for (let page = 0; page < MAX_RELATION_PAGES; page++) {
    let query = store().collection(RELATIONS).where('active', '==', true).orderBy(DOCUMENT_ID).limit(pageSize);
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

/** Which of these orders have a relation at all, read in batches. */
export async function existingRelations(orderNames: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < orderNames.length; i += GET_ALL_CHUNK) {
    const refs = orderNames.slice(i, i + GET_ALL_CHUNK).map(relationRef);
    for (const snapshot of await store().getAll(...refs)) {
      const order: unknown = snapshot.get('order');
      if (snapshot.exists && typeof order === 'string') found.add(order);
    }
  }
  return found;
}

/** Starts driving a NEW order. create() makes a second poll that saw the same order lose quietly. */
export async function createRelation(orderName: string, customerId: string, at: Date): Promise<'created' | 'exists'> {
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
 * step) by touching a field only the poller writes.
 */
export async function writeObservation(ref: DocumentReference, observation: Observation, nudge: boolean, at: Date): Promise<void> {
  const fields: DocumentData = { ...observation };
  if (Object.keys(observation).length > 0) fields.observedAt = at;
  if (nudge) fields.nudgedAt = at;
  await ref.update(fields);
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
  /** Notes about earlier attempts, to add to the relation's possibleOrphans. */
  possibleOrphans?: readonly PossibleOrphan[];
  /** Closing a flagged relation keeps the flag for a person to read. */
  keepError?: boolean;
  /** This run's own attempt document, if it wrote one: stamped with expireAt if the relation finished before this run recorded. */
  ownAttempt?: DocumentReference;
  /** RETENTION_DAYS: how long a relation this step finishes is kept. */
  retentionDays: number;
}

/**
 * Adds notes, one per (step, attempt): a later note that knows the name
 * completes an earlier one, keeping a person's resolution of it (it is the
 * same attempt's creation, now with its name).
 */
export function mergeOrphans(existing: readonly PossibleOrphan[], added: readonly PossibleOrphan[]): PossibleOrphan[] {
  const merged = [...existing];
  for (const note of added) {
    const at = merged.findIndex((n) => n.step === note.step && n.attempt === note.attempt);
    if (at < 0) merged.push(note);
    else if (merged[at].name === null && note.name !== null) merged[at] = { ...note, resolution: merged[at].resolution };
  }
  return merged;
}

function orphansOf(snapshot: DocumentSnapshot): PossibleOrphan[] {
  const parsed = parseRelation(snapshot.data() ?? {}, snapshot.id);
  return parsed.ok ? parsed.value.possibleOrphans : [];
}

/**
 * Records a step, fenced: only if the relation is still at `from` and, for a
 * create, no later attempt took over the claim. Otherwise the step's own
 * creation, if the relation does not record it, is noted as a possible
 * orphan, and nothing else changes.
 */
export async function recordProgress(ref: DocumentReference, progress: Progress, at: Date): Promise<'recorded' | 'fenced'> {
  const { claim } = progress;
  // A create's claim document is its history; the other steps get one entry, written once.
  const history = ref.collection(TRANSITIONS).doc(`${progress.to}-1`);
  const finishing = isTerminal(progress.to);
  // The history to stamp is listed before the transaction: a query inside one
  // locks far more than these few documents on Google's emulator, and stalls
  // every other step. A document written meanwhile belongs to a late
  // attempt, which stamps itself when it is fenced out (expireLateAttempt).
  const earlier = finishing ? await historyOf(ref) : [];
  return store().runTransaction(async (tx) => {
    const [relation, ...rest] = await tx.getAll(ref, ...(claim ? [claim.ref, claim.nextRef] : [history]));
    const stillHeld = !claim || (rest[0].get('holder') === claim.holder && rest[0].get('failure') === null && !rest[1].exists);
    if (relation.exists && relation.get('stage') === progress.from && stillHeld) {
      // Reads come before writes in a transaction.
      const stamped = earlier.length > 0 ? await tx.getAll(...earlier) : [];
      const fields = progressFields(progress, orphansOf(relation), at);
      const expireAt = settledExpiry({ ...relation.data(), ...fields }, relation.id, at, progress.retentionDays);
      tx.update(ref, { ...fields, [EXPIRE_AT]: expireAt ?? DELETE_FIELD });
      if (expireAt) stampHistory(tx, stamped, expireAt);
      if (!claim && !rest[0].exists) {
        tx.create(history, {
          step: progress.step,
          from: progress.from,
          to: progress.to,
          attempt: 1,
          eventId: progress.eventId,
          claimedAt: at,
          ...(expireAt ? { [EXPIRE_AT]: expireAt } : {}),
        });
      }
      return 'recorded';
    }
    const created = progress.made?.name;
    if (claim && created && relation.exists && relation.get(progress.made?.field ?? '') !== created) {
      const note: PossibleOrphan = {
        step: claim.step,
        attempt: claim.attempt,
        name: created,
        claimedAt: at,
        eventId: progress.eventId,
        reason: `attempt ${claim.attempt} created ${created} after another attempt took over the step or the relation moved on`,
        resolution: null,
      };
      // A note waits for a person: the relation may no longer expire (its earlier history keeps its stamp).
      tx.update(ref, { ...orphanFields(mergeOrphans(orphansOf(relation), [note])), [EXPIRE_AT]: DELETE_FIELD });
      return 'fenced';
    }
    expireLateAttempt(tx, relation, progress.ownAttempt ?? claim?.ref);
    return 'fenced';
  });
}

/**
 * The expireAt a relation gets at `at`, as it stands in `data` (stored
 * form): only once it is finished and waits for no person. A kept flag or a
 * possible orphan nobody resolved waits for one (as does a document that
 * does not parse, which the trigger flags): TTL would delete the only record
 * of it, so it does not expire until a person settles it
 * (orchestration/repairs.ts).
 */
function settledExpiry(data: DocumentData, id: string, at: Date, retentionDays: number): Date | null {
  const parsed = parseRelation(data, id);
  if (!parsed.ok || !isTerminal(parsed.value.stage) || isFlagged(parsed.value) || openOrphans(parsed.value).length > 0) return null;
  return expiryFor(at, retentionDays);
}

function stampHistory(tx: Transaction, history: DocumentSnapshot[], expireAt: Date): void {
  for (const doc of history) if (doc.exists) tx.update(doc.ref, { [EXPIRE_AT]: expireAt });
}

/**
 * For a repair, inside its transaction (after its reads): the relation's
 * `update` with the expireAt it earns if the repair settled a finished
 * relation, whose history is then stamped too; and the expireAt the repair's
 * own history entry takes (the relation's, so it goes with it).
 */
export function settleExpiry(
  tx: Transaction,
  relation: DocumentSnapshot,
  history: DocumentSnapshot[],
  update: DocumentData,
  at: Date,
  retentionDays: number,
): { update: DocumentData; expireAt: Date | null } {
  const current: unknown = relation.get(EXPIRE_AT);
  if (current instanceof Date) return { update, expireAt: current };
  const expireAt = settledExpiry({ ...relation.data(), ...update }, relation.id, at, retentionDays);
  if (!expireAt) return { update, expireAt: null };
  stampHistory(tx, history, expireAt);
  return { update: { ...update, [EXPIRE_AT]: expireAt }, expireAt };
}

/** The relation's history documents, by reference only (no fields are read). */
export async function historyOf(ref: DocumentReference): Promise<DocumentReference[]> {
  return (await ref.collection(TRANSITIONS).select().get()).docs.map((doc) => doc.ref);
}

/**
 * An attempt that wrote its document after its relation had finished (a
 * late or duplicate event) missed the stamping of the history: it takes the
 * relation's expireAt, so it goes when the relation goes.
 */
function expireLateAttempt(tx: Transaction, relation: DocumentSnapshot, ownAttempt: DocumentReference | undefined): void {
  const expireAt: unknown = relation.get(EXPIRE_AT);
  const stage: unknown = relation.get('stage');
  if (ownAttempt && expireAt instanceof Date && isStage(stage) && isTerminal(stage)) tx.update(ownAttempt, { [EXPIRE_AT]: expireAt });
}

/**
 * A relation at a live stage must never carry expireAt, or a TTL policy
 * would delete it mid-flight. Nothing in the orchestrator makes a finished
 * relation active again, but a hand edit or a restore can: this removes
 * expireAt from the relation and its history, fenced on the stage.
 */
export async function clearExpiry(ref: DocumentReference, stage: Stage): Promise<boolean> {
  const listed = await historyOf(ref);
  return store().runTransaction(async (tx) => {
    const [relation, ...history] = await tx.getAll(ref, ...listed);
    if (!relation.exists || relation.get('stage') !== stage || relation.get(EXPIRE_AT) === undefined) return false;
    tx.update(ref, { [EXPIRE_AT]: DELETE_FIELD });
    for (const doc of history) if (doc.exists && doc.get(EXPIRE_AT) !== undefined) tx.update(doc.ref, { [EXPIRE_AT]: DELETE_FIELD });
    return true;
  });
}

function progressFields(progress: Progress, earlierOrphans: PossibleOrphan[], at: Date): DocumentData {
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
  if (progress.possibleOrphans?.length) Object.assign(fields, orphanFields(mergeOrphans(earlierOrphans, progress.possibleOrphans)));
  return fields;
}

/**
 * Records a failed step or a flag, fenced on the stage it is about (`from`,
 * as stored, even when it is not a valid stage): an error from an attempt
 * that the relation has moved past would only hold up the next step. Orphan
 * notes, if any, go with it.
 */
export async function recordError(
  ref: DocumentReference,
  from: unknown,
  error: StepError,
  orphans: readonly PossibleOrphan[] = [],
  ownAttempt?: DocumentReference,
): Promise<boolean> {
  return store().runTransaction(async (tx) => {
    const relation = await tx.get(ref);
    if (!relation.exists || relation.get('stage') !== from) {
      if (relation.exists) expireLateAttempt(tx, relation, ownAttempt);
      return false;
    }
    const fields: DocumentData = errorFields(error);
    if (orphans.length) Object.assign(fields, orphanFields(mergeOrphans(orphansOf(relation), orphans)));
    tx.update(ref, fields);
    return true;
  });
}
