// The steps of an order's life, each written as the process it runs. Any
// delivery of any event may run a step, twice, late or concurrently: the
// claims, the look before every write and the fenced records make each of
// those harmless (docs/ARCHITECTURE.md#the-step-protocol).
import { status } from '@grpc/grpc-js';
import type { DocumentReference } from '../store/database';
import * as logger from 'firebase-functions/logger';

import { MOVE_ORDER_ROUNDS } from '../config';
import { FoodServiceError } from '../food/errors';
import type { CreateStep, PossibleOrphan, Relation, Step, StepError } from '../model/relation';
import type { Outcome, Stage } from '../model/stage';
import { orderStatusRank, type KitchenOrderStatusName, type OrderStatusName, type ShipmentStatusName } from '../model/statuses';
import { claimStep, failClaim, nameOnClaim, type HeldClaim } from '../store/claims';
import { recordError, recordProgress, type Made, type Progress } from '../store/relations';
import type { Deps } from './deps';
import { describeError } from '../describe-error';
import { classifyFailure, StepDeferred, stepError, type StepProgress } from './step-failure';

export type AdvanceResult =
  | 'gone'
  | 'nothing'
  | 'flagged'
  | 'held'
  | 'advanced'
  | 'cancelled'
  | 'closed'
  | 'failed'
  | 'fenced'
  /** The kill switch is on: nothing was read or done. */
  | 'paused'
  /** A newer version wrote the relation: left alone. */
  | 'newer'
  /** A live relation carried expireAt: it was removed. */
  | 'unexpired';

/** One run of the trigger on one relation. */
export interface StepContext {
  ref: DocumentReference;
  relation: Relation;
  eventId: string;
  deps: Deps;
}

interface Created {
  name: string;
  status: KitchenOrderStatusName | ShipmentStatusName | null;
  /** Made by an earlier attempt, which wrote the name on its claim; this one only records it. */
  adopted: boolean;
}

/** What each create step makes, and where the relation keeps it. */
const CREATES = {
  createKitchenOrder: {
    to: 'PREPARATION',
    field: 'kitchenOrder',
    create: async (deps: Deps) => deps.food.createKitchenOrder(),
  },
  createShipment: {
    to: 'IN_FLIGHT',
    field: 'shipment',
    create: async (deps: Deps) => deps.food.createShipment(),
  },
} as const satisfies Record<
  CreateStep,
  { to: Stage; field: 'kitchenOrder' | 'shipment'; create: (deps: Deps) => Promise<{ name: string }> }
>;

/** Time kept in hand after a create's deadline before the claim's lease runs out. */
const LEASE_MARGIN_MS = 5_000;

/**
 * NEW → PREPARATION with a kitchen order, or PREPARATION → IN_FLIGHT with a
 * shipment: claim → look → create (or adopt) → name on the claim → move the
 * order → record.
 */
export async function runCreateStep(ctx: StepContext, step: CreateStep): Promise<AdvanceResult> {
  const { ref, relation, eventId, deps } = ctx;
  const { to, field, create } = CREATES[step];
  const from = relation.stage;

  // 1. Claim the step: one attempt at a time, and whatever earlier attempts
  //    made is adopted (its name is known) or noted (it may exist).
  const claim = await claimStep({
    relation: ref,
    step,
    from,
    to,
    eventId,
    now: deps.now(),
    leaseMs: deps.config.claimLeaseSeconds * 1000,
    maxAmbiguous: deps.config.maxAmbiguousRetries,
  });
  switch (claim.kind) {
    case 'claimed':
      break;
    case 'held':
      logger.debug('step is claimed by another attempt', { order: relation.order, step, attempt: claim.attempt });
      return 'held';
    case 'malformed':
      return flag(flagTarget(ctx), deps.now(), 'INVALID_CLAIM', `${claim.message}; fix or delete it, then retry the relation`);
    case 'exhausted':
      return flag(
        flagTarget(ctx),
        deps.now(),
        'ATTEMPTS_EXHAUSTED',
        `${step} was attempted ${claim.attempt} times, and ${claim.possibleOrphans.length} of them may have created something ` +
          '(see possibleOrphans); reconcile them with the food service, then retry the relation',
        claim.possibleOrphans,
      );
    default: {
      const unreachable: never = claim;
      throw new Error(`unhandled claim ${JSON.stringify(unreachable)}`);
    }
  }

  const progress: StepProgress = { sent: false, created: null };
  let created: Created | null = claim.adopt ? { name: claim.adopt, status: null, adopted: true } : null;
  try {
    // 2. Look: a customer's CANCELLED is never overwritten, and nothing is made for it.
    if ((await deps.food.getOrder(relation.order)).status === 'CANCELLED') {
      await failClaim(
        claim,
        { code: 'CANCELLED', message: 'the customer cancelled the order first', transient: false, ambiguous: false },
        deps.now(),
      );
      return recordCancellation(ctx, created && { field, name: created.name, status: null }, claim.ref);
    }

    // 3. Create, unless an earlier attempt did and wrote the name down.
    if (!created) {
      const leftMs = claim.leaseExpiresAt.getTime() - deps.now().getTime();
      if (leftMs < deps.config.createDeadlineMs + LEASE_MARGIN_MS) {
        throw new StepDeferred(
          'LEASE_TOO_SHORT',
          `only ${leftMs} ms of the claim's lease were left for a create with a ${deps.config.createDeadlineMs} ms deadline`,
        );
      }
      progress.sent = true;
      const made = await create(deps);
      created = { name: made.name, status: made.status, adopted: false };
      progress.created = made.name;
    }

    // 4. Name on the claim, at once: from here on no attempt creates again.
    await nameOnClaim(claim, created.name, created.adopted, deps.now());

    // 5. Move the order, looking before every update.
    if ((await moveOrder(deps, relation.order, to)) === 'cancelled') {
      await failClaim(
        claim,
        {
          code: 'CANCELLED',
          message: `the customer cancelled the order after ${created.name} was made`,
          transient: false,
          ambiguous: false,
        },
        deps.now(),
      );
      return recordCancellation(ctx, { field, name: created.name, status: created.status }, claim.ref);
    }

    // 6. Record, fenced: only while the stage and the claim are still this attempt's.
    const made: Made = { field, name: created.name, status: created.status };
    const recorded = await recordProgress(
      ref,
      { step, from, to, eventId, claim, made, possibleOrphans: claim.possibleOrphans, retentionDays: deps.config.retentionDays },
      deps.now(),
    );
    logger.info(recorded === 'recorded' ? 'relation advanced' : 'step fenced out: another attempt moved the relation first', {
      order: relation.order,
      step,
      from,
      to,
      created: created.name,
      adopted: created.adopted || undefined,
      attempt: claim.attempt,
      possibleOrphans: claim.possibleOrphans.length || undefined,
    });
    return recorded === 'recorded' ? 'advanced' : 'fenced';
  } catch (error) {
    return stepFailed(ctx, step, claim, progress, error);
  }
}

/** IN_FLIGHT → DELIVERED or REJECTED, as the shipment ended: move the order, then record. */
export async function finishOrder(ctx: StepContext, to: 'DELIVERED' | 'REJECTED'): Promise<AdvanceResult> {
  const { ref, relation, eventId, deps } = ctx;
  try {
    if ((await moveOrder(deps, relation.order, to)) === 'cancelled') return recordCancellation(ctx, null);
    const recorded = await recordProgress(
      ref,
      { step: 'finish', from: relation.stage, to, eventId, retentionDays: deps.config.retentionDays },
      deps.now(),
    );
    if (recorded === 'recorded') logger.info('order finished', { order: relation.order, outcome: to });
    return recorded === 'recorded' ? 'advanced' : 'fenced';
  } catch (error) {
    return stepFailed(ctx, 'finish', null, { sent: false, created: null }, error);
  }
}

/**
 * → CANCELLED: the customer's word is final. A kitchen order or shipment made
 * before the cancellation was seen is recorded, so it is not left unnamed.
 * `ownAttempt` is the claim of the create step that saw the cancellation.
 */
export async function recordCancellation(ctx: StepContext, made: Made | null, ownAttempt?: DocumentReference): Promise<AdvanceResult> {
  const { ref, relation, eventId, deps } = ctx;
  const progress: Progress = {
    step: 'cancel',
    from: relation.stage,
    to: 'CANCELLED',
    eventId,
    retentionDays: deps.config.retentionDays,
    ...(made ? { made } : {}),
    ...(ownAttempt ? { ownAttempt } : {}),
  };
  const recorded = await recordProgress(ref, progress, deps.now());
  if (recorded === 'recorded') {
    logger.info('order cancelled by the customer; nothing more is created or updated', {
      order: relation.order,
      from: relation.stage,
      made: made?.name,
    });
  }
  return recorded === 'recorded' ? 'cancelled' : 'fenced';
}

/** A flagged relation whose order ended on the food service: record how, keep the flag, stop polling it. */
export async function closeFlagged(ctx: StepContext, to: Outcome): Promise<AdvanceResult> {
  const { ref, relation, eventId, deps } = ctx;
  const recorded = await recordProgress(
    ref,
    { step: 'close', from: relation.stage, to, eventId, keepError: true, retentionDays: deps.config.retentionDays },
    deps.now(),
  );
  if (recorded === 'recorded')
    logger.warn('flagged relation closed: its order ended on the food service', {
      order: relation.order,
      outcome: to,
      flag: relation.error?.code,
    });
  return recorded === 'recorded' ? 'closed' : 'fenced';
}

/** What flag() needs of a relation: enough to fence the write and keep it a fixpoint, even for a malformed document. */
export interface FlagTarget {
  ref: DocumentReference;
  order: string;
  /** The stage as stored (the write is fenced on it). */
  stage: unknown;
  /** The error as stored now. */
  error: unknown;
}

export const flagTarget = (ctx: StepContext): FlagTarget => ({
  ref: ctx.ref,
  order: ctx.relation.order,
  stage: ctx.relation.stage,
  error: ctx.relation.error,
});

/**
 * Records a problem a person must look at, once: the same flag again writes
 * nothing (fixpoint). Orphan notes, if any, are recorded with it.
 */
export async function flag(
  target: FlagTarget,
  now: Date,
  code: string,
  message: string,
  orphans: readonly PossibleOrphan[] = [],
): Promise<AdvanceResult> {
  const current = (typeof target.error === 'object' && target.error !== null ? target.error : {}) as Partial<StepError>;
  if (current.transient === false && current.code === code && current.message === message) return 'nothing';
  const error: StepError = { step: 'document', code, message, transient: false, failures: 1, at: now, retryAt: null };
  if (!(await recordError(target.ref, target.stage, error, orphans))) return 'fenced';
  logger.error('relation flagged for a person', { order: target.order, code, message, possibleOrphans: orphans.length || undefined });
  return 'flagged';
}

/**
 * Sets the order's status, looking first, every time: a customer's CANCELLED
 * must never be overwritten, the API has no optimistic concurrency to do it
 * for us, and an update whose reply was lost may or may not have landed. An
 * order already at the status, or further along, is left as it is.
 */
async function moveOrder(deps: Deps, order: string, to: OrderStatusName): Promise<'moved' | 'cancelled'> {
  let lastError: unknown;
  for (let round = 1; round <= MOVE_ORDER_ROUNDS; round++) {
    const seen = await deps.food.getOrder(order);
    if (seen.status === 'CANCELLED') return 'cancelled';
    if (orderStatusRank(seen.status) >= orderStatusRank(to)) return 'moved';
    try {
      await deps.food.updateOrderStatus(order, to);
      return 'moved';
    } catch (error) {
      // The order moved under us, or the reply was lost: look again before trying again.
      const lookAgain = error instanceof FoodServiceError && (error.transient || error.code === status.FAILED_PRECONDITION);
      if (!lookAgain) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

/** Ends the attempt and records the failure on the relation, so the poller retries it or a person sees it. */
async function stepFailed(
  ctx: StepContext,
  step: Step,
  claim: HeldClaim | null,
  progress: StepProgress,
  error: unknown,
): Promise<AdvanceResult> {
  const { ref, relation, deps } = ctx;
  const failure = classifyFailure(error, progress);
  (failure.transient ? logger.warn : logger.error)('step failed', {
    order: relation.order,
    step,
    ...failure,
    created: progress.created ?? undefined,
    attempt: claim?.attempt,
  });
  if (claim) {
    // The claim keeps the created name, if any, so the next attempt adopts it.
    await failClaim(claim, failure, deps.now(), progress.created ?? undefined).catch((cause: unknown) =>
      logger.error('could not end the claim; its lease will expire', {
        order: relation.order,
        step,
        attempt: claim.attempt,
        created: progress.created ?? undefined,
        error: describeError(cause),
      }),
    );
  }
  await recordError(
    ref,
    relation.stage,
    stepError(step, failure, relation.error, deps.now(), deps.config.pollIntervalSeconds, deps.config.faultRetryLimit),
    [],
    claim?.ref,
  );
  return 'failed';
}
