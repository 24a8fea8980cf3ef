// Retrying a call after a transient failure, with the shared backoff.
import { backoffMs, type RetryPolicy } from '../backoff';

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

export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  shouldRetry: (error: unknown, attemptNumber: number) => boolean,
  policy: RetryPolicy,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= policy.maxAttempts || !shouldRetry(error, n)) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoffMs(n, policy)));
    }
  }
}
