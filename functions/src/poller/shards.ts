// Splits one poll's work into tasks when one instance is not enough. The ranges cover the whole id
// space, so a relation whose order left the listings still falls in one. No I/O.
// See docs/ARCHITECTURE.md#fan-out.
import { z } from 'zod';

import type { Deps } from '../engine/deps';

import { expected, orderIdText, orderStatus, parseWith, updateTime } from '../model/fields';
import { orderId } from '../model/names';
import type { ListedOrder } from './observe';

const ENTRY = '[order id, status, update_time]';

const ShardPayload = z.object(
  {
    /** Ids after this one (exclusive); absent for the first shard. */
    after: orderIdText.optional(),
    /** Up to this id (inclusive); absent for the last shard. */
    upTo: orderIdText.optional(),
    /** A task of an older version has no update_time. */
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

/** A redelivered or hand-made task with bad data is refused with the reason. */
export function parseShard(value: unknown): Shard | string {
  const parsed = parseWith(ShardPayload, value);
  return parsed.ok ? parsed.value : parsed.problems.join('; ');
}

/** The observeShard task queue. */
export interface ShardQueue {
  /** 'exists' when a task of that id was enqueued before (an overlapping poll). */
  enqueue(shard: Shard, id: string): Promise<'queued' | 'exists'>;
}

/** The pollSlot task queue: the later slots of a minute, each task due at its slot. */
export interface SlotQueue {
  /** 'exists' when the slot's task was enqueued before (an overlapping invocation). */
  enqueue(slotMs: number): Promise<'queued' | 'exists'>;
  /** Kept across invocations, so the next minute can tell whether the last one's tasks polled. */
  readonly handedOff: { firstSlot: number | null; failedAt: number | null };
}

/** Without the queues, a poll observes every shard itself, and an invocation polls every slot. */
export type PollDeps = Deps & { shards?: ShardQueue; slots?: SlotQueue };
