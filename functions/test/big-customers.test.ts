// One customer's data cannot stop one order unseen, nor everyone: orders
// whose customer_id is megabytes long among ordinary ones, through the
// exported functions, the simulator over TLS (with the client's real receive
// limit, RECEIVE_LIMIT_BYTES, 2 MiB) and Google's Firestore emulator (with
// its real 1 MiB document limit). Every ordinary order is delivered; a
// customer_id over Firestore's limit is bounded so its relation is written;
// an order too large to receive is stepped over, and reported at ERROR once
// per poll, in the heartbeat and in the health summary.
import { createHash } from 'node:crypto';
import { strict as assert } from 'node:assert';

import { RECEIVE_LIMIT_BYTES } from '../src/food/client';
import { CUSTOMER_ID_PREFIX_CHARS, MAX_CUSTOMER_ID_BYTES } from '../src/poller/customer-id';
import { readHealthSummary } from '../src/store/health';
import { readPollerHeartbeat } from '../src/store/poller-health';
import { logEntries, logMark } from './helpers/ops';
import { startStack, type Stack } from './helpers/stack';

/** Over Firestore's 1 MiB document limit, under the receive limit. */
const MB_1_1 = 'a'.repeat(1_100_000);
/** Over the receive limit on its own. */
const MB_2_2 = (fill: string) => fill.repeat(2_200_000);

/** Polls and ticks the kitchens and drones until `done`, at most `rounds` times. */
async function runUntil(stack: Stack, done: () => Promise<boolean>, rounds = 12): Promise<number> {
  for (let round = 1; round <= rounds; round++) {
    await stack.cycle();
    if (await done()) return round;
    stack.service.tick();
  }
  assert.fail(`not done after ${rounds} rounds of a poll and a tick`);
}

describe('customers with megabytes of data', function () {
  this.timeout(120_000);
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('one 2.2 MB customer among ordinary ones: every ordinary order is delivered, the big one reported each poll', async () => {
    assert.ok(
      MB_2_2('b').length > RECEIVE_LIMIT_BYTES && MB_1_1.length < RECEIVE_LIMIT_BYTES,
      'the sizes straddle the limit',
    );
    stack = await startStack({ service: { rejectRate: 0 } });
    const before = stack.service.placeOrders(3);
    const [big] = stack.service.placeOrders(1, MB_2_2('b'));
    const [large] = stack.service.placeOrders(1, MB_1_1);
    const after = stack.service.placeOrders(3);
    const ordinary = [...before, ...after];
    const mark = logMark();

    const polls = await runUntil(stack, async () => {
      const relations = await Promise.all(
        [...ordinary, large].map((order) => stack.relation(order)),
      );
      return relations.every((r) => r?.stage === 'DELIVERED');
    });
    for (const order of ordinary)
      assert.equal((await stack.relation(order))?.stage, 'DELIVERED', order);
    assert.equal(
      (await stack.food.getOrder(after[2])).status,
      'DELIVERED',
      'orders listed after the big one were reached',
    );

    // 1.1 MB would not fit a Firestore document: what identifies the customer is kept.
    const bounded = await stack.relation(large);
    assert.equal(bounded?.stage, 'DELIVERED');
    const sha = createHash('sha256').update(MB_1_1).digest('hex');
    assert.equal(
      bounded?.customerId,
      `${MB_1_1.slice(0, CUSTOMER_ID_PREFIX_CHARS)}… (sha256:${sha}, 1100000 bytes)`,
    );
    assert.ok(Buffer.byteLength(bounded?.customerId ?? '') < 2 * MAX_CUSTOMER_ID_BYTES);

    // The one too large to receive: no relation, and one ERROR entry per poll naming it and why.
    assert.equal(await stack.relation(big), undefined);
    const entries = logEntries(mark).filter((e) => e.alert === 'unrecorded-order');
    assert.ok(entries.length >= polls, `${entries.length} entries for ${polls} polls`);
    assert.deepEqual(new Set(entries.map((e) => e.order)), new Set([big]));
    for (const entry of entries) {
      assert.equal(entry.severity, 'ERROR');
      assert.match(
        String(entry.reason),
        /ListOrders: the order alone is \d+ bytes, over the client's receive limit of 2097152 bytes \(customer_id of 2200000 bytes\)/,
      );
    }
    const pollsLogged = logEntries(mark).filter((e) => e.message === 'poll finished');
    assert.equal(entries.length, pollsLogged.length, 'once per poll, no more');
    assert.ok(pollsLogged.every((p) => p.unrecorded === 1));

    const heartbeat = await readPollerHeartbeat();
    assert.equal(heartbeat?.unrecorded?.count, 1);
    assert.equal(heartbeat?.unrecorded?.sample[0]?.order, big);
    assert.equal(await stack.fireSchedule('reportStuckOrders'), 200);
    const summary = await readHealthSummary();
    assert.equal(summary?.poller?.unrecorded, 1);
    assert.equal(summary?.poller?.unrecordedSample[0]?.order, big);
    assert.equal(summary?.poller?.state, 'ok', 'the poller itself is fine');
  });

  it('two 2.2 MB customers side by side (a 4.4 MB page) cannot stop the listing: both are stepped over', async () => {
    stack = await startStack({ service: { rejectRate: 0 } });
    const ordinary = stack.service.placeOrders(2);
    const bigs = [
      ...stack.service.placeOrders(1, MB_2_2('c')),
      ...stack.service.placeOrders(1, MB_2_2('d')),
    ];
    ordinary.push(...stack.service.placeOrders(2));
    const mark = logMark();
    await runUntil(stack, async () =>
      (await Promise.all(ordinary.map((o) => stack.relation(o)))).every(
        (r) => r?.stage === 'DELIVERED',
      ),
    );
    for (const order of bigs) assert.equal(await stack.relation(order), undefined);
    const first = logEntries(mark).find((e) => e.message === 'poll finished');
    assert.equal(first?.unrecorded, 2);
    assert.deepEqual(
      (first?.unrecordedOrders as Array<{ order: string }>).map((u) => u.order).sort(),
      [...bigs].sort(),
    );
    // Each page over the limit was asked for again smaller: the listing took more calls, never failed.
    assert.ok(
      stack.service.stats().calls.ListOrders.ok > 6,
      JSON.stringify(stack.service.stats().calls.ListOrders),
    );
    assert.deepEqual(stack.service.stats().calls.ListOrders.failed, {});
  });
});
