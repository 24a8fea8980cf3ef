import { loadConfig } from '../config';
import { foodClient } from '../food/connection';
import type { Deps } from '../orchestration/deps';
import { cachedKillSwitch } from '../orchestration/kill-switch';

/** What a function needs at run time, built when it runs: never at import, when secrets are absent. */
export function runtimeDeps(): Deps {
  const config = loadConfig();
  const food = foodClient({
    address: config.address,
    tls: config.tls,
    deadlineMs: config.rpcDeadlineMs,
    createDeadlineMs: config.createDeadlineMs,
    maxInFlight: config.foodMaxInFlight,
  });
  const now = () => new Date();
  return { config, food, now, killSwitch: () => cachedKillSwitch(config.pauseCheckSeconds * 1000, now()) };
}
