// Splitting one poll's work when one instance is not enough
// (docs/ARCHITECTURE.md#fan-out). The listing says which orders are active;
// their ids, in order, cut the id space into ranges of at most SHARD_SIZE
// listed orders, and each range becomes a task that observes the active
// relations whose ids fall in it. The ranges cover the whole id space, so a
// relation whose order left the listings (cancelled, say) still falls in one.
// Pure: no I/O.
import { isOrderName, orderId } from '../model/names';
import { isOrderStatus, type OrderStatusName } from '../model/statuses';
import { isUpdateTime } from '../model/update-time';
import type { ListedOrder } from './observe';

/** One task's share of a poll: an id range, and what the listing said of the orders in it. */
export interface Shard {
  /** The relation ids after this one (exclusive); absent for the first shard. */
  after?: string;
  /** Up to this id (inclusive); absent for the last shard. */
  upTo?: string;
  /** The listed orders in the range: [order id, status, update_time] (a task of an older version has no update_time). */
  orders: Array<[string, OrderStatusName, string?]>;
}

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
  const shard = (typeof value === 'object' && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  const id = (v: unknown) => typeof v === 'string' && isOrderName(`orders/${v}`);
  if (shard.after !== undefined && !id(shard.after)) return 'after: expected an order id';
  if (shard.upTo !== undefined && !id(shard.upTo)) return 'upTo: expected an order id';
  if (!Array.isArray(shard.orders))
    return 'orders: expected a list of [order id, status, update_time]';
  for (const entry of shard.orders) {
    const updateTime = Array.isArray(entry) && entry.length === 3 ? isUpdateTime(entry[2]) : true;
    if (
      !Array.isArray(entry) ||
      entry.length < 2 ||
      entry.length > 3 ||
      !id(entry[0]) ||
      !isOrderStatus(entry[1]) ||
      !updateTime
    ) {
      return `orders: ${JSON.stringify(entry)} is not [order id, status, update_time]`;
    }
  }
  return {
    ...(shard.after ? { after: shard.after as string } : {}),
    ...(shard.upTo ? { upTo: shard.upTo as string } : {}),
    orders: shard.orders as Shard['orders'],
  };
}
