import type { Config } from '../config';
import type { FoodApi } from '../food/client';
import type { KillSwitch } from '../model/health';

/** Waits on the clock `now` reads: real timers in a function, simulated ones in the simulation. */
export interface Timers {
  sleep(ms: number): Promise<void>;
  /** Calls `tick` every `ms` until the returned function is called. */
  every(ms: number, tick: () => void): () => void;
}

export const REAL_TIMERS: Timers = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  },
};

/** What the engine, lifecycle and poller need: built when a function runs, not at import. */
export interface Deps {
  food: FoodApi;
  config: Config;
  now: () => Date;
  timers: Timers;
  /** The kill switch (controls/orchestrator), as this instance last read it. */
  killSwitch: () => Promise<KillSwitch>;
}
