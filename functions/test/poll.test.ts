// When polls run (the cadence across scheduled invocations, the lease) and
// what one poll pays for. The cadence runs on a fake clock: hours of
// invocations take a moment, against the real Firestore emulator.
import { Timestamp } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import type { Deps } from '../src/engine/deps';
import { RELATION_PAGE_SIZE } from '../src/poller/poll';
import { pollNow, runScheduledPolls, runSlotTask, slotsInWindow } from '../src/poller/schedule';
import type { PollDeps } from '../src/poller/shards';
import { db } from '../src/store/db';
import { acquirePollLease, releasePollLease } from '../src/store/poll-lease';
import { relationRef } from '../src/store/relations';
import { newRelation, relationId } from '../src/store/schema';
import { runtimeDeps } from '../src/triggers/deps';
import { logEntries, logMark } from './helpers/ops';
import { startStack, type Stack } from './helpers/stack';

const lease = () => db().collection('leases').doc('poll');

/** Deps whose clock moves only when the code under test sleeps, or the test says so. */
function fakeClock(startMs: number): {
  deps: PollDeps;
  set(ms: number): void;
  sleep(ms: number): Promise<void>;
} {
  let now = startMs;
  const sleep = async (ms: number) => {
    now += Math.max(0, ms);
  };
  // Every slot polled in the invocation, on this clock: the tests of a minute handed to tasks give it a queue.
  const deps: PollDeps = {
    ...runtimeDeps(),
    slots: undefined,
    now: () => new Date(now),
    timers: { sleep, every: () => () => undefined },
  };
  return {
    deps,
    set: (ms) => {
      now = ms;
    },
    sleep,
  };
}

/**
 * Runs one scheduled invocation per minute for `minutes` (from minute `from`), each a moment
 * after it was due; returns when polls started, in seconds.
 */
async function invocations(intervalSeconds: number, minutes: number, from = 0): Promise<number[]> {
  process.env.POLL_INTERVAL_SECONDS = String(intervalSeconds);
  // A start that is a multiple of every interval tested (13 h is one of 65 s and of an hour), so the
  // first slot is at the start whatever the time of day; an hour alone is not one of 65 s.
  const every = 13 * 3_600_000;
  const start = Math.ceil(Date.now() / every) * every + every;
  const clock = fakeClock(start);
  const polls: number[] = [];
  // Each poll starts as the wait for its slot ends (at once, for a slot the late start already passed).
  const deps: Deps = {
    ...clock.deps,
    timers: {
      ...clock.deps.timers,
      sleep: async (ms) => {
        await clock.sleep(ms);
        polls.push(clock.deps.now().getTime());
      },
    },
  };
  for (let minute = from; minute < from + minutes; minute++) {
    const scheduleTime = start + minute * 60_000;
    clock.set(scheduleTime + 700); // Cloud Scheduler fires a little late
    const before = polls.length;
    const run = await runScheduledPolls(deps, {
      scheduleTime: new Date(scheduleTime),
      windowMs: 60_000,
      waitForLeaseMs: 0,
    });
    assert.equal(run.failedPolls, 0, JSON.stringify(run));
    assert.equal(run.polls.length, polls.length - before, JSON.stringify(run));
    // The slot at the minute's start is polled at once, late: it counts at its slot.
    if (polls[before] === scheduleTime + 700) polls[before] = scheduleTime;
  }
  return polls.map((at) => (at - start) / 1000);
}

describe('the poll cadence', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('places slots on the multiples of the interval within the window', () => {
    assert.equal(slotsInWindow(0, 60_000, 1_000).length, 60);
    assert.deepEqual(slotsInWindow(0, 60_000, 20_000), [0, 20_000, 40_000]);
    assert.deepEqual(slotsInWindow(60_000, 60_000, 45_000), [90_000]);
    assert.deepEqual(slotsInWindow(120_000, 60_000, 45_000), [135_000]);
    assert.deepEqual(slotsInWindow(60_000, 60_000, 120_000), []);
    assert.deepEqual(
      slotsInWindow(1, 60_000, 60_000),
      [60_000],
      'a window that starts just after a slot holds the next one',
    );
  });

  for (const [interval, minutes] of [
    [20, 5],
    [45, 9],
    [60, 5],
    [65, 26],
    [120, 16],
    [300, 31],
    [3600, 181],
  ] as const) {
    it(`polls every ${interval} s across scheduled invocations, whatever the interval`, async () => {
      stack = await startStack({ autoDeliver: false });
      // An order in progress (nothing drives it here): below a minute, an idle invocation polls once.
      stack.service.placeOrders(1);
      const polls = await invocations(interval, minutes);
      const expected = Math.floor(((minutes - 1) * 60 + 59) / interval) + 1;
      assert.equal(polls.length, expected, `poll times: ${polls.join(', ')}`);
      for (let i = 1; i < polls.length; i++) {
        assert.equal(polls[i] - polls[i - 1], interval, `poll times: ${polls.join(', ')}`);
      }
    });
  }

  it('polls once a minute while no order is in progress, whatever the interval', async () => {
    stack = await startStack({ autoDeliver: false });
    assert.deepEqual(await invocations(15, 3), [0, 60, 120]);
    // An order arrives: the next invocation sees it at its first poll, and keeps polling every 15 s.
    stack.service.placeOrders(1);
    assert.deepEqual(await invocations(15, 1, 3), [180, 195, 210, 225]);
  });

  it('polls at once when the last poll is overdue: the invocation that held its slot failed', async () => {
    stack = await startStack({ autoDeliver: false });
    process.env.POLL_INTERVAL_SECONDS = '3600';
    const start = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 86_400_000 + 600_000; // 10 minutes past the slot
    const clock = fakeClock(start);
    await lease().set({
      holder: null,
      expiresAt: Timestamp.fromMillis(start - 7_200_000),
      lastPollAt: Timestamp.fromMillis(start - 4_200_000),
    });
    const run = await runScheduledPolls(clock.deps, {
      scheduleTime: new Date(start),
      windowMs: 60_000,
      waitForLeaseMs: 0,
    });
    assert.equal(run.polls.length, 1, JSON.stringify(run));
    const next = await runScheduledPolls(clock.deps, {
      scheduleTime: new Date(start + 60_000),
      windowMs: 60_000,
      waitForLeaseMs: 0,
    });
    assert.equal(next.polls.length, 0);
    assert.match(String(next.skipped), /no poll is due in this invocation's minute/);
  });

  it('hands the later slots of a busy minute to tasks due at each, and none of an idle one', async () => {
    stack = await startStack({ autoDeliver: false });
    process.env.POLL_INTERVAL_SECONDS = '15';
    const start = Math.ceil(Date.now() / 60_000) * 60_000 + 86_400_000;
    const clock = fakeClock(start);
    const queued: number[] = [];
    const deps: PollDeps = {
      ...clock.deps,
      slots: {
        handedOff: { firstSlot: null, failedAt: null },
        enqueue: async (slot) => (queued.push(slot), 'queued'),
      },
    };
    const window = { scheduleTime: new Date(start), windowMs: 60_000, waitForLeaseMs: 0 };
    const idle = await runScheduledPolls(deps, window);
    assert.equal(idle.polls.length, 1);
    assert.deepEqual(queued, [], 'nothing in progress: no task');
    stack.service.placeOrders(1);
    clock.set(start + 60_000);
    const busy = await runScheduledPolls(deps, {
      ...window,
      scheduleTime: new Date(start + 60_000),
    });
    assert.equal(busy.polls.length, 1, 'the first slot, in the invocation');
    assert.deepEqual(
      queued.map((slot) => (slot - start) / 1000),
      [75, 90, 105],
    );
    assert.equal(busy.enqueuedSlots, 3);
  });

  it('polls a slot itself when its task cannot be enqueued', async () => {
    stack = await startStack({ autoDeliver: false });
    process.env.POLL_INTERVAL_SECONDS = '20';
    const start = Math.ceil(Date.now() / 60_000) * 60_000 + 86_400_000;
    const clock = fakeClock(start);
    stack.service.placeOrders(1);
    const deps: PollDeps = {
      ...clock.deps,
      slots: {
        handedOff: { firstSlot: null, failedAt: null },
        enqueue: async (slot) => {
          if (slot === start + 40_000) throw new Error('Cloud Tasks is unavailable');
          return 'queued';
        },
      },
    };
    const run = await runScheduledPolls(deps, {
      scheduleTime: new Date(start),
      windowMs: 60_000,
      waitForLeaseMs: 0,
    });
    assert.equal(run.enqueuedSlots, 1);
    assert.equal(run.polls.length, 2, 'its first slot, and the one no task took');
    assert.equal(clock.deps.now().getTime(), start + 40_000);
  });

  it('tells when the tasks it handed on did not poll, with an alert, and holds its minutes for a while', async () => {
    stack = await startStack({ autoDeliver: false });
    process.env.POLL_INTERVAL_SECONDS = '15';
    const start = Math.ceil(Date.now() / 60_000) * 60_000 + 86_400_000;
    const clock = fakeClock(start);
    stack.service.placeOrders(1);
    // Enqueued, and never run: as when the functions' account may not invoke pollSlot.
    const deps: PollDeps = {
      ...clock.deps,
      slots: { handedOff: { firstSlot: null, failedAt: null }, enqueue: async () => 'queued' },
    };
    const window = (minute: number) => ({
      scheduleTime: new Date(start + minute * 60_000),
      windowMs: 60_000,
      waitForLeaseMs: 0,
    });
    const mark = logMark();
    assert.equal((await runScheduledPolls(deps, window(0))).enqueuedSlots, 3);
    clock.set(start + 60_000);
    const held = await runScheduledPolls(deps, window(1));
    assert.equal(held.polls.length, 4, 'the minute is held: every slot polled here');
    assert.equal(held.enqueuedSlots, undefined);
    const alerts = logEntries(mark).filter((e) => e.alert === 'slot-tasks-lost');
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    assert.equal(alerts[0].severity, 'ERROR');
    clock.set(start + 11 * 60_000);
    const again = await runScheduledPolls(deps, window(11));
    assert.equal(again.enqueuedSlots, 3, 'ten minutes on, tasks are tried again');
  });

  it("a slot's task polls at its slot, once: early, it waits; served, it is left out; a minute early, dropped", async () => {
    stack = await startStack({ autoDeliver: false });
    process.env.POLL_INTERVAL_SECONDS = '15';
    const start = Math.ceil(Date.now() / 60_000) * 60_000 + 86_400_000;
    const clock = fakeClock(start);
    const slot = start + 15_000;
    const run = await runSlotTask(clock.deps, slot, 0);
    assert.equal(run.polls.length, 1);
    assert.equal(clock.deps.now().getTime(), slot, 'it waited for its slot');
    const again = await runSlotTask(clock.deps, slot, 0); // redelivered
    assert.equal(again.polls.length, 0);
    assert.match(String(again.skipped), /was served by the poll at/);
    const far = await runSlotTask(clock.deps, slot + 5 * 60_000, 0);
    assert.equal(far.polls.length, 0);
    assert.match(String(far.skipped), /more than a minute away/);
  });

  it('leaves out a slot that another poll already served', async () => {
    stack = await startStack({ autoDeliver: false });
    process.env.POLL_INTERVAL_SECONDS = '60';
    const start = Math.ceil(Date.now() / 60_000) * 60_000 + 86_400_000;
    const clock = fakeClock(start + 500);
    const window = { scheduleTime: new Date(start), windowMs: 60_000, waitForLeaseMs: 0 };
    assert.equal((await runScheduledPolls(clock.deps, window)).polls.length, 1);
    const again = await runScheduledPolls(clock.deps, window); // Cloud Scheduler fired twice for the same minute
    assert.equal(again.polls.length, 0);
    assert.match(String(again.skipped), /was served by the poll at/);
  });

  it('waits for a lease that the previous invocation is about to release', async () => {
    stack = await startStack({ autoDeliver: false });
    const deps = runtimeDeps();
    assert.equal(
      (await acquirePollLease('previous-invocation', 30_000, new Date())).acquired,
      true,
    );
    setTimeout(
      () => void releasePollLease('previous-invocation', new Date(), new Date(Date.now() - 30_000)),
      400,
    );
    const run = await runScheduledPolls(deps, {
      scheduleTime: new Date(Math.floor(Date.now() / 1000) * 1000),
      windowMs: 1_000,
      waitForLeaseMs: 5_000,
    });
    assert.equal(run.polls.length, 1, JSON.stringify(run));
  });

  it('takes over the lease of a holder that crashed, once it expires', async () => {
    stack = await startStack({ autoDeliver: false });
    // A poller that died mid-poll: never released, still within its lease (at most 30 s ahead).
    await lease().set({
      holder: 'crashed',
      acquiredAt: Timestamp.now(),
      expiresAt: Timestamp.fromMillis(Date.now() + 25_000),
      lastPollAt: null,
    });
    const blocked = await pollNow(runtimeDeps());
    assert.match(String(blocked.skipped), /another poll holds the lease \(crashed\)/);

    await lease().update({ expiresAt: Timestamp.fromMillis(Date.now() - 1) });
    const run = await pollNow(runtimeDeps());
    assert.equal(run.polls.length, 1);
    const after = (await lease().get()).data();
    assert.equal(after?.holder, null, 'released after the poll');
    assert.ok(after?.lastPollAt instanceof Timestamp);
  });

  it('takes over a lease that runs further ahead than any lease a poll takes, with a warning naming its holder', async () => {
    stack = await startStack({ autoDeliver: false });
    // Well-formed, but no poll ever writes this: obeyed, it would stop every poll until 2099.
    await lease().set({
      holder: 'someone-by-hand',
      acquiredAt: Timestamp.now(),
      expiresAt: Timestamp.fromDate(new Date('2099-01-01')),
      lastPollAt: null,
    });
    const mark = logMark();
    const run = await pollNow(runtimeDeps());
    assert.equal(run.polls.length, 1, JSON.stringify(run));
    const warning = logEntries(mark).find((e) => e.message === 'poll lease repaired');
    assert.equal(warning?.severity, 'WARNING');
    assert.equal(warning?.holder, 'someone-by-hand');
    assert.match(
      String(warning?.problem),
      /expiresAt 2099-01-01T00:00:00\.000Z is further ahead than the longest lease a poll takes \(30 s\), held by "someone-by-hand"/,
    );
    const after = (await lease().get()).data();
    assert.equal(after?.holder, null, 'taken, polled and released');
    assert.ok((after?.expiresAt as Timestamp).toMillis() <= Date.now(), 'no longer in 2099');
  });

  it('replaces a malformed lease instead of failing every poll', async () => {
    stack = await startStack({ autoDeliver: false });
    await lease().set({ holder: 42, expiresAt: 1_900_000_000, lastPollAt: 'yesterday' });
    const run = await pollNow(runtimeDeps());
    assert.equal(run.polls.length, 1, JSON.stringify(run));
    assert.equal(run.failedPolls, 0);
    const repaired = (await lease().get()).data();
    assert.ok(repaired?.expiresAt instanceof Timestamp);
    assert.ok(repaired?.lastPollAt instanceof Timestamp);
    assert.equal((await pollNow(runtimeDeps())).polls.length, 1, 'and the next poll is normal');
  });
});

describe('one poll', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('reads the active relations a page at a time, all of them, and only the active ones', async () => {
    stack = await startStack({ autoDeliver: false });
    const count = 2 * RELATION_PAGE_SIZE + 37;
    const orders = stack.service.placeOrders(count);
    const writer = db().bulkWriter();
    for (const order of orders)
      void writer.create(
        db().doc(relationRef(order).path),
        newRelation(order, 'customer-1', new Date()),
      );
    // Finished relations the poll must not read.
    for (let i = 0; i < 50; i++)
      void writer.create(db().collection('relations').doc(`finished-${i}`), {
        ...newRelation(`orders/finished-${i}`, 'c', new Date()),
        stage: 'DELIVERED',
        active: false,
      });
    await writer.close();
    const run = await stack.pollNow();
    assert.equal(
      run.polls[0].activeRelations,
      count,
      `every active relation, across pages: ${JSON.stringify(run).slice(0, 2000)}`,
    );
    assert.equal(run.polls[0].listed, count);
    assert.equal(run.polls[0].created, 0);
    assert.equal(run.polls[0].foreign, 0);
  });

  it('counts and logs orders in progress that it did not start, and never touches them', async () => {
    stack = await startStack();
    const foreign = await stack.food.createOrder('someone-else');
    await stack.food.updateOrderStatus(foreign.name, 'PREPARATION');
    const [ours] = stack.service.placeOrders(1);

    const run = await stack.pollNow();
    await stack.settle();
    assert.equal(run.polls[0].foreign, 1);
    assert.equal(await stack.relation(foreign.name), undefined);
    assert.equal(
      (await db().collection('relations').doc(relationId(ours)).get()).get('stage'),
      'PREPARATION',
    );
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1, 'only ours was cooked');
    assert.equal((await stack.food.getOrder(foreign.name)).status, 'PREPARATION');
  });

  it('follows every page of every active status, and its listing cost does not grow with history', async () => {
    stack = await startStack({ env: { PAGE_SIZE: '10' }, service: { rejectRate: 0 } });
    const finished = stack.service.placeOrders(30);
    for (const name of finished) stack.service.cancelOrder(name); // history the poll must not pay for
    stack.service.placeOrders(25);
    const run = await stack.pollNow();
    assert.equal(run.polls[0].listed, 25);
    assert.equal(run.polls[0].created, 25);
    // NEW: 3 pages of 10; PREPARATION and IN_FLIGHT: one empty page each.
    assert.equal(run.polls[0].listCalls, 5);
  });
});

describe('polls several times a minute', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('held by one invocation, poll slot after slot and see every change between polls', async () => {
    stack = await startStack({ env: { POLL_INTERVAL_SECONDS: '1' }, service: { rejectRate: 0 } });
    const [order] = stack.service.placeOrders(1);
    // Someone else's order in progress keeps the invocation polling once ours has ended (an idle
    // invocation stops after one poll), so the count below does not hang on how fast ours ends.
    const foreign = await stack.food.createOrder('someone-else');
    await stack.food.updateOrderStatus(foreign.name, 'PREPARATION');
    // The kitchens and drones move on between polls, without anyone waiting for them.
    const ticker = setInterval(() => stack.service.tick(), 700);
    try {
      const start = Math.ceil(Date.now() / 1000) * 1000;
      // A minute held, as where there is no queue for its slots' tasks.
      const run = await runScheduledPolls(
        { ...runtimeDeps(), slots: undefined },
        {
          scheduleTime: new Date(start),
          windowMs: 12_000, // twelve 1 s slots
          waitForLeaseMs: 2_000,
        },
      );
      assert.ok(run.polls.length >= 6, `polls in the invocation: ${run.polls.length}`);
    } finally {
      clearInterval(ticker);
    }
    await stack.settle();
    assert.equal(
      (await stack.relation(order))?.stage,
      'DELIVERED',
      'the polls saw each step the trigger recorded',
    );
  });
});

describe('the poll lease', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('is renewed while a long poll runs, so no other poll starts beside it', async () => {
    stack = await startStack({
      autoDeliver: false,
      env: { RPC_DEADLINE_MS: '20000' },
    });
    stack.service.placeOrders(1);
    // A poll slower than the lease itself: every listing takes 12 s.
    stack.service.onCall(async (method) => {
      if (method === 'ListOrders') await new Promise((resolve) => setTimeout(resolve, 12_000));
    });
    const startedAt = Date.now();
    const slow = pollNow(runtimeDeps());
    await new Promise((resolve) => setTimeout(resolve, 11_000)); // past the first renewal
    const lease = (await db().collection('leases').doc('poll').get()).data();
    assert.ok(
      (lease?.expiresAt as Timestamp).toMillis() > startedAt + 35_000,
      'renewed: it now runs past the first 30 s',
    );
    const beside = await pollNow(runtimeDeps());
    assert.match(String(beside.skipped), /another poll holds the lease/);
    stack.service.onCall(undefined);
    assert.equal((await slow).polls.length, 1);
  });
});
