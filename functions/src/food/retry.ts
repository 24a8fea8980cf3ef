// Retrying a call after a transient failure, with the shared backoff.
import { backoffMs, type RetryPolicy } from '../backoff';
import { FoodServiceError } from './errors';

export function validateRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const { maxAttempts, initialBackoffMs, maxBackoffMs, multiplier } = policy;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new RangeError(`retry maxAttempts must be an integer >= 1, got ${maxAttempts}`);
  if (!(initialBackoffMs >= 0))
    throw new RangeError(`retry initialBackoffMs must be >= 0, got ${initialBackoffMs}`);
  if (!(maxBackoffMs >= initialBackoffMs))
    throw new RangeError(`retry maxBackoffMs must be >= initialBackoffMs, got ${maxBackoffMs}`);
  if (!(multiplier >= 1)) throw new RangeError(`retry multiplier must be >= 1, got ${multiplier}`);
  return policy;
}

/** A read worth trying again: a transient failure, but not a reply over the receive limit, which
 * comes back the same every time. */
export function retriesRead(error: unknown): error is FoodServiceError {
  return error instanceof FoodServiceError && error.transient && !error.overReceiveLimit;
}

export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  shouldRetry: (error: unknown, attemptNumber: number) => boolean,
  policy: RetryPolicy,
  // The simulation's clock, there; a timer here.
  sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= policy.maxAttempts || !shouldRetry(error, n)) throw error;
      await sleep(backoffMs(n, policy));
    }
  }
}
