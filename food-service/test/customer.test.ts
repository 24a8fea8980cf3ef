import * as assert from 'node:assert/strict';
import { startHarness, waitFor, type Harness, type HarnessOptions } from './helpers';

describe('customer side', () => {
  let h: Harness | undefined;
  const start = async (options: HarnessOptions = {}): Promise<Harness> => {
    h = await startHarness(options);
    return h;
  };
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('placeOrders creates NEW orders that the API serves', async () => {
    const { service, client } = await start();
    const names = service.placeOrders(3);
    assert.equal(new Set(names).size, 3);
    for (const name of names) {
      const order = await client.getOrder(name);
      assert.equal(order.status, 'NEW');
      assert.match(order.customerId, /^customer-\d+$/);
    }
    assert.equal(service.stats().ordersCreated, 3);
    assert.deepEqual(service.placeOrders(0), []);
    assert.throws(() => service.placeOrders(-1), /non-negative integer, got -1/);
  });

  it('with cancelRate 1, cancels every order within 6 ticks, except those already done', async () => {
    const { service, client } = await start({ cancelRate: 1 });
    const names = service.placeOrders(10);
    await client.setStatus(names[0], 'DELIVERED');
    await client.setStatus(names[1], 'IN_FLIGHT');
    for (let i = 0; i < 6; i++) service.tick();
    const statuses = await Promise.all(
      names.map(async (name) => (await client.getOrder(name)).status),
    );
    assert.deepEqual(statuses, ['DELIVERED', ...Array<string>(9).fill('CANCELLED')]);
    assert.equal(service.stats().ordersCancelledByCustomer, 9);
  });

  it('with cancelRate 0, never cancels', async () => {
    const { service } = await start({ cancelRate: 0 });
    service.placeOrders(20);
    for (let i = 0; i < 10; i++) service.tick();
    assert.equal(service.stats().orders.NEW, 20);
  });

  it('cancelOrder cancels an order that is not done, and refuses otherwise', async () => {
    const { service, client } = await start();
    const [name] = service.placeOrders(1);
    await client.setStatus(name, 'PREPARATION');
    service.cancelOrder(name);
    assert.equal((await client.getOrder(name)).status, 'CANCELLED');
    assert.throws(
      () => service.cancelOrder(name),
      new RegExp(`cannot cancel ${name}: it is already CANCELLED`),
    );
    assert.throws(
      () => service.cancelOrder('orders/missing'),
      /cannot cancel orders\/missing: no such order/,
    );
    assert.equal(service.stats().ordersCancelledByCustomer, 1);
  });

  it('places ordersPerSecond orders on its own', async () => {
    const { service } = await start({ ordersPerSecond: 100 });
    await waitFor(
      '10 placed orders',
      () => (service.stats().ordersCreated >= 10 ? true : undefined),
      { timeoutMs: 2000 },
    );
  });
});
