// Exponential backoff with full jitter, so clients that failed together do not retry together.
// Shared by the food client's read retries and the step retries the poller wakes.

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
}

/** The longest wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed. */
export function backoffBoundMs(attempt: number, policy: Omit<RetryPolicy, 'maxAttempts'>): number {
  return Math.min(
    policy.maxBackoffMs,
    policy.initialBackoffMs * policy.multiplier ** (attempt - 1),
  );
}

export function backoffMs(
  attempt: number,
  policy: Omit<RetryPolicy, 'maxAttempts'>,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffBoundMs(attempt, policy));
}

/** The longest a retried call can take: every attempt's deadline and the longest waits between. */
export function worstCaseMs(deadlineMs: number, policy: RetryPolicy): number {
  let total = policy.maxAttempts * deadlineMs;
  for (let attempt = 1; attempt < policy.maxAttempts; attempt++)
    total += backoffBoundMs(attempt, policy);
  return total;
}
