// When polls run. Cloud Scheduler fires at most once a minute, while
// POLL_INTERVAL_SECONDS may be anything from 1 to 3600, so polls keep to
// slots on the clock: every multiple of the interval since the epoch. Each
// scheduled invocation runs the slots of its minute (from the time it was
// due, so a late start runs the missed slot at once). Invocations whose
// minute holds no slot cost one read and poll only if the last poll is
// overdue (the invocation that held its slot failed). The poll lease keeps
// overlapping invocations and operators' polls apart.
import { randomUUID } from 'node:crypto';
import * as logger from 'firebase-functions/logger';

import { acquirePollLease, lastPollAt, releasePollLease, renewPollLease } from '../store/poll-lease';
import type { Deps } from './deps';
import { describePause, pausedUntil } from './kill-switch';
import { pollOnce, type PollOptions, type PollSummary } from './poll';
import { describeError } from './step-failure';

export interface PollRun {
  polls: PollSummary[];
  failedPolls: number;
  /** Why no poll ran (or why a slot was left out), when that happened. */
  skipped?: string;
  /** Set when the kill switch kept a poll from running: who paused, when and why. */
  paused?: string;
}

/**
 * A poll renews its lease every POLL_LEASE_RENEW_MS while it runs, so a live
 * poll is never overlapped however long it takes, and a poller that died
 * blocks the next poll for at most POLL_LEASE_TTL_MS.
 */
export const POLL_LEASE_TTL_MS = 30_000;
const POLL_LEASE_RENEW_MS = 10_000;
const LEASE_RETRY_MS = 250;

/** The slots in [startMs, startMs + windowMs): the multiples of `intervalMs` since the epoch. */
export function slotsInWindow(startMs: number, windowMs: number, intervalMs: number): number[] {
  const slots: number[] = [];
  for (let slot = Math.ceil(startMs / intervalMs) * intervalMs; slot < startMs + windowMs; slot += intervalMs) slots.push(slot);
  return slots;
}

type Sleep = (ms: number) => Promise<void>;
const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * One poll under the lease, for the slot at `slotMs`. Waits up to
 * `waitForLeaseMs` for a lease held by an earlier poll; a slot some other
 * poll already served is left out.
 */
async function pollSlot(
  deps: Deps,
  slotMs: number,
  intervalMs: number,
  waitForLeaseMs: number,
  force: boolean,
  sleep: Sleep,
  pollOptions: PollOptions,
): Promise<PollSummary | string> {
  const holder = `${process.env.K_REVISION ?? 'local'}/${randomUUID()}`;
  const waitUntil = deps.now().getTime() + waitForLeaseMs;
  let lease = await acquirePollLease(holder, POLL_LEASE_TTL_MS, deps.now());
  while (!lease.acquired && deps.now().getTime() + LEASE_RETRY_MS <= waitUntil) {
    await sleep(LEASE_RETRY_MS);
    lease = await acquirePollLease(holder, POLL_LEASE_TTL_MS, deps.now());
  }
  if (lease.repaired) logger.warn('poll lease repaired', { problem: lease.repaired });
  if (!lease.acquired) return `another poll holds the lease (${lease.holder}) until ${lease.expiresAt.toISOString()}`;
  const startedAt = deps.now();
  let polled = false;
  const heartbeat = setInterval(() => {
    void renewPollLease(holder, POLL_LEASE_TTL_MS, deps.now()).then(
      (held) => held || logger.error('the poll lease was taken over while this poll ran', { holder }),
      (error: unknown) => logger.warn('could not renew the poll lease', { error: describeError(error) }),
    );
  }, POLL_LEASE_RENEW_MS);
  try {
    // A poll that started within half an interval before this slot served it already.
    if (!force && lease.lastPollAt && lease.lastPollAt.getTime() >= slotMs - intervalMs / 2) {
      return `the slot at ${new Date(slotMs).toISOString()} was served by the poll at ${lease.lastPollAt.toISOString()}`;
    }
    polled = true;
    const summary = await pollOnce(deps, pollOptions);
    logger.info('poll finished', { ...summary });
    return summary;
  } finally {
    clearInterval(heartbeat);
    await releasePollLease(holder, deps.now(), polled ? startedAt : null).catch((error: unknown) =>
      logger.warn('could not release the poll lease; it expires on its own', { error: describeError(error) }),
    );
  }
}

async function runSlot(
  deps: Deps,
  run: PollRun,
  slotMs: number,
  intervalMs: number,
  waitForLeaseMs: number,
  force: boolean,
  sleep: Sleep,
): Promise<void> {
  try {
    // Checked per slot: a pause stops the polls still due in this invocation.
    const control = await deps.killSwitch();
    if (control.paused) {
      run.paused = describePause(control);
      logger.info('poll skipped: the kill switch is on', { pause: run.paused });
      return;
    }
    const wakeUntouchedBefore = pausedUntil(control, deps.config.pauseCheckSeconds);
    const result = await pollSlot(deps, slotMs, intervalMs, waitForLeaseMs, force, sleep, { wakeUntouchedBefore });
    if (typeof result === 'string') {
      run.skipped = result;
      logger.info('poll skipped', { reason: result });
    } else {
      run.polls.push(result);
    }
  } catch (error) {
    // A failed poll (the food service is down, say) is retried by the next one.
    run.failedPolls++;
    logger.warn('poll failed; the next poll tries again', { error: describeError(error) });
  }
}

export interface ScheduledRun {
  /** When Cloud Scheduler meant the invocation to run. */
  scheduleTime: Date;
  /** How long until the next invocation: the window whose slots this one serves. */
  windowMs: number;
  /** How long to wait for a lease that is held, e.g. by the previous invocation's last poll. */
  waitForLeaseMs: number;
  /** Waits until the next slot; a test passes one that moves its clock instead. */
  sleep?: Sleep;
}

/** What one scheduled invocation does: the polls due in its window. */
export async function runScheduledPolls(deps: Deps, options: ScheduledRun): Promise<PollRun> {
  const run: PollRun = { polls: [], failedPolls: 0 };
  const sleep = options.sleep ?? realSleep;
  const intervalMs = deps.config.pollIntervalSeconds * 1000;
  const slots = slotsInWindow(options.scheduleTime.getTime(), options.windowMs, intervalMs);
  if (slots.length === 0) {
    const last = await lastPollAt();
    const now = deps.now().getTime();
    if (last && now - last.getTime() < intervalMs + options.windowMs) {
      run.skipped = `no poll is due in this invocation's minute; the next slot is at ${new Date(Math.ceil(now / intervalMs) * intervalMs).toISOString()}`;
      return run;
    }
    // Overdue: the invocation that held the last slot did not poll.
    slots.push(now);
  }
  for (let i = 0; i < slots.length; i++) {
    const next = slots[i + 1];
    // Slots that passed while the invocation started late are served by one poll now.
    if (next !== undefined && next <= deps.now().getTime()) continue;
    logger.debug('poll slot', { slot: new Date(slots[i]).toISOString(), waitMs: slots[i] - deps.now().getTime() });
    await sleep(slots[i] - deps.now().getTime());
    await runSlot(deps, run, slots[i], intervalMs, options.waitForLeaseMs, false, sleep);
  }
  return run;
}

/** One poll now, whatever the cadence says: an operator's "poll now", and the clock where Cloud Scheduler is absent. */
export async function pollNow(deps: Deps): Promise<PollRun> {
  const run: PollRun = { polls: [], failedPolls: 0 };
  await runSlot(deps, run, deps.now().getTime(), deps.config.pollIntervalSeconds * 1000, 0, true, realSleep);
  return run;
}
