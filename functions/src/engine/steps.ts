// The steps of an order's life, each written as the process it runs. Any event may run a step,
// twice, late or concurrently: the claims, the look before every write and the fenced records make
// that harmless (docs/ARCHITECTURE.md#the-step-protocol).
import { randomUUID } from 'node:crypto';

import { status } from '@grpc/grpc-js';
import * as logger from 'firebase-functions/logger';

import {
  claimLeaseSeconds,
  heldAfter,
  lateWriteWatchMs,
  MOVE_ORDER_ROUNDS,
  sendWindowEnd,
  type Config,
} from '../config';
import { describeError } from '../describe-error';
import { FoodServiceError, pastDeadlineError } from '../food/errors';
import {
  isFlaggedOverwritten,
  isOverwritten,
  overwriteFlag,
  type OrderSeen,
  type OverwriteFlag,
} from '../model/overwrite';
import {
  CREATE_STEPS,
  type CreateStep,
  type LateUpdate,
  type Relation,
  type Step,
  type StepError,
} from '../model/relation';
import { isTerminal, type Finish, type Outcome } from '../model/stage';
import { orderStatusRank, type OrderStatusName } from '../model/statuses';
import { claimStep, failClaim, nameOnClaim, type HeldClaim } from './claims';
import type { DocumentReference } from '../store/database';
import {
  announceFinish,
  clearExpiry,
  releaseFinishWindow,
  recordError,
  recordProgress,
  type Made,
  type Progress,
} from './records';
import { readRelation } from '../store/relations';
import { EXPIRE_AT, isNewerSchema, SCHEMA_VERSION } from '../store/schema';
import { judgeLook } from './look';
import type { Deps } from './deps';
import { classifyFailure, stepError, type StepProgress } from './failure';

export type AdvanceResult =
  | 'gone'
  | 'nothing'
  | 'flagged'
  | 'taken'
  | 'advanced'
  | 'cancelled'
  | 'closed'
  | 'failed'
  | 'fenced'
  | 'paused'
  | 'newer'
  | 'unexpired';

export interface Run {
  ref: DocumentReference;
  relation: Relation;
  eventId: string;
  deps: Deps;
}

/** Reads the relation for one run of the trigger, or says why there is nothing to do. */
export async function begin(
  ref: DocumentReference,
  eventId: string,
  deps: Deps,
): Promise<Run | AdvanceResult> {
  const control = await deps.killSwitch();
  if (control.paused) {
    // The poller wakes this relation after the resume (poller/observe.ts, needsNudge).
    logger.info('paused: the event is left for the poller to pick up after the resume', {
      relation: ref.path,
      eventId,
    });
    return 'paused';
  }
  const stored = await readRelation(ref);
  if (!stored) return 'gone';
  if (isNewerSchema(stored.parsed)) {
    logger.warn('relation written by a newer version of the orchestrator; left alone', {
      order: String(stored.data.order),
      schemaVersion: stored.parsed.newerSchema,
      supported: SCHEMA_VERSION,
    });
    return 'newer';
  }
  if (!stored.parsed.ok) {
    const { data } = stored;
    const target = { ref, order: String(data.order), stage: data.stage, error: data.error };
    const message = `the relation document is malformed: ${stored.parsed.problems.join('; ')}`;
    const error = flagError('INVALID_DOCUMENT', message, deps.now());
    return flagRelation(target, error, deps.config.retentionDays);
  }
  const relation = stored.parsed.value;
  if (!isTerminal(relation.stage) && stored.data[EXPIRE_AT] !== undefined) {
    // Made live again by hand: off the TTL policy first; that write brings the next event.
    const cleared = await clearExpiry(ref, relation.stage);
    if (cleared)
      logger.warn('a live relation carried expireAt; removed it', { order: relation.order });
    return cleared ? 'unexpired' : 'fenced';
  }
  return { ref, relation, eventId, deps };
}

export type Created = Pick<Made, 'name' | 'status'>;

/** Makes what `step` makes, once, then moves the order to the step's stage. */
export async function once(
  run: Run,
  step: CreateStep,
  create: () => Promise<Created>,
): Promise<AdvanceResult> {
  const { ref, relation, eventId, deps } = run;
  const { from, to, field } = CREATE_STEPS[step];
  const retentionDays = deps.config.retentionDays;

  // 1. Claim the step: one attempt at a time, adopting a name an earlier attempt made.
  const claim = await claimStep({
    relation: ref,
    step,
    eventId,
    now: deps.now(),
    leaseMs: claimLeaseSeconds(deps.config) * 1000,
    maxAmbiguous: deps.config.maxAmbiguousRetries,
    retentionDays,
    ...lateness(deps.config),
  });
  switch (claim.kind) {
    case 'claimed':
      break;
    case 'taken':
      logger.debug('step is claimed by another attempt', {
        order: relation.order,
        step,
        attempt: claim.attempt,
      });
      return 'taken';
    case 'moved':
      return 'fenced';
    case 'malformed':
      return flag(
        run,
        'INVALID_CLAIM',
        `${claim.message}; fix or delete it, then retry the relation`,
      );
    case 'exhausted':
      return flag(
        run,
        'ATTEMPTS_EXHAUSTED',
        `${step} was attempted ${claim.attempt} times, and ${claim.possibleOrphans} of them may have created something ` +
          '(see possibleOrphans); reconcile them with the food service, then retry the relation',
      );
    default: {
      const unreachable: never = claim;
      throw new Error(`unhandled claim ${JSON.stringify(unreachable)}`);
    }
  }

  const progress: StepProgress = { sent: false, created: null, lateUpdates: [] };
  // Every look below judges by the relation as the claim read it, not as it was when decided.
  const known = { ...relation, ...claim.known };
  try {
    // 2. Look: nothing is made unless the order is exactly where the step expects it.
    const order = await deps.food.getOrder(relation.order);
    const look = judgeLook(known, step, order, claim.adopt !== null);
    if (look.action === 'cancelled') {
      const failure = { code: 'CANCELLED', message: 'the customer cancelled the order first' };
      await failClaim(claim, { ...failure, ...NOT_SENT }, deps.now(), retentionDays);
      return await recordCancellation(run, null, order.updateTime);
    }
    if (look.action === 'flag')
      return await flagAttempt(run, claim, progress, look.code, look.message, look.orderUpdateTime);

    // 3. Create, unless adopting.
    let made: Made;
    if (claim.adopt) {
      made = { field, name: claim.adopt, status: null };
    } else {
      progress.sent = true;
      const created = await create();
      made = { field, name: created.name, status: created.status };
      progress.created = created.name;
    }

    // 4. Name on the claim, at once: from here on no attempt creates again.
    const sendUntil = sendWindowEnd(deps.now(), deps.config);
    const window: SendWindow = { open: async () => sendUntil };
    await nameOnClaim(claim, made.name, claim.adopt !== null, deps.now(), retentionDays, {
      sendUntil,
      seenUpdateTime: order.updateTime,
    });

    // 5. Move the order, looking before every update.
    const moved = await moveOrder(deps, known, to, progress, window);
    if (moved.outcome === 'overwritten')
      return await flagAttempt(
        run,
        claim,
        progress,
        moved.code,
        moved.message,
        moved.orderUpdateTime,
      );
    if (moved.outcome === 'cancelled')
      return await recordCancellation(
        run,
        { made, claim, lateUpdates: progress.lateUpdates },
        moved.knownUpdateTime,
      );

    // 6. Record, fenced: only while the stage and the claim are still this attempt's.
    const recorded = await record(run, {
      step,
      from,
      to,
      claim,
      made,
      knownUpdateTime: moved.knownUpdateTime,
      lateUpdates: progress.lateUpdates,
    });
    logger.info(
      recorded === 'recorded'
        ? 'relation advanced'
        : 'step fenced out: another attempt moved the relation first',
      {
        order: relation.order,
        step,
        from,
        to,
        created: made.name,
        adopted: claim.adopt !== null || undefined,
        attempt: claim.attempt,
      },
    );
    return recorded === 'recorded' ? 'advanced' : 'fenced';
  } catch (error) {
    return stepFailed(run, step, claim, progress, error);
  }
}

/** IN_FLIGHT → DELIVERED or REJECTED, as the shipment ended: move the order, then record. */
export async function finish(run: Run, to: Finish): Promise<AdvanceResult> {
  const { relation, deps } = run;
  const progress: StepProgress = { sent: false, created: null, lateUpdates: [] };
  const window = finishWindow(run, to, progress);
  try {
    const moved = await moveOrder(deps, relation, to, progress, window);
    if (moved.outcome === 'overwritten') {
      progress.flag = flagError(moved.code, moved.message, deps.now(), moved.orderUpdateTime);
      return await flagRun(run, progress.flag);
    }
    if (moved.outcome === 'cancelled')
      return await recordCancellation(
        run,
        { lateUpdates: progress.lateUpdates },
        moved.knownUpdateTime,
      );
    const recorded = await record(run, {
      step: 'finish',
      to,
      entryWritten: true,
      knownUpdateTime: moved.knownUpdateTime,
      lateUpdates: progress.lateUpdates,
    });
    if (recorded === 'recorded')
      logger.info('order finished', { order: relation.order, outcome: to });
    return recorded === 'recorded' ? 'advanced' : 'fenced';
  } catch (error) {
    try {
      return await stepFailed(run, 'finish', null, progress, error);
    } finally {
      // Sent nothing that could land: give it up, so a landing in it reads as held, even if the
      // failure could not be recorded.
      if (!window.used)
        await window.release?.().catch((cause: unknown) => {
          logger.warn(
            'could not give up the finish window; the next finisher waits for it to pass',
            {
              order: run.relation.order,
              error: describeError(cause),
            },
          );
        });
    }
  }
}

export function cancel(run: Run): Promise<AdvanceResult> {
  return recordCancellation(run, null, run.relation.orderUpdateTime);
}

/** The customer's word is final: what was made is recorded, and what may still be made is noted. */
async function recordCancellation(
  run: Run,
  step: { made?: Made; claim?: HeldClaim; lateUpdates?: readonly LateUpdate[] } | null,
  knownUpdateTime: string | null,
): Promise<AdvanceResult> {
  const { relation } = run;
  const recorded = await record(run, {
    step: 'cancel',
    to: 'CANCELLED',
    knownUpdateTime,
    ...(step?.made ? { made: step.made } : {}),
    ...(step?.claim ? { claim: step.claim } : {}),
    ...(step?.lateUpdates?.length ? { lateUpdates: step.lateUpdates } : {}),
  });
  if (recorded === 'recorded') {
    logger.info('order cancelled by the customer; nothing more is created or updated', {
      order: relation.order,
      from: relation.stage,
      made: step?.made?.name,
    });
  }
  return recorded === 'recorded' ? 'cancelled' : 'fenced';
}

/** A flagged relation whose order ended: record how, keep the flag, stop polling it. */
export async function close(run: Run, to: Outcome): Promise<AdvanceResult> {
  const { relation, deps } = run;
  const recorded = await record(run, {
    step: 'close',
    to,
    keepError: true,
    ...(relation.error && isFlaggedOverwritten(relation)
      ? { raise: raisedAsEnded(relation.error, to, relation.orderUpdateTime, deps.now()) }
      : {}),
    knownUpdateTime: relation.orderUpdateTime,
  });
  if (recorded === 'recorded')
    logger.warn('flagged relation closed: its order ended on the food service', {
      order: relation.order,
      outcome: to,
      flag: relation.error?.code,
    });
  return recorded === 'recorded' ? 'closed' : 'fenced';
}

/**
 * An overwrite flag read before the order ended does not cover how it ended, which may be a held
 * update of ours over a cancel too: raised anew, a retry naming the old one is refused
 * (seed 50511).
 */
function raisedAsEnded(flag: StepError, to: Outcome, endedAt: string | null, now: Date): StepError {
  const ended = `then the order ended ${to}${endedAt ? ` at ${endedAt}` : ''}`;
  return { ...flag, at: now, message: `${flag.message}; ${ended}: look at the order again` };
}

/** Records the run's step, fenced; every path that ends a relation sets its watch here. */
function record(
  run: Run,
  progress: Omit<Progress, 'from' | 'eventId' | 'retentionDays' | 'lateWriteWatchMs'> &
    Partial<Pick<Progress, 'from'>>,
): Promise<'recorded' | 'fenced'> {
  const { ref, relation, eventId, deps } = run;
  return recordProgress(
    ref,
    {
      from: relation.stage,
      eventId,
      retentionDays: deps.config.retentionDays,
      lateWriteWatchMs: lateWriteWatchMs(deps.config),
      ...progress,
    },
    deps.now(),
  );
}

/** A failure that proves nothing was sent: there is nothing to retry, and nothing may exist. */
const NOT_SENT = { transient: false, ambiguous: false };

/** Ends the attempt with a flag for a person; its updates that may still land are kept. */
async function flagAttempt(
  run: Run,
  claim: HeldClaim,
  progress: StepProgress,
  code: string,
  message: string,
  orderUpdateTime?: string,
): Promise<AdvanceResult> {
  const { deps } = run;
  progress.flag = flagError(code, message, deps.now(), orderUpdateTime);
  await failClaim(claim, { code, message, ...NOT_SENT }, deps.now(), deps.config.retentionDays, {
    error: progress.flag,
    lateUpdates: progress.lateUpdates,
  });
  logger.error('relation flagged for a person', { order: run.relation.order, code, message });
  return 'flagged';
}

function flagError(code: string, message: string, at: Date, orderUpdateTime?: string): StepError {
  return {
    step: 'document',
    code,
    message,
    transient: false,
    failures: 1,
    at,
    retryAt: null,
    ...(orderUpdateTime ? { orderUpdateTime } : {}),
  };
}

/** Enough of a relation to fence a flag and keep it a fixpoint, even for a malformed document. */
interface FlagTarget {
  ref: DocumentReference;
  order: string;
  /** The stage as stored (the write is fenced on it). */
  stage: unknown;
  error: unknown;
}

/** Records a flag once: the same flag again writes nothing (fixpoint). */
async function flagRelation(
  target: FlagTarget,
  error: StepError,
  retentionDays: number,
): Promise<AdvanceResult> {
  const { code, message } = error;
  const current = (
    typeof target.error === 'object' && target.error !== null ? target.error : {}
  ) as Partial<StepError>;
  if (current.transient === false && current.code === code && current.message === message)
    return 'nothing';
  if (!(await recordError(target.ref, target.stage, error, retentionDays))) return 'fenced';
  logger.error('relation flagged for a person', { order: target.order, code, message });
  return 'flagged';
}

export function flag(
  run: Run,
  code: string,
  message: string,
  orderUpdateTime?: string,
): Promise<AdvanceResult> {
  return flagRun(run, flagError(code, message, run.deps.now(), orderUpdateTime));
}

function flagRun(run: Run, error: StepError): Promise<AdvanceResult> {
  const { ref, relation, deps } = run;
  const target = { ref, order: relation.order, stage: relation.stage, error: relation.error };
  return flagRelation(target, error, deps.config.retentionDays);
}

type Moved =
  | { outcome: 'moved' | 'cancelled'; knownUpdateTime: string }
  | ({ outcome: 'overwritten' } & OverwriteFlag);

/**
 * A send window, on record before any update in it (docs/ARCHITECTURE.md#late-writes). Never moved
 * on: a write that did so could reach Firestore after the window ended, and stretch it over a time
 * nothing was sent in.
 */
interface SendWindow {
  /**
   * Opens it, on record, after the look before the first update (which saw `seen`: an update sent
   * in it lands later); returns its end. Called before that look is judged, which its earlier
   * senders' windows may take part in.
   */
  open(seen: OrderSeen): Promise<Date>;
  /** Set once an update sent in it may land (or did): only then does it cover a landing. */
  used?: boolean;
  /** Gives up a finisher's own window that nothing able to land was sent in. */
  release?(): Promise<boolean>;
}

/**
 * The poller's window while a send still fits in it, so the finish writes nothing before its
 * update. Otherwise the finisher opens its own on its history entry, and what was sent in the
 * poller's window becomes an earlier sender's update that may land late.
 */
function finishWindow(run: Run, to: Finish, progress: StepProgress): SendWindow {
  const { ref, relation, eventId, deps } = run;
  const opened = relation.finishWindow?.to === to ? relation.finishWindow : null;
  const holder = randomUUID();
  let own = false;
  return {
    open: async (seen) => {
      const now = deps.now();
      if (opened && opened.sendUntil.getTime() - now.getTime() >= deps.config.rpcDeadlineMs)
        return opened.sendUntil;
      own = true;
      if (opened)
        progress.lateUpdates.push({
          status: to,
          sentAt: opened.at,
          heldAfter: heldAfter(opened.sendUntil, deps.config),
          seenUpdateTime: null,
        });
      const announced = await announceFinish(
        ref,
        { from: relation.stage, to, eventId },
        now,
        { sendUntil: sendWindowEnd(now, deps.config), holder, seenUpdateTime: seen.updateTime },
        lateness(deps.config),
      );
      progress.lateUpdates.push(...announced.earlier);
      return announced.sendUntil;
    },
    release: async () => own && releaseFinishWindow(ref, to, holder),
  };
}

/** Tells when an earlier sender's update can only have been held (config.ts, heldAfter). */
function lateness(config: Config) {
  return {
    heldAfter: (sendUntil: Date) => heldAfter(sendUntil, config),
    invocationMs: config.advanceTimeoutSeconds * 1000,
  };
}

/** Looks before every update: the API has no optimistic concurrency to protect a CANCELLED. */
async function moveOrder(
  deps: Deps,
  relation: Relation,
  to: OrderStatusName,
  progress: StepProgress,
  window: SendWindow,
): Promise<Moved> {
  let lastError: unknown;
  let until: Date | null = null;
  for (let round = 1; round <= MOVE_ORDER_ROUNDS; round++) {
    const seen = await deps.food.getOrder(relation.order);
    if (seen.status === 'CANCELLED')
      return { outcome: 'cancelled', knownUpdateTime: seen.updateTime };
    until ??= await window.open(seen);
    // Judged with every window this step knows, its own earlier rounds' included, but not the one
    // it sends in: a landing there before its send may be a duplicate finisher's, or an earlier
    // sender's held one over a cancel made before the window opened. A false alarm, never a miss.
    const windows = [...relation.lateUpdates, ...progress.lateUpdates];
    if (isOverwritten({ ...relation, lateUpdates: windows }, seen, 'every window'))
      return { outcome: 'overwritten', ...overwriteFlag(relation, seen) };
    if (orderStatusRank(seen.status) >= orderStatusRank(to))
      return { outcome: 'moved', knownUpdateTime: seen.updateTime };
    // Past its window nothing is sent (the client refuses too): the next attempt opens its own.
    // An earlier round's fault is why, and counts (FAULT_RETRY_LIMIT); the window's end does not.
    if (until.getTime() <= deps.now().getTime()) {
      const notSent = pastDeadlineError(until);
      throw (
        lastError ??
        new FoodServiceError('UpdateOrder', relation.order, deps.config.address, notSent, 1)
      );
    }
    const sentAt = deps.now();
    const heldFrom = heldAfter(sentAt, deps.config);
    const update: LateUpdate = {
      status: to,
      sentAt,
      heldAfter: heldFrom,
      seenUpdateTime: seen.updateTime,
    };
    try {
      const updated = await deps.food.updateOrderStatus(relation.order, to, until);
      window.used = true;
      progress.landed = update;
      return { outcome: 'moved', knownUpdateTime: updated.updateTime };
    } catch (error) {
      const mayLand = !(error instanceof FoodServiceError) || error.mayHaveBeenApplied;
      window.used ||= mayLand;
      if (error instanceof FoodServiceError && mayLand) progress.lateUpdates.push(update);
      // The order moved under us, or the reply was lost: look again before trying again.
      const lookAgain =
        error instanceof FoodServiceError &&
        (error.transient || error.code === status.FAILED_PRECONDITION);
      if (!lookAgain) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

/** Records the failure (and ends the attempt), so the poller retries it or a person sees it. */
async function stepFailed(
  run: Run,
  step: Step,
  claim: HeldClaim | null,
  progress: StepProgress,
  error: unknown,
): Promise<AdvanceResult> {
  const { ref, relation, deps } = run;
  // A flag whose write failed is what its failure records, or a fault limit could hide it.
  const { flag: found } = progress;
  const failure = found
    ? { code: found.code, message: found.message, ...NOT_SENT }
    : classifyFailure(error, progress);
  (failure.transient ? logger.warn : logger.error)('step failed', {
    order: relation.order,
    step,
    ...failure,
    created: progress.created ?? undefined,
    attempt: claim?.attempt,
    flagWriteFailed: found ? describeError(error) : undefined,
  });
  const recorded =
    found ??
    stepError(
      step,
      failure,
      relation.error,
      deps.now(),
      deps.config.pollIntervalSeconds,
      deps.config.faultRetryLimit,
    );
  // A failed attempt's own window is not inherited: what it sent that landed is kept here.
  const late = progress.landed ? [...progress.lateUpdates, progress.landed] : progress.lateUpdates;
  if (!claim) {
    await recordError(ref, relation.stage, recorded, deps.config.retentionDays, late);
    return found ? 'flagged' : 'failed';
  }
  try {
    // The claim keeps the created name, so the next attempt adopts it.
    await failClaim(claim, failure, deps.now(), deps.config.retentionDays, {
      created: progress.created,
      error: recorded,
      lateUpdates: late,
    });
  } catch (cause) {
    // This log is the last trace of what it made; the next attempt notes it once the lease ends.
    logger.error('could not end the claim; its lease will expire', {
      order: relation.order,
      step,
      attempt: claim.attempt,
      created: progress.created ?? undefined,
      error: describeError(cause),
    });
    throw cause;
  }
  return found ? 'flagged' : 'failed';
}
