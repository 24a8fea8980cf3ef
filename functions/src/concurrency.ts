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
