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
  /** Stop starting polls this long after the start: the invocation must end before the next one. */
  budgetMs: number;
  /** Poll even if the last poll was less than an interval ago (an operator asked for it). */
  force?: boolean;
}

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

  const acquired = await acquirePollLease(holder, ttlMs, start);
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
    for (;;) {
      const pollStart = deps.now();
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
      const next = pollStart.getTime() + intervalMs;
      if (next - start.getTime() >= options.budgetMs) break;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - deps.now().getTime())));
      if (!(await renewPollLease(lease, ttlMs, deps.now(), lastPollAt))) {
        logger.error('poll lease was taken over; stopping', { generation: lease.generation });
        return run;
      }
    }
  } finally {
    await releasePollLease(lease, deps.now(), lastPollAt).catch((error: unknown) => {
      logger.warn('could not release the poll lease; it expires on its own', { error: String(error) });
    });
  }
  return run;
}
