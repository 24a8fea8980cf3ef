import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import { expectStatus, startHarness, type Harness } from './helpers';

describe('fault injection and the call hook', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.close());

  it('fails every call with UNAVAILABLE at failRate 1, before doing any work, and counts it', async () => {
    h.service.setFaults({ failRate: 1 });
    await expectStatus(
      h.client.createOrder({ order: {} }),
      grpc.status.UNAVAILABLE,
      /injected fault: CreateOrder/,
    );
    await expectStatus(h.client.getShipment('shipments/x'), grpc.status.UNAVAILABLE);
    const stats = h.service.stats();
    assert.equal(stats.ordersCreated, 0);
    assert.equal(stats.injectedFaults, 2);
    assert.deepEqual(stats.calls.CreateOrder, { ok: 0, failed: { UNAVAILABLE: 1 } });

    h.service.setFaults({ failRate: 0 });
    await h.client.createOrder({ order: {} });
    assert.equal(h.service.stats().calls.CreateOrder.ok, 1);
  });

  it('fails a share of calls at failRate 0.5', async () => {
    h.service.setFaults({ failRate: 0.5 });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, () => h.client.listOrders({})),
    );
    const failed = results.filter((r) => r.status === 'rejected').length;
    assert.ok(failed > 5 && failed < 35, `${failed} of 40 failed`);
    assert.equal(h.service.stats().injectedFaults, failed);
  });

  it('failNext fails exactly the next calls of one method with the given code', async () => {
    const { name } = await h.client.createOrder({ order: {} });
    h.service.failNext('UpdateOrder', grpc.status.DEADLINE_EXCEEDED, 2);
    await h.client.getOrder(name);
    await expectStatus(h.client.setStatus(name, 'PREPARATION'), grpc.status.DEADLINE_EXCEEDED);
    await expectStatus(h.client.setStatus(name, 'PREPARATION'), grpc.status.DEADLINE_EXCEEDED);
    assert.equal((await h.client.getOrder(name)).status, 'NEW', 'the failed updates did nothing');
    assert.equal((await h.client.setStatus(name, 'PREPARATION')).status, 'PREPARATION');
    assert.deepEqual(h.service.stats().calls.UpdateOrder, {
      ok: 1,
      failed: { DEADLINE_EXCEEDED: 2 },
    });
    assert.throws(() => h.service.failNext('GetOrder', grpc.status.OK), /needs an error code/);
  });

  it('failNext answers any code after the work, when asked: the work is done and the reply lost', async () => {
    h.service.failNext('CreateKitchenOrder', grpc.status.INTERNAL, 1, 'after');
    await expectStatus(
      h.client.createKitchenOrder(),
      grpc.status.INTERNAL,
      /^injected fault: CreateKitchenOrder failed with INTERNAL after doing its work$/,
    );
    assert.equal(
      h.service.stats().kitchenOrdersCreated,
      1,
      'made, although the client heard INTERNAL',
    );
    await h.client.createKitchenOrder();
    assert.equal(h.service.stats().kitchenOrdersCreated, 2);
    assert.throws(
      () => h.service.failNext('GetOrder', 99 as grpc.status),
      /99 is not a gRPC status code/,
    );
  });

  it('failAll answers a code on every call of one method until cleared, after any queued failures', async () => {
    h.service.failNext('ListOrders', grpc.status.INTERNAL);
    h.service.failAll('ListOrders', { code: grpc.status.PERMISSION_DENIED, when: 'before' });
    await expectStatus(h.client.listOrders({}), grpc.status.INTERNAL);
    for (let i = 0; i < 3; i++)
      await expectStatus(
        h.client.listOrders({}),
        grpc.status.PERMISSION_DENIED,
        /failed with PERMISSION_DENIED$/,
      );
    await h.client.getOrder(h.service.placeOrders(1)[0]);
    h.service.failAll('ListOrders', undefined);
    assert.equal((await h.client.listOrders({})).orders.length, 1);
    assert.deepEqual(h.service.stats().calls.ListOrders, {
      ok: 1,
      failed: { INTERNAL: 1, PERMISSION_DENIED: 3 },
    });
    assert.throws(
      () => h.service.failAll('GetOrder', { code: grpc.status.OK, when: 'before' }),
      /needs an error code/,
    );
  });

  it('places orders for a given customer, whatever the size of its id', async () => {
    const big = 'x'.repeat(100_000);
    const [name] = h.service.placeOrders(1, big);
    assert.equal((await h.client.getOrder(name)).customerId, big);
  });

  it('adds latency to every call', async () => {
    h.service.setFaults({ latencyMs: 150 });
    const started = performance.now();
    await h.client.listOrders({});
    assert.ok(performance.now() - started >= 140, `took ${performance.now() - started} ms`);
    await expectStatus(h.client.listOrders({}, { deadlineMs: 50 }), grpc.status.DEADLINE_EXCEEDED);
    assert.throws(
      () => h.service.setFaults({ latencyMs: -1 }),
      /latencyMs must be a non-negative number, got -1/,
    );
    assert.throws(
      () => h.service.setFaults({ failRate: 1.5 }),
      /failRate must be between 0 and 1, got 1.5/,
    );
  });

  it('runs the onCall hook before the handler, so a customer can cancel between a look and a write', async () => {
    const [name] = h.service.placeOrders(1);
    assert.equal((await h.client.getOrder(name)).status, 'NEW');
    const seen: string[] = [];
    h.service.onCall(async (method, request) => {
      seen.push(method);
      if (method === 'UpdateOrder') {
        assert.deepEqual(request, {
          order: { name, status: 'PREPARATION', createTime: '', updateTime: '', customerId: '' },
          updateMask: { paths: ['status'] },
        });
        await new Promise((resolve) => setTimeout(resolve, 5));
        h.service.cancelOrder(name);
      }
    });
    // Like the real service, the simulator then overwrites the customer's CANCELLED: look again before writing.
    assert.equal((await h.client.setStatus(name, 'PREPARATION')).status, 'PREPARATION');
    assert.deepEqual(seen, ['UpdateOrder']);
    h.service.onCall(undefined);
    assert.equal(h.service.stats().ordersCancelledByCustomer, 1);
    assert.equal(h.service.stats().finalOrdersOverwritten, 1);
  });

  it('with finalOrderUpdates refuse, the same race answers FAILED_PRECONDITION and CANCELLED stands', async () => {
    await h.close();
    h = await startHarness({ finalOrderUpdates: 'refuse' });
    const [name] = h.service.placeOrders(1);
    h.service.onCall((method) => {
      if (method === 'UpdateOrder') h.service.cancelOrder(name);
    });
    await expectStatus(
      h.client.setStatus(name, 'PREPARATION'),
      grpc.status.FAILED_PRECONDITION,
      /is CANCELLED/,
    );
    h.service.onCall(undefined);
    assert.equal((await h.client.getOrder(name)).status, 'CANCELLED');
    assert.equal(h.service.stats().finalOrdersOverwritten, 0);
  });

  it('runs the onServed hook after the handler, with its response, before the reply is sent', async () => {
    const served: Array<{ method: string; response: unknown; createdThen: number }> = [];
    h.service.onServed((method, _request, response) => {
      served.push({ method, response, createdThen: h.service.stats().kitchenOrdersCreated });
    });
    const kitchenOrder = await h.client.createKitchenOrder();
    h.service.onServed(undefined);
    await h.client.listOrders({});
    assert.equal(served.length, 1);
    assert.equal(served[0].method, 'CreateKitchenOrder');
    assert.equal((served[0].response as { name?: string }).name, kitchenOrder.name);
    assert.equal(served[0].createdThen, 1, 'the work was done when the hook ran');
  });

  it('answers INTERNAL when the onServed hook throws, although the work was done', async () => {
    h.service.onServed(() => {
      throw new Error('served hook exploded');
    });
    await expectStatus(
      h.client.createKitchenOrder(),
      grpc.status.INTERNAL,
      /^CreateKitchenOrder: served hook exploded$/,
    );
    assert.equal(h.service.stats().kitchenOrdersCreated, 1);
  });

  it('answers INTERNAL, with context, when the hook throws', async () => {
    h.service.onCall(() => {
      throw new Error('hook exploded');
    });
    await expectStatus(
      h.client.listOrders({}),
      grpc.status.INTERNAL,
      /^ListOrders: hook exploded$/,
    );
    assert.match(h.logs.join('\n'), /\[error\] ListOrders .* INTERNAL: ListOrders: hook exploded/);
  });
});
