// The poll lease (leases/poll): keeps two polls from running at once, and records when the last
// started, for the cadence across invocations. One that cannot be read, or runs further ahead than
// any lease a poll takes, is replaced, not obeyed: a broken lease must not stop every poll.
import { z } from 'zod';

import type { DocumentSnapshot } from './database';
import { store } from './db';
import { LEASES } from './schema';
import { describeValue, expected, orNull, parseOr, timestamp } from '../model/fields';
import { CLOCK_SKEW_MS } from '../model/update-time';

const leaseRef = () => store().collection(LEASES).doc('poll');

/** The longest lease a poll takes (it renews while it runs); one further ahead is not a poll's. */
export const MAX_POLL_LEASE_MS = 30_000;

/** Who polls, until when, and when the last poll started. */
const PollLease = z.object({
  holder: z.string(expected('null or a holder')).nullable(),
  expiresAt: timestamp.nullable(),
  lastPollAt: orNull(timestamp),
});
type LeaseState = z.output<typeof PollLease>;

/** The lease as stored, and what is wrong with it (given `now`, whether it runs too far ahead). */
function readLease(
  snapshot: DocumentSnapshot,
  now?: Date,
): { state: LeaseState; problem?: string } {
  if (!snapshot.exists) return { state: { holder: null, expiresAt: null, lastPollAt: null } };
  const data = snapshot.data() ?? {};
  const { value: state, problems } = parseOr(PollLease, data, { holder: null, expiresAt: null });
  const { expiresAt } = state;
  if (now && expiresAt && expiresAt.getTime() > now.getTime() + MAX_POLL_LEASE_MS + CLOCK_SKEW_MS) {
    problems.push(
      `expiresAt ${expiresAt.toISOString()} is further ahead than the longest lease a poll takes (${MAX_POLL_LEASE_MS / 1000} s), held by ${describeValue(data.holder)}`,
    );
  }
  return problems.length
    ? { state, problem: `${snapshot.ref.path} was malformed (${problems.join('; ')}); replaced` }
    : { state };
}

type Repair = { repaired?: string; repairedHolder?: string | null };
export type Acquired = (
  { acquired: true; lastPollAt: Date | null } | { acquired: false; holder: string; expiresAt: Date }
) &
  Repair;

function checkTtl(ttlMs: number): void {
  if (!(ttlMs > 0 && ttlMs <= MAX_POLL_LEASE_MS))
    throw new RangeError(`a poll lease lasts up to ${MAX_POLL_LEASE_MS} ms, not ${ttlMs}`);
}

/** Takes the lease unless another holds it; one malformed or too far ahead is taken over. */
export async function acquirePollLease(
  holder: string,
  ttlMs: number,
  now: Date,
): Promise<Acquired> {
  checkTtl(ttlMs);
  return store().runTransaction(async (tx) => {
    const { state, problem } = readLease(await tx.get(leaseRef()), now);
    const repaired: Repair = problem ? { repaired: problem, repairedHolder: state.holder } : {};
    if (
      !problem &&
      state.holder &&
      state.holder !== holder &&
      state.expiresAt &&
      state.expiresAt > now
    ) {
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
  checkTtl(ttlMs);
  return store().runTransaction(async (tx) => {
    const { state } = readLease(await tx.get(leaseRef()));
    if (state.holder !== holder) return false;
    tx.update(leaseRef(), { expiresAt: new Date(now.getTime() + ttlMs) });
    return true;
  });
}

/** Gives the lease back with when its poll started; a holder that lost it changes nothing. */
export async function releasePollLease(
  holder: string,
  now: Date,
  polledAt: Date | null,
): Promise<void> {
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
