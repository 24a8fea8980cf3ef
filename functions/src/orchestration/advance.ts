// What advanceRelation does with one relation: read it as it is now, decide,
// and carry out at most one step. Any delivery of any event for the relation
// may run this, twice, late or concurrently; the current document, the claims
// and look-before-write make each of those harmless (DESIGN rules 2 and 3).
import { status } from '@grpc/grpc-js';
import type { DocumentReference } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';

import type { Config } from '../config';
import type { FoodClient } from '../food/client';
import { FoodServiceError } from '../food/errors';
import { backoffMs } from '../food/retry';
import type { OrderStatusName } from '../food/types';
import { readRelation, recordError, recordProgress, type Progress, type StoredRelation } from '../store/relations';
import { claimTransition, releaseClaim, recordTransition, type AttemptFailure } from '../store/transitions';
import { decide, type StepDecision } from './decide';
import { parseRelation, type Relation, type StepError } from './relation';

export interface AdvanceDeps {
  food: FoodClient;
  config: Config;
  now: () => Date;
}

export type AdvanceResult =
  | 'gone'
  | 'nothing'
  | 'flagged'
  | 'held'
  | 'advanced'
  | 'cancelled'
  | 'failed';

export async function advance(ref: DocumentReference, eventId: string, deps: AdvanceDeps): Promise<AdvanceResult> {
  const stored = await readRelation(ref);
  if (!stored) return 'gone';
  const parsed = parseRelation(stored.data);
  if (!parsed.ok) {
    return flag(stored, 'INVALID_DOCUMENT', `the relation document is malformed: ${parsed.problems.join('; ')}`, deps.now());
  }
  const relation = parsed.relation;
  const decision = decide(relation, deps.now());
  switch (decision.action) {
    case 'none':
      return 'nothing';
    case 'flag':
      return flag(stored, 'INCONSISTENT', decision.message, deps.now());
    case 'cancel':
      await cancel(stored, relation, eventId, deps.now());
      return 'cancelled';
    case 'finish':
    case 'createKitchenOrder':
    case 'createShipment':
      return step(stored, relation, decision, eventId, deps);
    default: {
      const unreachable: never = decision;
      throw new Error(`unhandled decision ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Records a problem a person must look at, once: the same flag again writes nothing (fixpoint). */
async function flag(stored: StoredRelation, code: 'INVALID_DOCUMENT' | 'INCONSISTENT', message: string, now: Date): Promise<AdvanceResult> {
  const current = stored.data.error as { message?: unknown; transient?: unknown } | null | undefined;
  if (current?.message === message && current.transient === false) return 'nothing';
  logger.error('relation flagged', { order: stored.data.order, relation: stored.ref.path, code, message });
  await recordError(stored.ref, { step: 'document', code, message, transient: false, failures: 1, at: now, retryAt: null });
  return 'flagged';
}

async function cancel(stored: StoredRelation, relation: Relation, eventId: string, now: Date): Promise<void> {
  await recordTransition(stored.ref, { step: 'cancel', from: relation.stage, to: 'CANCELLED', eventId, now });
  await recordProgress(stored, { stage: 'CANCELLED' }, now);
  logger.info('order cancelled by the customer; nothing more is created or updated', { order: relation.order, from: relation.stage });
}

/** Where a step got to, so a failure can say whether something may have been created. */
interface Attempt {
  createSent: boolean;
  created?: string;
}

async function step(stored: StoredRelation, relation: Relation, decision: StepDecision, eventId: string, deps: AdvanceDeps): Promise<AdvanceResult> {
  const { ref } = stored;
  const now = deps.now();
  const guarded = decision.action === 'createKitchenOrder' || decision.action === 'createShipment';
  const claim = guarded
    ? await claimTransition({ relation: ref, step: decision.action, from: relation.stage, to: decision.to, eventId, leaseSeconds: deps.config.claimLeaseSeconds, now })
    : null;
  if (claim && !claim.claimed) {
    if (claim.reason === 'held') {
      logger.debug('step is claimed by another attempt', { order: relation.order, step: decision.action, attempt: claim.attempt });
      return 'held';
    }
    await recordError(ref, {
      step: decision.action, code: 'ATTEMPTS_EXHAUSTED', transient: false, failures: claim.attempt, at: now, retryAt: null,
      message: `${decision.action} was attempted ${claim.attempt} times without success; see the transitions subcollection`,
    });
    return 'flagged';
  }

  const attempt: Attempt = { createSent: false };
  try {
    if ((await moveOrder(deps.food, relation.order, decision.to)) === 'cancelled') {
      if (claim?.claimed) {
        await releaseClaim(claim.ref, { code: 'CANCELLED', message: 'the customer cancelled the order first', transient: false, ambiguous: false }, now);
      }
      await cancel(stored, relation, eventId, deps.now());
      return 'cancelled';
    }
    const progress: Progress = { stage: decision.to, possibleOrphans: claim?.claimed ? claim.possibleOrphans : [] };
    if (decision.action === 'createKitchenOrder') {
      attempt.createSent = true;
      const kitchenOrder = await deps.food.createKitchenOrder();
      attempt.created = kitchenOrder.name;
      progress.kitchenOrder = { name: kitchenOrder.name, status: kitchenOrder.status };
    } else if (decision.action === 'createShipment') {
      attempt.createSent = true;
      const shipment = await deps.food.createShipment();
      attempt.created = shipment.name;
      progress.shipment = { name: shipment.name, status: shipment.status };
    } else {
      await recordTransition(ref, { step: decision.action, from: relation.stage, to: decision.to, eventId, now });
    }
    await recordProgress(stored, progress, deps.now());
    logger.info('relation advanced', {
      order: relation.order, step: decision.action, from: relation.stage, to: decision.to,
      created: attempt.created, attempt: claim?.claimed ? claim.attempt : undefined,
      possibleOrphans: progress.possibleOrphans?.length || undefined,
    });
    return 'advanced';
  } catch (error) {
    const failure = classify(error, attempt);
    const log = failure.transient ? logger.warn : logger.error;
    log('step failed', { order: relation.order, step: decision.action, ...failure, created: attempt.created });
    if (claim?.claimed) await releaseClaim(claim.ref, failure, deps.now());
    await recordError(ref, stepError(decision.action, failure, relation.error, deps.now(), deps.config));
    return 'failed';
  }
}

/**
 * Sets the order's status, looking first: a customer's CANCELLED must never be
 * overwritten, and the API has no optimistic concurrency to do it for us.
 */
async function moveOrder(food: FoodClient, order: string, to: OrderStatusName): Promise<'moved' | 'cancelled'> {
  const seen = await food.getOrder(order);
  if (seen.status === 'CANCELLED') return 'cancelled';
  if (seen.status === to) return 'moved';
  try {
    await food.updateOrderStatus(order, to);
    return 'moved';
  } catch (error) {
    if (!(error instanceof FoodServiceError) || error.code !== status.FAILED_PRECONDITION) throw error;
    // The order moved under us between the look and the update.
    const now = await food.getOrder(order);
    if (now.status === 'CANCELLED') return 'cancelled';
    if (now.status === to) return 'moved';
    throw new Error(`UpdateOrder ${order} status=${to}: the order moved to ${now.status} under us (${error.details})`, { cause: error });
  }
}

const TRANSIENT_FIRESTORE = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.ABORTED, status.RESOURCE_EXHAUSTED]);

function classify(error: unknown, attempt: Attempt): AttemptFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof FoodServiceError) {
    return {
      code: error.codeName,
      message: attempt.created ? `created ${attempt.created} but could not record it: ${message}` : message,
      transient: error.transient,
      // A create that failed any way but UNAVAILABLE (not served) may have
      // happened; one that succeeded and was not recorded did happen.
      ambiguous: Boolean(attempt.created) || (attempt.createSent && error.code !== status.UNAVAILABLE && !isRefusal(error.code)),
    };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const transient = typeof code === 'number' && TRANSIENT_FIRESTORE.has(code);
  return {
    code: typeof code === 'number' ? (status[code] ?? `code ${code}`) : 'INTERNAL',
    message: attempt.created ? `created ${attempt.created} but could not record it: ${message}` : message,
    transient,
    ambiguous: attempt.createSent,
  };
}

/** Codes with which a server refuses a request before doing anything. */
function isRefusal(code: status): boolean {
  switch (code) {
    case status.INVALID_ARGUMENT:
    case status.NOT_FOUND:
    case status.ALREADY_EXISTS:
    case status.PERMISSION_DENIED:
    case status.FAILED_PRECONDITION:
    case status.OUT_OF_RANGE:
    case status.UNIMPLEMENTED:
    case status.UNAUTHENTICATED:
    case status.RESOURCE_EXHAUSTED:
      return true;
    default:
      return false;
  }
}

/** Transient failures back off in poll intervals: the poller is the clock that retries them. */
function stepError(step: StepDecision['action'], failure: AttemptFailure, previous: StepError | null, now: Date, config: Config): StepError {
  const failures = (previous?.step === step ? previous.failures : 0) + 1;
  const interval = config.pollIntervalSeconds * 1000;
  const retryAt = failure.transient
    ? new Date(now.getTime() + interval + backoffMs(failures, { maxAttempts: Infinity, initialBackoffMs: interval, maxBackoffMs: 10 * interval, multiplier: 2 }))
    : null;
  return { step, code: failure.code, message: failure.message, transient: failure.transient, failures, at: now, retryAt };
}
