// Runs polls under the poll lease. Cloud Scheduler fires once a minute at
// most, so an interval under 60 s is served by several polls inside one
// invocation, and an interval over 60 s by skipping invocations that come too
// soon after the last poll.
import { randomUUID } from 'node:crypto';
import * as logger from 'firebase-functions/logger';

import { acquirePollLease, releasePollLease, renewPollLease } from '../store/poll-lease';
import { pollOnce, type PollDeps, type PollSummary } from './poll';

export interface PollRun {
  polls: PollSummary[];
  failedPolls: number;
  /** Why no poll ran, when none did. */
  skipped?: string;
}

export interface PollRunOptions {
  /** Start no poll later than this after the first one (0: one poll). */
  budgetMs: number;
  /** Poll even if the last poll was less than an interval ago (an operator asked for it). */
  force?: boolean;
  /** How long to wait for a lease that is held, e.g. by the previous invocation's last poll. */
  waitForLeaseMs?: number;
}

/**
 * The budget of a scheduled invocation: poll every interval up to one interval
 * before the next invocation, so polls keep their cadence across invocations
 * and the last one ends as the next invocation begins.
 */
export function scheduledBudgetMs(scheduleEveryMs: number, intervalSeconds: number): number {
  return Math.max(0, scheduleEveryMs - intervalSeconds * 1000);
}

const LEASE_RETRY_MS = 250;

/** Long enough to outlive a slow poll and the wait before the next one. */
function leaseTtlMs(intervalSeconds: number): number {
  return 2 * intervalSeconds * 1000 + 60_000;
}

export async function runPolls(deps: PollDeps, options: PollRunOptions): Promise<PollRun> {
  const start = deps.now();
  const intervalMs = deps.config.pollIntervalSeconds * 1000;
  const ttlMs = leaseTtlMs(deps.config.pollIntervalSeconds);
  const holder = `${process.env.K_REVISION ?? 'local'}/${randomUUID()}`;
  const run: PollRun = { polls: [], failedPolls: 0 };

  let acquired = await acquirePollLease(holder, ttlMs, start);
  const waitUntil = start.getTime() + (options.waitForLeaseMs ?? 0);
  while (!acquired.acquired && deps.now().getTime() + LEASE_RETRY_MS <= waitUntil) {
    await new Promise((resolve) => setTimeout(resolve, LEASE_RETRY_MS));
    acquired = await acquirePollLease(holder, ttlMs, deps.now());
  }
  if (!acquired.acquired) {
    run.skipped = `another poll holds the lease (${acquired.holder}) until ${acquired.expiresAt.toISOString()}`;
    logger.info('poll skipped', { reason: run.skipped });
    return run;
  }
  const { lease, previousPollAt } = acquired;
  // Scheduler fires a little early or late; a poll a few seconds early is fine.
  const slackMs = Math.min(5_000, intervalMs / 2);
  let lastPollAt: Date | null = null;
  try {
    if (!options.force && previousPollAt && start.getTime() - previousPollAt.getTime() < intervalMs - slackMs) {
      run.skipped = `the last poll was at ${previousPollAt.toISOString()}, less than POLL_INTERVAL_SECONDS ago`;
      return run;
    }
    // Polls keep to fixed slots from the first one: timers drift a little
    // each time, and a schedule that adds up the drift would let the last slot
    // of an invocation slip past its budget and leave a gap.
    let firstPollAt: number | undefined;
    let slot = 0;
    for (;;) {
      const pollStart = deps.now();
      firstPollAt ??= pollStart.getTime();
      lastPollAt = pollStart;
      try {
        const summary = await pollOnce(deps);
        run.polls.push(summary);
        logger.info('poll finished', { ...summary });
      } catch (error) {
        // A failed poll (the food service is down, say) is retried by the next one.
        run.failedPolls++;
        logger.warn('poll failed; the next poll tries again', { error: error instanceof Error ? error.message : String(error) });
      }
      // The next slot still ahead; a poll that overran its interval skips slots rather than bunching polls.
      slot = Math.max(slot + 1, Math.floor((deps.now().getTime() - firstPollAt) / intervalMs) + 1);
      if (slot * intervalMs > options.budgetMs) break;
      const next = firstPollAt + slot * intervalMs;
      // Renew while waiting, so the next poll starts on time.
      if (!(await renewPollLease(lease, ttlMs, deps.now(), lastPollAt))) {
        logger.error('poll lease was taken over; stopping', { generation: lease.generation });
        return run;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - deps.now().getTime())));
    }
  } finally {
    await releasePollLease(lease, deps.now(), lastPollAt).catch((error: unknown) => {
      logger.warn('could not release the poll lease; it expires on its own', { error: String(error) });
    });
  }
  return run;
}
