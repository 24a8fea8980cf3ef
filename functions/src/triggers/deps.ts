import { getFunctions } from 'firebase-admin/functions';
import { createHash } from 'node:crypto';

import {
  loadConfig,
  SECRET_NAMES,
  secretManagerTarget,
  tlsFromSecrets,
  type Config,
} from '../config';
import { sendingUntil } from '../food/client';
import { foodClient } from '../food/connection';
import { secretManagerSource } from '../food/secret-source';
import { REAL_TIMERS } from '../engine/deps';
import type { PollDeps, ShardQueue, SlotQueue } from '../poller/shards';
import { defaultApp } from '../store/db';

/** Long enough for SHARD_SIZE look-ups; Cloud Tasks gives up on the dispatch after this. */
const SHARD_DISPATCH_DEADLINE_SECONDS = 120;
/** Long enough for a poll that waits on the lease, then polls. */
export const SLOT_DISPATCH_DEADLINE_SECONDS = 120;

/** Through Cloud Tasks, or its emulator when CLOUD_TASKS_EMULATOR_HOST is set. */
async function enqueueTask(
  region: string,
  name: string,
  data: Record<string, unknown>,
  options: { id: string; dispatchDeadlineSeconds: number; scheduleTime?: Date },
): Promise<'queued' | 'exists'> {
  try {
    // Named with its region: the Admin SDK assumes us-central1 for a bare name. The id leads with a
    // hash of itself: Cloud Tasks serves ids that grow in sequence (timestamps) slower.
    const hash = createHash('sha256').update(options.id).digest('hex').slice(0, 8);
    await getFunctions(defaultApp())
      .taskQueue(`locations/${region}/functions/${name}`)
      .enqueue(data, { ...options, id: `${hash}-${options.id}` });
    return 'queued';
  } catch (error) {
    if ((error as { code?: unknown }).code === 'functions/task-already-exists') return 'exists';
    throw error;
  }
}

/** Deployed (K_SERVICE, which the Functions emulator sets too), or the Cloud Tasks emulator. */
function hasTaskQueues(): boolean {
  return (
    process.env.CLOUD_TASKS_EMULATOR_HOST !== undefined ||
    (process.env.K_SERVICE !== undefined && process.env.FUNCTIONS_EMULATOR !== 'true')
  );
}

function shardQueue(region: string): ShardQueue {
  return {
    enqueue: (shard, id) =>
      enqueueTask(region, 'observeShard', shard, {
        id,
        dispatchDeadlineSeconds: SHARD_DISPATCH_DEADLINE_SECONDS,
      }),
  };
}

/** What this instance handed to pollSlot tasks, kept across its invocations. */
const handedOff: SlotQueue['handedOff'] = { firstSlot: null, failedAt: null };

/** Each slot's task is named after it, so an overlapping invocation enqueues no slot twice. */
function slotQueue(region: string): SlotQueue {
  return {
    handedOff,
    enqueue: (slotMs) =>
      enqueueTask(
        region,
        'pollSlot',
        { slotMs },
        {
          id: `slot-${slotMs}`,
          scheduleTime: new Date(slotMs),
          dispatchDeadlineSeconds: SLOT_DISPATCH_DEADLINE_SECONDS,
        },
      ),
  };
}
import { killSwitchCache } from '../engine/kill-switch';
import type { KillSwitch } from '../model/health';

/** This instance's view of the kill switch, made again if PAUSE_CHECK_SECONDS changes. */
let killSwitch: { maxAgeMs: number; read: (now: Date) => Promise<KillSwitch> } | undefined;

/**
 * Built per run, never at import (no secrets then). `timeoutSeconds` is the function's own: the
 * claim lease and the late-write watch count on nothing being sent after it.
 */
export function runtimeDeps(
  timeoutSeconds: (config: Config) => number = (config) => config.advanceTimeoutSeconds,
): PollDeps {
  const config = loadConfig();
  const deadline = new Date(Date.now() + timeoutSeconds(config) * 1000);
  // Rotated secrets are read when a call fails for want of them (food/credential-refresh.ts).
  const target = secretManagerTarget();
  const client = foodClient({
    address: config.address,
    tls: config.tls,
    deadlineMs: config.rpcDeadlineMs,
    createDeadlineMs: config.createDeadlineMs,
    maxInFlight: config.foodMaxInFlight,
    ...(target
      ? { secrets: secretManagerSource({ ...target, names: SECRET_NAMES, toTls: tlsFromSecrets }) }
      : {}),
  });
  const now = () => new Date();
  return {
    config,
    food: sendingUntil(client, deadline),
    now,
    timers: REAL_TIMERS,
    ...(hasTaskQueues()
      ? { shards: shardQueue(config.region), slots: slotQueue(config.region) }
      : {}),
    killSwitch: () => {
      const maxAgeMs = config.pauseCheckSeconds * 1000;
      if (killSwitch?.maxAgeMs !== maxAgeMs)
        killSwitch = { maxAgeMs, read: killSwitchCache(maxAgeMs) };
      return killSwitch.read(now());
    },
  };
}
