// The food service's update_time (RFC 3339, to nanoseconds), compared exactly: two updates within
// one millisecond must still tell apart, so these never become Dates.
/** How far the food service's clock may be from ours: a held update is told by when it landed. */
export const CLOCK_SKEW_MS = 5_000;

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Nanoseconds since the epoch, or null for a value that is not an RFC 3339 time. */
export function updateTimeNanos(value: string): bigint | null {
  const match = RFC3339.exec(value);
  if (!match) return null;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(seconds)) return null;
  return BigInt(seconds) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
}

export function isUpdateTime(value: unknown): value is string {
  return typeof value === 'string' && updateTimeNanos(value) !== null;
}

export function isLater(a: string, b: string): boolean {
  const x = updateTimeNanos(a);
  const y = updateTimeNanos(b);
  return x !== null && y !== null && x > y;
}

/** The later of two update times, either of which may be unknown. */
export function latestUpdateTime(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return a ?? b;
  return isLater(b, a) ? b : a;
}
