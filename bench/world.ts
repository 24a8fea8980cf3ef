// A frozen world for the poll benchmarks: the food-service simulator with no
// kitchens, drones or customers moving, A active orders with the relations
// the orchestrator would have written, and H finished orders in the history.
// Nothing changes while a poll looks at it, so every mode sees the same world
// and a poll's cost is the pure cost of looking. Each measured piece runs in
// a process of its own (poll-child.js), counting its own Firestore operations
// on the wire.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Firestore } from 'firebase-admin/firestore';

import { ensureCerts } from '../food-service/src/certs';
import {
  startFoodService,
  type FoodService,
  type FoodServiceStats,
} from '../food-service/src/server';
import { newRelation, type FoodClient } from '../functions/src/api';
import { runChild } from './child';
import type { FirestoreKind } from './lifecycle';
import type { CallTimes } from './firestore-wire';
import type { Ops } from './ops';

export const FUNCTIONS_DIR = path.resolve(__dirname, '..', 'functions');
/**
 * The bench's own demo project, so emulators of other runs on this machine
 * never see its events or tasks; set in the environment, so the bench's child
 * processes use the same one.
 */
export const PROJECT_ID = (process.env.BENCH_PROJECT ??= `demo-bench-${process.pid}`);

/** The emulator a poll benchmark uses, started by the caller. */
export interface PollTarget {
  kind: FirestoreKind;
  /** host:port, for the poll processes' FIRESTORE_EMULATOR_HOST. */
  host: string;
  /** The host's client for seeding (its operations are not counted). */
  db: Firestore;
  /** Deletes every document, between worlds. */
  clear(): Promise<void>;
}

export type ChildMode = 'orchestrator' | 'shard' | 'minute' | 'slots' | 'raw' | 'original';

/** The food-service calls a poll makes, as the simulator counted them. */
export interface PollCalls {
  ListOrders: number;
  GetOrder: number;
  GetKitchenOrder: number;
  GetShipment: number;
}

/** What poll-child.js prints, with the calls the simulator counted meanwhile. */
export interface ChildRun<R = unknown> {
  wallMs: number;
  peakRssMb: number;
  result: R;
  firestore: {
    ops: Ops;
    emptyQueries: number;
    uncounted: Record<string, number>;
    calls: Record<string, CallTimes>;
  };
  calls: PollCalls;
}

export interface World {
  readonly simulator: FoodService;
  readonly food: FoodClient;
  /** Runs poll-child.js in `mode` against this world, with `env` over the functions' configuration. */
  run<R = unknown>(
    mode: ChildMode,
    env?: Record<string, string>,
    args?: string[],
  ): Promise<ChildRun<R>>;
  /** A active orders, half cooking and half flying, each with its relation. */
  seedActive(count: number, log: (line: string) => void): Promise<void>;
  /** Finished orders: the history a poll must not pay for. */
  seedHistory(count: number): void;
  close(): Promise<void>;
}

const SEED_CONCURRENCY = 64;
const BATCH = 400;

/** Runs `work` over `items` with at most `limit` in flight (the bench's own: the functions' helpers change with them). */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** What the seeding left for a relation to say: the food service's current view. */
function relationDoc(
  order: string,
  stage: 'PREPARATION' | 'IN_FLIGHT',
  kitchenOrder: string,
  shipment: string | null,
  at: Date,
) {
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

export function callsSince(before: FoodServiceStats, after: FoodServiceStats): PollCalls {
  const count = (method: keyof PollCalls) => after.calls[method].ok - before.calls[method].ok;
  return {
    ListOrders: count('ListOrders'),
    GetOrder: count('GetOrder'),
    GetKitchenOrder: count('GetKitchenOrder'),
    GetShipment: count('GetShipment'),
  };
}

/** A frozen simulator on `target`, cleared first; the poll processes get the functions' configuration for it. */
export async function openWorld(
  target: PollTarget,
  config: { pageSize: number; maxConcurrency: number },
): Promise<World> {
  await target.clear();
  const certs = ensureCerts();
  const ca = fs.readFileSync(certs.caCert, 'utf8');
  const simulator = await startFoodService({
    port: 0,
    tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
    controllerIntervalMs: 0,
    maxPageSize: 1000,
    log: () => undefined,
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the functions' compiled client
  const { FoodClient: Client } = require(
    path.join(FUNCTIONS_DIR, 'lib', 'api.js'),
  ) as typeof import('../functions/src/api');
  const food = new Client({ address: simulator.address, tls: { caPem: ca }, deadlineMs: 10_000 });
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    FIRESTORE_EMULATOR_HOST: target.host,
    GCLOUD_PROJECT: PROJECT_ID,
    FOOD_SERVICE_ADDRESS: simulator.address,
    FOOD_SERVICE_CA: ca,
    FOOD_SERVICE_CLIENT_CERT: 'none',
    FOOD_SERVICE_CLIENT_KEY: 'none',
    PAGE_SIZE: String(config.pageSize),
    MAX_CONCURRENCY: String(config.maxConcurrency),
    POLL_INTERVAL_SECONDS: '60',
  };
  // No child inherits a task queue by accident: without one a poll observes its shards itself.
  delete baseEnv.CLOUD_TASKS_EMULATOR_HOST;

  return {
    simulator,
    food,
    async run<R>(mode: ChildMode, env: Record<string, string> = {}, args: string[] = []) {
      const before = simulator.stats();
      const child = await runChild<Omit<ChildRun<R>, 'calls'>>(
        [path.join(__dirname, 'poll-child.js'), mode, ...args],
        {
          env: { ...baseEnv, ...env },
          timeoutMs: 3_600_000,
        },
      );
      return { ...child, calls: callsSince(before, simulator.stats()) };
    },
    async seedActive(count, log) {
      const started = Date.now();
      const orders = simulator
        .placeOrders(count)
        .map((order, i) => ({ order, flying: i % 2 === 1 }));
      const docs: Array<[string, ReturnType<typeof relationDoc>]> = [];
      const now = new Date();
      let done = 0;
      await forEachLimit(orders, SEED_CONCURRENCY, async ({ order, flying }) => {
        const kitchenOrder = (await food.createKitchenOrder()).name;
        const shipment = flying ? (await food.createShipment()).name : null;
        await food.updateOrderStatus(order, flying ? 'IN_FLIGHT' : 'PREPARATION');
        docs.push([
          order.slice('orders/'.length),
          relationDoc(order, flying ? 'IN_FLIGHT' : 'PREPARATION', kitchenOrder, shipment, now),
        ]);
        if (++done % 10_000 === 0) log(`    placed ${done} of ${count} orders in the simulator`);
      });
      for (let i = 0; i < docs.length; i += BATCH) {
        const batch = target.db.batch();
        for (const [id, data] of docs.slice(i, i + BATCH))
          batch.set(target.db.collection('relations').doc(id), data);
        await batch.commit();
        if ((i / BATCH) % 25 === 24) log(`    seeded ${i + BATCH} of ${docs.length} relations`);
      }
      log(`    seeded ${count} active orders in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    },
    seedHistory(count) {
      for (const order of simulator.placeOrders(count)) simulator.cancelOrder(order);
    },
    async close() {
      food.close();
      await simulator.stop();
    },
  };
}
