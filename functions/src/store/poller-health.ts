// health/poller, the poller's heartbeat: polls write their outcome here (an unchanged success at
// most every 10 s), so the stuck-order report can tell a poller that stopped, whatever stopped it
// (docs/OPERATIONS.md, "Alerts"). The first write starts the clock (`watchedSince`).
import type { DocumentData, DocumentSnapshot } from './database';
import {
  PollerHeartbeatDocument,
  type PollerHeartbeat,
  type UnrecordedOrder,
} from '../model/health';
import { store } from './db';
import { isAlreadyExists, isNotFound } from './errors';
import { HEALTH } from './schema';

export const POLLER_HEARTBEAT = 'poller';
/** A failure's message is kept this long at most: it comes from the food service or Firestore. */
const MAX_MESSAGE = 2_000;
/** Orders named in the heartbeat; the count covers the rest. */
export const UNRECORDED_SAMPLE = 10;

const heartbeatRef = () => store().collection(HEALTH).doc(POLLER_HEARTBEAT);

const clip = (text: string) =>
  text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}… (${text.length} characters)` : text;

async function mergeHeartbeat(
  at: Date,
  fields: (current: DocumentData) => DocumentData,
): Promise<void> {
  await store().runTransaction(async (tx) => {
    const current = (await tx.get(heartbeatRef())).data() ?? {
      watchedSince: at,
      consecutiveFailures: 0,
    };
    tx.set(heartbeatRef(), { ...current, ...fields(current) });
  });
}

/** One update, no transaction: it reads nothing. The first write creates it with `watchedSince`. */
export async function recordPollSuccess(
  at: Date,
  unrecorded: { count: number; sample: readonly UnrecordedOrder[] },
): Promise<void> {
  const fields = {
    lastSuccessAt: at,
    consecutiveFailures: 0,
    unrecorded: {
      at,
      count: unrecorded.count,
      sample: unrecorded.sample
        .slice(0, UNRECORDED_SAMPLE)
        .map(({ order, reason }) => ({ order, reason: clip(reason) })),
    },
  };
  try {
    await heartbeatRef().update(fields);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    // Two first writes at once: the loser's fields go on the winner's document.
    await heartbeatRef()
      .create({ watchedSince: at, ...fields })
      .catch(async (raced: unknown) => {
        if (!isAlreadyExists(raced)) throw raced;
        await heartbeatRef().update(fields);
      });
  }
}

/** A poll failed, or could not run (a held lease, a crash at start-up). */
export async function recordPollFailure(at: Date, code: string, message: string): Promise<void> {
  await mergeHeartbeat(at, (current) => ({
    lastFailure: { at, code, message: clip(message) },
    consecutiveFailures:
      (typeof current.consecutiveFailures === 'number' ? current.consecutiveFailures : 0) + 1,
  }));
}

/** Starts the clock for a poller that never wrote, when the report finds no heartbeat. */
export async function startWatchingPoller(at: Date): Promise<void> {
  try {
    await heartbeatRef().create({ watchedSince: at, consecutiveFailures: 0 });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
}

export function parseHeartbeat(snapshot: DocumentSnapshot): PollerHeartbeat | null {
  const data = snapshot.data();
  return snapshot.exists && data ? PollerHeartbeatDocument.parse(data) : null;
}

export async function readPollerHeartbeat(): Promise<PollerHeartbeat | null> {
  return parseHeartbeat(await heartbeatRef().get());
}
