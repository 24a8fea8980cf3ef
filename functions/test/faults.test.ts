import { status } from '@grpc/grpc-js';
import { Timestamp } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import { loadConfig } from '../src/config';
import { foodClient } from '../src/food/connection';
import { relationId } from '../src/orchestration/relation';
import { db } from '../src/store/db';
import { captureEvent, deliver, startStack, type Stack } from './helpers/stack';

const relations = () => db().collection('relations');

/** Waits, bounded, until `check` holds. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('faults', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('UNAVAILABLE in the middle of a step is recorded, backed off, and retried by the poller without a person', async () => {
    stack = await startStack();
    const [order] = stack.service.placeOrders(1);
    stack.service.failNext('CreateKitchenOrder', status.UNAVAILABLE, 4); // outlasts the client's own retries
    await stack.cycle();

    let relation = await stack.relation(order);
    assert.equal(relation?.stage, 'NEW');
    assert.equal(relation?.error?.code, 'UNAVAILABLE');
    assert.equal(relation?.error?.transient, true);
    assert.equal(relation?.error?.step, 'createKitchenOrder');
    assert.match(relation?.error?.message, /CreateKitchenOrder kitchenorders: UNAVAILABLE/);
    const retryAt = (relation?.error?.retryAt as Timestamp).toMillis();
    const [claim] = await stack.transitions(order);
    assert.equal(claim.failure.transient, true);
    assert.equal(claim.failure.ambiguous, false, 'UNAVAILABLE means the create was not served');

    await until('the retry time', async () => Date.now() > retryAt);
    await stack.cycle(); // the poll nudges the relation; the trigger tries again
    relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.equal(relation?.error, null);
    assert.deepEqual(relation?.possibleOrphans, [], 'a failure that created nothing leaves no orphan note');
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
    assert.deepEqual((await stack.transitions(order)).map((t) => t.id).sort(), ['PREPARATION-1', 'PREPARATION-2']);
  });

  it('a create that hits its deadline may have happened: the retry is flagged as a possible orphan, never silent', async () => {
    stack = await startStack({ env: { RPC_DEADLINE_MS: '300' } });
    const [order] = stack.service.placeOrders(1);
    stack.service.onCall(async (method) => {
      if (method === 'CreateKitchenOrder') {
        stack.service.onCall(undefined);
        await new Promise((resolve) => setTimeout(resolve, 500)); // the server is slow but does the work
      }
    });
    await stack.cycle();
    let relation = await stack.relation(order);
    assert.equal(relation?.error?.code, 'DEADLINE_EXCEEDED');
    const retryAt = (relation?.error?.retryAt as Timestamp).toMillis();
    await until('the retry time', async () => Date.now() > retryAt);
    await stack.cycle();

    relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.equal(relation?.possibleOrphans.length, 1);
    assert.equal(relation?.possibleOrphans[0].attempt, 1);
    assert.match(relation?.possibleOrphans[0].reason, /DEADLINE_EXCEEDED/);
    assert.equal(stack.service.stats().kitchenOrdersCreated, 2, 'the slow create did happen: the note is right');
  });

  it('a crash between create and record leaves a claim that flags a possible orphan once its lease expires', async () => {
    stack = await startStack({ autoDeliver: false });
    const [order] = stack.service.placeOrders(1);
    const created = captureEvent(`relations/${relationId(order)}`);
    await stack.pollNow();
    const event = await created;
    // What a process that died after CreateKitchenOrder leaves behind: the
    // order moved, a kitchen order cooking, a claim with no result.
    const ref = relations().doc(relationId(order));
    const dead = ref.collection('transitions').doc('PREPARATION-1');
    await dead.create({
      step: 'createKitchenOrder', from: 'NEW', to: 'PREPARATION', attempt: 1, eventId: 'event-that-died',
      claimedAt: Timestamp.fromMillis(Date.now() - 60_000), leaseExpiresAt: Timestamp.fromMillis(Date.now() + 60_000), failure: null,
    });
    const client = foodClient(loadConfig());
    await client.updateOrderStatus(order, 'PREPARATION');
    await client.createKitchenOrder();

    // While the lease runs, the step is left to its (presumed live) claimant.
    await deliver(event);
    assert.equal((await stack.relation(order))?.stage, 'NEW');
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);

    await dead.update({ leaseExpiresAt: Timestamp.fromMillis(Date.now() - 1) });
    await deliver(event); // the same event, redelivered after the lease
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.equal(relation?.possibleOrphans.length, 1);
    assert.equal(relation?.possibleOrphans[0].eventId, 'event-that-died');
    assert.match(relation?.possibleOrphans[0].reason, /never recorded a result before its lease expired/);
    assert.equal(stack.service.stats().kitchenOrdersCreated, 2);
    assert.equal(stack.service.stats().calls.UpdateOrder.ok, 1, 'the look saw PREPARATION already set');
  });

  it('a malformed document and an unknown enum value are flagged once; other orders keep flowing', async () => {
    stack = await startStack({ service: { rejectRate: 0 } });
    const healthy = stack.service.placeOrders(3);
    await relations().doc('hand-edited').set({ order: 'orders/hand-edited', stage: 'COOKING', orderStatus: 'NEW', active: true });
    await stack.cycle();
    const [weird] = healthy;
    await relations().doc(relationId(weird)).update({ kitchenOrderStatus: 7 });
    await stack.settle();

    const handEdited = (await relations().doc('hand-edited').get()).data();
    assert.equal(handEdited?.error?.code, 'INVALID_DOCUMENT');
    assert.match(handEdited?.error?.message, /stage: unknown stage "COOKING"/);
    assert.equal(handEdited?.error?.transient, false);
    const unknownEnum = await stack.relation(weird);
    assert.equal(unknownEnum?.error?.code, 'INVALID_DOCUMENT');
    assert.match(unknownEnum?.error?.message, /kitchenOrderStatus: unknown status 7/);

    const flaggedAt = (await relations().doc('hand-edited').get()).updateTime?.toMillis();
    for (let round = 0; round < 3; round++) {
      stack.service.tick();
      stack.service.tick();
      await stack.cycle();
    }
    assert.equal((await relations().doc('hand-edited').get()).updateTime?.toMillis(), flaggedAt, 'flagged once, then left alone');
    for (const order of healthy.slice(1)) assert.equal((await stack.relation(order))?.stage, 'DELIVERED');
  });

  it('a permanent failure flags the relation with a readable error and is not retried', async () => {
    stack = await startStack();
    const [order, other] = stack.service.placeOrders(2);
    stack.service.onCall((method) => {
      if (method === 'CreateKitchenOrder') {
        stack.service.onCall(undefined);
        stack.service.failNext('CreateKitchenOrder', status.INVALID_ARGUMENT, 1);
      }
    });
    await stack.cycle(3);
    const relations = [await stack.relation(order), await stack.relation(other)];
    const failed = relations.filter((r) => r?.error);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.error.code, 'INVALID_ARGUMENT');
    assert.equal(failed[0]?.error.transient, false);
    assert.equal(failed[0]?.error.retryAt, null);
    assert.equal(relations.filter((r) => r?.stage === 'PREPARATION').length, 1, 'the other order is not blocked');
    assert.deepEqual(stack.service.stats().calls.CreateKitchenOrder.failed, { INVALID_ARGUMENT: 1 }, 'tried once');
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
