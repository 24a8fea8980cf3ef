// A burst of relation writes (what a poll writes after an outage, when
// thousands of orders are observed at once) must never put more calls in
// flight at the food service than configured.
//
// What is measured, and where: the tests' driver runs the functions in one
// process, which is one instance, and hands it as many events at once as
// ADVANCE_CONCURRENCY lets Cloud Run give an instance. The calls in flight
// are counted where they arrive, in the simulator (an onCall hook that holds
// each call a few milliseconds, so that calls overlap whenever the client
// lets them). That shows the per-instance limit, FOOD_MAX_IN_FLIGHT. Across
// instances the bound is that times the instances Cloud Run may start, which
// the manifest fixes (deploy.test.ts checks maxInstances and concurrency;
// config.ts, foodCallBound, adds them up). The burst size is BURST_WRITES
// (default 1,000 to keep CI short; docs/OPERATIONS.md has a 5,000 run).
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';

import { db } from '../src/store/db';
import { newRelation, relationId, RELATIONS } from '../src/store/schema';
import { startStack, type Stack } from './helpers/stack';

const BURST = Number(process.env.BURST_WRITES ?? 1_000);
/** FOOD_MAX_IN_FLIGHT for the test: well below the events the instance runs at once. */
const LIMIT = 8;
/** ADVANCE_CONCURRENCY: events one instance runs at once. */
const EVENTS_AT_ONCE = 64;
/** How long the simulator holds each call, so that calls the client lets overlap do overlap. */
const HOLD_MS = 5;
const BATCH = 500;
/**
 * A call waits for its slot within its own deadline, and a call the client
 * gives up on frees its slot although the server may still be at it (gRPC
 * cancels it; the simulator's hold does not notice). Eight slots for 64
 * events, on two shared cores, make calls wait; deadlines long enough that
 * none is given up keep what is measured the limit itself
 * (docs/OPERATIONS.md, "Protecting the food service").
 */
const ROOMY_DEADLINES = {
  RPC_DEADLINE_MS: '10000',
  CREATE_DEADLINE_MS: '20000',
};

interface InFlight {
  now: number;
  peak: number;
  calls: number;
}

/** Counts the calls in flight at the simulator, holding each one HOLD_MS. */
function countInFlight(stack: Stack): InFlight {
  const counter: InFlight = { now: 0, peak: 0, calls: 0 };
  stack.service.onCall(async () => {
    counter.now++;
    counter.calls++;
    counter.peak = Math.max(counter.peak, counter.now);
    try {
      await sleep(HOLD_MS);
    } finally {
      counter.now--;
    }
  });
  return counter;
}

/** Writes a NEW relation for each order, BATCH to a commit, all at once: the burst. */
async function writeBurst(orders: readonly string[]): Promise<void> {
  const at = new Date();
  const commits: Array<Promise<unknown>> = [];
  for (let i = 0; i < orders.length; i += BATCH) {
    const batch = db().batch();
    for (const order of orders.slice(i, i + BATCH)) {
      batch.create(
        db().collection(RELATIONS).doc(relationId(order)),
        newRelation(order, 'burst-customer', at),
      );
    }
    commits.push(batch.commit());
  }
  await Promise.all(commits);
}

async function runBurst(
  stack: Stack,
  writes: number,
): Promise<{ inFlight: InFlight; seconds: number }> {
  const orders = stack.service.placeOrders(writes);
  const inFlight = countInFlight(stack);
  const started = Date.now();
  await writeBurst(orders);
  await stack.functions.settle({ timeoutMs: 600_000 });
  const seconds = (Date.now() - started) / 1000;

  const advanced = await db()
    .collection(RELATIONS)
    .where('stage', '==', 'PREPARATION')
    .count()
    .get();
  assert.equal(advanced.data().count, writes, 'every relation of the burst took its first step');
  const flagged = await db().collection(RELATIONS).where('error', '!=', null).count().get();
  assert.equal(flagged.data().count, 0, 'no step failed, not even for want of a slot');
  assert.equal(
    stack.service.stats().calls.GetOrder.ok,
    2 * writes,
    'no call was given up and sent again',
  );
  const stats = stack.service.stats();
  assert.equal(stats.calls.CreateKitchenOrder.ok, writes, 'one kitchen order per relation');
  assert.equal(stats.kitchenOrdersCreated, writes);
  return { inFlight, seconds };
}

describe('a burst of relation writes', function () {
  this.timeout(900_000);
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it(`${BURST} writes at once never have more than FOOD_MAX_IN_FLIGHT (${LIMIT}) food-service calls in flight`, async () => {
    stack = await startStack({
      env: {
        FOOD_MAX_IN_FLIGHT: String(LIMIT),
        ADVANCE_CONCURRENCY: String(EVENTS_AT_ONCE),
        ...ROOMY_DEADLINES,
      },
    });
    assert.equal(
      stack.functions.triggers.get('advanceRelation')?.concurrency,
      EVENTS_AT_ONCE,
      'the instance runs ADVANCE_CONCURRENCY events at once',
    );
    const { inFlight, seconds } = await runBurst(stack, BURST);

    assert.ok(
      inFlight.peak <= LIMIT,
      `at most ${LIMIT} calls in flight at the food service, saw ${inFlight.peak}`,
    );
    assert.equal(inFlight.peak, LIMIT, 'the burst did press against the limit');
    assert.equal(inFlight.now, 0);
    // GetOrder, CreateKitchenOrder, GetOrder, UpdateOrder for each.
    assert.equal(inFlight.calls, 4 * BURST);
    console.log(
      `    ${BURST} relation writes: ${inFlight.calls} food-service calls, at most ${inFlight.peak} in flight (limit ${LIMIT}, ` +
        `${EVENTS_AT_ONCE} events at once), all advanced in ${seconds.toFixed(1)} s`,
    );
  });

  it('without the limit, the same instance does put more calls in flight (the measurement sees it)', async () => {
    const writes = Math.min(BURST, 300);
    stack = await startStack({
      env: {
        FOOD_MAX_IN_FLIGHT: '256',
        ADVANCE_CONCURRENCY: String(EVENTS_AT_ONCE),
        ...ROOMY_DEADLINES,
      },
    });
    const { inFlight } = await runBurst(stack, writes);
    assert.ok(
      inFlight.peak > LIMIT,
      `with a limit of 256 the calls overlapped more than ${LIMIT} deep (saw ${inFlight.peak})`,
    );
  });
});
