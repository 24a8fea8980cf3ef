import { strict as assert } from 'node:assert';

import { relationId } from '../src/store/schema';
import { db } from '../src/store/db';
import { startStack, type Stack } from './helpers/stack';

const ORDERS = 200;
/** Relation writes (each one trigger invocation) a finished order may cost: the target in docs/BENCHMARKS.md#targets. */
const MAX_INVOCATIONS_PER_ORDER = 10;

describe('throughput', function () {
  this.timeout(120_000);
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it(`${ORDERS} orders run to the end with random cancellations and rejections`, async () => {
    stack = await startStack({
      service: {
        controllerIntervalMs: 100,
        advanceRate: 0.5,
        rejectRate: 0.2,
        cancelRate: 0.15,
        seed: 42,
      },
    });
    const orders = stack.service.placeOrders(ORDERS);

    const deadline = Date.now() + 90_000;
    let polls = 0;
    for (; polls < 400 && Date.now() < deadline; polls++) {
      await stack.cycle();
      const { NEW, PREPARATION, IN_FLIGHT } = stack.service.stats().orders;
      const active = await db().collection('relations').where('active', '==', true).count().get();
      if (NEW + PREPARATION + IN_FLIGHT === 0 && active.data().count === 0) break;
    }

    const stats = stack.service.stats();
    assert.equal(
      stats.orders.NEW + stats.orders.PREPARATION + stats.orders.IN_FLIGHT,
      0,
      `orders still open after ${polls} polls: ${JSON.stringify(stats.orders)}`,
    );
    assert.equal(stats.orders.DELIVERED + stats.orders.REJECTED + stats.orders.CANCELLED, ORDERS);
    assert.ok(
      stats.orders.CANCELLED > 0 && stats.orders.REJECTED > 0 && stats.orders.DELIVERED > 0,
      JSON.stringify(stats.orders),
    );

    let reachedPreparation = 0;
    let reachedInFlight = 0;
    const invocations: number[] = [];
    let neverSeen = 0;
    for (const order of orders) {
      const relation = await stack.relation(order);
      if (!relation) {
        // Cancelled by the customer before any poll listed it: nothing to drive.
        assert.equal(
          (await stack.food.getOrder(order)).status,
          'CANCELLED',
          `${order} has no relation`,
        );
        neverSeen++;
        continue;
      }
      assert.equal(relation.active, false, `${order} is finished`);
      assert.equal(relation.error, null, `${order}: ${JSON.stringify(relation.error)}`);
      assert.deepEqual(relation.possibleOrphans, []);
      if (relation.kitchenOrder) reachedPreparation++;
      if (relation.shipment) reachedInFlight++;
      invocations.push(
        stack.functions.triggers.get('advanceRelation')?.invocations.get(relationId(order)) ?? 0,
      );
    }
    assert.equal(
      stats.kitchenOrdersCreated,
      reachedPreparation,
      'one kitchen order per order that reached PREPARATION',
    );
    assert.equal(
      stats.shipmentsCreated,
      reachedInFlight,
      'one shipment per order that reached IN_FLIGHT',
    );
    assert.equal(stats.calls.CreateKitchenOrder.ok, reachedPreparation);
    assert.equal(stats.calls.CreateShipment.ok, reachedInFlight);

    assert.ok(neverSeen < stats.orders.CANCELLED);
    const max = Math.max(...invocations);
    const mean = invocations.reduce((a, b) => a + b, 0) / invocations.length;
    assert.ok(
      max <= MAX_INVOCATIONS_PER_ORDER,
      `an order cost ${max} trigger invocations (bound ${MAX_INVOCATIONS_PER_ORDER})`,
    );

    const perOrder = (n: number) => (n / ORDERS).toFixed(2);
    console.log(
      `    ${ORDERS} orders in ${polls} polls: ${JSON.stringify(stats.orders)}, ${neverSeen} cancelled before any poll saw them`,
    );
    console.log(`    trigger invocations per order: mean ${mean.toFixed(2)}, max ${max}`);
    console.log(
      `    RPCs per order: ${Object.entries(stats.calls)
        .map(
          ([m, c]) => `${m} ${perOrder(c.ok + Object.values(c.failed).reduce((a, b) => a + b, 0))}`,
        )
        .join(', ')}`,
    );
  });
});
