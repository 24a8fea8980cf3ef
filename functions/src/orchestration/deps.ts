import type { Config } from '../config';
import type { FoodClient } from '../food/client';

/** What the orchestration needs from outside: built when a function runs, never at import. */
export interface Deps {
  food: FoodClient;
  config: Config;
  now: () => Date;
}
