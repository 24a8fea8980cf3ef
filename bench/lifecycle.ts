// Section 1 of the bench, run in a process of its own (see
// lifecycle-child.ts): orders run to their end on Google's Firestore emulator
// with the simulator and the compiled functions, driven in this one process
// by the tests' firebase-functions-test driver (functions/test/helpers/driver.ts)
// so that the wire counter sees every Firestore call the functions make; and
// what each order cost, by how it ended: food-service RPCs by method,
// Firestore reads and writes, trigger invocations; and the latency the
// orchestrator added to each stage, beyond the time the simulator itself held
// the order.
import { deleteApp, initializeApp } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ensureCerts } from '../food-service/src/certs';
import {
  startFoodService,
  type FoodMethod,
  type FoodService,
  type FoodServiceStats,
} from '../food-service/src/server';
import type { FoodClient } from '../functions/src/api';
import { startDriver, type Driver } from '../functions/test/helpers/driver';
import { startGoogleFirestore } from '../functions/test/helpers/firestore-emulator';
import { startTriggerEventReceiver } from '../functions/test/helpers/trigger-events';
import { installWireCounter, type CallTimes } from './firestore-wire';
import { billedSeconds } from './cost';
import { OpCounter, percentile } from './ops';
import { FUNCTIONS_DIR, PROJECT_ID } from './world';

/** The emulator the bench runs on. */
export type FirestoreKind = 'google';

const OUTCOMES = ['DELIVERED', 'REJECTED', 'CANCELLED'] as const;
type Outcome = (typeof OUTCOMES)[number];
const METHODS: FoodMethod[] = [
  'GetOrder',
  'UpdateOrder',
  'CreateKitchenOrder',
  'GetKitchenOrder',
  'CreateShipment',
  'GetShipment',
];

export interface Stat {
  mean: number;
  max: number;
}

export interface OutcomeCost {
  orders: number;
  rpcs: Record<string, Stat>;
  reads: Stat;
  writes: Stat;
  invocations: Stat;
  /** Of the reads, those the polls made (their queries): the part that depends on the poll interval. */
  pollReads: Stat;
  /** The relation and the documents under it: what retention deletes once the order is finished. */
  documents: Stat;
  /** The writes by what they were for (ops.ts, writePurpose): where `writes` goes. */
  writesFor: Record<string, Stat>;
}

export interface LifecycleResult {
  /** The emulator it ran on, as the stack describes it. */
  firestore: { kind: FirestoreKind; description: string };
  orders: number;
  /** Cancelled by the customer before any poll listed them: never driven, cost nothing. */
  neverSeen: number;
  seconds: number;
  pollIntervalSeconds: number;
  byOutcome: Partial<Record<Outcome, OutcomeCost>>;
  /** Costs of polling that belong to no single order, divided by the orders. */
  sharedPerOrder: { ListOrders: number; reads: number; writes: number };
  /** Delivered orders that did not cost exactly 1 CreateKitchenOrder, 1 CreateShipment and 3 UpdateOrder. */
  inexactDelivered: number;
  /** Creates the food service counted that no relation records (possible orphans). */
  unrecordedCreates: number;
  /** Per stage: time from the food service being ready to the orchestrator acting, in poll intervals. */
  latency: Record<'NEW' | 'PREPARATION' | 'IN_FLIGHT' | 'total', { p50: number; p95: number }>;
  /**
   * How long trigger events waited for a free slot in the driver's delivery
   * (one instance at ADVANCE_CONCURRENCY), in ms: part of the latency above.
   */
  deliveryWaitMs: { p50: number; p95: number; max: number };
  /** How long a trigger invocation ran, in ms (what Cloud Run bills, rounded up to 100 ms). */
  invocationMs: { mean: number; p50: number; p95: number; billedMean: number };
  /**
   * The instance's busy time per order driven, billed (each stretch with a delivery in flight,
   * rounded up to 100 ms), in s: one instance at ADVANCE_CONCURRENCY, as Cloud Run bills it.
   */
  busySecondsPerOrder: number;
  /** The trigger's concurrency: deliveries one instance runs at once. */
  triggerConcurrency: number;
  /** Queries of the functions that returned nothing: Firestore bills each as one read, not counted above. */
  emptyQueries: number;
  /** Firestore calls the counter could not bill, by method (should be none). */
  uncounted: Record<string, number>;
  /** The functions' Firestore calls by method, with their durations. */
  firestoreCalls: Record<string, CallTimes>;
}

export interface LifecycleParams {
  firestore: FirestoreKind;
  orders: number;
  pollIntervalSeconds: number;
  controllerIntervalMs: number;
  ordersPerSecond: number;
  timeoutMs: number;
  log: (line: string) => void;
}

const stat = (values: number[]): Stat => ({
  mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0,
  max: values.length ? Math.max(...values) : 0,
});

/** What the section runs on: the functions, the simulator, and a client of each store (the bench's own, not counted). */
interface Stack {
  simulator: FoodService;
  food: FoodClient;
  db: Firestore;
  functions: Driver;
  description: string;
  stop(): Promise<void>;
}

/**
 * Google's Firestore emulator sending its trigger events to the driver, the
 * simulator over TLS, and the compiled functions with the params a
 * deployment would set. Cloud Scheduler's part is the caller's.
 */
async function startStack(params: LifecycleParams): Promise<Stack> {
  const receiver = await startTriggerEventReceiver();
  const firestore = await startGoogleFirestore({
    projectId: PROJECT_ID,
    functionsEmulator: receiver.address,
  });
  const certs = ensureCerts();
  const caPem = fs.readFileSync(certs.caCert, 'utf8');
  const simulator = await startFoodService({
    port: 0,
    tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
    controllerIntervalMs: params.controllerIntervalMs,
    seed: 42,
    log: () => undefined,
  });
  Object.assign(process.env, {
    FIRESTORE_EMULATOR_HOST: firestore.host,
    GCLOUD_PROJECT: PROJECT_ID,
    METADATA_SERVER_DETECTION: 'none',
    FOOD_SERVICE_ADDRESS: simulator.address,
    FOOD_SERVICE_CA: caPem,
    FOOD_SERVICE_CLIENT_CERT: 'none',
    FOOD_SERVICE_CLIENT_KEY: 'none',
    POLL_INTERVAL_SECONDS: String(params.pollIntervalSeconds),
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the build `firebase deploy` ships
  const module = require(path.join(FUNCTIONS_DIR, 'lib', 'index.js')) as Record<string, unknown>;
  const functions = await startDriver({
    module,
    projectId: PROJECT_ID,
    events: { receiver, firestore: { host: firestore.host, projectId: PROJECT_ID } },
    log: params.log,
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the functions' compiled client
  const { FoodClient: Client } = require(
    path.join(FUNCTIONS_DIR, 'lib', 'api.js'),
  ) as typeof import('../functions/src/api');
  const food = new Client({ address: simulator.address, tls: { caPem }, deadlineMs: 10_000 });
  // The bench's own reads go through the root's copy of firebase-admin, which the wire counter does not count.
  const app = initializeApp({ projectId: PROJECT_ID }, 'bench-lifecycle');
  return {
    simulator,
    food,
    db: getFirestore(app),
    functions,
    description: `Google's Firestore emulator at ${firestore.host}`,
    async stop() {
      food.close();
      await functions.stop();
      await simulator.stop();
      await deleteApp(app);
      await receiver.stop();
      await firestore.stop();
    },
  };
}

/** What Cloud Scheduler does: pollFoodService at each minute mark, the first at once; it polls every interval within its minute. */
function startScheduler(stack: Stack, log: (line: string) => void): () => void {
  let stopped = false;
  // Stopping abandons an invocation in flight, as a platform shutting down would.
  const fire = (due: number) =>
    void stack.functions
      .fireSchedule('pollFoodService', new Date(due))
      .catch(
        (error: unknown) =>
          stopped ||
          log(
            `  pollFoodService failed: ${error instanceof Error ? error.message : String(error)}`,
          ),
      );
  fire(Math.floor(Date.now() / 60_000) * 60_000);
  let timer: NodeJS.Timeout;
  const next = () => {
    const due = Math.ceil((Date.now() + 1) / 60_000) * 60_000;
    timer = setTimeout(() => (fire(due), next()), due - Date.now());
  };
  next();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** RPCs by order id, as the simulator received them. */
function recordCalls(stack: Stack): Map<string, Record<string, number>> {
  const byName = new Map<string, Record<string, number>>();
  const count = (name: string | undefined, method: FoodMethod) => {
    if (!name) return;
    const calls = byName.get(name) ?? {};
    calls[method] = (calls[method] ?? 0) + 1;
    byName.set(name, calls);
  };
  stack.simulator.onCall((method, request) => {
    const r = request as { name?: string; order?: { name?: string } };
    count(method === 'UpdateOrder' ? r.order?.name : r.name, method);
  });
  return byName;
}

export async function lifecycleBench(params: LifecycleParams): Promise<LifecycleResult> {
  // Counting starts before the functions are loaded, so their client is the counted one.
  const wire = installWireCounter(FUNCTIONS_DIR);
  const ops = new OpCounter(wire);
  const emptyBefore = wire.emptyQueries;
  const starting = Date.now();
  const stack = await startStack(params);
  params.log(
    `  lifecycle: up in ${((Date.now() - starting) / 1000).toFixed(1)} s on ${stack.description}`,
  );
  const { simulator } = stack;
  const calls = recordCalls(stack);
  let stopScheduler: (() => void) | undefined;
  const started = Date.now();
  try {
    // Customers at a steady rate over many poll intervals, so orders arrive at
    // every phase of the poll cycle and the latency is measured fairly.
    const orders: string[] = [];
    const placing = Date.now();
    while (orders.length < params.orders) {
      const due = Math.min(
        params.orders,
        Math.floor(((Date.now() - placing) / 1000) * params.ordersPerSecond) + 1,
      );
      if (due > orders.length) orders.push(...simulator.placeOrders(due - orders.length));
      // Polls start with the first order in progress: a poll that finds none ends its minute
      // (poller/schedule.ts), and the bench measures a deployment at work, not one waking up.
      stopScheduler ??= startScheduler(stack, params.log);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const deadline = Date.now() + params.timeoutMs;
    for (
      let last = 0;
      Date.now() < deadline;
      await new Promise((resolve) => setTimeout(resolve, 500))
    ) {
      const open = simulator.stats().orders;
      const active = (
        await stack.db.collection('relations').where('active', '==', true).count().get()
      ).data().count;
      if (open.NEW + open.PREPARATION + open.IN_FLIGHT === 0 && active === 0) break;
      if (Date.now() - last > 10_000) {
        params.log(
          `  lifecycle: ${orders.length} placed, ${active} active relations, ${JSON.stringify(open)}`,
        );
        last = Date.now();
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const settling = Date.now();
    stopScheduler?.();
    // The last writes' trigger events may still be on their way (Google's
    // emulator posts them one at a time): their invocations belong to the orders.
    // A pollSlot task the last minute handed on waits for its slot, up to a minute.
    await stack.functions.settle({ timeoutMs: 90_000 });
    // Freeze the counts: what the bench reads to measure is not the orchestrator's cost.
    simulator.onCall(undefined);
    ops.stop();
    const firestoreCalls = structuredClone(wire.calls);
    const emptyQueries = wire.emptyQueries - emptyBefore;
    const foodStats = simulator.stats();
    if (ops.total.reads + ops.total.writes === 0) {
      throw new Error(
        `the wire counter saw no Firestore operation of the functions: is ${wire.module} the copy they load?`,
      );
    }
    const result = await measure(
      stack,
      orders,
      ops,
      calls,
      foodStats,
      seconds,
      params.pollIntervalSeconds,
      params.log,
    );
    params.log(
      `  lifecycle: settled and measured in ${((Date.now() - settling) / 1000).toFixed(1)} s`,
    );
    return {
      ...result,
      firestore: { kind: params.firestore, description: stack.description },
      emptyQueries,
      uncounted: { ...wire.uncounted },
      firestoreCalls,
    };
  } finally {
    stopScheduler?.();
    ops.stop();
    await stack.stop();
  }
}

async function measure(
  stack: Stack,
  orders: string[],
  ops: OpCounter,
  calls: Map<string, Record<string, number>>,
  stats: FoodServiceStats,
  seconds: number,
  pollIntervalSeconds: number,
  log: (line: string) => void,
): Promise<Omit<LifecycleResult, 'firestore' | 'emptyQueries' | 'uncounted' | 'firestoreCalls'>> {
  const relations = new Map(
    (await stack.db.collection('relations').get()).docs.map((doc) => [doc.id, doc.data()]),
  );
  const trigger = stack.functions.triggers.get('advanceRelation');
  if (!trigger) throw new Error('the build has no advanceRelation trigger');
  const invocations = trigger.invocations;
  const created = new Map<string, string>();
  for await (const page of stack.food.listAllOrders(undefined, 1000))
    for (const order of page) created.set(order.name, order.createTime);

  const transitions = new Map<string, number>();
  for (const doc of (await stack.db.collectionGroup('transitions').select().get()).docs) {
    const id = doc.ref.parent.parent?.id;
    if (id) transitions.set(id, (transitions.get(id) ?? 0) + 1);
  }
  const perOutcome = new Map<
    Outcome,
    Array<{
      rpcs: Record<string, number>;
      reads: number;
      writes: number;
      invocations: number;
      pollReads: number;
      documents: number;
      writesFor: Record<string, number>;
    }>
  >();
  const latency = {
    NEW: [] as number[],
    PREPARATION: [] as number[],
    IN_FLIGHT: [] as number[],
    total: [] as number[],
  };
  let neverSeen = 0;
  let inexactDelivered = 0;
  let recordedCreates = 0;
  for (const order of orders) {
    const id = order.slice('orders/'.length);
    const relation = relations.get(id);
    if (!relation) {
      neverSeen++;
      continue;
    }
    const outcome = relation.stage as Outcome;
    const kitchenOrder = relation.kitchenOrder as string | null;
    const shipment = relation.shipment as string | null;
    const rpcs: Record<string, number> = { ...calls.get(order) };
    for (const [method, name] of [
      ['GetKitchenOrder', kitchenOrder],
      ['GetShipment', shipment],
    ] as const) {
      if (name) rpcs[method] = calls.get(name)?.[method] ?? 0;
    }
    rpcs.CreateKitchenOrder = kitchenOrder ? 1 : 0;
    rpcs.CreateShipment = shipment ? 1 : 0;
    recordedCreates += rpcs.CreateKitchenOrder + rpcs.CreateShipment;
    if (
      outcome === 'DELIVERED' &&
      (rpcs.CreateKitchenOrder !== 1 || rpcs.CreateShipment !== 1 || rpcs.UpdateOrder !== 3)
    )
      inexactDelivered++;
    const cost = {
      rpcs,
      ...(ops.byRelation.get(id) ?? { reads: 0, writes: 0 }),
      invocations: invocations.get(id) ?? 0,
      pollReads: ops.pollReads.get(id) ?? 0,
      documents: 1 + (transitions.get(id) ?? 0),
      writesFor: ops.writesFor.get(id) ?? {},
    };
    perOutcome.set(outcome, [...(perOutcome.get(outcome) ?? []), cost]);

    if ((outcome === 'DELIVERED' || outcome === 'REJECTED') && kitchenOrder && shipment) {
      const claimed = async (to: string) => {
        const snapshot = await stack.db
          .collection('relations')
          .doc(id)
          .collection('transitions')
          .where('to', '==', to)
          .get();
        const latest = snapshot.docs
          .map((d) => d.data())
          .sort((a, b) => Number(b.attempt) - Number(a.attempt))[0];
        return (latest?.claimedAt as { toMillis(): number } | undefined)?.toMillis() ?? NaN;
      };
      const packaged = Date.parse((await stack.food.getKitchenOrder(kitchenOrder)).updateTime);
      const landed = Date.parse((await stack.food.getShipment(shipment)).updateTime);
      const interval = pollIntervalSeconds * 1000;
      // A finish in the poller's window writes no entry: it starts as the poller opens that window.
      const window = relation.finishWindow as { at?: { toMillis(): number } } | undefined;
      const entry = await claimed(outcome);
      const finished = Number.isNaN(entry) ? (window?.at?.toMillis() ?? NaN) : entry;
      const stages = {
        NEW: (await claimed('PREPARATION')) - Date.parse(created.get(order) ?? ''),
        PREPARATION: (await claimed('IN_FLIGHT')) - packaged,
        IN_FLIGHT: finished - landed,
      };
      const untimed = Object.entries(stages).filter(([, ms]) => Number.isNaN(ms));
      if (untimed.length > 0) {
        // Said, and left out of the latency, rather than a column of NaN.
        log(
          `  lifecycle: ${order} has no timing for ${untimed.map(([stage]) => stage).join(', ')}: no claim, entry or window names when it started`,
        );
        continue;
      }
      latency.NEW.push(stages.NEW / interval);
      latency.PREPARATION.push(stages.PREPARATION / interval);
      latency.IN_FLIGHT.push(stages.IN_FLIGHT / interval);
      latency.total.push((stages.NEW + stages.PREPARATION + stages.IN_FLIGHT) / interval);
    }
  }

  const byOutcome: LifecycleResult['byOutcome'] = {};
  for (const outcome of OUTCOMES) {
    const costs = perOutcome.get(outcome) ?? [];
    if (costs.length === 0) continue;
    byOutcome[outcome] = {
      orders: costs.length,
      rpcs: Object.fromEntries(METHODS.map((m) => [m, stat(costs.map((c) => c.rpcs[m] ?? 0))])),
      reads: stat(costs.map((c) => c.reads)),
      writes: stat(costs.map((c) => c.writes)),
      invocations: stat(costs.map((c) => c.invocations)),
      pollReads: stat(costs.map((c) => c.pollReads)),
      documents: stat(costs.map((c) => c.documents)),
      writesFor: Object.fromEntries(
        [...new Set(costs.flatMap((c) => Object.keys(c.writesFor)))]
          .sort()
          .map((purpose) => [purpose, stat(costs.map((c) => c.writesFor[purpose] ?? 0))]),
      ),
    };
  }
  const driven = orders.length - neverSeen;
  const { waits, durations, busySpans } = trigger;
  const summarise = (values: number[]) => ({
    p50: percentile(values, 50),
    p95: percentile(values, 95),
  });
  return {
    orders: orders.length,
    neverSeen,
    seconds,
    pollIntervalSeconds,
    byOutcome,
    sharedPerOrder: {
      ListOrders: stats.calls.ListOrders.ok / driven,
      reads: ops.overhead.reads / driven,
      writes: ops.overhead.writes / driven,
    },
    inexactDelivered,
    unrecordedCreates: stats.kitchenOrdersCreated + stats.shipmentsCreated - recordedCreates,
    deliveryWaitMs: { ...summarise(waits), max: waits.length ? Math.max(...waits) : 0 },
    invocationMs: {
      mean: stat(durations).mean,
      ...summarise(durations),
      billedMean: stat(durations.map((ms) => billedSeconds(ms) * 1000)).mean,
    },
    busySecondsPerOrder: busySpans.reduce((sum, ms) => sum + billedSeconds(ms), 0) / driven,
    triggerConcurrency: trigger.concurrency,
    latency: {
      NEW: summarise(latency.NEW),
      PREPARATION: summarise(latency.PREPARATION),
      IN_FLIGHT: summarise(latency.IN_FLIGHT),
      total: summarise(latency.total),
    },
  };
}
