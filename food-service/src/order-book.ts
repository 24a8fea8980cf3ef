// Orders, in creation order, with an index per status.
import { newName } from './names';
import { SeqIndex } from './seq-index';
import { isFinalOrderStatus, ORDER_STATUSES, type OrderStatus } from './statuses';

export interface OrderRecord {
  /** Creation sequence number, from 1: the stable order of listings and page tokens. */
  readonly seq: number;
  readonly name: string;
  readonly createTime: string;
  updateTime: string;
  customerId: string;
  status: OrderStatus;
}

export interface OrderPatch {
  status?: OrderStatus;
  customerId?: string;
}

export class OrderBook {
  /** Every order ever created; the order with sequence number n is at n - 1. */
  private readonly all: OrderRecord[] = [];
  private readonly byName = new Map<string, OrderRecord>();
  private readonly byStatus = new Map<OrderStatus, SeqIndex>(
    ORDER_STATUSES.map((s) => [s, new SeqIndex()]),
  );
  private overwritten = 0;

  constructor(private readonly now: () => string) {}

  get created(): number {
    return this.all.length;
  }

  /**
   * Updates that moved an order out of a final status (a customer's
   * CANCELLED overwritten, say). Rewriting the same final status is not
   * counted: a retried update that already landed is harmless.
   */
  get finalOverwritten(): number {
    return this.overwritten;
  }

  create(customerId: string): OrderRecord {
    const time = this.now();
    const order: OrderRecord = {
      seq: this.all.length + 1,
      name: newName('orders'),
      createTime: time,
      updateTime: time,
      customerId,
      status: 'NEW',
    };
    this.all.push(order);
    this.byName.set(order.name, order);
    this.index(order.status).add(order.seq);
    return order;
  }

  get(name: string): OrderRecord | undefined {
    return this.byName.get(name);
  }

  update(order: OrderRecord, patch: OrderPatch): void {
    if (patch.status !== undefined && patch.status !== order.status) {
      if (isFinalOrderStatus(order.status)) this.overwritten++;
      this.index(order.status).delete(order.seq);
      this.index(patch.status).add(order.seq);
      order.status = patch.status;
    }
    if (patch.customerId !== undefined) order.customerId = patch.customerId;
    order.updateTime = this.now();
  }

  /** Up to `limit` orders created after `afterSeq`, optionally only those in `status`. */
  list(
    status: OrderStatus | undefined,
    afterSeq: number,
    limit: number,
  ): { orders: OrderRecord[]; more: boolean } {
    if (status === undefined) {
      const end = Math.min(afterSeq + limit, this.all.length);
      return { orders: this.all.slice(afterSeq, end), more: end < this.all.length };
    }
    const { seqs, more } = this.index(status).page(afterSeq, limit);
    return { orders: seqs.map((seq) => this.all[seq - 1]), more };
  }

  countsByStatus(): Record<OrderStatus, number> {
    return Object.fromEntries(ORDER_STATUSES.map((s) => [s, this.index(s).size])) as Record<
      OrderStatus,
      number
    >;
  }

  private index(status: OrderStatus): SeqIndex {
    const index = this.byStatus.get(status);
    if (!index) throw new Error(`no index for order status ${status}`);
    return index;
  }
}
