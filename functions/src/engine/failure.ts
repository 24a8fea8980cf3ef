// What a failed step means, decided without I/O: whether waiting helps, and
// whether the create it made may exist on the food service without anyone
// knowing its name (the only case the next attempt must note).
import { backoffMs } from '../backoff';
import { BOUNDED_FAULT_CODES, FoodServiceError } from '../food/errors';
import type { LateUpdate, Step, StepError } from '../model/relation';
import { firestoreCodeName, isTransientFirestoreError } from '../store/errors';
import type { AttemptFailure } from './claims';
import { describeError } from '../describe-error';

/** How far a create step got before it failed. */
export interface StepProgress {
  /** The create call was made (it may have reached the food service). */
  sent: boolean;
  /** The name the create returned, once known: nothing is ambiguous about it. */
  created: string | null;
  /** UpdateOrders sent whose outcome is unknown: they may still land. */
  lateUpdates: LateUpdate[];
}

export function classifyFailure(error: unknown, progress: StepProgress): AttemptFailure {
  const message = progress.created
    ? `created ${progress.created} but could not finish the step: ${describeError(error)}`
    : describeError(error);
  // Ambiguous only while the create's outcome is unknown: once its name is
  // known it is on the claim (or in this message and the log), and after a
  // failure that proves nothing was sent there is nothing to know.
  const createUnknown = progress.sent && progress.created === null;
  if (error instanceof FoodServiceError) {
    return {
      code: error.codeName,
      message,
      transient: error.transient,
      ambiguous: createUnknown && error.mayHaveHappened,
    };
  }
  return {
    code: firestoreCodeName(error),
    message,
    transient: isTransientFirestoreError(error),
    ambiguous: createUnknown,
  };
}

/** A transient failure of a kind that usually heals, but may not (FAILURE_TABLE's `retry-bounded` codes). */
function isBoundedFault(error: Pick<StepError, 'code' | 'transient'>): boolean {
  return error.transient && BOUNDED_FAULT_CODES.has(error.code);
}

/**
 * The error a failed step records. Transient failures back off in poll
 * intervals, capped at ten, for as long as they last: the poller is the clock
 * that retries them, so the work resumes without a person. A fault that
 * usually heals (RESOURCE_EXHAUSTED, INTERNAL, ...) is retried the same way,
 * but `faultRetryLimit` tries in a row of such faults flag the relation: it
 * may be for good. `failures` counts the tries in a row of one kind (bounded
 * or not), so an outage before the first such fault does not count against it.
 */
export function stepError(
  step: Step,
  failure: AttemptFailure,
  previous: StepError | null,
  now: Date,
  pollIntervalSeconds: number,
  faultRetryLimit: number,
): StepError {
  const bounded = isBoundedFault(failure);
  const failures =
    (previous?.step === step && isBoundedFault(previous) === bounded ? previous.failures : 0) + 1;
  if (bounded && failures >= faultRetryLimit) {
    const message = `${failure.message} (${failures} tries in a row failed with faults that usually heal; FAULT_RETRY_LIMIT is ${faultRetryLimit})`;
    return {
      step,
      code: failure.code,
      message,
      transient: false,
      failures,
      at: now,
      retryAt: null,
    };
  }
  const interval = pollIntervalSeconds * 1000;
  const retryAt = failure.transient
    ? new Date(
        now.getTime() +
          interval +
          backoffMs(failures, {
            initialBackoffMs: interval,
            maxBackoffMs: 10 * interval,
            multiplier: 2,
          }),
      )
    : null;
  return {
    step,
    code: failure.code,
    message: failure.message,
    transient: failure.transient,
    failures,
    at: now,
    retryAt,
  };
}
