// One simulated run: the real orchestration code (the trigger's advance(),
// the scheduled poll with its lease and its slots' tasks, observeShard, the
// operators' repairs, retention) against the memory store, the simulated
// food service and a platform that delivers trigger events at least once,
// late, twice, concurrently or not at all, kills instances at any call and
// times them out. Then the promise is checked against the food service's
// ledger (checks.ts).
import { createRequire } from 'node:module';

import type { Scheduler } from 'fast-check';

import { INT_PARAMS, type Config } from '../src/config';
import { sendingUntil } from '../src/food/client';
import { advance } from '../src/order/lifecycle';
import { killSwitchCache } from '../src/engine/kill-switch';
import { observeShard } from '../src/poller/poll';
import { runScheduledPolls, runSlotTask } from '../src/poller/schedule';
import type { PollDeps, ShardQueue, SlotQueue } from '../src/poller/shards';
import { readKillSwitch, setKillSwitch } from '../src/store/controls';
import { useDatabase } from '../src/store/db';
import { checkPromise, type Violation } from './checks';
import { FoodLedger, type FoodFaults } from './food';
import { Operators, type Person } from './operators';
import { MemoryDatabase, storeError, type StoreCall } from './memory-database';
import { Random, World, currentInvocation, type TraceLine } from './world';
import { status } from '@grpc/grpc-js';

export interface OrderPlan {
  /** When the customer places it, ms into the run. */
  at: number;
  /** When the customer cancels it, if they do (ignored once it is final). */
  cancelAt: number | null;
  /** Whether the customer rejects the delivery. */
  rejects: boolean;
}

export interface Plan {
  /** The world's dice: faults, latencies, delays. The scheduler has its own. */
  seed: number;
  orders: OrderPlan[];
  food: FoodFaults;
  /** Chance that a kitchen order or shipment stalls while the chaos lasts. */
  stallRate: number;
  /** Chance that an invocation dies before or after any one call. */
  crashRate: number;
  /** Chance that an invocation freezes for minutes before any one call. */
  freezeRate: number;
  events: { drop: number; duplicate: number; late: number };
  /** Firestore calls failing with UNAVAILABLE, and commits with ABORTED. */
  store: { unavailable: number; aborted: number };
  /** Invocations that outlive their timeout (the request ends, the code goes on). */
  zombies: number;
  config: { pollIntervalSeconds: number; maxAmbiguousRetries: number; shardSize: number };
  operators: {
    retries: boolean;
    resolves: boolean;
    everyMs: number;
    pause: { at: number; forMs: number } | null;
  };
  // Drawn last, so that the seeds found before these existed keep the rest of their plans.
  /** The person on call, beyond the rounds (null: the rounds alone). */
  person: Person | null;
  /** A customer who sees their cancelled order in progress again cancels it again within this long. */
  recancelWithinMs: number | null;
  /** A food service that holds this share of UpdateOrders: many overwrites, to repair and cancel over again. */
  heldOften: number | null;
  /** Cloud Tasks is there for a minute's later slots (pollSlot); without it, every minute is held. */
  slotTasks: boolean;
  /** Held updates common and a person on call who waits minutes to retry (sim/property.ts). */
  heldWhileAPersonWaits: boolean;
  /** In that world, the person pastes a flag raised anew into a retry at once (sim/operators.ts). */
  pastesTheNewFlag: boolean;
  /** A food service that answers this share of calls slowly, within their deadline (null: never). */
  slowCalls: number | null;
}

/** Faults, crashes and new orders happen in the first part; the rest only heals. */
export const CHAOS_MS = 25 * 60_000;
export const RUN_MS = 75 * 60_000;
export const RUN_START = Date.UTC(2026, 11, 3, 12, 0, 0);
const START = RUN_START;
const ADVANCE_TIMEOUT_MS = 120_000;
const KITCHEN_TICK_MS = 10_000;

export interface RunResult {
  violations: Violation[];
  trace: TraceLine[];
  stats: {
    orders: number;
    faults: number;
    crashes: number;
    interleavings: number;
    invocations: number;
    steps: number;
    kitchenOrders: number;
    shipments: number;
  };
}

function simConfig(plan: Plan): Config {
  return {
    address: 'food.sim:9000',
    region: 'us-central1',
    pollIntervalSeconds: plan.config.pollIntervalSeconds,
    pageSize: 7,
    rpcDeadlineMs: 5_000,
    createDeadlineMs: 30_000,
    maxConcurrency: 8,
    shardSize: plan.config.shardSize,
    advanceTimeoutSeconds: ADVANCE_TIMEOUT_MS / 1000,
    maxAmbiguousRetries: plan.config.maxAmbiguousRetries,
    stuckNewSeconds: 180,
    stuckPreparationSeconds: 300,
    stuckInFlightSeconds: 300,
    advanceMaxInstances: 10,
    advanceConcurrency: 20,
    foodMaxInFlight: 10,
    retentionDays: 30,
    pauseCheckSeconds: 10,
    faultRetryLimit: INT_PARAMS.FAULT_RETRY_LIMIT.default,
    pollerDownIntervals: INT_PARAMS.POLLER_DOWN_INTERVALS.default,
    killSwitchAlertSeconds: INT_PARAMS.KILL_SWITCH_ALERT_SECONDS.default,
    tls: { caPem: 'unused in the simulation' },
  };
}

/** Routes the real code's logs into the trace, and makes its randomness the world's. */
function instrument(world: World): () => void {
  const restore: Array<() => void> = [];
  const patch = <T extends object, K extends keyof T>(target: T, key: K, value: T[K]) => {
    const original = target[key];
    target[key] = value;
    restore.push(() => (target[key] = original));
  };
  // The modules themselves, not the import wrappers, so every importer of them sees the change.
  const load = createRequire(__filename);
  const mutableLogger = load('firebase-functions/logger') as Record<
    'debug' | 'info' | 'warn' | 'error',
    (...args: unknown[]) => void
  >;
  const crypto = load('node:crypto') as Record<'randomUUID', () => string>;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    if (level === 'debug') {
      patch(mutableLogger, level, () => undefined);
      continue;
    }
    patch(mutableLogger, level, (message: unknown, fields?: unknown) => {
      const payload = (fields ?? {}) as Record<string, unknown>;
      const invocation = currentInvocation();
      const order = typeof payload.order === 'string' ? payload.order : invocation?.order;
      const detail = Object.entries(payload)
        .filter(([key, value]) => key !== 'order' && value !== undefined)
        .map(
          ([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
        )
        .join(' ');
      world.log(
        `${invocation ? `inv#${invocation.id} ` : ''}${level}: ${String(message)}${detail ? ` (${detail})` : ''}`,
        order,
      );
    });
  }
  patch(Math, 'random', () => world.random.next());
  let ids = 0;
  patch(crypto, 'randomUUID', () => `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}`);
  return () => restore.reverse().forEach((undo) => undo());
}

export async function simulate(scheduler: Scheduler, plan: Plan): Promise<RunResult> {
  const random = new Random(plan.seed);
  const world = new World(scheduler, random, START, plan.crashRate, plan.freezeRate);
  const restore = instrument(world);
  const faults = { ...plan.food, held: plan.heldOften ?? plan.food.held };
  const food = new FoodLedger(world, faults, plan.stallRate, plan.recancelWithinMs, plan.slowCalls);
  const config = simConfig(plan);
  const operators = new Operators(
    world,
    food,
    plan.operators,
    plan.person,
    config.retentionDays,
    START + RUN_MS - 10 * 60_000,
  );
  let eventIds = 0;

  const store = new MemoryDatabase({
    now: () => new Date(world.now),
    io: async <T>(call: StoreCall, apply: () => T) => {
      // In the slow worlds a commit may take seconds (the client retrying through a hiccup), sent
      // late or answered late: a window's end, computed before its commit, is then on record late.
      const slow =
        plan.slowCalls !== null && call.op === 'commit' && world.chaos && random.chance(0.1)
          ? random.int(100, 8_000)
          : 0;
      const sentLate = slow > 0 ? random.int(0, slow) : 0;
      if (sentLate > 0) await world.sleep(sentLate);
      const result = await world.call(`firestore ${call.op} ${call.paths.join(',')}`, () => {
        if (world.chaos && random.chance(plan.store.unavailable))
          throw storeError(status.UNAVAILABLE, 'the store is unavailable (simulated)');
        if (call.op === 'commit' && world.chaos && random.chance(plan.store.aborted)) {
          throw storeError(status.ABORTED, 'too much contention (simulated)');
        }
        const result = apply();
        // Creates are booked to the attempt its invocation last claimed.
        const invocation = currentInvocation();
        const claimed = call.writes?.find((path) =>
          /\/transitions\/(PREPARATION|IN_FLIGHT)-\d+$/.test(path),
        );
        if (invocation && claimed) invocation.claim = claimed;
        return result;
      });
      if (slow > sentLate) await world.sleep(slow - sentLate);
      return result;
    },
    onWrite: ({ path, before, after }) => {
      const entry = /^relations\/([^/]+)\/transitions\//.exec(path);
      const moved =
        after?.sendUntil instanceof Date &&
        !(
          before?.sendUntil instanceof Date &&
          before.sendUntil.getTime() === after.sendUntil.getTime()
        );
      if (entry && moved && after?.sendUntil instanceof Date) {
        food.orders.get(`orders/${entry[1]}`)?.windows.push({
          status: String(after.to),
          at: world.now,
          until: after.sendUntil.getTime(),
        });
      }
      const match = /^relations\/([^/]+)$/.exec(path);
      if (!match || !after) return;
      const ordered = food.orders.get(`orders/${match[1]}`);
      // The finish's window, as the poller opens it on the relation.
      const opened = after.finishWindow as { to?: unknown; sendUntil?: unknown } | null | undefined;
      if (opened?.sendUntil instanceof Date && !before?.finishWindow)
        ordered?.windows.push({
          status: String(opened.to),
          at: world.now,
          until: opened.sendUntil.getTime(),
        });
      const state = {
        at: world.now,
        active: after.active === true,
        overwriteFlagged:
          /_OVERWRITTEN$/.test(String((after.error as { code?: unknown } | null)?.code)) &&
          after.flagged === true,
      };
      const last = ordered?.relationStates.at(-1);
      if (
        ordered &&
        (last?.active !== state.active || last.overwriteFlagged !== state.overwriteFlagged)
      )
        ordered.relationStates.push(state);
      operators.noticed(`orders/${match[1]}`, before, after);
      if (world.chaos && random.chance(plan.events.drop)) {
        world.log(`the event for ${path} is dropped`, `orders/${match[1]}`);
        return;
      }
      const eventId = `event-${++eventIds}`;
      const deliveries = world.chaos && random.chance(plan.events.duplicate) ? 2 : 1;
      for (let i = 0; i < deliveries; i++) {
        const delay =
          world.chaos && random.chance(plan.events.late)
            ? random.int(1_000, 120_000)
            : random.int(5, 500);
        world.at(world.now + delay, () => deliver(path, eventId));
      }
    },
  });
  useDatabase(store);

  const instances = {
    advance: killSwitchCache(10_000),
    poll: killSwitchCache(10_000),
    shard: killSwitchCache(10_000),
  };
  const deps = (instance: keyof typeof instances, timeoutMs: number | null): PollDeps => ({
    food:
      timeoutMs === null ? food.api() : sendingUntil(food.api(), new Date(world.now + timeoutMs)),
    config,
    now: () => new Date(world.now),
    timers: { sleep: (ms) => world.sleep(ms), every: (ms, tick) => world.every(ms, tick) },
    shards: shardQueue,
    slots: plan.slotTasks ? slotQueue : undefined,
    killSwitch: () => instances[instance](new Date(world.now)),
  });

  const deliver = (path: string, eventId: string) => {
    const order = `orders/${path.split('/')[1]}`;
    const timeout = world.chaos && random.chance(plan.zombies) ? undefined : ADVANCE_TIMEOUT_MS;
    world.spawn(
      'advance',
      order,
      () => advance(store.doc(path), eventId, deps('advance', ADVANCE_TIMEOUT_MS)),
      timeout,
    );
  };

  const enqueued = new Set<string>();
  const shardQueue: ShardQueue = {
    async enqueue(shard, id) {
      await world.call(`cloud tasks enqueue ${id}`, () => {
        if (world.chaos && random.chance(0.1))
          throw new Error('Cloud Tasks refused the task (simulated)');
      });
      if (enqueued.has(id)) return 'exists';
      enqueued.add(id);
      const copies = world.chaos && random.chance(plan.events.duplicate) ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        world.at(world.now + random.int(10, 3_000), () =>
          world.spawn(
            'shard',
            undefined,
            () => observeShard(deps('shard', 120_000), shard),
            120_000,
          ),
        );
      }
      return 'queued';
    },
  };

  // pollSlot: each task due at its slot, dispatched a little late; in the chaos refused, lost (never retried) or twice.
  const slotQueue: SlotQueue = {
    handedOff: { firstSlot: null, failedAt: null },
    async enqueue(slotMs) {
      const id = `slot-${slotMs}`;
      await world.call(`cloud tasks enqueue ${id}`, () => {
        if (world.chaos && random.chance(0.1))
          throw new Error('Cloud Tasks refused the task (simulated)');
      });
      if (enqueued.has(id)) return 'exists';
      enqueued.add(id);
      if (world.chaos && random.chance(plan.events.drop)) return 'queued';
      const copies = world.chaos && random.chance(plan.events.duplicate) ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        world.at(Math.max(world.now, slotMs) + random.int(10, 3_000), () =>
          world.spawn(
            'poll',
            undefined,
            () => runSlotTask(deps('poll', 120_000), slotMs, 15_000),
            120_000,
          ),
        );
      }
      return 'queued';
    },
  };

  // Customers.
  plan.orders.forEach((order, i) => {
    const id = `o${String(i + 1).padStart(2, '0')}`;
    world.at(START + order.at, () => food.placeOrder(id, `customer-${i % 7}`, order.rejects));
    if (order.cancelAt !== null)
      world.at(START + order.cancelAt, () => food.cancel(`orders/${id}`));
  });
  // The food service's controller.
  for (let t = START; t < START + RUN_MS; t += KITCHEN_TICK_MS) world.at(t, () => food.tick());
  // Cloud Scheduler: every minute, the scheduled poll.
  for (let t = START; t < START + RUN_MS; t += 60_000) {
    world.at(t, () =>
      world.spawn(
        'poll',
        undefined,
        () =>
          runScheduledPolls(deps('poll', 120_000), {
            scheduleTime: new Date(t),
            windowMs: 60_000,
            waitForLeaseMs: 15_000,
          }),
        120_000,
      ),
    );
  }
  // Operators.
  for (
    let t = START + plan.operators.everyMs;
    t < START + RUN_MS - 10 * 60_000;
    t += plan.operators.everyMs
  ) {
    world.at(t, () => world.spawn('operator', undefined, () => operators.round()));
  }
  if (plan.operators.pause) {
    const { at, forMs } = plan.operators.pause;
    // A person flips the switch, and looks again every 30 s until the switch
    // reads as they want it: a write that failed, or an earlier flip that
    // landed late, is flipped again.
    let wanted = false;
    const check = () => {
      world.spawn('operator', undefined, async () => {
        if ((await readKillSwitch()).paused === wanted) return 'as wanted';
        const who = { who: 'sim-operator', why: wanted ? 'simulated pause' : 'simulated resume' };
        return setKillSwitch(wanted, who, new Date(world.now));
      });
    };
    const want = (paused: boolean) => {
      wanted = paused;
      check();
    };
    for (let t = START + at + 30_000; t < START + RUN_MS - 5 * 60_000; t += 30_000)
      world.at(t, check);
    world.at(START + at, () => want(true));
    world.at(START + at + forMs, () => want(false));
  }
  world.at(START + CHAOS_MS, () => {
    world.chaos = false;
    world.log('the chaos ends: from here on the world only heals');
  });

  try {
    await world.run(START + RUN_MS);
  } finally {
    restore();
    useDatabase(undefined);
  }
  const violations = [
    // What the chaos started has ended by then: a zombie's calls each have a deadline, and nothing freezes once it heals.
    ...checkPromise({
      store,
      food,
      now: world.now,
      healedAt: START + CHAOS_MS + 10 * 60_000,
      config,
    }),
    ...world.bugs.map((bug) => ({
      kind: 'unexpected-error',
      order: bug.order ?? '-',
      message: bug.text,
    })),
  ];
  return {
    violations,
    trace: world.trace,
    stats: {
      orders: plan.orders.length,
      faults: food.stats.faults,
      crashes: world.stats.crashes,
      interleavings: world.stats.interleavings,
      invocations: world.stats.invocations,
      steps: world.steps,
      kitchenOrders: food.made.filter((m) => m.kind === 'kitchenOrder').length,
      shipments: food.made.filter((m) => m.kind === 'shipment').length,
    },
  };
}
