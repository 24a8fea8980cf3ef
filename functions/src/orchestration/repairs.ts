// Repairs a person makes, each recorded in the relation's history with who
// and why. Refused, with the reason, where they would be unsafe.
import { Timestamp, type DocumentReference } from 'firebase-admin/firestore';

import type { Relation } from '../model/relation';
import type { Stage } from '../model/stage';
import { approveRetry } from '../store/claims';
import { db } from '../store/db';
import { readRelation } from '../store/relations';
import { EXPIRE_AT, isNewerSchema, SCHEMA_VERSION, TRANSITIONS } from '../store/schema';
import { decide } from './decide';

export interface Operator {
  /** Who asks: an e-mail or a user name, for the history. */
  who: string;
  /** Why: what the person checked or fixed. */
  why: string;
}

/** A repair that would be unsafe or makes no sense; the message says why. */
export class RepairRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepairRefused';
  }
}

/** The stage a create step would move the relation to, if its next step is a create. */
function createTarget(relation: Relation, now: Date): Stage | null {
  const unflagged = decide({ ...relation, error: null, observationError: null }, now);
  switch (unflagged.action) {
    case 'createKitchenOrder':
    case 'createShipment':
      return unflagged.to;
    default:
      return null;
  }
}

/**
 * Clears a flag so the trigger runs the step again. If the step is a create
 * whose attempts ran out, the latest attempt is approved, which gives the
 * step a fresh budget: the person has reconciled the possible orphans with
 * the food service. Refused while an attempt still holds the step.
 */
export async function retryRelation(ref: DocumentReference, by: Operator, now: Date): Promise<{ approvedAttempt: number | null }> {
  if (!by.who.trim() || !by.why.trim()) throw new RepairRefused('a retry needs who asks and why (--by and --reason)');
  const stored = await readRelation(ref);
  if (!stored) throw new RepairRefused(`${ref.path} does not exist`);
  if (isNewerSchema(stored.parsed)) {
    throw new RepairRefused(
      `${ref.path} was written by a newer version of the orchestrator (schemaVersion ${stored.parsed.newerSchema}, this one knows ${SCHEMA_VERSION}); repair it with that version`,
    );
  }
  if (!stored.parsed.ok) {
    throw new RepairRefused(`${ref.path} is malformed (${stored.parsed.problems.join('; ')}); fix the document first, then retry`);
  }
  const relation = stored.parsed.value;
  if (!relation.error || relation.error.transient) {
    throw new RepairRefused(
      `${relation.order} is not flagged${relation.error ? ': its transient error is retried on its own' : ''}; nothing to retry`,
    );
  }
  const to = createTarget(relation, now);
  let approvedAttempt: number | null = null;
  if (to) {
    try {
      approvedAttempt = (await approveRetry(ref, to, by, now))?.attempt ?? null;
    } catch (error) {
      throw new RepairRefused(`${relation.order}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const flag = relation.error;
  await db().runTransaction(async (tx) => {
    const current = await tx.get(ref);
    // Another repair or the trigger got there first: do not clear a different error.
    if (current.get('error.code') !== flag.code || current.get('error.message') !== flag.message) {
      throw new RepairRefused(`${relation.order} changed while the retry was prepared; look again`);
    }
    // A finished relation's history expires with it (a closed relation keeps its flag, and may be retried).
    const expireAt: unknown = current.get(EXPIRE_AT);
    tx.create(ref.collection(TRANSITIONS).doc(`retry-${now.getTime()}`), {
      step: 'retry',
      stage: relation.stage,
      by: by.who,
      reason: by.why,
      at: Timestamp.fromDate(now),
      cleared: { code: flag.code, message: flag.message },
      approvedAttempt,
      ...(expireAt instanceof Timestamp ? { [EXPIRE_AT]: expireAt } : {}),
    });
    tx.update(ref, { error: null, observationError: null });
  });
  return { approvedAttempt };
}
