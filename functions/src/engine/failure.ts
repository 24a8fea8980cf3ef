// What a failed step means, decided without I/O: whether waiting helps, and whether its create may
// exist on the food service unnamed (the one case the next attempt must note).
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
  created: string | null;
  lateUpdates: LateUpdate[];
  /** Its update that landed: if the record after it fails, a window to keep like the others. */
  landed?: LateUpdate;
  /** The flag it found; if writing it fails, the failure's record writes it instead. */
  flag?: StepError;
}

export function classifyFailure(error: unknown, progress: StepProgress): AttemptFailure {
  const message = progress.created
    ? `created ${progress.created} but could not finish the step: ${describeError(error)}`
    : describeError(error);
  // Ambiguous only while the create's outcome is unknown: a known name is on the claim (or in this
  // message and the log), and a failure that proves nothing was sent leaves nothing to know.
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

/** A transient fault that usually heals, but may not (FAILURE_TABLE's `retry-bounded` codes). */
function isBoundedFault(error: Pick<StepError, 'code' | 'transient'>): boolean {
  return error.transient && BOUNDED_FAULT_CODES.has(error.code);
}

/**
 * The poller retries at `retryAt`. `failures` counts tries in a row of one kind: an outage before
 * the first bounded fault does not count against `faultRetryLimit` (docs/ARCHITECTURE.md#failures).
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
  // Past the limit, a fault that usually heals waits for a person.
  const exhausted = bounded && failures >= faultRetryLimit;
  const retries = failure.transient && !exhausted;
  const interval = pollIntervalSeconds * 1000;
  const backoff = { initialBackoffMs: interval, maxBackoffMs: 10 * interval, multiplier: 2 };
  return {
    step,
    code: failure.code,
    message: exhausted
      ? `${failure.message} (${failures} tries in a row failed with faults that usually heal; FAULT_RETRY_LIMIT is ${faultRetryLimit})`
      : failure.message,
    transient: retries,
    failures,
    at: now,
    retryAt: retries ? new Date(now.getTime() + interval + backoffMs(failures, backoff)) : null,
  };
}
