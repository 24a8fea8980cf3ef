import { strict as assert } from 'node:assert';

import { pollNow } from '../src/poller/schedule';
import { acquirePollLease, releasePollLease } from '../src/store/poll-lease';
import { relationId } from '../src/store/schema';
import { runtimeDeps } from '../src/triggers/deps';
import { db } from '../src/store/db';
import { captureEvent, deliver, startStack, type Stack } from './helpers/stack';
import type { FirestoreCloudEvent } from './helpers/trigger-events';

describe('duplicate, stale, reordered and overlapping deliveries', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  /** Runs `write` and resolves with the event the emulator sends for the order's relation. */
  async function eventOf(order: string, write: () => Promise<unknown>) {
    const captured = captureEvent(`relations/${relationId(order)}`);
    await write();
    return captured;
  }

  async function updateTime(order: string): Promise<number> {
    const snapshot = await db().collection('relations').doc(relationId(order)).get();
    return snapshot.updateTime?.toMillis() ?? 0;
  }

  it('the same event delivered twice in a row creates one kitchen order', async () => {
    stack = await startStack({ autoDeliver: false });
    const [order] = stack.service.placeOrders(1);
    const event = await eventOf(order, () => stack.pollNow());
    await deliver(event);
    await deliver(event);
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
    assert.equal((await stack.relation(order))?.stage, 'PREPARATION');
    assert.deepEqual(
      (await stack.transitions(order)).map((t) => t.id),
      ['PREPARATION-1'],
    );
  });

  it('the same event delivered five times at once creates one kitchen order', async () => {
    stack = await startStack({ autoDeliver: false });
    const [order] = stack.service.placeOrders(1);
    const event = await eventOf(order, () => stack.pollNow());
    await Promise.all(Array.from({ length: 5 }, () => deliver(event)));
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
    assert.equal(stack.service.stats().calls.UpdateOrder.ok, 1);
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.deepEqual(relation?.possibleOrphans, []);
  });

  it('a stale event, delivered after the relation moved on, changes nothing', async () => {
    stack = await startStack({ autoDeliver: false, service: { rejectRate: 0 } });
    const [order] = stack.service.placeOrders(1);
    const stale = await eventOf(order, () => stack.pollNow()); // the relation's creation, while it was NEW
    await deliver(stale);
    stack.service.tick();
    stack.service.tick();
    await deliver(await eventOf(order, () => stack.pollNow())); // the poll saw the kitchen order PACKAGED
    assert.equal((await stack.relation(order))?.stage, 'IN_FLIGHT');

    const before = await updateTime(order);
    await deliver(stale); // late, and out of order
    await deliver(stale);
    assert.equal(await updateTime(order), before, 'a trigger with nothing to do writes nothing');
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
    assert.equal(stack.service.stats().shipmentsCreated, 1);
  });

  it('duplicated and reordered deliveries of every write still run each order once', async () => {
    // Every event the emulator sends is delivered twice, each copy after a random delay of up to 40 ms, so copies
    // run at once or overtake the next write's event: at-least-once, out-of-order delivery, by hand through wrap().
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const later = (
      event: FirestoreCloudEvent,
      deliver: (e: FirestoreCloudEvent) => Promise<void>,
    ) =>
      new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 40))).then(() =>
        deliver(event),
      );
    stack = await startStack({
      onEvent: async (event, deliver) =>
        void (await Promise.all([later(event, deliver), later(event, deliver)])),
      service: { rejectRate: 0.3, seed: 7 },
    });
    const orders = stack.service.placeOrders(20);
    for (let round = 0; round < 6; round++) {
      await stack.cycle();
      stack.service.tick();
      stack.service.tick();
    }
    await stack.cycle(2);
    const deliveries = stack.functions.triggers.get('advanceRelation');
    assert.equal(deliveries?.failed, 0);
    assert.ok(
      (deliveries?.delivered ?? 0) >= 2 * 20 * 3,
      `every write of every order was delivered twice: ${deliveries?.delivered}`,
    );
    const stats = stack.service.stats();
    assert.equal(stats.kitchenOrdersCreated, 20);
    assert.equal(stats.shipmentsCreated, 20);
    assert.equal(stats.orders.DELIVERED + stats.orders.REJECTED, 20);
    for (const order of orders) {
      const relation = await stack.relation(order);
      assert.ok(
        relation?.stage === 'DELIVERED' || relation?.stage === 'REJECTED',
        `${order} ended ${relation?.stage}`,
      );
      assert.deepEqual(relation?.possibleOrphans, []);
      assert.equal(relation?.error, null);
    }
  });

  it('two concurrent polls never overlap: the lease turns one away or makes it wait for the other', async () => {
    stack = await startStack({ autoDeliver: false });
    stack.service.placeOrders(30);
    const runs = await Promise.all([pollNow(runtimeDeps()), pollNow(runtimeDeps())]);
    const polls = runs.flatMap((run) => run.polls);
    assert.equal(polls.filter((p) => p.created === 30).length, 1, JSON.stringify(runs));
    // Either the other was turned away, or it ran after the first and found its relations, creating none.
    const other = runs.find((run) => run.polls[0]?.created !== 30);
    if (other?.polls.length)
      assert.deepEqual(
        [other.polls[0].created, other.polls[0].activeRelations],
        [0, 30],
        JSON.stringify(runs),
      );
    else assert.match(String(other?.skipped), /another poll holds the lease/);
    const active = await db().collection('relations').where('active', '==', true).get();
    assert.equal(active.size, 30);
    // Released: the next poll runs at once and finds nothing new.
    const next = await pollNow(runtimeDeps());
    assert.equal(next.polls[0]?.created, 0);
  });

  it('the HTTPS clock answers 409 while another poll holds the lease', async () => {
    stack = await startStack({ autoDeliver: false });
    assert.equal(
      (await acquirePollLease('a-scheduled-invocation', 30_000, new Date())).acquired,
      true,
    );
    await assert.rejects(stack.pollNow(), /answered 409/);
    await releasePollLease('a-scheduled-invocation', new Date(), new Date());
    assert.equal((await stack.pollNow()).polls.length, 1);
  });
});
