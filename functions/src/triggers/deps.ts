import { loadConfig } from '../config';
import { foodClient } from '../food/connection';
import type { Deps } from '../orchestration/deps';

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
  return { config, food, now: () => new Date() };
}
