// Sections 1 and 4 of the bench, run in a process of their own (see
// lifecycle-child.ts): orders run to their end on the local stack (Google's
// Firestore emulator or the embedded one, the simulator, the compiled
// functions), and what each one cost, by how it ended: food-service RPCs by
// method, Firestore reads and writes, trigger invocations; and the latency the
// orchestrator added to each stage, beyond the time the simulator itself held
// the order.
import type { FoodMethod, FoodServiceStats } from '../food-service/src/server';
import { FUNCTIONS_DIR } from '../local/functions-host';
import { parseOptions, type LocalOptions } from '../local/options';
import { startLocalStack, type LocalStack } from '../local/stack';
import { installWireCounter, type CallTimes } from './firestore-wire';
import { billedSeconds } from './cost';
import { agreement, embeddedSource, OpCounter, percentile, type CounterAgreement } from './ops';

/** The two emulators the bench runs on. */
export type FirestoreKind = 'google' | 'embedded';

const OUTCOMES = ['DELIVERED', 'REJECTED', 'CANCELLED'] as const;
type Outcome = (typeof OUTCOMES)[number];
const METHODS: FoodMethod[] = ['GetOrder', 'UpdateOrder', 'CreateKitchenOrder', 'GetKitchenOrder', 'CreateShipment', 'GetShipment'];

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
   * How long trigger events waited in the local stack's delivery queue, in ms:
   * the local stand-in for Eventarc's delivery delay, part of the latency above.
   */
  deliveryWaitMs: { p50: number; p95: number; max: number };
  /** How long a trigger invocation ran, in ms (what Cloud Run bills, rounded up to 100 ms). */
  invocationMs: { mean: number; p50: number; p95: number; billedMean: number };
  /** Queries of the functions that returned nothing: Firestore bills each as one read, not counted above. */
  emptyQueries: number;
  /** Firestore calls the counter could not bill, by method (should be none). */
  uncounted: Record<string, number>;
  /** The functions' Firestore calls by method, with their durations. */
  firestoreCalls: Record<string, CallTimes>;
  /**
   * On the embedded emulator only: its own hooks counted the same run where
   * it served it, and this is how they agree with the wire counter, whose
   * counts are the ones reported.
   */
  counterCheck?: CounterAgreement;
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

/** RPCs by order id, as the simulator received them. */
function recordCalls(stack: LocalStack): Map<string, Record<string, number>> {
  const byName = new Map<string, Record<string, number>>();
  const count = (name: string | undefined, method: FoodMethod) => {
    if (!name) return;
    const calls = byName.get(name) ?? {};
    calls[method] = (calls[method] ?? 0) + 1;
    byName.set(name, calls);
  };
  stack.simulator?.onCall((method, request) => {
    const r = request as { name?: string; order?: { name?: string } };
    count(method === 'UpdateOrder' ? r.order?.name : r.name, method);
  });
  return byName;
}

export async function lifecycleBench(params: LifecycleParams): Promise<LifecycleResult> {
  const options: LocalOptions = {
    ...(parseOptions([], {}) as LocalOptions),
    pollIntervalSeconds: params.pollIntervalSeconds,
    controllerIntervalMs: params.controllerIntervalMs,
    ordersPerSecond: 0,
    boardPort: 0,
    seed: 42,
    embeddedFirestore: params.firestore === 'embedded',
  };
  // Counting starts before the stack, so the first scheduled poll, which
  // starts with it, is counted too.
  const wire = installWireCounter(FUNCTIONS_DIR);
  const ops = new OpCounter(wire);
  const emptyBefore = wire.emptyQueries;
  const warnings: string[] = [];
  const starting = Date.now();
  const stack = await startLocalStack(options, (line) => warnings.push(line));
  params.log(`  lifecycle: ${stack.firestore.kind} stack up in ${((Date.now() - starting) / 1000).toFixed(1)} s`);
  const simulator = stack.simulator;
  if (stack.firestore.kind !== params.firestore) {
    await stack.stop();
    throw new Error(
      `the lifecycle bench asked for the ${params.firestore} Firestore and got ${stack.firestore.description}: ${warnings.join('; ')}`,
    );
  }
  if (!simulator) throw new Error('the lifecycle bench needs the simulator');
  // The embedded emulator also counts where it serves, independently of the wire counter.
  const hooks = stack.firestore.embedded ? new OpCounter(embeddedSource(stack.firestore.embedded)) : undefined;
  const calls = recordCalls(stack);
  const started = Date.now();
  try {
    // Customers at a steady rate over many poll intervals, so orders arrive at
    // every phase of the poll cycle and the latency is measured fairly.
    const orders: string[] = [];
    const placing = Date.now();
    while (orders.length < params.orders) {
      const due = Math.min(params.orders, Math.floor(((Date.now() - placing) / 1000) * params.ordersPerSecond) + 1);
      if (due > orders.length) orders.push(...simulator.placeOrders(due - orders.length));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const deadline = Date.now() + params.timeoutMs;
    for (let last = 0; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 500))) {
      const open = simulator.stats().orders;
      const active = stack.tracker.summary(new Date()).active;
      if (open.NEW + open.PREPARATION + open.IN_FLIGHT === 0 && active === 0) break;
      if (Date.now() - last > 10_000) {
        params.log(`  lifecycle: ${orders.length} placed, ${active} active relations, ${JSON.stringify(open)}`);
        last = Date.now();
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const settling = Date.now();
    // The last writes' trigger events may still be on their way (Google's
    // emulator posts them one at a time): their invocations belong to the orders.
    await stack.functions.settle({ quietMs: 200, timeoutMs: 30_000 });
    // Freeze the counts: what the bench reads to measure is not the orchestrator's cost.
    simulator.onCall(undefined);
    ops.stop();
    hooks?.stop();
    const firestoreCalls = structuredClone(wire.calls);
    const emptyQueries = wire.emptyQueries - emptyBefore;
    const foodStats = simulator.stats();
    if (ops.total.reads + ops.total.writes === 0) {
      throw new Error(`the wire counter saw no Firestore operation of the functions: is ${wire.module} the copy they load?`);
    }
    const result = await measure(stack, orders, ops, calls, foodStats, seconds, params.pollIntervalSeconds);
    params.log(`  lifecycle: settled and measured in ${((Date.now() - settling) / 1000).toFixed(1)} s`);
    return {
      ...result,
      firestore: { kind: params.firestore, description: stack.firestore.description },
      emptyQueries,
      uncounted: { ...wire.uncounted },
      firestoreCalls,
      ...(hooks ? { counterCheck: agreement(ops, hooks) } : {}),
    };
  } finally {
    ops.stop();
    hooks?.stop();
    await stack.stop();
  }
}

async function measure(
  stack: LocalStack,
  orders: string[],
  ops: OpCounter,
  calls: Map<string, Record<string, number>>,
  stats: FoodServiceStats,
  seconds: number,
  pollIntervalSeconds: number,
): Promise<Omit<LifecycleResult, 'firestore' | 'emptyQueries' | 'uncounted' | 'firestoreCalls' | 'counterCheck'>> {
  const relations = new Map((await stack.db.collection('relations').get()).docs.map((doc) => [doc.id, doc.data()]));
  const invocations = new Map<string, number>();
  for (const trigger of stack.functions.triggers)
    for (const [id, n] of trigger.queue.invocations) invocations.set(id, (invocations.get(id) ?? 0) + n);
  const created = new Map<string, string>();
  for await (const page of stack.food.listAllOrders(undefined, 1000)) for (const order of page) created.set(order.name, order.createTime);

  const transitions = new Map<string, number>();
  for (const doc of (await stack.db.collectionGroup('transitions').select().get()).docs) {
    const id = doc.ref.parent.parent?.id;
    if (id) transitions.set(id, (transitions.get(id) ?? 0) + 1);
  }
  const perOutcome = new Map<
    Outcome,
    Array<{ rpcs: Record<string, number>; reads: number; writes: number; invocations: number; pollReads: number; documents: number }>
  >();
  const latency = { NEW: [] as number[], PREPARATION: [] as number[], IN_FLIGHT: [] as number[], total: [] as number[] };
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
    if (outcome === 'DELIVERED' && (rpcs.CreateKitchenOrder !== 1 || rpcs.CreateShipment !== 1 || rpcs.UpdateOrder !== 3))
      inexactDelivered++;
    const cost = {
      rpcs,
      ...(ops.byRelation.get(id) ?? { reads: 0, writes: 0 }),
      invocations: invocations.get(id) ?? 0,
      pollReads: ops.pollReads.get(id) ?? 0,
      documents: 1 + (transitions.get(id) ?? 0),
    };
    perOutcome.set(outcome, [...(perOutcome.get(outcome) ?? []), cost]);

    if ((outcome === 'DELIVERED' || outcome === 'REJECTED') && kitchenOrder && shipment) {
      const claimed = async (to: string) => {
        const snapshot = await stack.db.collection('relations').doc(id).collection('transitions').where('to', '==', to).get();
        const latest = snapshot.docs.map((d) => d.data()).sort((a, b) => Number(b.attempt) - Number(a.attempt))[0];
        return (latest?.claimedAt as { toMillis(): number } | undefined)?.toMillis() ?? NaN;
      };
      const packaged = Date.parse((await stack.food.getKitchenOrder(kitchenOrder)).updateTime);
      const landed = Date.parse((await stack.food.getShipment(shipment)).updateTime);
      const interval = pollIntervalSeconds * 1000;
      const stages = {
        NEW: (await claimed('PREPARATION')) - Date.parse(created.get(order) ?? ''),
        PREPARATION: (await claimed('IN_FLIGHT')) - packaged,
        IN_FLIGHT: (await claimed(outcome)) - landed,
      };
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
    };
  }
  const driven = orders.length - neverSeen;
  const waits = stack.functions.triggers.flatMap((t) => t.queue.waits);
  const durations = stack.functions.triggers.flatMap((t) => t.queue.durations);
  const summarise = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95) });
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
    latency: {
      NEW: summarise(latency.NEW),
      PREPARATION: summarise(latency.PREPARATION),
      IN_FLIGHT: summarise(latency.IN_FLIGHT),
      total: summarise(latency.total),
    },
  };
}
