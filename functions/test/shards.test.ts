// Fan-out (docs/ARCHITECTURE.md#fan-out): above SHARD_SIZE active orders a
// poll splits the relations into id ranges, each observed by an observeShard
// task. The pure split is checked on its own; the rest runs the exported
// functions on Google's Firestore emulator, with firebase-admin enqueueing
// into firebase-tools' own Cloud Tasks emulator (helpers/driver.ts).
import { strict as assert } from 'node:assert';

import { observeShard, pollOnce } from '../src/poller/poll';
import { parseShard, planShards } from '../src/poller/shards';
import { db } from '../src/store/db';
import { runtimeDeps } from '../src/triggers/deps';
import { startStack, type Stack } from './helpers/stack';

const id = (n: number) => `order-${String(n).padStart(4, '0')}`;
const statuses = (count: number) =>
  new Map(
    Array.from({ length: count }, (_, n) => [
      `orders/${id(n)}`,
      { status: 'NEW' as const, updateTime: '2026-12-03T12:00:00.000000001Z' },
    ]),
  );

describe('planShards', () => {
  it('leaves a listing of SHARD_SIZE or fewer to one instance', () => {
    assert.equal(planShards(statuses(0), 5), null);
    assert.equal(planShards(statuses(5), 5), null);
  });

  it('cuts the id space into ranges of at most SHARD_SIZE listed orders, covering it all', () => {
    const shards = planShards(statuses(23), 5);
    assert.ok(shards);
    assert.equal(shards.length, 5);
    assert.deepEqual(
      shards.map((s) => s.orders.length),
      [5, 5, 5, 5, 3],
    );
    assert.equal(shards[0].after, undefined, 'the first range is open below');
    assert.equal(shards[4].upTo, undefined, 'the last range is open above');
    for (let i = 1; i < shards.length; i++)
      assert.equal(shards[i].after, shards[i - 1].upTo, 'ranges meet without a gap or an overlap');
    for (const shard of shards) {
      for (const [orderId] of shard.orders) {
        assert.ok(shard.after === undefined || orderId > shard.after);
        assert.ok(shard.upTo === undefined || orderId <= shard.upTo);
      }
    }
  });

  it('reads a task back, and refuses one it cannot use, saying why', () => {
    const [shard] = planShards(statuses(8), 4) ?? [];
    assert.deepEqual(parseShard(JSON.parse(JSON.stringify(shard))), shard);
    assert.match(String(parseShard({ orders: 'all' })), /orders: expected a list/);
    assert.match(
      String(parseShard({ orders: [['a', 'LOST']] })),
      /orders\.0\.1: unknown status "LOST"/,
    );
    assert.match(String(parseShard({ after: 'a b', orders: [] })), /after: expected an order id/);
  });
});

describe('fan-out', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('runs every order to its end with shards observed by tasks, one kitchen order and one shipment each', async () => {
    stack = await startStack({ env: { SHARD_SIZE: '5' }, service: { rejectRate: 0.2, seed: 3 } });
    const orders = stack.service.placeOrders(23);
    let shards = 0;
    for (let round = 0; round < 8; round++) {
      const run = await stack.pollNow();
      shards += run.polls[0].shards;
      assert.equal(run.polls[0].shardsInline, 0, 'every shard went to a task');
      await stack.settle();
      stack.service.tick();
      stack.service.tick();
    }
    assert.ok(shards >= 5, `polls handed shards to tasks: ${shards}`);
    assert.ok(stack.functions.tasks.dispatched >= shards, JSON.stringify(stack.functions.tasks));
    assert.equal(stack.functions.tasks.failed, 0);
    const stats = stack.service.stats();
    assert.equal(stats.kitchenOrdersCreated, orders.length);
    assert.equal(stats.shipmentsCreated, orders.length);
    assert.equal(stats.orders.DELIVERED + stats.orders.REJECTED, orders.length);
    for (const order of orders)
      assert.equal((await stack.relation(order))?.possibleOrphans.length, 0);
  });

  it('a shard delivered twice changes nothing the second time', async () => {
    stack = await startStack({ autoDeliver: false, env: { SHARD_SIZE: '5' } });
    stack.service.placeOrders(12);
    await stack.pollNow(); // creates the relations
    stack.service.tick(); // the kitchens accept nothing yet: NEW orders stay NEW
    const [shard] =
      planShards(
        new Map(
          (await stack.food.listOrders({ statusFilter: 'NEW', pageSize: 100 })).orders.map((o) => [
            o.name,
            { status: o.status, updateTime: o.updateTime },
          ]),
        ),
        5,
      ) ?? [];
    const times = async () =>
      (await db().collection('relations').get()).docs.map((d) => d.updateTime.toMillis()).join();
    await observeShard(runtimeDeps(), shard);
    const before = await times();
    const again = await observeShard(runtimeDeps(), shard);
    assert.equal(again.observed + again.nudged, 0);
    assert.equal(await times(), before, 'no relation written twice');
  });

  it('two polls of the same slot enqueue each shard once', async () => {
    stack = await startStack({ autoDeliver: false, env: { SHARD_SIZE: '5' } });
    stack.service.placeOrders(12);
    const first = await pollOnce(runtimeDeps(), 'slot-42');
    const second = await pollOnce(runtimeDeps(), 'slot-42');
    assert.equal(first.shards, 3);
    assert.equal(second.shards, 3, 'the second poll finds its shards already queued');
    await stack.functions.settle();
    // The Cloud Tasks emulator refused the second poll's tasks by name (ALREADY_EXISTS): each shard ran once.
    assert.equal(stack.functions.tasks.dispatched, 3);
  });

  it('observes every shard itself where there is no task queue', async () => {
    stack = await startStack({ autoDeliver: false, env: { SHARD_SIZE: '5' } });
    stack.service.placeOrders(12);
    await stack.pollNow();
    const summary = await pollOnce({ ...runtimeDeps(), shards: undefined });
    assert.equal(summary.shards, 0);
    assert.equal(summary.shardsInline, 3);
    assert.equal(summary.activeRelations, 12, 'every relation observed, here');
  });
});
