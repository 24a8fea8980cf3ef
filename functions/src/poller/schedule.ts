// When polls run: Cloud Scheduler fires at most once a minute, so polls keep to slots on the clock
// (multiples of the interval since the epoch), and the poll lease keeps overlapping polls apart.
// See docs/ARCHITECTURE.md#polling.
import { randomUUID } from 'node:crypto';
import * as logger from 'firebase-functions/logger';

import {
  acquirePollLease,
  lastPollAt,
  MAX_POLL_LEASE_MS,
  releasePollLease,
  renewPollLease,
} from '../store/poll-lease';
import type { PollDeps, SlotQueue } from './shards';
import { describePause } from '../engine/kill-switch';
import { pollOnce, type PollSummary } from './poll';
import { describeError } from '../describe-error';
import type { AlertKind } from '../model/health';
import { FoodServiceError } from '../food/errors';
import { failureCode, notePollFailed, notePollSucceeded, type HeartbeatMemo } from './heartbeat';

export interface PollRun {
  polls: PollSummary[];
  failedPolls: number;
  /** Why no poll ran, or a slot was left out. */
  skipped?: string;
  /** Who paused, when and why, when the kill switch kept a poll from running. */
  paused?: string;
  enqueuedSlots?: number;
}

/** The lease (MAX_POLL_LEASE_MS) is renewed while a poll runs: a live one is never overlapped. */
const POLL_LEASE_RENEW_MS = 10_000;
const LEASE_RETRY_MS = 250;

/** The slots in [startMs, startMs + windowMs): the multiples of `intervalMs` since the epoch. */
export function slotsInWindow(startMs: number, windowMs: number, intervalMs: number): number[] {
  const slots: number[] = [];
  for (
    let slot = Math.ceil(startMs / intervalMs) * intervalMs;
    slot < startMs + windowMs;
    slot += intervalMs
  )
    slots.push(slot);
  return slots;
}

interface SlotContext {
  deps: PollDeps;
  intervalMs: number;
  waitForLeaseMs: number;
  /** Poll even if the slot was served: an operator asked. */
  force: boolean;
  heartbeat: HeartbeatMemo;
}

/** Why a slot was not polled: another poll holds the lease, or already served the slot. */
interface Skipped {
  skipped: string;
  leaseHeld: boolean;
}

/** One poll under the lease for the slot at `slotMs`, unless another poll already served it. */
async function pollSlot(context: SlotContext, slotMs: number): Promise<PollSummary | Skipped> {
  const { deps, intervalMs, waitForLeaseMs, force } = context;
  const holder = `${process.env.K_REVISION ?? 'local'}/${randomUUID()}`;
  const waitUntil = deps.now().getTime() + waitForLeaseMs;
  let lease = await acquirePollLease(holder, MAX_POLL_LEASE_MS, deps.now());
  while (!lease.acquired && deps.now().getTime() + LEASE_RETRY_MS <= waitUntil) {
    await deps.timers.sleep(LEASE_RETRY_MS);
    lease = await acquirePollLease(holder, MAX_POLL_LEASE_MS, deps.now());
  }
  if (lease.repaired)
    logger.warn('poll lease repaired', { problem: lease.repaired, holder: lease.repairedHolder });
  if (!lease.acquired)
    return {
      skipped: `another poll holds the lease (${lease.holder}) until ${lease.expiresAt.toISOString()}`,
      leaseHeld: true,
    };
  const startedAt = deps.now();
  let polled = false;
  const stopRenewing = deps.timers.every(POLL_LEASE_RENEW_MS, () => {
    void renewPollLease(holder, MAX_POLL_LEASE_MS, deps.now()).then(
      (held) =>
        held || logger.error('the poll lease was taken over while this poll ran', { holder }),
      (error: unknown) =>
        logger.warn('could not renew the poll lease', { error: describeError(error) }),
    );
  });
  try {
    // A poll that started within half an interval before this slot served it already.
    if (!force && lease.lastPollAt && lease.lastPollAt.getTime() >= slotMs - intervalMs / 2) {
      return {
        skipped: `the slot at ${new Date(slotMs).toISOString()} was served by the poll at ${lease.lastPollAt.toISOString()}`,
        leaseHeld: false,
      };
    }
    polled = true;
    // Named after its slot, so a poll of the same slot again (an overlap) enqueues no shard twice.
    const summary = await pollOnce(deps, force ? `now-${startedAt.getTime()}` : `slot-${slotMs}`);
    logger.info('poll finished', { ...summary });
    return summary;
  } finally {
    stopRenewing();
    await releasePollLease(holder, deps.now(), polled ? startedAt : null).catch((error: unknown) =>
      logger.warn('could not release the poll lease; it expires on its own', {
        error: describeError(error),
      }),
    );
  }
}

async function runSlot(
  context: SlotContext,
  run: PollRun,
  slotMs: number,
): Promise<PollSummary | undefined> {
  try {
    // Checked per slot: a pause stops the polls still due in this invocation.
    const control = await context.deps.killSwitch();
    if (control.paused) {
      run.paused = describePause(control);
      logger.info('poll skipped: the kill switch is on', { pause: run.paused });
      return undefined;
    }
    const result = await pollSlot(context, slotMs);
    if ('skipped' in result) {
      run.skipped = result.skipped;
      logger.info('poll skipped', { reason: result.skipped });
      // Not a success: a lease nobody gives back must show in the heartbeat (heartbeat.ts).
      if (result.leaseHeld)
        await notePollFailed(context.deps.now(), 'LEASE_HELD', result.skipped, context.heartbeat);
    } else {
      run.polls.push(result);
      await notePollSucceeded(
        context.deps.now(),
        { count: result.unrecorded, sample: result.unrecordedOrders },
        context.heartbeat,
      );
      return result;
    }
  } catch (error) {
    // The next poll retries; a poller that keeps failing is alerted on by the report.
    run.failedPolls++;
    const code = failureCode(error, 'POLL_FAILED');
    (error instanceof FoodServiceError && !error.transient ? logger.error : logger.warn)(
      'poll failed; the next poll tries again',
      {
        code,
        error: describeError(error),
      },
    );
    await notePollFailed(context.deps.now(), code, describeError(error), context.heartbeat);
  }
  return undefined;
}

export interface ScheduledRun {
  /** When Cloud Scheduler meant the invocation to run. */
  scheduleTime: Date;
  /** How long until the next invocation: the window whose slots this one serves. */
  windowMs: number;
  /** How long to wait for a lease that is held, e.g. by the previous invocation's last poll. */
  waitForLeaseMs: number;
}

/** The polls due in this invocation's window, or the first, and the rest as tasks. */
export async function runScheduledPolls(deps: PollDeps, options: ScheduledRun): Promise<PollRun> {
  const run: PollRun = { polls: [], failedPolls: 0 };
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
  const context: SlotContext = {
    deps,
    intervalMs,
    waitForLeaseMs: options.waitForLeaseMs,
    force: false,
    heartbeat: {},
  };
  let shape = slots.length > 1 ? await planMinute(deps, intervalMs) : 'held';
  for (let i = 0; i < slots.length; i++) {
    const next = slots[i + 1];
    // Slots that passed while the invocation started late are served by one poll now.
    if (next !== undefined && next <= deps.now().getTime()) continue;
    logger.debug('poll slot', {
      slot: new Date(slots[i]).toISOString(),
      waitMs: slots[i] - deps.now().getTime(),
    });
    await deps.timers.sleep(slots[i] - deps.now().getTime());
    const polled = await runSlot(context, run, slots[i]);
    const rest = slots.slice(i + 1);
    // Nothing in progress: the other slots would only hold the billed instance to find nothing.
    if (polled && polled.listed === 0 && polled.activeRelations === 0 && rest.length > 0) {
      run.skipped = `idle: no order in progress, so the next poll is the next invocation's`;
      logger.info('poll slots left out: no order in progress', { slots: rest.length });
      break;
    }
    // Slots this poll ran past it served; the rest go to tasks, or are polled here if not queued.
    const later = rest.filter((slot) => slot > deps.now().getTime());
    if (shape === 'tasks' && deps.slots && later.length > 0) {
      const left = await enqueueSlots(deps.slots, later, run);
      if (left.length > 0) deps.slots.handedOff.failedAt = deps.now().getTime();
      else deps.slots.handedOff.firstSlot = later[0];
      slots.splice(i + 1, rest.length, ...left);
      shape = 'held';
    }
  }
  return run;
}

/** How long minutes are held after a minute's tasks were lost or refused. */
const TASKS_BACKOFF_MS = 10 * 60_000;

/**
 * Whether to hold minutes because this instance's last tasks did not poll: tasks that never run (no
 * pollSlot invoker, a queue that drops them) would leave every later slot unpolled, unseen.
 */
async function tasksFailing(
  deps: PollDeps,
  queue: SlotQueue,
  intervalMs: number,
): Promise<boolean> {
  const { handedOff } = queue;
  const first = handedOff.firstSlot;
  const now = deps.now().getTime();
  // Judged once, but a failed read leaves it for the next minute to judge.
  const last = first !== null && now > first + intervalMs ? await lastPollAt() : undefined;
  handedOff.firstSlot = null;
  if (first !== null && last !== undefined) {
    if (!last || last.getTime() < first - intervalMs / 2) {
      handedOff.failedAt = now;
      logger.error(
        'the poll slots handed to pollSlot tasks were not polled; minutes are held for now',
        {
          alert: 'slot-tasks-lost' satisfies AlertKind,
          slot: new Date(first).toISOString(),
          lastPollAt: last?.toISOString() ?? null,
          detail: `is the functions' account an invoker of pollSlot? Minutes are held until ${new Date(now + TASKS_BACKOFF_MS).toISOString()}, then tasks are tried again`,
        },
      );
    }
  }
  return handedOff.failedAt !== null && now - handedOff.failedAt < TASKS_BACKOFF_MS;
}

/**
 * A minute's later slots go to pollSlot tasks, billed only while they poll, unless there is no
 * queue here or this instance's last tasks did not poll: then the invocation holds the minute.
 */
async function planMinute(deps: PollDeps, intervalMs: number): Promise<'held' | 'tasks'> {
  if (!deps.slots) return 'held';
  try {
    return (await tasksFailing(deps, deps.slots, intervalMs)) ? 'held' : 'tasks';
  } catch (error) {
    logger.warn('holding the minute: could not read when the last poll ran', {
      error: describeError(error),
    });
    return 'held';
  }
}

/** Hands slots to tasks due at each; returns those that could not be enqueued. */
async function enqueueSlots(queue: SlotQueue, slots: number[], run: PollRun): Promise<number[]> {
  const left: number[] = [];
  await Promise.all(
    slots.map(async (slot) => {
      try {
        await queue.enqueue(slot);
      } catch (error) {
        left.push(slot);
        logger.warn('could not enqueue a poll slot; this invocation polls it', {
          slot: new Date(slot).toISOString(),
          error: describeError(error),
        });
      }
    }),
  );
  run.enqueuedSlots = slots.length - left.length;
  return left.sort((a, b) => a - b);
}

/** A pollSlot task's poll; one dispatched early (the emulator does) waits for its slot. */
export async function runSlotTask(
  deps: PollDeps,
  slotMs: number,
  waitForLeaseMs: number,
): Promise<PollRun> {
  const run: PollRun = { polls: [], failedPolls: 0 };
  const intervalMs = deps.config.pollIntervalSeconds * 1000;
  const early = slotMs - deps.now().getTime();
  if (early > MAX_EARLY_MS) {
    run.skipped = `the slot at ${new Date(slotMs).toISOString()} is more than a minute away; its task is dropped`;
    logger.error('poll slot task dispatched too early; dropped', { slot: new Date(slotMs) });
    return run;
  }
  await deps.timers.sleep(early);
  await runSlot({ deps, intervalMs, waitForLeaseMs, force: false, heartbeat: {} }, run, slotMs);
  return run;
}

/** A scheduled invocation enqueues only the slots of its own minute. */
const MAX_EARLY_MS = 60_000;

/** An operator's "poll now", and the clock where Cloud Scheduler is absent. */
export async function pollNow(deps: PollDeps): Promise<PollRun> {
  const run: PollRun = { polls: [], failedPolls: 0 };
  const context: SlotContext = {
    deps,
    intervalMs: deps.config.pollIntervalSeconds * 1000,
    waitForLeaseMs: 0,
    force: true,
    heartbeat: {},
  };
  await runSlot(context, run, deps.now().getTime());
  return run;
}
