import { strict as assert } from 'node:assert';

import { loadStuckThresholds } from '../src/config';
import { orderReport } from '../src/operations/status';
import { relationId } from '../src/store/schema';
import { attemptEntry, captureEvent, deliver, startStack, type Stack } from './helpers/stack';

describe('the lifecycle, end to end through the exported functions', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('takes a NEW order through PREPARATION and IN_FLIGHT to DELIVERED', async () => {
    stack = await startStack({ service: { rejectRate: 0 } });
    const [order] = stack.service.placeOrders(1);

    await stack.cycle();
    let relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.match(String(relation?.kitchenOrder), /^kitchenorders\//);
    assert.equal(relation?.kitchenOrderStatus, 'NEW');
    assert.equal(stack.service.stats().orders.PREPARATION, 1);

    stack.service.tick(); // kitchen: PREPARATION
    stack.service.tick(); // kitchen: PACKAGED
    await stack.cycle();
    relation = await stack.relation(order);
    assert.equal(relation?.stage, 'IN_FLIGHT');
    assert.equal(relation?.kitchenOrderStatus, 'PACKAGED');
    assert.match(String(relation?.shipment), /^shipments\//);
    assert.equal(stack.service.stats().orders.IN_FLIGHT, 1);

    stack.service.tick(); // drone: COLLECTED
    stack.service.tick(); // drone: DELIVERED
    await stack.cycle();
    relation = await stack.relation(order);
    assert.equal(relation?.stage, 'DELIVERED');
    assert.equal(relation?.outcome, 'DELIVERED');
    assert.equal(relation?.active, false);
    assert.equal(relation?.error, null);
    assert.equal(stack.service.stats().orders.DELIVERED, 1);

    // The finish sent its update in the window the poller opened with the shipment's DELIVERED, so it wrote no
    // entry before it; the history a person reads shows it from the relation.
    assert.equal(relation?.finishWindow?.to, 'DELIVERED');
    assert.ok(relation?.advancedAt && relation.finishWindow?.sendUntil, JSON.stringify(relation));
    assert.ok(relation.advancedAt < relation.finishWindow.sendUntil);
    const history = await stack.transitions(order);
    assert.deepEqual(history.map((t) => t.id).sort(), ['IN_FLIGHT-1', 'PREPARATION-1']);
    const report = await orderReport(order, new Date(), loadStuckThresholds());
    assert.deepEqual(
      report?.history.map((h) => [h.id, h.to]),
      [
        ['PREPARATION-1', 'PREPARATION'],
        ['IN_FLIGHT-1', 'IN_FLIGHT'],
        ['DELIVERED-1', 'DELIVERED'],
      ],
    );
    const stats = stack.service.stats();
    assert.equal(stats.kitchenOrdersCreated, 1);
    assert.equal(stats.shipmentsCreated, 1);
    assert.equal(stats.calls.UpdateOrder.ok, 3);
  });

  it('closes the order REJECTED when the customer rejects the shipment', async () => {
    stack = await startStack({ service: { rejectRate: 1 } });
    const [order] = stack.service.placeOrders(1);
    await stack.cycle();
    stack.service.tick();
    stack.service.tick();
    await stack.cycle();
    stack.service.tick();
    stack.service.tick();
    await stack.cycle();
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'REJECTED');
    assert.equal(relation?.shipmentStatus, 'REJECTED');
    assert.equal(stack.service.stats().orders.REJECTED, 1);
  });

  describe('CANCELLED stops everything', () => {
    it('at NEW: no kitchen order is created', async () => {
      stack = await startStack({ autoDeliver: false });
      const [order] = stack.service.placeOrders(1);
      const created = captureEvent(`relations/${relationId(order)}`);
      await stack.pollNow(); // the relation is created; its trigger has not run yet
      stack.service.cancelOrder(order);
      await deliver(await created);
      const relation = await stack.relation(order);
      assert.equal(relation?.stage, 'CANCELLED');
      assert.equal(relation?.kitchenOrder, null);
      assert.equal(stack.service.stats().kitchenOrdersCreated, 0);
      assert.equal(stack.service.stats().calls.UpdateOrder.ok, 0);
    });

    it('at PREPARATION: the kitchen order is left alone and no shipment is created', async () => {
      stack = await startStack();
      const [order] = stack.service.placeOrders(1);
      await stack.cycle();
      stack.service.cancelOrder(order);
      await stack.cycle(); // the order left the active lists; GetOrder finds it CANCELLED
      stack.service.tick();
      stack.service.tick();
      await stack.cycle(2);
      const relation = await stack.relation(order);
      assert.equal(relation?.stage, 'CANCELLED');
      assert.equal(relation?.orderStatus, 'CANCELLED');
      assert.equal(relation?.active, false);
      assert.equal(stack.service.stats().shipmentsCreated, 0);
      assert.equal(stack.service.stats().orders.CANCELLED, 1);
    });

    it('at IN_FLIGHT: the delivery does not overwrite CANCELLED', async () => {
      stack = await startStack({ service: { rejectRate: 0 } });
      const [order] = stack.service.placeOrders(1);
      await stack.cycle();
      stack.service.tick();
      stack.service.tick();
      await stack.cycle();
      assert.equal((await stack.relation(order))?.stage, 'IN_FLIGHT');
      stack.service.cancelOrder(order);
      stack.service.tick();
      stack.service.tick(); // the drone delivers anyway
      await stack.cycle(2);
      const relation = await stack.relation(order);
      assert.equal(relation?.stage, 'CANCELLED');
      assert.equal(stack.service.stats().orders.CANCELLED, 1);
      assert.equal(
        stack.service.stats().calls.UpdateOrder.ok,
        2,
        'only PREPARATION and IN_FLIGHT were ever set',
      );
    });

    it('between our look and our update, on a server that refuses updates of final orders: FAILED_PRECONDITION is read as "the order moved", and CANCELLED stands', async () => {
      stack = await startStack({ service: { finalOrderUpdates: 'refuse' } });
      const [order] = stack.service.placeOrders(1);
      stack.service.onCall((method, request) => {
        if (
          method === 'UpdateOrder' &&
          (request as { order?: { name?: string } }).order?.name === order
        ) {
          stack.service.onCall(undefined);
          stack.service.cancelOrder(order); // the customer is faster than our update
        }
      });
      await stack.cycle();
      const relation = await stack.relation(order);
      assert.equal(relation?.stage, 'CANCELLED');
      assert.equal(relation?.error, null);
      assert.deepEqual(stack.service.stats().calls.UpdateOrder, {
        ok: 0,
        failed: { FAILED_PRECONDITION: 1 },
      });
      assert.equal(stack.service.stats().orders.CANCELLED, 1);
      // The kitchen order was made before the cancellation showed: it is named, not left unknown.
      assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
      assert.match(String(relation?.kitchenOrder), /^kitchenorders\//);
      const { claim } = attemptEntry(await stack.transitions(order), 'PREPARATION-1');
      assert.equal(claim.failure?.code, 'CANCELLED', 'the claim says why the step stopped');
      assert.equal(claim.created, relation?.kitchenOrder);
    });
  });
});
