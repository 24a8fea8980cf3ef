// The poller's heartbeat (health/poller), which whoever judges health reads with the kill switch.
// Recording never fails a poll: a heartbeat that cannot be written is logged, and the poller then
// looks silent, which is the safe side.
import * as logger from 'firebase-functions/logger';

import { describeError } from '../describe-error';
import { FoodServiceError } from '../food/errors';
import {
  judgePoller,
  type PollerStatus,
  type PollerWatchSettings,
  type UnrecordedOrder,
} from '../model/health';
import { readKillSwitch } from '../store/controls';
import { firestoreCodeName } from '../store/errors';
import {
  readPollerHeartbeat,
  recordPollFailure,
  recordPollSuccess,
  startWatchingPoller,
} from '../store/poller-health';

/** The gRPC code of a food-service or Firestore failure, else `fallback`. */
export function failureCode(error: unknown, fallback: string): string {
  if (error instanceof FoodServiceError) return error.codeName;
  return typeof (error as { code?: unknown } | null)?.code === 'number'
    ? firestoreCodeName(error)
    : fallback;
}

/**
 * Per invocation, a success that says nothing new is written at most this often: one document
 * takes about a write a second, and the watch counts in minutes. A first poll always writes.
 */
export const SUCCESS_WRITE_EVERY_MS = 10_000;

/** What an invocation last wrote to the heartbeat. */
export interface HeartbeatMemo {
  last?: { at: number; success: boolean; unrecorded: string };
}

export async function notePollSucceeded(
  at: Date,
  unrecorded: { count: number; sample: readonly UnrecordedOrder[] },
  memo: HeartbeatMemo = {},
): Promise<void> {
  const key = JSON.stringify([unrecorded.count, unrecorded.sample.map((u) => u.order)]);
  const age = memo.last ? at.getTime() - memo.last.at : Infinity;
  if (
    memo.last?.success &&
    memo.last.unrecorded === key &&
    age >= 0 &&
    age < SUCCESS_WRITE_EVERY_MS
  )
    return;
  try {
    await recordPollSuccess(at, unrecorded);
    memo.last = { at: at.getTime(), success: true, unrecorded: key };
  } catch (error) {
    logger.warn('could not record the poll in its heartbeat (health/poller)', {
      outcome: 'success',
      error: describeError(error),
    });
  }
}

export async function notePollFailed(
  at: Date,
  code: string,
  message: string,
  memo: HeartbeatMemo = {},
): Promise<void> {
  memo.last = { at: at.getTime(), success: false, unrecorded: '' };
  await recordPollFailure(at, code, message).catch((error: unknown) =>
    logger.warn('could not record the poll in its heartbeat (health/poller)', {
      outcome: 'failure',
      code,
      error: describeError(error),
    }),
  );
}

/** `startWatching` starts a never-seen poller's clock: the report does, as it always runs. */
export async function pollerStatus(
  now: Date,
  settings: PollerWatchSettings,
  startWatching: boolean,
): Promise<PollerStatus> {
  const [heartbeat, pause] = await Promise.all([readPollerHeartbeat(), readKillSwitch()]);
  if (!heartbeat && startWatching) await startWatchingPoller(now);
  return judgePoller(
    heartbeat ?? {
      lastSuccessAt: null,
      lastFailure: null,
      consecutiveFailures: 0,
      watchedSince: now,
      unrecorded: null,
    },
    pause,
    now,
    settings,
  );
}
