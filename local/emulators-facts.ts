// What a bounded `npm run emulators -- --duration N` run looks at, from the
// outside, as a person could: the relation documents through the Firestore
// emulator, the simulator's counts through its GET /stats, and every order
// through the food service's own ListOrders. Nothing here reaches into the
// emulators' processes.
import { deleteApp, initializeApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import * as path from 'node:path';

import type { FoodServiceStats } from '../food-service/src/server';
import type { FoodClient } from '../functions/src/food/client';
import { plain } from './document-events';
import type { PlainData } from './firestore';
import type { InvariantReport } from './invariants';
import { foodLines, formatStages, invariantLines, listOrders, openOrders, type StageCounts } from './run-report';
import { STAGES } from './board/tracker';

const REQUEST_MS = 10_000;

/** Reads the relation documents of the emulator at `host`, as an admin (firestore.rules refuse every client). */
export interface RelationReader {
  read(): Promise<PlainData[]>;
  close(): Promise<void>;
}

export function relationReader(host: string, projectId: string): RelationReader {
  const app = initializeApp({ projectId }, `emulators-run-${Date.now()}`);
  const db = getFirestore(app);
  db.settings({ host, ssl: false });
  return {
    async read() {
      return (await db.collection('relations').get()).docs.map((doc) => plain(doc.data()) as PlainData);
    },
    close: () => deleteApp(app),
  };
}

/** The simulator's own counts, from its stats server. */
export async function readStats(statsUrl: string): Promise<FoodServiceStats> {
  const response = await fetch(statsUrl, { signal: AbortSignal.timeout(REQUEST_MS) });
  if (!response.ok) throw new Error(`GET ${statsUrl} answered ${response.status}`);
  return (await response.json()) as FoodServiceStats;
}

/**
 * Every order the food service knows, name → status, through the
 * orchestrator's own client as compiled with the functions: the run is judged
 * by what the service says, with the code the functions use to ask it.
 */
export async function readOrders(address: string, caPem: string, functionsDir: string): Promise<Map<string, string>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- compiled module of the functions package
  const { FoodClient: Client } = require(path.join(functionsDir, 'lib', 'food', 'client.js')) as { FoodClient: typeof FoodClient };
  const food = new Client({ address, tls: { caPem }, deadlineMs: 5_000 });
  try {
    return await listOrders(food);
  } finally {
    food.close();
  }
}

/** Relations per stage, how many are still active, and how many of those wait for a person (flagged). */
export function countRelations(relations: readonly PlainData[]): { stages: StageCounts; active: number; waitingForPerson: number } {
  const stages = Object.fromEntries(STAGES.map((stage) => [stage, 0])) as StageCounts;
  let active = 0;
  let waitingForPerson = 0;
  for (const relation of relations) {
    const stage = relation.stage as keyof StageCounts;
    if (stage in stages) stages[stage]++;
    if (relation.active !== true) continue;
    active++;
    const error = relation.error as { transient?: unknown } | null | undefined;
    if ((error && error.transient !== true) || relation.observationError) waitingForPerson++;
  }
  return { stages, active, waitingForPerson };
}

/** What the clock saw: polls answered 200, skipped with 409 (lease held), and failed (any other answer, or none). */
export interface ClockCounts {
  ok: number;
  skipped: number;
  failed: number;
}

export interface RunSnapshot {
  elapsedSeconds: number;
  relations: readonly PlainData[];
  stats: FoodServiceStats;
  clock: ClockCounts;
  /** Function invocations the Functions emulator reported as killed by an unhandled error. */
  functionErrors: number;
}

/** One progress line, every few seconds while the run lasts and while it drains. */
export function progressLine(snapshot: RunSnapshot): string {
  const { stages, active } = countRelations(snapshot.relations);
  const { stats } = snapshot;
  return (
    `[${String(snapshot.elapsedSeconds).padStart(4)}s] ${formatStages(stages)} (${active} active)` +
    ` | food: ${stats.ordersCreated} orders (${openOrders(stats)} open), ${stats.kitchenOrdersCreated} kitchen, ${stats.shipmentsCreated} shipments` +
    ` | polls ${snapshot.clock.ok} ok, ${snapshot.clock.failed} failed | function errors ${snapshot.functionErrors}`
  );
}

export interface FinalFacts extends RunSnapshot {
  durationSeconds: number;
  drainSeconds: number;
  drained: boolean;
  report: InvariantReport;
}

export function finalSummary(facts: FinalFacts): string {
  const { stages, active } = countRelations(facts.relations);
  const { report } = facts;
  return [
    '',
    `final summary after ${facts.elapsedSeconds} s: ${facts.durationSeconds} s of customers, then ${facts.drained ? `drained in ${facts.drainSeconds} s` : `the drain timed out after ${facts.drainSeconds} s`}`,
    `  relations: ${facts.relations.length} (${facts.relations.length - active} finished, ${active} active)`,
    `  by stage:  ${formatStages(stages)}`,
    `  orders:    ${report.finished} finished, ${report.inProgress} in progress (as the food service lists them)`,
    ...foodLines(facts.stats),
    `  polls:     ${facts.clock.ok} answered 200, ${facts.clock.skipped} skipped (409), ${facts.clock.failed} failed`,
    `  functions: ${facts.functionErrors} invocation(s) killed by an unhandled error`,
    ...invariantLines(report),
  ].join('\n');
}
