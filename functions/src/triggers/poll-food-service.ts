import { onRequest } from 'firebase-functions/v2/https';
import * as logger from 'firebase-functions/logger';
import { onSchedule } from 'firebase-functions/v2/scheduler';
import { onTaskDispatched } from 'firebase-functions/v2/tasks';

import { DEPLOYMENT, FOOD_SERVICE_SECRETS, OPERATORS, POLLER_MAX_INSTANCES } from '../config';
import { describeError } from '../describe-error';
import type { PollDeps } from '../poller/shards';
import { pollNow, runScheduledPolls, runSlotTask, type PollRun } from '../poller/schedule';
import { notePollFailed } from '../poller/heartbeat';
import { runtimeDeps, SLOT_DISPATCH_DEADLINE_SECONDS } from './deps';

/** A start-up failure (a bad param, a missing secret) goes in the heartbeat, to be alerted on. */
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
/** Long enough for a minute's last poll to finish after the next invocation starts. */
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
    // The next minute's invocation must run beside the previous one's last poll and wait on the
    // lease, not queue behind it and lose its minute.
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

/** A slot pollFoodService handed on, billed only while it polls (schedule.ts, planMinute). */
export const pollSlot = onTaskDispatched(
  {
    ...DEPLOYMENT,
    // A slot missed is served by the next one; retrying would only overlap it.
    retryConfig: { maxAttempts: 1 },
    // Two, as for pollFoodService: a slot's poll waits on the lease while the last one finishes.
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

/** The clock where Cloud Scheduler is absent (the emulators), and an operator's poll on demand. */
export const pollFoodServiceNow = onRequest(
  {
    ...DEPLOYMENT,
    invoker: OPERATORS,
    secrets: FOOD_SERVICE_SECRETS,
    timeoutSeconds: TIMEOUT_SECONDS,
    memory: '512MiB',
    // One instance, so what it asks of the food service is bounded without counting on the lease.
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
