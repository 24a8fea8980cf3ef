// @ts-check
// One poll, measured in a process of its own, as a function instance would
// run it: wall time and peak RSS. Plain JavaScript on the compiled functions
// (functions/lib), so no TypeScript compiler sits in the measured memory.
//
// usage: node bench/poll-child.js MODE [SHARD_FILE]
//   orchestrator  the deployable poll (pollNow, as pollFoodServiceNow runs it);
//                 above SHARD_SIZE it hands its shards to observeShard tasks
//                 where CLOUD_TASKS_EMULATOR_HOST names a queue, and observes
//                 them itself where none does: one instance
//   shard FILE    what one observeShard task does with the shard in FILE
//   minute        what one scheduled invocation does: the polls of the next
//                 BENCH_WINDOW_MS (default a minute) at POLL_INTERVAL_SECONDS
//   slots         the same slots, each a pollSlot task of its own
//   raw           the same food-service calls and Firestore reads as a poll,
//                 with no orchestration logic: the floor for a poll
//   original      the original scheduler's listing: unfiltered ListOrders in
//                 pages of 10, then a GetOrder per order
// Configuration comes from the environment, as for the functions. The result
// is printed as one line: BENCH_RESULT {json}, with the Firestore operations
// the process made, counted on the wire (firestore-wire.js), so they are
// counted the same way on either emulator.
'use strict';
const { setTimeout: sleep } = require('node:timers/promises');
const fs = require('node:fs');
const path = require('node:path');

/** @type {import('./firestore-wire')} */
const { installWireCounter } = require('./firestore-wire.js');

const lib = path.resolve(__dirname, '..', 'functions', 'lib');
// Before anything reaches Firestore.
const wire = installWireCounter(path.resolve(lib, '..'));
const ops = { reads: 0, writes: 0 };
wire.onOp((op) => {
  ops[op.kind]++;
});
/** @type {import('../functions/src/api')} */
const door = require(path.join(lib, 'api.js'));
const { runtimeDeps } = door;

/**
 * Runs `work` over `items` with at most `limit` in flight: the baselines' own
 * bounded concurrency, so they do not depend on the functions' internals.
 * @template T
 * @param {readonly T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<void>} work
 */
async function forEachLimit(items, limit, work) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const ACTIVE = /** @type {const} */ (['NEW', 'PREPARATION', 'IN_FLIGHT']);

/** @returns {Promise<unknown>} */
async function orchestrator() {
  const run = await door.pollNow(runtimeDeps());
  if (run.polls.length !== 1) throw new Error(`the poll did not run: ${JSON.stringify(run)}`);
  return run.polls[0];
}

/** @returns {Promise<unknown>} */
async function shard() {
  const parsed = door.parseShard(JSON.parse(fs.readFileSync(process.argv[3], 'utf8')));
  if (typeof parsed === 'string') throw new Error(`not a shard: ${parsed}`);
  return door.observeShard(runtimeDeps(), parsed);
}

/** @returns {Promise<unknown>} */
async function minute() {
  // Scheduled at the next slot, as Cloud Scheduler fires on one: the invocation waits for it, and
  // its time counts from there (a poll started late would serve the next slot too, and skip it).
  const intervalMs = Number(process.env.POLL_INTERVAL_SECONDS ?? 60) * 1000;
  const started = Math.ceil(Date.now() / intervalMs) * intervalMs;
  const run = await door.runScheduledPolls(runtimeDeps(), {
    scheduleTime: new Date(started),
    windowMs: Number(process.env.BENCH_WINDOW_MS ?? 60_000),
    waitForLeaseMs: 5_000,
  });
  return {
    polls: run.polls.length,
    failedPolls: run.failedPolls,
    // How long the invocation held its instance, and each poll's own time.
    spansMs: [Date.now() - started],
    pollMs: run.polls.map((p) => p.durationMs),
  };
}

/**
 * The same minute with each slot a task of its own (pollSlot, as runSlotTask runs it), each invocation
 * timed on its own: billed only while it polls, not between slots. The first stands for pollFoodService,
 * which polls the first slot itself and, with something in progress, enqueues the rest.
 * @returns {Promise<unknown>}
 */
async function slots() {
  const intervalMs = Number(process.env.POLL_INTERVAL_SECONDS ?? 60) * 1000;
  const windowMs = Number(process.env.BENCH_WINDOW_MS ?? 60_000);
  const first = Math.ceil(Date.now() / intervalMs) * intervalMs;
  const polls = [];
  const spansMs = [];
  let failedPolls = 0;
  for (let slot = first; slot < first + windowMs; slot += intervalMs) {
    // Dispatched at its slot: the wait is no invocation's.
    await sleep(Math.max(0, slot - Date.now()));
    const started = Date.now();
    const run = await door.runSlotTask(runtimeDeps(), slot, 5_000);
    spansMs.push(Date.now() - started);
    polls.push(...run.polls);
    failedPolls += run.failedPolls;
    // As pollFoodService does: a first poll that finds nothing in progress hands on no slot.
    const [firstPoll] = run.polls;
    if (slot === first && firstPoll && firstPoll.listed === 0 && firstPoll.activeRelations === 0)
      break;
  }
  return {
    polls: polls.length,
    failedPolls,
    spansMs,
    pollMs: polls.map((p) => p.durationMs),
  };
}

/** @returns {Promise<unknown>} */
async function raw() {
  const { food, config } = runtimeDeps();
  let listed = 0;
  const [, relations] = await Promise.all([
    Promise.all(
      ACTIVE.map(async (status) => {
        for await (const page of food.listAllOrders(status, config.pageSize)) listed += page.length;
      }),
    ),
    door.db().collection('relations').where('active', '==', true).get(),
  ]);
  let gets = 0;
  await forEachLimit(relations.docs, config.maxConcurrency, async (doc) => {
    const { stage, kitchenOrder, shipment } = doc.data();
    if (stage === 'PREPARATION' && kitchenOrder) await food.getKitchenOrder(kitchenOrder);
    else if (stage === 'IN_FLIGHT' && shipment) await food.getShipment(shipment);
    else return;
    gets++;
  });
  return { listed, relations: relations.size, gets };
}

/** @returns {Promise<unknown>} */
async function original() {
  const { food, config } = runtimeDeps();
  /** @type {string[]} */
  const names = [];
  for await (const page of food.listAllOrders(undefined, 10))
    for (const order of page) names.push(order.name);
  await forEachLimit(names, config.maxConcurrency, async (name) => {
    await food.getOrder(name);
  });
  return { listed: names.length };
}

const modes = { orchestrator, shard, minute, slots, raw, original };

async function main() {
  const mode = /** @type {keyof typeof modes} */ (process.argv[2]);
  if (!(mode in modes)) throw new Error(`usage: poll-child.js ${Object.keys(modes).join('|')}`);
  const started = performance.now();
  const result = await modes[mode]();
  const wallMs = performance.now() - started;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const firestore = {
    ops,
    emptyQueries: wire.emptyQueries,
    uncounted: wire.uncounted,
    calls: wire.calls,
  };
  process.stdout.write(
    `BENCH_RESULT ${JSON.stringify({ mode, wallMs, peakRssMb, result, firestore })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof Error ? error.stack : String(error));
    process.exit(1);
  },
);
