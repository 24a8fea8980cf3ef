// The step protocol under real faults: connections that drop after the food
// service did the work, handshakes cut short, replies after the deadline,
// attempts that outlive their claim, processes that die between two writes,
// outages of any length, and bad data from either side. Network faults go
// through a TCP proxy in front of the simulator; Firestore is Google's emulator.
import { status } from '@grpc/grpc-js';
import { Timestamp } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import { RpcError } from '../../food-service/src/errors';
import { startFaultProxy } from '../../food-service/src/fault-proxy';
import { advance } from '../src/order/lifecycle';
import { db, store } from '../src/store/db';
import { relationId } from '../src/store/schema';
import { runtimeDeps } from '../src/triggers/deps';
import { seedAttempt } from './helpers/ops';
import { attemptEntry, captureEvent, deliver, startStack, type Stack } from './helpers/stack';

const relations = () => db().collection('relations');

/** Waits, bounded, until `check` holds. */
async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Waits until the relation's recorded error is due for its retry. */
async function untilRetryDue(stack: Stack, order: string): Promise<void> {
  const retryAt = (await stack.relation(order))?.error?.retryAt?.getTime();
  assert.ok(retryAt, 'the failure recorded a retry time');
  await until('the retry time', () => Date.now() > retryAt);
}

describe('the step protocol under faults', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  describe('a create whose outcome is unknown is never repeated silently', () => {
    it('a connection that drops after the kitchen order was made: the next attempt names the possible duplicate', async () => {
      stack = await startStack({ proxy: {} });
      const [order] = stack.service.placeOrders(1);
      // The server does the work; the connection is cut before the reply leaves it.
      stack.service.onServed((method) => {
        if (method === 'CreateKitchenOrder') {
          stack.service.onServed(undefined);
          stack.proxy?.cutAll();
        }
      });
      await stack.cycle();
      let relation = await stack.relation(order);
      assert.equal(relation?.stage, 'NEW');
      assert.equal(relation?.error?.code, 'UNAVAILABLE');
      assert.equal(relation?.error?.transient, true);
      const first = attemptEntry(await stack.transitions(order), 'PREPARATION-1');
      assert.equal(
        first.claim.failure?.ambiguous,
        true,
        'a dropped connection after sending may have created it',
      );
      assert.equal(
        stack.service.stats().kitchenOrdersCreated,
        1,
        'the client did not resend the create',
      );

      await untilRetryDue(stack, order);
      await stack.cycle();
      relation = await stack.relation(order);
      assert.equal(relation?.stage, 'PREPARATION');
      assert.equal(
        stack.service.stats().kitchenOrdersCreated,
        2,
        'the API has no idempotency key: a second one was made',
      );
      assert.equal(relation?.possibleOrphans.length, 1, 'and it is named, not silent');
      assert.equal(relation?.possibleOrphans[0].attempt, 1);
      assert.match(
        relation?.possibleOrphans[0].reason,
        /failed with UNAVAILABLE after its call may have reached the food service/,
      );
    });

    it('a slow create that succeeds within its own deadline is made once', async () => {
      stack = await startStack({ env: { RPC_DEADLINE_MS: '300', CREATE_DEADLINE_MS: '3000' } });
      const [order] = stack.service.placeOrders(1);
      stack.service.onCall(async (method) => {
        if (method === 'CreateKitchenOrder')
          await new Promise((resolve) => setTimeout(resolve, 500)); // slower than a read's deadline
      });
      await stack.cycle();
      assert.equal((await stack.relation(order))?.stage, 'PREPARATION');
      assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
    });

    it('creates that keep timing out stop after MAX_AMBIGUOUS_RETRIES more attempts and ask a person, naming every possible orphan', async () => {
      stack = await startStack({ env: { CREATE_DEADLINE_MS: '1000', MAX_AMBIGUOUS_RETRIES: '1' } });
      const [order] = stack.service.placeOrders(1);
      stack.service.onCall(async (method) => {
        if (method === 'CreateKitchenOrder')
          await new Promise((resolve) => setTimeout(resolve, 1_500)); // past the deadline, but done
      });
      await stack.cycle();
      for (let attempt = 2; attempt <= 3; attempt++) {
        await untilRetryDue(stack, order);
        await stack.cycle();
      }
      await until('the slow creates', () => stack.service.stats().kitchenOrdersCreated === 2);
      const relation = await stack.relation(order);
      assert.equal(relation?.error?.code, 'ATTEMPTS_EXHAUSTED');
      assert.equal(relation?.error?.transient, false);
      assert.match(
        relation?.error?.message,
        /attempted 2 times, and 2 of them may have created something/,
      );
      assert.deepEqual(
        relation?.possibleOrphans.map((o: { attempt: number }) => o.attempt),
        [1, 2],
      );
      assert.equal(
        stack.service.stats().calls.CreateKitchenOrder.ok,
        2,
        'two attempts, then a person',
      );
      await stack.cycle(2);
      assert.equal(stack.service.stats().calls.CreateKitchenOrder.ok, 2, 'a flag is not retried');
    });
  });

  it('an attempt that outlives its claim cannot rewrite the relation: its creation is only noted', async () => {
    stack = await startStack({ autoDeliver: false, service: { rejectRate: 0 } });
    const [order] = stack.service.placeOrders(1);
    const document = `relations/${relationId(order)}`;
    const created = captureEvent(document);
    await stack.pollNow();
    const event = await created;

    // Attempt 1 reaches the kitchen, which keeps it waiting.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    stack.service.onCall(async (method) => {
      if (method === 'CreateKitchenOrder' && first) {
        first = false;
        await held;
      }
    });
    const late = deliver(event);
    await until('attempt 1 to call the kitchen', () => !first);

    // Its lease runs out; attempt 2 takes over, and the order moves on to IN_FLIGHT.
    await relations()
      .doc(relationId(order))
      .collection('transitions')
      .doc('PREPARATION-1')
      .update({ leaseExpiresAt: Timestamp.fromMillis(Date.now() - 1) });
    await deliver(event);
    assert.equal((await stack.relation(order))?.stage, 'PREPARATION');
    stack.service.tick();
    stack.service.tick();
    const packaged = captureEvent(document);
    await stack.pollNow();
    await deliver(await packaged);
    const before = await stack.relation(order);
    assert.equal(before?.stage, 'IN_FLIGHT');

    // Attempt 1 comes back with its kitchen order.
    release();
    await late;
    const after = await stack.relation(order);
    assert.equal(after?.stage, 'IN_FLIGHT', 'the stage was not set back');
    assert.equal(after?.active, true);
    assert.equal(
      after?.kitchenOrder,
      before?.kitchenOrder,
      'the recorded kitchen order was not replaced',
    );
    assert.equal(after?.shipment, before?.shipment);
    assert.equal(after?.error, null, 'nothing was flagged');
    assert.equal(after?.possibleOrphans.length, 1);
    const [note] = after?.possibleOrphans ?? [];
    assert.equal(note.attempt, 1);
    assert.match(String(note.name), /^kitchenorders\//, 'the late creation is named');
    assert.notEqual(note.name, after?.kitchenOrder);
    assert.equal(
      (await stack.food.getOrder(order)).status,
      'IN_FLIGHT',
      'the order was not moved back to PREPARATION',
    );
    assert.equal(stack.service.stats().calls.UpdateOrder.ok, 2);
  });

  it('a kitchen order whose name reached the claim is adopted by the next attempt, not made again', async () => {
    stack = await startStack();
    const [order] = stack.service.placeOrders(1);
    // Made, and then every look at the order fails until the attempt gives up.
    stack.service.onServed((method) => {
      if (method === 'CreateKitchenOrder') {
        stack.service.onServed(undefined);
        stack.service.failNext('GetOrder', status.UNAVAILABLE, 3);
      }
    });
    await stack.cycle();
    const failed = await stack.relation(order);
    assert.equal(failed?.stage, 'NEW');
    assert.equal(failed?.error?.transient, true);
    assert.match(
      failed?.error?.message,
      /created kitchenorders\/\S+ but could not finish the step/,
    );

    await untilRetryDue(stack, order);
    await stack.cycle();
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
    assert.deepEqual(relation?.possibleOrphans, []);
    const transitions = await stack.transitions(order);
    assert.equal(attemptEntry(transitions, 'PREPARATION-1').claim.created, relation?.kitchenOrder);
    assert.equal(
      attemptEntry(transitions, 'PREPARATION-1').claim.failure?.ambiguous,
      false,
      'its name is known: nothing is ambiguous',
    );
    assert.equal(attemptEntry(transitions, 'PREPARATION-2').claim.created, relation?.kitchenOrder);
    assert.equal(attemptEntry(transitions, 'PREPARATION-2').adopted, true);
  });

  it('a process that died between the create and the record leaves a claim that is noted once its lease expires', async () => {
    stack = await startStack({ autoDeliver: false });
    const [order] = stack.service.placeOrders(1);
    const created = captureEvent(`relations/${relationId(order)}`);
    await stack.pollNow();
    const event = await created;
    // What a process that died after CreateKitchenOrder leaves behind: a kitchen order cooking, a claim with no result.
    const dead = await seedAttempt(order, 'createKitchenOrder', 1, { eventId: 'event-that-died' });
    await stack.food.createKitchenOrder();

    await deliver(event); // while the lease runs, the step is left to its (presumed live) claimant
    assert.equal((await stack.relation(order))?.stage, 'NEW');
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);

    await dead.update({ leaseExpiresAt: Timestamp.fromMillis(Date.now() - 1) });
    await deliver(event); // the same event, redelivered after the lease
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.equal(relation?.possibleOrphans.length, 1);
    assert.equal(relation?.possibleOrphans[0].eventId, 'event-that-died');
    assert.match(
      relation?.possibleOrphans[0].reason,
      /claimed the step and recorded nothing before another took over/,
    );
    assert.equal(stack.service.stats().kitchenOrdersCreated, 2);
  });

  it('a TLS handshake cut short is transient: the step backs off and finishes, without a person', async () => {
    stack = await startStack({ proxy: {}, autoDeliver: false });
    const [order] = stack.service.placeOrders(1);
    const created = captureEvent(`relations/${relationId(order)}`);
    await stack.pollNow();
    // The food service restarts: live connections drop, and the next handshakes are cut.
    stack.proxy?.cutAll();
    stack.proxy?.cutNextHandshakes(2);
    await deliver(await created);
    const failed = await stack.relation(order);
    assert.equal(failed?.error?.code, 'UNAVAILABLE', JSON.stringify(failed?.error));
    assert.match(
      failed?.error?.message,
      /disconnected before secure TLS connection was established/,
    );
    assert.equal(
      failed?.error?.transient,
      true,
      'a handshake cut short is not a certificate failure',
    );
    assert.ok(failed?.error?.retryAt, 'it will be retried');
    const claim = attemptEntry(await stack.transitions(order), 'PREPARATION-1').claim;
    assert.equal(
      claim.failure?.ambiguous,
      false,
      'no connection was made: nothing could have been created',
    );

    await untilRetryDue(stack, order);
    // The poller wakes the relation once its retry is due; grpc-js reconnects on its own back-off.
    const event = await created;
    await until(
      'the step to succeed once the client reconnects',
      async () => (await deliver(event), (await stack.relation(order))?.stage === 'PREPARATION'),
      20_000,
    );
    assert.deepEqual((await stack.relation(order))?.possibleOrphans, []);
  });

  it('an outage of any length is retried for as long as it lasts, and leaves one claim document behind', async () => {
    stack = await startStack({ autoDeliver: false });
    const [order] = stack.service.placeOrders(1);
    const created = captureEvent(`relations/${relationId(order)}`);
    await stack.pollNow();
    const event = await created;
    // The food service is unreachable: a proxy with nothing behind it yet... then gone entirely.
    const proxy = await startFaultProxy({ target: stack.service.address });
    const address = proxy.address;
    await proxy.stop();
    process.env.FOOD_SERVICE_ADDRESS = address;
    let now = Date.now();
    const deps = { ...runtimeDeps(), now: () => new Date(now) };
    const ref = store().doc(relations().doc(relationId(order)).path);
    /** One wake-up by the poller once the retry is due, on a clock that skips the wait. */
    const retry = async () => {
      const retryAt = (await stack.relation(order))?.error?.retryAt?.getTime();
      if (retryAt) now = Math.max(now, retryAt + 1);
      return advance(ref, event.id, deps);
    };
    for (let failure = 1; failure <= 30; failure++) {
      assert.equal(await retry(), 'failed', `failure ${failure}`);
      const error = (await stack.relation(order))?.error;
      assert.equal(error?.transient, true);
      assert.equal(error?.failures, failure);
      assert.ok(
        (error?.retryAt?.getTime() ?? Infinity) - now <= 11_000,
        'the backoff is capped at ten poll intervals',
      );
    }
    assert.deepEqual(
      (await stack.transitions(order)).map((t) => t.id),
      ['PREPARATION-1'],
      'one claim document, however long the outage',
    );

    // The food service is back.
    const back = await startFaultProxy({
      target: stack.service.address,
      port: Number(address.split(':')[1]),
    });
    try {
      await until('the client to reconnect', async () => (await retry()) === 'advanced', 20_000);
    } finally {
      await back.stop();
    }
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.equal(relation?.error, null);
    assert.deepEqual(
      relation?.possibleOrphans,
      [],
      'a failure that provably sent nothing leaves nothing to note',
    );
    const { claim } = attemptEntry(await stack.transitions(order), 'PREPARATION-1');
    assert.ok(
      claim.cleanFailures >= 30,
      `the claim counts the tries it survived: ${claim.cleanFailures}`,
    );
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
  });

  describe('a flagged relation', () => {
    it('still records that the customer cancelled, keeps its flag, and stops costing polls', async () => {
      stack = await startStack();
      const [order] = stack.service.placeOrders(1);
      stack.service.failNext('CreateKitchenOrder', status.INVALID_ARGUMENT, 1);
      await stack.cycle();
      const flagged = await stack.relation(order);
      assert.equal(flagged?.error?.code, 'INVALID_ARGUMENT');
      assert.equal(flagged?.error?.transient, false);

      stack.service.cancelOrder(order);
      await stack.cycle(); // the order left the lists: GetOrder finds it CANCELLED
      const closed = await stack.relation(order);
      assert.equal(closed?.stage, 'CANCELLED');
      assert.equal(closed?.outcome, 'CANCELLED');
      assert.equal(closed?.active, false);
      assert.equal(closed?.error?.code, 'INVALID_ARGUMENT', 'the flag stays for a person to read');

      const lookups = stack.service.stats().calls.GetOrder.ok;
      await stack.cycle(2);
      assert.equal(stack.service.stats().calls.GetOrder.ok, lookups, 'no more look-ups for it');
    });

    it('a look-up that fails for good is flagged on the relation, not left invisible', async () => {
      stack = await startStack();
      const [order] = stack.service.placeOrders(1);
      await stack.cycle();
      // The kitchen order the relation names is unknown to the food service.
      await relations()
        .doc(relationId(order))
        .update({ kitchenOrder: 'kitchenorders/no-such-kitchen-order' });
      await stack.cycle();
      const relation = await stack.relation(order);
      assert.equal(relation?.error?.code, 'LOOKUP_FAILED');
      assert.match(
        relation?.error?.message,
        /GetKitchenOrder kitchenorders\/no-such-kitchen-order: NOT_FOUND/,
      );
      assert.equal(relation?.error?.transient, false);
    });
  });

  it("a retried UpdateOrder never overwrites a customer's CANCELLED: every try looks first", async () => {
    stack = await startStack(); // the simulator accepts updates of final orders, as the real service does
    const [order] = stack.service.placeOrders(1);
    let firstUpdate = true;
    stack.service.onCall((method) => {
      if (method === 'UpdateOrder' && firstUpdate) {
        firstUpdate = false;
        stack.service.cancelOrder(order); // the customer cancels...
        throw new RpcError(status.UNAVAILABLE, 'the reply to our update was lost'); // ...and our update's fate is unknown
      }
    });
    await stack.cycle();
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'CANCELLED');
    assert.match(
      String(relation?.kitchenOrder),
      /^kitchenorders\//,
      'the kitchen order already made is named',
    );
    assert.equal((await stack.food.getOrder(order)).status, 'CANCELLED');
    assert.equal(stack.service.stats().finalOrdersOverwritten, 0);
    assert.equal(
      stack.service.stats().calls.UpdateOrder.ok,
      0,
      'no update was sent after the customer cancelled',
    );
  });

  describe('bad data never stops the loop', () => {
    it('a malformed document is flagged once; other orders keep flowing', async () => {
      stack = await startStack({ service: { rejectRate: 0 } });
      const healthy = stack.service.placeOrders(3);
      await relations()
        .doc('hand-edited')
        .set({ order: 'orders/hand-edited', stage: 'COOKING', orderStatus: 'NEW', active: true });
      await stack.cycle();
      const handEdited = (await relations().doc('hand-edited').get()).data();
      assert.equal(handEdited?.error?.code, 'INVALID_DOCUMENT');
      assert.match(handEdited?.error?.message, /stage: unknown stage "COOKING"/);
      assert.equal(handEdited?.error?.transient, false);

      const flaggedAt = (await relations().doc('hand-edited').get()).updateTime?.toMillis();
      for (let round = 0; round < 3; round++) {
        stack.service.tick();
        stack.service.tick();
        await stack.cycle();
      }
      assert.equal(
        (await relations().doc('hand-edited').get()).updateTime?.toMillis(),
        flaggedAt,
        'flagged once, then left alone',
      );
      for (const order of healthy) assert.equal((await stack.relation(order))?.stage, 'DELIVERED');
      assert.equal(
        stack.functions.triggers.get('advanceRelation')?.failed,
        0,
        'no trigger invocation threw',
      );
    });

    it("a relation whose id is not its order's is flagged, so the order is not driven twice", async () => {
      stack = await startStack();
      const [order] = stack.service.placeOrders(1);
      await stack.cycle();
      await relations()
        .doc('copy-of-another')
        .set({
          ...(await stack.relation(order)),
          stage: 'NEW',
          kitchenOrder: null,
          kitchenOrderStatus: null,
        });
      await stack.settle();
      const copy = (await relations().doc('copy-of-another').get()).data();
      assert.equal(copy?.error?.code, 'INVALID_DOCUMENT');
      assert.match(copy?.error?.message, /is not the order of relation copy-of-another/);
      assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
    });

    it('a malformed claim document is flagged, not thrown on every run', async () => {
      stack = await startStack({ autoDeliver: false });
      const [order] = stack.service.placeOrders(1);
      const created = captureEvent(`relations/${relationId(order)}`);
      await stack.pollNow();
      await relations()
        .doc(relationId(order))
        .collection('transitions')
        .doc('PREPARATION-1')
        .set({ attempt: 'one', leaseExpiresAt: 12 });
      await deliver(await created);
      const relation = await stack.relation(order);
      assert.equal(relation?.error?.code, 'INVALID_CLAIM');
      assert.match(relation?.error?.message, /transitions\/PREPARATION-1 is malformed/);
      assert.equal(stack.service.stats().kitchenOrdersCreated, 0);
    });

    it('a status the proto does not name is reported and not recorded; once it is known, the order moves on', async () => {
      stack = await startStack();
      const [order] = stack.service.placeOrders(1);
      await stack.cycle();
      let unknown = true;
      stack.service.onServed((method, _request, response) => {
        if (method === 'GetKitchenOrder' && unknown) (response as { status: unknown }).status = 9; // a newer server's status
      });
      stack.service.tick();
      stack.service.tick();
      const run = await stack.pollNow();
      await stack.settle();
      assert.equal(run.polls[0].unknownStatuses, 1);
      const relation = await stack.relation(order);
      assert.equal(relation?.kitchenOrderStatus, 'NEW', 'the last known status stays');
      assert.equal(relation?.error, null, 'nothing is frozen');

      unknown = false;
      await stack.cycle();
      assert.equal((await stack.relation(order))?.stage, 'IN_FLIGHT');
    });

    it('an order with a malformed name in a listing is skipped and logged; the rest of the poll goes on', async () => {
      stack = await startStack();
      const [order] = stack.service.placeOrders(1);
      stack.service.onServed((method, _request, response) => {
        if (method === 'ListOrders') {
          (response as { orders: unknown[] }).orders.push({
            name: 'orders/not a name',
            createTime: '',
            updateTime: '',
            customerId: 'x',
            status: 'PREPARATION',
          });
        }
      });
      const run = await stack.pollNow();
      await stack.settle();
      assert.equal(run.failedPolls, 0);
      assert.equal(run.polls[0].malformedOrders, 3, 'one per listing');
      assert.equal((await stack.relation(order))?.stage, 'PREPARATION');
    });
  });

  it('a poll while the food service is unreachable fails softly, and the next one catches up', async () => {
    stack = await startStack();
    const [order] = stack.service.placeOrders(1);
    stack.service.setFaults({ failRate: 1 });
    await stack.pollNow().catch(() => undefined);
    assert.equal(await stack.relation(order), undefined);
    stack.service.setFaults({ failRate: 0 });
    await stack.cycle();
    assert.equal((await stack.relation(order))?.stage, 'PREPARATION');
  });
});
