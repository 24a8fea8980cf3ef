// Sections 2 and 3 of the bench: one poll with A active orders and H finished
// ones in the food service's history, against the raw floor and the original
// design, each in a process of its own, on one Firestore emulator. A world is
// seeded so that the poll has nothing to change: its cost is the pure cost of
// looking. The poll process counts its own Firestore operations on the wire
// (firestore-wire.js); on the embedded emulator its hooks count them too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Firestore } from 'firebase-admin/firestore';

import { ensureCerts } from '../food-service/src/certs';
import { startFoodService, type FoodService, type FoodServiceStats } from '../food-service/src/server';
import type { FoodClient } from '../functions/src/food/client';
import { newRelation } from '../functions/src/store/schema';
import type { EmbeddedFirestore } from '../local/firestore';
import { FUNCTIONS_DIR } from '../local/functions-host';
import { PROJECT_ID } from '../local/stack';
import { runChild } from './child';
import type { FirestoreKind } from './lifecycle';
import { embeddedSource, OpCounter, type Ops } from './ops';

export type Mode = 'orchestrator' | 'raw' | 'original';

export interface PollMeasurement {
  firestoreKind: FirestoreKind;
  mode: Mode;
  active: number;
  history: number;
  wallMs: number;
  peakRssMb: number;
  calls: { ListOrders: number; GetOrder: number; GetKitchenOrder: number; GetShipment: number };
  /** Counted on the wire by the poll process. */
  firestore: Ops;
  /** On the embedded emulator: what its own hooks counted for the same poll. */
  hooks?: Ops;
  /** Queries that returned nothing (billed as one read each by Firestore; not in `firestore`). */
  emptyQueries: number;
  /** Firestore calls the counter could not bill, by method (should be none). */
  uncounted: Record<string, number>;
}

/** The emulator a poll-scaling run uses, started by the caller. */
export interface PollTarget {
  kind: FirestoreKind;
  /** host:port, for the poll processes' FIRESTORE_EMULATOR_HOST. */
  host: string;
  /** The host's client for seeding (its operations are not counted). */
  db: Firestore;
  /** Deletes every document, between worlds. */
  clear(): Promise<void>;
  /** The embedded emulator, whose hooks count each poll a second way. */
  embedded?: EmbeddedFirestore;
}

export interface PollScalingParams {
  target: PollTarget;
  actives: number[];
  histories: number[];
  pageSize: number;
  maxConcurrency: number;
  log: (line: string) => void;
}

const SEED_CONCURRENCY = 64;
const BATCH = 400;

/** Runs `work` over `items` with at most `limit` in flight (the bench's own: the functions' helpers change with them). */
async function forEachLimit<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** What the seeding left for a relation to say: the food service's current view. */
function relationDoc(order: string, stage: 'PREPARATION' | 'IN_FLIGHT', kitchenOrder: string, shipment: string | null, at: Date) {
  return {
    ...newRelation(order, 'bench', at),
    stage,
    orderStatus: stage,
    kitchenOrder,
    kitchenOrderStatus: 'NEW',
    shipment,
    shipmentStatus: shipment ? 'NEW' : null,
    advancedAt: at,
  };
}

/** A active orders, half cooking and half flying, each with the relation the orchestrator would have written. */
async function seedActive(
  simulator: FoodService,
  food: FoodClient,
  db: Firestore,
  count: number,
  log: (line: string) => void,
): Promise<void> {
  const started = Date.now();
  const orders = simulator.placeOrders(count).map((order, i) => ({ order, flying: i % 2 === 1 }));
  const docs: Array<[string, ReturnType<typeof relationDoc>]> = [];
  const now = new Date();
  await forEachLimit(orders, SEED_CONCURRENCY, async ({ order, flying }) => {
    const kitchenOrder = (await food.createKitchenOrder()).name;
    const shipment = flying ? (await food.createShipment()).name : null;
    await food.updateOrderStatus(order, flying ? 'IN_FLIGHT' : 'PREPARATION');
    docs.push([order.slice('orders/'.length), relationDoc(order, flying ? 'IN_FLIGHT' : 'PREPARATION', kitchenOrder, shipment, now)]);
  });
  for (let i = 0; i < docs.length; i += BATCH) {
    const batch = db.batch();
    for (const [id, data] of docs.slice(i, i + BATCH)) batch.set(db.collection('relations').doc(id), data);
    await batch.commit();
    if ((i / BATCH) % 5 === 4) log(`    seeded ${i + BATCH} of ${docs.length} relations`);
  }
  log(`    seeded ${count} active orders in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Finished orders: the history a poll must not pay for. */
function seedHistory(simulator: FoodService, count: number): void {
  for (const order of simulator.placeOrders(count)) simulator.cancelOrder(order);
}

function callsSince(before: FoodServiceStats, after: FoodServiceStats): PollMeasurement['calls'] {
  const count = (method: keyof PollMeasurement['calls']) => after.calls[method].ok - before.calls[method].ok;
  return {
    ListOrders: count('ListOrders'),
    GetOrder: count('GetOrder'),
    GetKitchenOrder: count('GetKitchenOrder'),
    GetShipment: count('GetShipment'),
  };
}

/** What poll-child.js prints. */
interface PollChildResult {
  wallMs: number;
  peakRssMb: number;
  firestore: { ops: Ops; emptyQueries: number; uncounted: Record<string, number> };
}

export async function pollScalingBench(params: PollScalingParams): Promise<PollMeasurement[]> {
  const certs = ensureCerts();
  const ca = fs.readFileSync(certs.caCert, 'utf8');
  const results: PollMeasurement[] = [];
  const emulator = params.target;
  const hooks = emulator.embedded ? new OpCounter(embeddedSource(emulator.embedded)) : undefined;
  try {
    for (const active of params.actives) {
      await emulator.clear();
      // Frozen: no controller, no customers, so every mode sees the same world.
      const simulator = await startFoodService({
        port: 0,
        tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
        controllerIntervalMs: 0,
        maxPageSize: 1000,
        log: () => undefined,
      });
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the functions' compiled client, as in local/stack.ts
      const { FoodClient: Client } = require(
        path.join(FUNCTIONS_DIR, 'lib', 'food', 'client.js'),
      ) as typeof import('../functions/src/food/client');
      const food = new Client({ address: simulator.address, tls: { caPem: ca }, deadlineMs: 10_000 });
      try {
        params.log(`  poll scaling on ${emulator.kind}: A = ${active}`);
        await seedActive(simulator, food, emulator.db, active, params.log);
        let history = 0;
        for (const target of params.histories) {
          seedHistory(simulator, target - history);
          history = target;
          const env = {
            ...process.env,
            FIRESTORE_EMULATOR_HOST: emulator.host,
            GCLOUD_PROJECT: PROJECT_ID,
            FOOD_SERVICE_ADDRESS: simulator.address,
            FOOD_SERVICE_CA: ca,
            FOOD_SERVICE_CLIENT_CERT: 'none',
            FOOD_SERVICE_CLIENT_KEY: 'none',
            PAGE_SIZE: String(params.pageSize),
            MAX_CONCURRENCY: String(params.maxConcurrency),
            POLL_INTERVAL_SECONDS: '60',
          };
          for (const mode of ['orchestrator', 'raw', 'original'] as const) {
            const beforeCalls = simulator.stats();
            const beforeHooks = hooks?.snapshot();
            const child = await runChild<PollChildResult>([path.join(__dirname, 'poll-child.js'), mode], { env, timeoutMs: 600_000 });
            results.push({
              firestoreKind: emulator.kind,
              mode,
              active,
              history,
              wallMs: child.wallMs,
              peakRssMb: child.peakRssMb,
              calls: callsSince(beforeCalls, simulator.stats()),
              firestore: child.firestore.ops,
              ...(hooks && beforeHooks ? { hooks: hooks.since(beforeHooks) } : {}),
              emptyQueries: child.firestore.emptyQueries,
              uncounted: child.firestore.uncounted,
            });
            params.log(
              `    ${emulator.kind} A=${active} H=${history} ${mode.padEnd(12)} ${child.wallMs.toFixed(0).padStart(6)} ms, ${child.peakRssMb.toFixed(0)} MB`,
            );
          }
        }
      } finally {
        food.close();
        await simulator.stop();
      }
    }
  } finally {
    hooks?.stop();
  }
  return results;
}
