// What a bounded `npm start -- --duration N` run looks at, from the outside,
// as a person could: the relations (the board's tracker, fed by a listener,
// and at the end every document), the simulator's counts, and every order
// through the food service's own ListOrders. Nothing here reaches into the
// emulators' processes.
import * as path from 'node:path';

import type { FoodServiceStats } from '../food-service/src/server';
import type { FoodClient } from '../functions/src/api';
import { STAGES, type Summary } from './board/tracker';
import type { ClockCounts } from './clock';
import type { InvariantReport } from './invariants';

/** Orders the food service still has in progress. */
export function openOrders(stats: FoodServiceStats): number {
  return (stats.orders.NEW ?? 0) + (stats.orders.PREPARATION ?? 0) + (stats.orders.IN_FLIGHT ?? 0);
}

/**
 * Every order the food service knows, name → status, through the
 * orchestrator's own client as compiled with the functions: the run is judged
 * by what the service says, with the code the functions use to ask it.
 */
export async function readOrders(
  address: string,
  caPem: string,
  functionsDir: string,
): Promise<Map<string, string>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- compiled module of the functions package
  const { FoodClient: Client } = require(path.join(functionsDir, 'lib', 'api.js')) as {
    FoodClient: typeof FoodClient;
  };
  const food = new Client({ address, tls: { caPem }, deadlineMs: 5_000 });
  try {
    const orders = new Map<string, string>();
    for await (const page of food.listAllOrders(undefined, 1000))
      for (const order of page) orders.set(order.name, String(order.status));
    return orders;
  } finally {
    food.close();
  }
}

/** How long orders in flight may take to finish: ten polls and eight kitchen or drone steps, and at least `atLeastMs`. */
export function drainLimitMs(
  pollIntervalSeconds: number,
  controllerIntervalMs: number,
  atLeastMs: number,
): number {
  return Math.max(atLeastMs, 10 * pollIntervalSeconds * 1000 + 8 * controllerIntervalMs);
}

export const formatStages = (stages: Summary['stages']): string =>
  STAGES.map((stage) => `${stage} ${stages[stage]}`).join(' · ');

/** A moment of the run, for a progress line. */
export interface RunSnapshot {
  elapsedSeconds: number;
  summary: Summary;
  /** The simulator's counts. */
  stats: FoodServiceStats;
  clock: ClockCounts;
  /** Function invocations the Functions emulator reported as killed by an unhandled error. */
  functionErrors: number;
}

/** One progress line, every few seconds while the run lasts and while it drains. */
export function progressLine({
  elapsedSeconds,
  summary,
  stats,
  clock,
  functionErrors,
}: RunSnapshot): string {
  return (
    `[${String(elapsedSeconds).padStart(4)}s] ${formatStages(summary.stages)} (${summary.active} active) | ${summary.transitionsPerSecond.toFixed(1)} transitions/s` +
    ` | errors: ${summary.errors.transient} retrying, ${summary.errors.flagged} flagged` +
    ` | food: ${stats.ordersCreated} orders (${openOrders(stats)} open), ${stats.kitchenOrdersCreated} kitchen, ${stats.shipmentsCreated} shipments` +
    ` | polls ${clock.ok} ok, ${clock.failed} failed | function errors ${functionErrors}`
  );
}

/** The simulator's lines of a final summary: what it made, and the calls it served. */
function foodLines(food: FoodServiceStats): string[] {
  const calls = Object.entries(food.calls)
    .map(([method, c]) => {
      const failed = Object.values(c.failed).reduce((a, b) => a + b, 0);
      return `${method} ${c.ok}${failed ? ` (+${failed} failed)` : ''}`;
    })
    .join(', ');
  return [
    `  food:       ${food.ordersCreated} orders, ${food.kitchenOrdersCreated} kitchen orders, ${food.shipmentsCreated} shipments, ${food.injectedFaults} injected faults`,
    `  RPCs:       ${calls}`,
    ...(food.finalOrdersOverwritten > 0
      ? [
          `  overwrote:  ${food.finalOrdersOverwritten} final order(s) moved on by UpdateOrder (a customer's CANCELLED, say)`,
        ]
      : []),
  ];
}

export interface FinalFacts extends RunSnapshot {
  durationSeconds: number;
  drainSeconds: number;
  drained: boolean;
  relations: number;
  report: InvariantReport;
  /** The fault proxy's own line, when it ran. */
  proxy: string | undefined;
}

export function finalSummary(facts: FinalFacts): string {
  const { summary, report } = facts;
  return [
    '',
    `final summary after ${facts.elapsedSeconds} s: ${facts.durationSeconds} s of customers, then ${facts.drained ? `drained in ${facts.drainSeconds} s` : `the drain timed out after ${facts.drainSeconds} s`}`,
    `  relations:  ${facts.relations} (${summary.finished} finished, ${summary.active} active)`,
    `  by stage:   ${formatStages(summary.stages)}`,
    `  orders:     ${report.finished} finished, ${report.inProgress} in progress (as the food service lists them)`,
    ...foodLines(facts.stats),
    ...(facts.proxy ? [`  proxy:      ${facts.proxy}`] : []),
    `  polls:      ${facts.clock.ok} answered 200, ${facts.clock.skipped} skipped (409), ${facts.clock.failed} failed`,
    `  functions:  ${facts.functionErrors} invocation(s) killed by an unhandled error`,
    `  invariants: ${report.held ? 'held' : 'VIOLATED'}`,
    ...report.violations.map((violation) => `    ✗ ${violation}`),
    ...report.notes.map((note) => `    · ${note}`),
  ].join('\n');
}
