// Keeps two polls from running at once: leases/poll names who polls and until
// when, and remembers when the last poll started, which keeps the cadence
// across invocations. Taken and given back in transactions. A document that
// cannot be read (a hand edit, a value of the wrong type) is replaced, not
// obeyed: a broken lease must not stop every poll.
import type { DocumentSnapshot } from './database';
import { store } from './db';
import { describeValue, LEASES, toDate } from './schema';

const leaseRef = () => store().collection(LEASES).doc('poll');

interface LeaseState {
  holder: string | null;
  expiresAt: Date | null;
  lastPollAt: Date | null;
}

/** The lease as stored, and what was wrong with it, if anything. */
function readLease(snapshot: DocumentSnapshot): { state: LeaseState; problem?: string } {
  if (!snapshot.exists) return { state: { holder: null, expiresAt: null, lastPollAt: null } };
  const data = snapshot.data() ?? {};
  const expiresAt = toDate(data.expiresAt);
  const lastPollAt = toDate(data.lastPollAt);
  const problems = [
    typeof data.holder === 'string' || data.holder === null ? null : `holder ${describeValue(data.holder)}`,
    expiresAt || data.expiresAt === null ? null : `expiresAt ${describeValue(data.expiresAt)}`,
    lastPollAt || data.lastPollAt === null || data.lastPollAt === undefined ? null : `lastPollAt ${describeValue(data.lastPollAt)}`,
  ].filter((p): p is string => p !== null);
  const state = { holder: typeof data.holder === 'string' ? data.holder : null, expiresAt, lastPollAt };
  return problems.length ? { state, problem: `${snapshot.ref.path} was malformed (${problems.join(', ')}); replaced` } : { state };
}

export type Acquired =
  { acquired: true; lastPollAt: Date | null; repaired?: string } | { acquired: false; holder: string; expiresAt: Date; repaired?: string };

/** Takes the lease for `ttlMs` unless someone else holds it. */
export async function acquirePollLease(holder: string, ttlMs: number, now: Date): Promise<Acquired> {
  return store().runTransaction(async (tx) => {
    const { state, problem } = readLease(await tx.get(leaseRef()));
    const repaired = problem ? { repaired: problem } : {};
    if (state.holder && state.holder !== holder && state.expiresAt && state.expiresAt > now) {
      return { acquired: false, holder: state.holder, expiresAt: state.expiresAt, ...repaired };
    }
    tx.set(leaseRef(), {
      holder,
      acquiredAt: now,
      expiresAt: new Date(now.getTime() + ttlMs),
      lastPollAt: state.lastPollAt,
    });
    return { acquired: true, lastPollAt: state.lastPollAt, ...repaired };
  });
}

/** Extends a lease its holder still has; false if someone else took it. */
export async function renewPollLease(holder: string, ttlMs: number, now: Date): Promise<boolean> {
  return store().runTransaction(async (tx) => {
    const { state } = readLease(await tx.get(leaseRef()));
    if (state.holder !== holder) return false;
    tx.update(leaseRef(), { expiresAt: new Date(now.getTime() + ttlMs) });
    return true;
  });
}

/** Gives the lease back, recording when the poll it covered started; a holder that lost it changes nothing. */
export async function releasePollLease(holder: string, now: Date, polledAt: Date | null): Promise<void> {
  await store().runTransaction(async (tx) => {
    const { state } = readLease(await tx.get(leaseRef()));
    if (state.holder !== holder) return;
    tx.update(leaseRef(), {
      holder: null,
      expiresAt: now,
      ...(polledAt ? { lastPollAt: polledAt } : {}),
    });
  });
}

/** When the last poll started, without taking the lease (null if never, or unreadable). */
export async function lastPollAt(): Promise<Date | null> {
  return readLease(await leaseRef().get()).state.lastPollAt;
}
