// Keeps two pollers from running at once. Transactions are not isolated in
// the embedded emulator and lastUpdateTime preconditions are ignored there, so
// the lease is a chain of documents pollLeases/{generation}: taking the lease
// is a create() of the next generation, which exactly one caller wins, and a
// crashed holder's generation simply expires.
import { Timestamp } from 'firebase-admin/firestore';

import { db } from './db';
import { isAlreadyExists } from './errors';

const LEASES = 'pollLeases';

export interface PollLease {
  generation: number;
  holder: string;
}

export type Acquired =
  | { acquired: true; lease: PollLease; previousPollAt: Date | null }
  | { acquired: false; holder: string; expiresAt: Date };

function leaseRef(generation: number) {
  return db().collection(LEASES).doc(String(generation).padStart(12, '0'));
}

export async function acquirePollLease(holder: string, ttlMs: number, now: Date): Promise<Acquired> {
  const latest = (await db().collection(LEASES).orderBy('generation', 'desc').limit(1).get()).docs[0]?.data();
  const expiresAt = (latest?.expiresAt as Timestamp | undefined)?.toDate() ?? new Date(0);
  if (latest && !latest.releasedAt && expiresAt > now) {
    return { acquired: false, holder: String(latest.holder), expiresAt };
  }
  const generation = (typeof latest?.generation === 'number' ? latest.generation : 0) + 1;
  try {
    await leaseRef(generation).create({
      generation,
      holder,
      acquiredAt: Timestamp.fromDate(now),
      expiresAt: Timestamp.fromDate(new Date(now.getTime() + ttlMs)),
      lastPollAt: null,
      releasedAt: null,
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    return { acquired: false, holder: 'another poller (lost the race for the lease)', expiresAt: new Date(now.getTime() + ttlMs) };
  }
  // The generation before is inert now; keep the chain one link long.
  if (generation > 1) await leaseRef(generation - 1).delete();
  const lastPollAt = (latest?.lastPollAt as Timestamp | null | undefined)?.toDate() ?? null;
  return { acquired: true, lease: { generation, holder }, previousPollAt: lastPollAt };
}

/**
 * Extends the lease before another poll. False means a newer generation took
 * over (this holder stalled past its expiry), and the holder must stop.
 */
export async function renewPollLease(lease: PollLease, ttlMs: number, now: Date, polledAt: Date | null): Promise<boolean> {
  if ((await leaseRef(lease.generation + 1).get()).exists) return false;
  await leaseRef(lease.generation).update({
    expiresAt: Timestamp.fromDate(new Date(now.getTime() + ttlMs)),
    ...(polledAt ? { lastPollAt: Timestamp.fromDate(polledAt) } : {}),
  });
  return true;
}

export async function releasePollLease(lease: PollLease, now: Date, polledAt: Date | null): Promise<void> {
  await leaseRef(lease.generation).update({
    releasedAt: Timestamp.fromDate(now),
    ...(polledAt ? { lastPollAt: Timestamp.fromDate(polledAt) } : {}),
  });
}
