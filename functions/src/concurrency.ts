// Bounds on work in flight: the food client's slots, and the poll's limit built on them.
/** Gives the slot back; calling it again does nothing. */
export type Release = () => void;

export interface Slots {
  readonly limit: number;
  tryAcquire(): Release | null;
  /** A slot, or null if none came free before `deadline` (epoch ms; Infinity waits for one). */
  acquire(deadline: number): Promise<Release | null>;
}

/**
 * The food client holds a slot per call; a call that gets none within its deadline fails unsent.
 * A released slot passes straight to the oldest waiter, so no newcomer slips in over the limit.
 */
export function createSlots(limit: number): Slots {
  if (!Number.isInteger(limit) || limit < 1)
    throw new Error(`a slot limit must be a positive integer, got ${limit}`);
  let inFlight = 0;
  const waiters = new Set<{ grant: (release: Release) => void }>();

  const release = (): Release => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const [next] = waiters;
      if (next) {
        waiters.delete(next);
        next.grant(release());
      } else {
        inFlight--;
      }
    };
  };

  const tryAcquire = (): Release | null => {
    if (inFlight >= limit) return null;
    inFlight++;
    return release();
  };

  return {
    limit,
    tryAcquire,
    acquire(deadline: number): Promise<Release | null> {
      const now = tryAcquire();
      if (now) return Promise.resolve(now);
      const waitMs = deadline - Date.now();
      if (waitMs <= 0) return Promise.resolve(null);
      return new Promise((resolve) => {
        const waiter = {
          grant: (granted: Release) => {
            clearTimeout(timer);
            resolve(granted);
          },
        };
        const timer =
          waitMs === Infinity
            ? undefined
            : setTimeout(() => {
                waiters.delete(waiter);
                resolve(null);
              }, waitMs);
        waiters.add(waiter);
      });
    },
  };
}

/** Shared by everything one poll does, so it holds for the poll, not per page or kind of call. */
export type Limit = <T>(work: () => Promise<T>) => Promise<T>;

export function createLimiter(limit: number): Limit {
  const slots = createSlots(limit);
  return async <T>(work: () => Promise<T>): Promise<T> => {
    const release = slots.tryAcquire() ?? (await slots.acquire(Infinity));
    try {
      return await work();
    } finally {
      release?.();
    }
  };
}
