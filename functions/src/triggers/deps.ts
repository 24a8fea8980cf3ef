import { getFunctions } from 'firebase-admin/functions';

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
import type { PollDeps, ShardQueue } from '../poller/shards';
import { defaultApp } from '../store/db';

/** Long enough for a shard of SHARD_SIZE look-ups; Cloud Tasks gives up on the dispatch after this. */
const SHARD_DISPATCH_DEADLINE_SECONDS = 120;

/** The observeShard task queue in `region`, through Cloud Tasks (or its emulator, when CLOUD_TASKS_EMULATOR_HOST is set). */
function shardQueue(region: string): ShardQueue {
  return {
    async enqueue(shard, id) {
      try {
        // Named with its region: the Admin SDK assumes us-central1 for a bare name.
        await getFunctions(defaultApp())
          .taskQueue(`locations/${region}/functions/observeShard`)
          .enqueue(shard, { id, dispatchDeadlineSeconds: SHARD_DISPATCH_DEADLINE_SECONDS });
        return 'queued';
      } catch (error) {
        if ((error as { code?: unknown }).code === 'functions/task-already-exists') return 'exists';
        throw error;
      }
    },
  };
}
import { killSwitchCache } from '../engine/kill-switch';
import type { KillSwitch } from '../model/health';

/** This instance's view of the kill switch, made with the first invocation's PAUSE_CHECK_SECONDS. */
let killSwitch: { maxAgeMs: number; read: (now: Date) => Promise<KillSwitch> } | undefined;

/**
 * What a function needs at run time, built when it runs: never at import,
 * when secrets are absent. `timeoutSeconds` is the function's own timeout:
 * nothing it writes to the food service is sent after it.
 */
export function runtimeDeps(
  timeoutSeconds: (config: Config) => number = (config) => config.advanceTimeoutSeconds,
): PollDeps {
  const config = loadConfig();
  const deadline = new Date(Date.now() + timeoutSeconds(config) * 1000);
  // Rotated secrets are read from Secret Manager when a call fails for want of them (food/credential-refresh.ts).
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
    shards: shardQueue(config.region),
    killSwitch: () => {
      const maxAgeMs = config.pauseCheckSeconds * 1000;
      if (killSwitch?.maxAgeMs !== maxAgeMs)
        killSwitch = { maxAgeMs, read: killSwitchCache(maxAgeMs) };
      return killSwitch.read(now());
    },
  };
}
