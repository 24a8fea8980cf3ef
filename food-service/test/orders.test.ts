import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import { expectStatus, startHarness, type Harness } from './helpers';

describe('OrderService: CreateOrder, GetOrder, UpdateOrder', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  const newOrder = () => h.client.createOrder({ order: { customerId: 'customer-1' } });

  describe('CreateOrder', () => {
    it('assigns the name and times, and starts at NEW whatever the client sent', async () => {
      const order = await h.client.createOrder({
        order: {
          name: 'orders/mine',
          status: 'DELIVERED',
          createTime: '2000-01-01T00:00:00Z',
          customerId: 'customer-7',
        },
      });
      assert.match(
        order.name,
        /^orders\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      assert.equal(order.status, 'NEW');
      assert.equal(order.customerId, 'customer-7');
      assert.equal(order.createTime, order.updateTime);
      assert.ok(
        Math.abs(Date.parse(order.createTime) - Date.now()) < 60_000,
        `create_time ${order.createTime} is now`,
      );
    });

    it('rejects a request without an order', async () => {
      await expectStatus(
        h.client.createOrder({}),
        grpc.status.INVALID_ARGUMENT,
        /^order: required/,
      );
    });
  });

  describe('GetOrder', () => {
    it('returns the stored order', async () => {
      const created = await newOrder();
      assert.deepEqual(await h.client.getOrder(created.name), created);
    });

    for (const name of [
      '',
      'abc',
      'orders/',
      'orders/a/b',
      'kitchenorders/x',
      'Orders/x',
      'orders/a b',
    ]) {
      it(`rejects the malformed name ${JSON.stringify(name)} with INVALID_ARGUMENT`, async () => {
        await expectStatus(
          h.client.getOrder(name),
          grpc.status.INVALID_ARGUMENT,
          /^name: .* is not of the form orders\/<id>/,
        );
      });
    }

    it('answers NOT_FOUND for a well-formed name that does not exist', async () => {
      await expectStatus(
        h.client.getOrder('orders/missing'),
        grpc.status.NOT_FOUND,
        /orders\/missing not found/,
      );
    });
  });

  describe('UpdateOrder', () => {
    it('changes the status and update_time, and nothing else', async () => {
      const created = await newOrder();
      await new Promise((resolve) => setTimeout(resolve, 5));
      const updated = await h.client.setStatus(created.name, 'PREPARATION');
      assert.equal(updated.status, 'PREPARATION');
      assert.equal(updated.customerId, created.customerId);
      assert.equal(updated.createTime, created.createTime);
      assert.ok(
        updated.updateTime > created.updateTime,
        `${updated.updateTime} after ${created.updateTime}`,
      );
      assert.deepEqual(await h.client.getOrder(created.name), updated);
    });

    it('changes only the fields in the mask', async () => {
      const created = await newOrder();
      const updated = await h.client.updateOrder({
        order: { name: created.name, customerId: 'customer-2', status: 'IN_FLIGHT' },
        updateMask: { paths: ['customer_id'] },
      });
      assert.equal(updated.customerId, 'customer-2');
      assert.equal(updated.status, 'NEW');
      const both = await h.client.updateOrder({
        order: { name: created.name, customerId: 'customer-3', status: 'IN_FLIGHT' },
        updateMask: { paths: ['status', 'customer_id'] },
      });
      assert.deepEqual([both.status, both.customerId], ['IN_FLIGHT', 'customer-3']);
    });

    it('rejects a missing or empty mask', async () => {
      const { name } = await newOrder();
      await expectStatus(
        h.client.updateOrder({ order: { name, status: 'PREPARATION' } }),
        grpc.status.INVALID_ARGUMENT,
        /^update_mask: must name at least one field/,
      );
      await expectStatus(
        h.client.updateOrder({ order: { name, status: 'PREPARATION' }, updateMask: { paths: [] } }),
        grpc.status.INVALID_ARGUMENT,
        /^update_mask: must name at least one field/,
      );
    });

    for (const path of ['name', 'create_time', 'update_time']) {
      it(`rejects the output-only path ${path}`, async () => {
        const { name } = await newOrder();
        await expectStatus(
          h.client.updateOrder({ order: { name }, updateMask: { paths: ['status', path] } }),
          grpc.status.INVALID_ARGUMENT,
          new RegExp(`^update_mask: "${path}" is output only`),
        );
      });
    }

    it('rejects an unknown path, naming it', async () => {
      const { name } = await newOrder();
      await expectStatus(
        h.client.updateOrder({
          order: { name, status: 'PREPARATION' },
          updateMask: { paths: ['customerId'] },
        }),
        grpc.status.INVALID_ARGUMENT,
        /^update_mask: unknown field "customerId"; updatable fields are status, customer_id/,
      );
    });

    it('rejects setting the status UNKNOWN, or a number the enum does not define', async () => {
      const { name } = await newOrder();
      await expectStatus(
        h.client.setStatus(name, 'UNKNOWN'),
        grpc.status.INVALID_ARGUMENT,
        /^order\.status: UNKNOWN/,
      );
      await expectStatus(
        h.client.setStatus(name, 42 as unknown as 'NEW'),
        grpc.status.INVALID_ARGUMENT,
        /^order\.status: 42 is not an Order.Status/,
      );
      assert.equal((await h.client.getOrder(name)).status, 'NEW');
    });

    it('rejects a request without an order or a name', async () => {
      await expectStatus(
        h.client.updateOrder({ updateMask: { paths: ['status'] } }),
        grpc.status.INVALID_ARGUMENT,
        /^order: required/,
      );
      await expectStatus(
        h.client.updateOrder({ order: { status: 'NEW' }, updateMask: { paths: ['status'] } }),
        grpc.status.INVALID_ARGUMENT,
        /^order\.name: required/,
      );
    });

    it('answers INVALID_ARGUMENT for a malformed name and NOT_FOUND for a missing one', async () => {
      await expectStatus(
        h.client.setStatus('shipments/x', 'PREPARATION'),
        grpc.status.INVALID_ARGUMENT,
        /^order\.name: "shipments\/x"/,
      );
      await expectStatus(
        h.client.setStatus('orders/missing', 'PREPARATION'),
        grpc.status.NOT_FOUND,
        /orders\/missing not found/,
      );
    });

    for (const final of ['CANCELLED', 'DELIVERED', 'REJECTED'] as const) {
      it(`overwrites an order that is ${final}, like the real service (no optimistic concurrency), and counts it`, async () => {
        const { name } = await newOrder();
        await h.client.setStatus(name, final);
        const before = h.service.stats().finalOrdersOverwritten;
        assert.equal(
          (await h.client.setStatus(name, final)).status,
          final,
          'rewriting the same final status is accepted',
        );
        assert.equal(h.service.stats().finalOrdersOverwritten, before, 'and is not an overwrite');
        assert.equal((await h.client.setStatus(name, 'IN_FLIGHT')).status, 'IN_FLIGHT');
        assert.equal((await h.client.getOrder(name)).status, 'IN_FLIGHT');
        assert.equal(h.service.stats().finalOrdersOverwritten, before + 1);
      });
    }
  });
});

describe('OrderService with finalOrderUpdates: refuse', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ finalOrderUpdates: 'refuse' });
  });
  after(() => h.close());

  for (const final of ['CANCELLED', 'DELIVERED', 'REJECTED'] as const) {
    it(`refuses to move an order that is ${final} (FAILED_PRECONDITION naming the status)`, async () => {
      const { name } = await h.client.createOrder({ order: { customerId: 'customer-1' } });
      await h.client.setStatus(name, final);
      await expectStatus(
        h.client.setStatus(name, 'IN_FLIGHT'),
        grpc.status.FAILED_PRECONDITION,
        new RegExp(`^${name} is ${final}, a final status`),
      );
      await expectStatus(
        h.client.setStatus(name, final),
        grpc.status.FAILED_PRECONDITION,
        new RegExp(final),
      );
      assert.equal((await h.client.getOrder(name)).status, final);
      assert.equal(h.service.stats().finalOrdersOverwritten, 0);
    });
  }
});
