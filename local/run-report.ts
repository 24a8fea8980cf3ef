// What a bounded local run (`npm start -- --duration`, `npm run emulators --
// --duration`) looks at at its end, and how it says so: when the drain is
// over, the orders the food service lists, and the summary lines both print.
import type { FoodServiceStats } from '../food-service/src/server';
import type { FoodClient } from '../functions/src/food/client';
import { STAGES } from './board/tracker';
import type { InvariantReport } from './invariants';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Orders the food service still has in progress. */
export function openOrders(stats: FoodServiceStats): number {
  return (stats.orders.NEW ?? 0) + (stats.orders.PREPARATION ?? 0) + (stats.orders.IN_FLIGHT ?? 0);
}

/** How long orders in flight may take to finish: ten polls and eight kitchen or drone steps, and at least `atLeastMs`. */
export function drainLimitMs(pollIntervalSeconds: number, controllerIntervalMs: number, atLeastMs: number): number {
  return Math.max(atLeastMs, 10 * pollIntervalSeconds * 1000 + 8 * controllerIntervalMs);
}

/** What the drain waits on. */
export interface InFlight {
  /** Orders the food service has in progress (0 when it cannot tell, e.g. an external service). */
  open: number;
  activeRelations: number;
  /** Active relations flagged for a person: nothing moves them until someone acts. */
  waitingForPerson: number;
}

/**
 * Until nothing is in flight that the orchestrator will move on its own:
 * every active relation, and every open order, is done or waits for a
 * person (a flagged relation's order stays open until someone acts).
 * Resolves true when that happens, false at the limit or when `signal` aborts.
 */
export async function drain(
  look: () => Promise<InFlight> | InFlight,
  limitMs: number,
  options: { signal?: AbortSignal; onLookFailed?: (error: unknown) => void } = {},
): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline && !options.signal?.aborted) {
    try {
      const { open, activeRelations, waitingForPerson } = await look();
      if (activeRelations === waitingForPerson && open <= waitingForPerson) return true;
    } catch (error) {
      options.onLookFailed?.(error);
    }
    await sleep(500);
  }
  return false;
}

/** Every order the food service knows, name → status. */
export async function listOrders(food: FoodClient): Promise<Map<string, string>> {
  const orders = new Map<string, string>();
  for await (const page of food.listAllOrders(undefined, 1000)) for (const order of page) orders.set(order.name, String(order.status));
  return orders;
}

export type StageCounts = Record<(typeof STAGES)[number], number>;

export const formatStages = (stages: StageCounts): string => STAGES.map((stage) => `${stage} ${stages[stage]}`).join(' · ');

/** The simulator's lines of a final summary: what it made, and the calls it served. */
export function foodLines(food: FoodServiceStats): string[] {
  const calls = Object.entries(food.calls)
    .map(([method, c]) => {
      const failed = Object.values(c.failed).reduce((a, b) => a + b, 0);
      return `${method} ${c.ok}${failed ? ` (+${failed} failed)` : ''}`;
    })
    .join(', ');
  return [
    `  food:      ${food.ordersCreated} orders, ${food.kitchenOrdersCreated} kitchen orders, ${food.shipmentsCreated} shipments, ${food.injectedFaults} injected faults`,
    `  RPCs:      ${calls}`,
    ...(food.finalOrdersOverwritten > 0
      ? [`  overwrote: ${food.finalOrdersOverwritten} final order(s) moved on by UpdateOrder (a customer's CANCELLED, say)`]
      : []),
  ];
}

/** The verdict's lines: held or not, then every violation and note. */
export function invariantLines(report: InvariantReport): string[] {
  return [
    `  invariants: ${report.held ? 'held' : 'VIOLATED'}`,
    ...report.violations.map((violation) => `    ✗ ${violation}`),
    ...report.notes.map((note) => `    · ${note}`),
  ];
}
