// Live numbers about a running simulator: what callers did, what the
// simulated world holds.
import * as grpc from '@grpc/grpc-js';
import { FOOD_METHODS, type FoodMethod } from './methods';
import type { KitchenOrderStatus, OrderStatus, ShipmentStatus } from './statuses';
import type { Store } from './store';

export interface MethodStats {
  ok: number;
  /** Failed calls by status code name, e.g. { UNAVAILABLE: 3 }. */
  failed: Record<string, number>;
}

export interface FoodServiceStats {
  uptimeSeconds: number;
  calls: Record<FoodMethod, MethodStats>;
  injectedFaults: number;
  ordersCreated: number;
  kitchenOrdersCreated: number;
  shipmentsCreated: number;
  ordersCancelledByCustomer: number;
  /** UpdateOrder calls that moved an order out of a final status (possible with finalOrderUpdates 'accept', like the real service). */
  finalOrdersOverwritten: number;
  orders: Record<OrderStatus, number>;
  kitchenOrders: Record<KitchenOrderStatus, number>;
  shipments: Record<ShipmentStatus, number>;
}

export class CallStats {
  private readonly startedAt = performance.now();
  private readonly calls = new Map<FoodMethod, MethodStats>(
    FOOD_METHODS.map((m) => [m, { ok: 0, failed: {} }]),
  );
  private injected = 0;

  record(method: FoodMethod, code: grpc.status): void {
    const entry = this.entry(method);
    if (code === grpc.status.OK) {
      entry.ok++;
    } else {
      const name = grpc.status[code] ?? `CODE_${code}`;
      entry.failed[name] = (entry.failed[name] ?? 0) + 1;
    }
  }

  recordInjectedFault(): void {
    this.injected++;
  }

  /** A detached copy, combined with what the store and the customers hold. */
  snapshot(store: Store, ordersCancelledByCustomer: number): FoodServiceStats {
    return {
      uptimeSeconds: Math.round((performance.now() - this.startedAt) / 100) / 10,
      calls: Object.fromEntries(
        FOOD_METHODS.map((m) => [m, { ok: this.entry(m).ok, failed: { ...this.entry(m).failed } }]),
      ) as Record<FoodMethod, MethodStats>,
      injectedFaults: this.injected,
      ordersCreated: store.orders.created,
      kitchenOrdersCreated: store.kitchenOrders.created,
      shipmentsCreated: store.shipments.created,
      ordersCancelledByCustomer,
      finalOrdersOverwritten: store.orders.finalOverwritten,
      orders: store.orders.countsByStatus(),
      kitchenOrders: store.kitchenOrders.countsByStatus(),
      shipments: store.shipments.countsByStatus(),
    };
  }

  private entry(method: FoodMethod): MethodStats {
    const entry = this.calls.get(method);
    if (!entry) throw new Error(`no call stats for method ${method}`);
    return entry;
  }
}

function counts(values: Record<string, number>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** One line for a terminal: totals first, then what each resource looks like. */
export function formatStatsLine(stats: FoodServiceStats): string {
  const calls = Object.values(stats.calls);
  const ok = calls.reduce((sum, c) => sum + c.ok, 0);
  const failed: Record<string, number> = {};
  for (const c of calls) {
    for (const [code, n] of Object.entries(c.failed)) failed[code] = (failed[code] ?? 0) + n;
  }
  const failedTotal = Object.values(failed).reduce((sum, n) => sum + n, 0);
  return [
    `stats up=${stats.uptimeSeconds}s`,
    `calls ok=${ok} failed=${failedTotal}${failedTotal ? ` (${counts(failed)})` : ''} injected=${stats.injectedFaults}`,
    `orders created=${stats.ordersCreated} cancelledByCustomer=${stats.ordersCancelledByCustomer} ${counts(stats.orders)} finalOverwritten=${stats.finalOrdersOverwritten}`,
    `kitchen created=${stats.kitchenOrdersCreated} ${counts(stats.kitchenOrders)}`,
    `shipments created=${stats.shipmentsCreated} ${counts(stats.shipments)}`,
  ].join(' | ');
}
