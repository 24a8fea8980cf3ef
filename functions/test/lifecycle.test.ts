import { strict as assert } from 'node:assert';

import { startStack, type Stack } from './helpers/stack';

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

    const history = await stack.transitions(order);
    assert.deepEqual(history.map((t) => t.id).sort(), ['DELIVERED-1', 'IN_FLIGHT-1', 'PREPARATION-1']);
    const stats = stack.service.stats();
    assert.equal(stats.kitchenOrdersCreated, 1);
    assert.equal(stats.shipmentsCreated, 1);
    assert.equal(stats.calls.UpdateOrder.ok, 3);
  });
});
