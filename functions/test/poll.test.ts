import { Timestamp } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import { runPolls, scheduledBudgetMs } from '../src/orchestration/poller';
import { relationId } from '../src/orchestration/relation';
import { db } from '../src/store/db';
import { runtimeDeps } from '../src/triggers/deps';
import { startStack, type Stack } from './helpers/stack';

describe('pollFoodService', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('polls every interval up to one interval before the next scheduled invocation', () => {
    assert.equal(scheduledBudgetMs(60_000, 1), 59_000, 'polls at 0 s, 1 s, … 59 s');
    assert.equal(scheduledBudgetMs(60_000, 10), 50_000, 'polls at 0 s, 10 s, … 50 s');
    assert.equal(scheduledBudgetMs(60_000, 60), 0, 'one poll');
    assert.equal(scheduledBudgetMs(60_000, 300), 0, 'one poll, and later invocations skip until 5 minutes have passed');
  });

  it('keeps to its slots: the last poll of an invocation is not lost to timer drift', async () => {
    stack = await startStack({ autoDeliver: false });
    const run = await runPolls(runtimeDeps(), { budgetMs: 3_000, force: true }); // slots at 0, 1, 2 and 3 s
    assert.equal(run.polls.length, 4);
  });

  it('waits for a lease that the previous invocation is about to release', async () => {
    stack = await startStack({ autoDeliver: false });
    const first = runPolls(runtimeDeps(), { budgetMs: 1_000, force: true }); // polls at 0 s and 1 s
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await runPolls(runtimeDeps(), { budgetMs: 0, force: true, waitForLeaseMs: 5_000 });
    assert.equal(second.polls.length, 1, JSON.stringify(second));
    assert.equal((await first).polls.length, 2);
  });

  it('takes over the lease of a holder that crashed, once it expires', async () => {
    stack = await startStack({ autoDeliver: false });
    const leases = db().collection('pollLeases');
    // A poller that died mid-poll: never released, still within its lease.
    await leases.doc('000000000007').set({
      generation: 7, holder: 'crashed', acquiredAt: Timestamp.now(), lastPollAt: null, releasedAt: null,
      expiresAt: Timestamp.fromMillis(Date.now() + 60_000),
    });
    const blocked = await runPolls(runtimeDeps(), { budgetMs: 0, force: true });
    assert.match(String(blocked.skipped), /another poll holds the lease \(crashed\)/);

    await leases.doc('000000000007').update({ expiresAt: Timestamp.fromMillis(Date.now() - 1) });
    const run = await runPolls(runtimeDeps(), { budgetMs: 0, force: true });
    assert.equal(run.polls.length, 1);
    const remaining = (await leases.get()).docs.map((d) => d.data());
    assert.deepEqual(remaining.map((l) => l.generation), [8], 'the dead generation is replaced, not reused');
    assert.ok(remaining[0].releasedAt, 'released after the poll');
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
    assert.equal((await db().collection('relations').doc(relationId(ours)).get()).get('stage'), 'PREPARATION');
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
