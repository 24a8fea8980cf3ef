// The customers' side: they place orders and sometimes cancel them. This is
// not an RPC client; in the real system customers reach the food service
// through their own app, so the simulator writes to its store directly.
import type { OrderBook } from './order-book';
import type { Random } from './random';
import { isFinalOrderStatus } from './statuses';

export interface CustomerSettings {
  /** Share of placed orders that the customer later cancels, if still possible. */
  cancelRate: number;
}

/** A cancelling customer changes their mind after this many controller ticks. */
const CANCEL_AFTER_TICKS = { min: 1, max: 6 } as const;
/** How often the placement timer wakes up; orders are spread over the second. */
const PLACEMENT_PERIOD_MS = 100;
const CUSTOMERS = 1000;

export class Customer {
  private ticks = 0;
  /** Tick number → orders whose customer cancels on that tick. */
  private readonly cancellations = new Map<number, string[]>();
  private timer: NodeJS.Timeout | undefined;
  private cancelledCount = 0;

  constructor(
    private readonly orders: OrderBook,
    private readonly random: Random,
    private readonly settings: CustomerSettings,
  ) {}

  get cancelled(): number {
    return this.cancelledCount;
  }

  /**
   * Places `count` orders, deciding now (seeded) whether and when each is
   * cancelled; all from `customerId` if given (a customer whose id is
   * megabytes long, say: customers reach the store without gRPC's limits).
   */
  place(count: number, customerId?: string): string[] {
    if (!Number.isInteger(count) || count < 0)
      throw new RangeError(`order count must be a non-negative integer, got ${count}`);
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      const order = this.orders.create(customerId ?? `customer-${this.random.int(1, CUSTOMERS)}`);
      names.push(order.name);
      if (this.random.chance(this.settings.cancelRate)) {
        const due = this.ticks + this.random.int(CANCEL_AFTER_TICKS.min, CANCEL_AFTER_TICKS.max);
        this.cancellations.set(due, [...(this.cancellations.get(due) ?? []), order.name]);
      }
    }
    return names;
  }

  /** Cancels an order that is not yet done. Throws if it is unknown or already final. */
  cancel(name: string): void {
    const order = this.orders.get(name);
    if (!order) throw new Error(`cannot cancel ${name}: no such order`);
    if (isFinalOrderStatus(order.status))
      throw new Error(`cannot cancel ${name}: it is already ${order.status}`);
    this.orders.update(order, { status: 'CANCELLED' });
    this.cancelledCount++;
  }

  /** One controller tick passes: customers whose patience ran out cancel, if they still can. */
  tick(): void {
    this.ticks++;
    const due = this.cancellations.get(this.ticks) ?? [];
    this.cancellations.delete(this.ticks);
    for (const name of due) {
      const order = this.orders.get(name);
      if (order && !isFinalOrderStatus(order.status)) this.cancel(name);
    }
  }

  /** Places `ordersPerSecond` orders per second, on average, until stop(). */
  start(ordersPerSecond: number): void {
    if (ordersPerSecond <= 0 || this.timer) return;
    let last = performance.now();
    let owed = 0;
    this.timer = setInterval(() => {
      const now = performance.now();
      // Count elapsed time, not timer wake-ups, so a busy event loop does not slow the rate.
      owed += ((now - last) / 1000) * ordersPerSecond;
      last = now;
      const due = Math.floor(owed);
      owed -= due;
      this.place(due);
    }, PLACEMENT_PERIOD_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
