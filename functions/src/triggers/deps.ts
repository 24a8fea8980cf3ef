import { loadConfig } from '../config';
import { foodClient } from '../food/connection';
import type { PollDeps } from '../orchestration/poll';

/** What a function needs at run time, built when it runs: never at import, when secrets are absent. */
export function runtimeDeps(): PollDeps {
  const config = loadConfig();
  return { config, food: foodClient(config), now: () => new Date() };
}
