// relations/{orderId}/transitions: the history of a relation, one document per
// attempt at a transition, named "<to stage>-<attempt>". For the two creates
// the same document is the claim (DESIGN rule 3): create() lets exactly one
// caller win an attempt; a dead winner's lease runs out and the next attempt
// records that the earlier one may have left an orphan.
import { Timestamp, type DocumentReference } from 'firebase-admin/firestore';

import { TRANSITIONS, type Step } from '../orchestration/relation';
import type { Stage } from '../orchestration/stage';
import { isAlreadyExists } from './errors';
import type { PossibleOrphan } from './relations';

/** More attempts than this at one transition is not transient any more. */
export const MAX_ATTEMPTS = 25;

export interface AttemptFailure {
  code: string;
  message: string;
  transient: boolean;
  /** The failed call may have created something (e.g. a create that hit its deadline). */
  ambiguous: boolean;
}

export type Claim =
  | { claimed: true; ref: DocumentReference; attempt: number; possibleOrphans: PossibleOrphan[] }
  | { claimed: false; reason: 'held'; attempt: number; leaseExpiresAt: Date }
  | { claimed: false; reason: 'exhausted'; attempt: number };

interface ClaimRequest {
  relation: DocumentReference;
  step: Step;
  from: Stage;
  to: Stage;
  eventId: string;
  leaseSeconds: number;
  now: Date;
}

function transitionRef(relation: DocumentReference, to: Stage, attempt: number): DocumentReference {
  return relation.collection(TRANSITIONS).doc(`${to}-${attempt}`);
}

/** Claims the next free attempt at a transition, or says who holds it. */
export async function claimTransition(request: ClaimRequest): Promise<Claim> {
  const { relation, step, from, to, eventId, leaseSeconds, now } = request;
  const possibleOrphans: PossibleOrphan[] = [];
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const ref = transitionRef(relation, to, attempt);
    try {
      await ref.create({
        step,
        from,
        to,
        attempt,
        eventId,
        claimedAt: Timestamp.fromDate(now),
        leaseExpiresAt: Timestamp.fromDate(new Date(now.getTime() + leaseSeconds * 1000)),
        failure: null,
      });
      return { claimed: true, ref, attempt, possibleOrphans };
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
    const earlier = (await ref.get()).data() ?? {};
    const failure = earlier.failure as AttemptFailure | null | undefined;
    const leaseExpiresAt = (earlier.leaseExpiresAt as Timestamp | undefined)?.toDate() ?? new Date(0);
    if (!failure && leaseExpiresAt > now) return { claimed: false, reason: 'held', attempt, leaseExpiresAt };
    if (!failure || failure.ambiguous) {
      possibleOrphans.push({
        step,
        attempt,
        claimedAt: (earlier.claimedAt as Timestamp | undefined)?.toDate() ?? new Date(0),
        eventId: String(earlier.eventId ?? ''),
        reason: failure
          ? `attempt ${attempt} failed with ${failure.code} after its call may have reached the food service`
          : `attempt ${attempt} claimed the step and never recorded a result before its lease expired`,
      });
    }
  }
  return { claimed: false, reason: 'exhausted', attempt: MAX_ATTEMPTS };
}

/** Releases a claim whose attempt failed, so the next attempt need not wait out the lease. */
export async function releaseClaim(ref: DocumentReference, failure: AttemptFailure, now: Date): Promise<void> {
  await ref.update({ failure, releasedAt: Timestamp.fromDate(now) });
}

/**
 * History for the transitions that call nothing non-idempotent (finish,
 * cancel). create() keeps a redelivered event from writing the entry twice.
 */
export async function recordTransition(relation: DocumentReference, entry: { step: Step; from: Stage; to: Stage; eventId: string; now: Date }): Promise<void> {
  try {
    await transitionRef(relation, entry.to, 1).create({
      step: entry.step,
      from: entry.from,
      to: entry.to,
      attempt: 1,
      eventId: entry.eventId,
      claimedAt: Timestamp.fromDate(entry.now),
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
}
