import type { Config } from '../config';
import type { FoodClient } from '../food/client';
import type { KillSwitch } from '../store/controls';

/** What the orchestration needs from outside: built when a function runs, never at import. */
export interface Deps {
  food: FoodClient;
  config: Config;
  now: () => Date;
  /** The kill switch (controls/orchestrator), as this instance last read it. */
  killSwitch: () => Promise<KillSwitch>;
}
