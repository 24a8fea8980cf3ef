import type { Config } from '../config';
import type { FoodClient } from '../food/client';
import type { Shard } from './shards';

/** Where a poll sends the shards it cannot observe itself: the observeShard task queue. */
export interface ShardQueue {
  /** Enqueues one shard under `id`; 'exists' when a task of that id was enqueued before (an overlapping poll). */
  enqueue(shard: Shard, id: string): Promise<'queued' | 'exists'>;
}
import type { KillSwitch } from '../store/controls';

/** What the orchestration needs from outside: built when a function runs, never at import. */
export interface Deps {
  food: FoodClient;
  config: Config;
  now: () => Date;
  /** Absent where there is no task queue: then every shard is observed in the poll's own instance. */
  shards?: ShardQueue;
  /** The kill switch (controls/orchestrator), as this instance last read it. */
  killSwitch: () => Promise<KillSwitch>;
}
