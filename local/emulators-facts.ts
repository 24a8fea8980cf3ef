// What a bounded `npm run emulators -- --duration N` run looks at, from the
// outside, as a person could: the relation documents through the Firestore
// emulator's REST API, the simulator's counts through its GET /stats, and
// every order through the food service's own ListOrders. Nothing here
// reaches into the emulators' processes.
import * as path from 'node:path';

import type { FoodServiceStats } from '../food-service/src/server';
import type { FoodClient } from '../functions/src/food/client';
import { STAGES } from './board/tracker';
import type { PlainData } from './firestore';
import type { InvariantReport } from './invariants';

/** The emulator treats this token as an admin: it bypasses firestore.rules, which refuse every client. */
const EMULATOR_ADMIN = { authorization: 'Bearer owner' };
const REQUEST_MS = 10_000;
const PAGE_SIZE = 500;
/** A bound on the listing loop: 10,000 pages of 500 is far beyond any local run. */
const MAX_PAGES = 10_000;

/** A Firestore REST `Value` (https://firebase.google.com/docs/firestore/reference/rest/v1/Value). */
export interface RestValue {
  nullValue?: null;
  booleanValue?: boolean;
  integerValue?: string;
  doubleValue?: number;
  timestampValue?: string;
  stringValue?: string;
  bytesValue?: string;
  referenceValue?: string;
  geoPointValue?: { latitude?: number; longitude?: number };
  arrayValue?: { values?: RestValue[] };
  mapValue?: { fields?: Record<string, RestValue> };
}

/** A REST value as firebase-admin would read it: numbers, Dates, plain arrays and objects. */
export function decodeValue(value: RestValue): unknown {
  if (value.mapValue) return decodeFields(value.mapValue.fields ?? {});
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(decodeValue);
  if (value.timestampValue !== undefined) return new Date(value.timestampValue);
  if (value.integerValue !== undefined) return Number(value.integerValue);
  if (value.doubleValue !== undefined) return Number(value.doubleValue);
  if (value.booleanValue !== undefined) return value.booleanValue;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.referenceValue !== undefined) return value.referenceValue;
  if (value.bytesValue !== undefined) return Buffer.from(value.bytesValue, 'base64');
  if (value.geoPointValue) return { latitude: value.geoPointValue.latitude ?? 0, longitude: value.geoPointValue.longitude ?? 0 };
  return null;
}

export function decodeFields(fields: Record<string, RestValue>): PlainData {
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, decodeValue(value)]));
}

/** Every document of a top-level collection, page by page (the emulator serves the same REST API as Firestore). */
export async function readCollection(firestoreHost: string, projectId: string, collection: string): Promise<PlainData[]> {
  const base = `http://${firestoreHost}/v1/projects/${projectId}/databases/(default)/documents/${collection}`;
  const documents: PlainData[] = [];
  let pageToken = '';
  for (let page = 0; page < MAX_PAGES; page++) {
    const url = `${base}?pageSize=${PAGE_SIZE}${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`;
    const response = await fetch(url, { headers: EMULATOR_ADMIN, signal: AbortSignal.timeout(REQUEST_MS) });
    if (!response.ok)
      throw new Error(
        `listing ${collection} in the Firestore emulator failed: ${response.status} ${(await response.text()).slice(0, 200)}`,
      );
    const body = (await response.json()) as { documents?: Array<{ fields?: Record<string, RestValue> }>; nextPageToken?: string };
    for (const document of body.documents ?? []) documents.push(decodeFields(document.fields ?? {}));
    if (!body.nextPageToken) return documents;
    pageToken = body.nextPageToken;
  }
  throw new Error(`listing ${collection} did not end within ${MAX_PAGES} pages`);
}

/** The simulator's own counts, from its stats server. */
export async function readStats(statsUrl: string): Promise<FoodServiceStats> {
  const response = await fetch(statsUrl, { signal: AbortSignal.timeout(REQUEST_MS) });
  if (!response.ok) throw new Error(`GET ${statsUrl} answered ${response.status}`);
  return (await response.json()) as FoodServiceStats;
}

export function openOrders(stats: FoodServiceStats): number {
  return (stats.orders.NEW ?? 0) + (stats.orders.PREPARATION ?? 0) + (stats.orders.IN_FLIGHT ?? 0);
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
    const orders = new Map<string, string>();
    for await (const page of food.listAllOrders(undefined, 1000)) for (const order of page) orders.set(order.name, String(order.status));
    return orders;
  } finally {
    food.close();
  }
}

export type StageCounts = Record<(typeof STAGES)[number], number>;

/** Relations per stage, and how many are still active. */
export function countRelations(relations: readonly PlainData[]): { stages: StageCounts; active: number } {
  const stages = Object.fromEntries(STAGES.map((stage) => [stage, 0])) as StageCounts;
  let active = 0;
  for (const relation of relations) {
    const stage = relation.stage as keyof StageCounts;
    if (stage in stages) stages[stage]++;
    if (relation.active === true) active++;
  }
  return { stages, active };
}

export const formatStages = (stages: StageCounts): string => STAGES.map((stage) => `${stage} ${stages[stage]}`).join(' · ');

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
  const { stats, report } = facts;
  const calls = Object.entries(stats.calls)
    .map(([method, c]) => {
      const failed = Object.values(c.failed).reduce((a, b) => a + b, 0);
      return `${method} ${c.ok}${failed ? ` (+${failed} failed)` : ''}`;
    })
    .join(', ');
  const lines = [
    '',
    `final summary after ${facts.elapsedSeconds} s: ${facts.durationSeconds} s of customers, then ${facts.drained ? `drained in ${facts.drainSeconds} s` : `the drain timed out after ${facts.drainSeconds} s`}`,
    `  relations:  ${facts.relations.length} (${facts.relations.length - active} finished, ${active} active)`,
    `  by stage:   ${formatStages(stages)}`,
    `  orders:     ${report.finished} finished, ${report.inProgress} in progress (as the food service lists them)`,
    `  food:       ${stats.ordersCreated} orders, ${stats.kitchenOrdersCreated} kitchen orders, ${stats.shipmentsCreated} shipments, ${stats.ordersCancelledByCustomer} cancelled by customers`,
    `  RPCs:       ${calls}`,
    `  polls:      ${facts.clock.ok} answered 200, ${facts.clock.skipped} skipped (409), ${facts.clock.failed} failed`,
    `  functions:  ${facts.functionErrors} invocation(s) killed by an unhandled error`,
    `  invariants: ${report.held ? 'held' : 'VIOLATED'}`,
  ];
  for (const violation of report.violations) lines.push(`    ✗ ${violation}`);
  for (const note of report.notes) lines.push(`    · ${note}`);
  return lines.join('\n');
}
