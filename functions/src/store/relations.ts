// Reads and writes of relations/{orderId}. The poller writes observed
// statuses; the trigger writes progress. Each side updates only its own
// fields, by field path, so neither can overwrite the other (DESIGN rule 4).
// Writes carry no field transforms (serverTimestamp, arrayUnion): the
// embedded emulator applies only the first transform of a write, and times
// from the caller's clock are what the rest of the logic compares anyway.
import { Timestamp, type DocumentData, type DocumentReference } from 'firebase-admin/firestore';

import type { KitchenOrderStatusName, ShipmentStatusName } from '../food/types';
import type { Observation } from '../orchestration/observe';
import { newRelation, RELATIONS, relationId, type StepError } from '../orchestration/relation';
import { isTerminal, type Stage } from '../orchestration/stage';
import { db } from './db';
import { isAlreadyExists } from './errors';

export interface StoredRelation {
  ref: DocumentReference;
  data: DocumentData;
  /** When the document last changed: the poller uses it to notice stalled relations. */
  updateTime: Date;
}

/** A note that an earlier attempt of a create may have created something nobody recorded. */
export interface PossibleOrphan {
  step: string;
  attempt: number;
  claimedAt: Date;
  eventId: string;
  reason: string;
}

export interface Progress {
  stage: Stage;
  kitchenOrder?: { name: string; status: KitchenOrderStatusName };
  shipment?: { name: string; status: ShipmentStatusName };
  /** Notes to add to the relation's possibleOrphans. */
  possibleOrphans?: PossibleOrphan[];
}

export function relationRef(orderName: string): DocumentReference {
  return db().collection(RELATIONS).doc(relationId(orderName));
}

function stored(snapshot: FirebaseFirestore.DocumentSnapshot): StoredRelation | null {
  const data = snapshot.data();
  if (!data || !snapshot.updateTime) return null;
  return { ref: snapshot.ref, data, updateTime: snapshot.updateTime.toDate() };
}

export async function readRelation(ref: DocumentReference): Promise<StoredRelation | null> {
  return stored(await ref.get());
}

/** Every relation the orchestrator is still driving: O(active), never O(history). */
export async function activeRelations(): Promise<StoredRelation[]> {
  const snapshot = await db().collection(RELATIONS).where('active', '==', true).get();
  return snapshot.docs.flatMap((doc) => stored(doc) ?? []);
}

const GET_ALL_CHUNK = 300;

/** Which of these orders have a relation at all, read in batches. */
export async function existingRelations(orderNames: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < orderNames.length; i += GET_ALL_CHUNK) {
    const refs = orderNames.slice(i, i + GET_ALL_CHUNK).map(relationRef);
    for (const snapshot of await db().getAll(...refs)) {
      const order = snapshot.get('order');
      if (snapshot.exists && typeof order === 'string') found.add(order);
    }
  }
  return found;
}

/**
 * Starts driving a NEW order. create() makes a second poll that saw the same
 * order lose quietly instead of resetting the document.
 */
export async function createRelation(orderName: string, customerId: string, at: Date): Promise<'created' | 'exists'> {
  try {
    await relationRef(orderName).create(newRelation(orderName, customerId, at));
    return 'created';
  } catch (error) {
    if (isAlreadyExists(error)) return 'exists';
    throw error;
  }
}

/**
 * The poller's write of what it observed. `nudge` asks the trigger to look
 * again at a relation whose step is due (a retry after backoff, or a stalled
 * step) by touching a field only the poller writes.
 */
export async function writeObservation(ref: DocumentReference, observation: Observation, nudge: boolean, at: Date): Promise<void> {
  const now = Timestamp.fromDate(at);
  const fields: DocumentData = { ...observation };
  if (Object.keys(observation).length > 0) fields.observedAt = now;
  if (nudge) fields.nudgedAt = now;
  await ref.update(fields);
}

/**
 * The trigger's record of a step carried out: one write, clearing any earlier
 * error. `relation` is the stored data the step started from; new orphan
 * notes are appended to its list (only the trigger writes that field, and
 * the step's claim keeps other attempts of the step out).
 */
export async function recordProgress(relation: StoredRelation, progress: Progress, at: Date): Promise<void> {
  const terminal = isTerminal(progress.stage);
  const fields: DocumentData = {
    stage: progress.stage,
    active: !terminal,
    outcome: terminal ? progress.stage : null,
    error: null,
    advancedAt: Timestamp.fromDate(at),
  };
  if (progress.kitchenOrder) {
    // The status the create returned; the poller keeps it current from here on,
    // and cannot have written it before, because it only observes kitchen
    // orders whose name this write publishes.
    fields.kitchenOrder = progress.kitchenOrder.name;
    fields.kitchenOrderStatus = progress.kitchenOrder.status;
  }
  if (progress.shipment) {
    fields.shipment = progress.shipment.name;
    fields.shipmentStatus = progress.shipment.status;
  }
  if (progress.possibleOrphans?.length) {
    const earlier: unknown[] = Array.isArray(relation.data.possibleOrphans) ? relation.data.possibleOrphans : [];
    fields.possibleOrphans = [...earlier, ...progress.possibleOrphans.map(toStoredOrphan)];
  }
  await relation.ref.update(fields);
}

function toStoredOrphan(orphan: PossibleOrphan): DocumentData {
  return { ...orphan, claimedAt: Timestamp.fromDate(orphan.claimedAt) };
}

export async function recordError(ref: DocumentReference, error: StepError): Promise<void> {
  await ref.update({
    error: {
      ...error,
      at: Timestamp.fromDate(error.at),
      retryAt: error.retryAt ? Timestamp.fromDate(error.retryAt) : null,
    },
  });
}
