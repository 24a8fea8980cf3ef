// Splitting one poll's work when one instance is not enough
// (docs/ARCHITECTURE.md#fan-out). The listing says which orders are active;
// their ids, in order, cut the id space into ranges of at most SHARD_SIZE
// listed orders, and each range becomes a task that observes the active
// relations whose ids fall in it. The ranges cover the whole id space, so a
// relation whose order left the listings (cancelled, say) still falls in one.
// Pure: no I/O.
import { z } from 'zod';

import type { Deps } from '../engine/deps';

import { expected, orderIdText, orderStatus, parseWith, updateTime } from '../model/fields';
import { orderId } from '../model/names';
import type { ListedOrder } from './observe';

const ENTRY = '[order id, status, update_time]';

/** One task's share of a poll: an id range, and what the listing said of the orders in it. */
const ShardPayload = z.object(
  {
    /** The relation ids after this one (exclusive); absent for the first shard. */
    after: orderIdText.optional(),
    /** Up to this id (inclusive); absent for the last shard. */
    upTo: orderIdText.optional(),
    /** The listed orders in the range: [order id, status, update_time] (a task of an older version has no update_time). */
    orders: z.array(
      z.tuple([orderIdText, orderStatus, updateTime.optional()], expected(ENTRY)),
      expected(`a list of ${ENTRY}`),
    ),
  },
  expected('a shard'),
);
export type Shard = z.output<typeof ShardPayload>;

/** The shards of a listing, or null when it is small enough for one instance. */
export function planShards(
  listed: ReadonlyMap<string, ListedOrder>,
  shardSize: number,
): Shard[] | null {
  if (listed.size <= shardSize) return null;
  const orders = [...listed]
    .map(([name, { status, updateTime }]): Shard['orders'][number] =>
      updateTime ? [orderId(name), status, updateTime] : [orderId(name), status],
    )
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const shards: Shard[] = [];
  for (let start = 0; start < orders.length; start += shardSize) {
    const slice = orders.slice(start, start + shardSize);
    const last = start + shardSize >= orders.length;
    shards.push({
      ...(start > 0 ? { after: orders[start - 1][0] } : {}),
      ...(last ? {} : { upTo: slice[slice.length - 1][0] }),
      orders: slice,
    });
  }
  return shards;
}

/** A task's payload, checked: a redelivered or hand-made task with bad data is refused with the reason. */
export function parseShard(value: unknown): Shard | string {
  const parsed = parseWith(ShardPayload, value);
  return parsed.ok ? parsed.value : parsed.problems.join('; ');
}

/** Where a poll sends the shards it cannot observe itself: the observeShard task queue. */
export interface ShardQueue {
  /** Enqueues one shard under `id`; 'exists' when a task of that id was enqueued before (an overlapping poll). */
  enqueue(shard: Shard, id: string): Promise<'queued' | 'exists'>;
}

/** Where a scheduled invocation sends the later slots of its minute: the pollSlot task queue, each task due at its slot. */
export interface SlotQueue {
  /** 'exists' when the slot's task was enqueued before (an overlapping invocation). */
  enqueue(slotMs: number): Promise<'queued' | 'exists'>;
  /**
   * Kept across the invocations of one instance (pollFoodService runs on one): the first slot of the
   * last minute handed on, so the next minute can tell whether its tasks polled, and when they last
   * did not, or could not be enqueued.
   */
  readonly handedOff: { firstSlot: number | null; failedAt: number | null };
}

/**
 * What a poll needs: the engine's, and the queues, absent where there are none (then every shard is
 * observed in the poll's own instance, and an invocation polls every slot of its minute itself).
 */
export type PollDeps = Deps & { shards?: ShardQueue; slots?: SlotQueue };
