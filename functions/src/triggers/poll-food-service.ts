import { onRequest } from 'firebase-functions/v2/https';
import * as logger from 'firebase-functions/logger';
import { onSchedule } from 'firebase-functions/v2/scheduler';
import { onTaskDispatched } from 'firebase-functions/v2/tasks';

import { DEPLOYMENT, FOOD_SERVICE_SECRETS, OPERATORS, POLLER_MAX_INSTANCES } from '../config';
import { describeError } from '../describe-error';
import type { PollDeps } from '../poller/shards';
import { pollNow, runScheduledPolls, runSlotTask, type PollRun } from '../poller/schedule';
import { notePollFailed } from '../poller/watch';
import { runtimeDeps, SLOT_DISPATCH_DEADLINE_SECONDS } from './deps';

/**
 * What a poll needs, or, if it cannot be had (a param out of range, a
 * missing secret), a failure in the heartbeat before the error is thrown: a
 * poller that crashes at start-up is alerted on like one that fails.
 */
async function pollerDeps(): Promise<PollDeps> {
  try {
    return runtimeDeps(() => TIMEOUT_SECONDS);
  } catch (error) {
    await notePollFailed(new Date(), 'START_FAILED', describeError(error));
    throw error;
  }
}

/** Cloud Scheduler's finest grain; POLL_INTERVAL_SECONDS sets the polls' own cadence within it. */
const SCHEDULE = 'every 1 minutes';
const SCHEDULE_EVERY_MS = 60_000;
/** Long enough for the last poll of a minute to finish past the next invocation's start. */
const TIMEOUT_SECONDS = 120;
// The previous invocation's last poll may still be running as this one starts.
const LEASE_WAIT_MS = 15_000;

export const pollFoodService = onSchedule(
  {
    ...DEPLOYMENT,
    schedule: SCHEDULE,
    secrets: FOOD_SERVICE_SECRETS,
    timeoutSeconds: TIMEOUT_SECONDS,
    // A missed minute is made up by the next one; retrying would only overlap it.
    retryCount: 0,
    // The lease already keeps polls apart; one instance keeps them cheap too.
    maxInstances: POLLER_MAX_INSTANCES.pollFoodService,
    // An invocation starts at the minute while the previous one's last poll
    // may still be finishing; it must run beside it and wait on the lease,
    // not queue behind it and lose its minute.
    concurrency: 2,
    cpu: 1,
    memory: '512MiB',
  },
  async (event) => {
    await runScheduledPolls(await pollerDeps(), {
      scheduleTime: new Date(event.scheduleTime),
      windowMs: SCHEDULE_EVERY_MS,
      waitForLeaseMs: LEASE_WAIT_MS,
    });
  },
);

/**
 * One slot of a minute that pollFoodService handed on (poller/schedule.ts, minuteShape): a task due at
 * the slot, billed only while it polls, instead of an invocation held between slots.
 */
export const pollSlot = onTaskDispatched(
  {
    ...DEPLOYMENT,
    // A slot missed is served by the next one; retrying would only overlap it.
    retryConfig: { maxAttempts: 1 },
    // Two, as for the scheduled invocation: a slot's poll waits on the lease while the last one finishes.
    rateLimits: { maxConcurrentDispatches: 2 },
    maxInstances: POLLER_MAX_INSTANCES.pollSlot,
    concurrency: 2,
    secrets: FOOD_SERVICE_SECRETS,
    timeoutSeconds: SLOT_DISPATCH_DEADLINE_SECONDS,
    cpu: 1,
    memory: '512MiB',
  },
  async (request) => {
    const slotMs = (request.data as { slotMs?: unknown } | undefined)?.slotMs;
    if (typeof slotMs !== 'number' || !Number.isSafeInteger(slotMs)) {
      // It would fail the same way again; the next slot's poll covers it.
      logger.error('pollSlot got a task it cannot read; dropped', { task: request.id, slotMs });
      return;
    }
    await runSlotTask(await pollerDeps(), slotMs, LEASE_WAIT_MS);
  },
);

/** 200 polled, 409 another poll holds the lease, 502 the poll failed, 503 the kill switch is on. */
function pollStatus(run: PollRun): number {
  if (run.paused) return 503;
  if (run.failedPolls > 0) return 502;
  return run.polls.length === 0 ? 409 : 200;
}

/**
 * One poll, now. It is the clock wherever Cloud Scheduler is absent (the
 * emulators) and lets an operator poll on demand. Private: only OPS_INVOKER,
 * the one account with the Cloud Run invoker role, reaches it in production.
 */
export const pollFoodServiceNow = onRequest(
  {
    ...DEPLOYMENT,
    invoker: OPERATORS,
    secrets: FOOD_SERVICE_SECRETS,
    timeoutSeconds: TIMEOUT_SECONDS,
    memory: '512MiB',
    // One instance, so what it can ask of the food service is bounded without counting on the lease.
    maxInstances: POLLER_MAX_INSTANCES.pollFoodServiceNow,
  },
  async (request, response) => {
    if (request.method !== 'POST') {
      response.status(405).set('Allow', 'POST').json({ error: 'use POST to run a poll' });
      return;
    }
    const run = await pollNow(await pollerDeps());
    response.status(pollStatus(run)).json(run);
  },
);
