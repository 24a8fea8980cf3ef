// Exponential backoff with full jitter: a retry waits a random time between 0
// and the capped exponential bound, so clients that failed together do not
// retry together.

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  initialBackoffMs: 100,
  maxBackoffMs: 2_000,
  multiplier: 2,
};

/** The wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed. */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const bound = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** (attempt - 1));
  return Math.floor(random() * bound);
}

export function validateRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const { maxAttempts, initialBackoffMs, maxBackoffMs, multiplier } = policy;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`retry maxAttempts must be an integer >= 1, got ${maxAttempts}`);
  if (!(initialBackoffMs >= 0)) throw new RangeError(`retry initialBackoffMs must be >= 0, got ${initialBackoffMs}`);
  if (!(maxBackoffMs >= initialBackoffMs)) throw new RangeError(`retry maxBackoffMs must be >= initialBackoffMs, got ${maxBackoffMs}`);
  if (!(multiplier >= 1)) throw new RangeError(`retry multiplier must be >= 1, got ${multiplier}`);
  return policy;
}

/**
 * Runs `attempt` until it succeeds, `shouldRetry` says no, or the policy's
 * attempts are spent; the last error is rethrown as it was.
 */
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
