/**
 * A limit on work in flight, shared by everything one poll does, so the
 * limit holds for the poll as a whole and not per page or per kind of call.
 * A finishing task hands its slot straight to the next waiting one, so a
 * newcomer can never slip in between and exceed the limit.
 */
export type Limit = <T>(work: () => Promise<T>) => Promise<T>;

export function createLimiter(limit: number): Limit {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    if (active < limit) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/** Gives the slot back; calling it again does nothing. */
export type Release = () => void;

export interface Slots {
  readonly limit: number;
  /** Slots held now. */
  readonly inFlight: number;
  /** Callers waiting for one. */
  readonly waiting: number;
  /** A slot, or null if none came free before `deadline` (epoch ms). */
  acquire(deadline: number): Promise<Release | null>;
}

/**
 * Slots with a deadline on the wait: the food client holds one per call, so
 * an instance never has more than `limit` calls in flight, and a call that
 * cannot get one within its own deadline fails without being sent. Like
 * createLimiter, a released slot passes straight to the oldest waiter.
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

  return {
    limit,
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return waiters.size;
    },
    acquire(deadline: number): Promise<Release | null> {
      if (inFlight < limit) {
        inFlight++;
        return Promise.resolve(release());
      }
      const waitMs = deadline - Date.now();
      if (waitMs <= 0) return Promise.resolve(null);
      return new Promise((resolve) => {
        const waiter = {
          grant: (granted: Release) => {
            clearTimeout(timer);
            resolve(granted);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          resolve(null);
        }, waitMs);
        waiters.add(waiter);
      });
    },
  };
}
