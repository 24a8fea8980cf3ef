import type { Config } from '../config';
import type { FoodApi } from '../food/client';
import type { KillSwitch } from '../model/health';

/** Waiting, on whatever clock `now` reads: real timers in a function, the simulated clock in the simulation. */
export interface Timers {
  sleep(ms: number): Promise<void>;
  /** Calls `tick` every `ms` until the returned stop is called. */
  every(ms: number, tick: () => void): () => void;
}

export const REAL_TIMERS: Timers = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  },
};

/** What the engine, the lifecycle and the poller need from outside: built when a function runs, never at import. */
export interface Deps {
  food: FoodApi;
  config: Config;
  now: () => Date;
  timers: Timers;
  /** The kill switch (controls/orchestrator), as this instance last read it. */
  killSwitch: () => Promise<KillSwitch>;
}
