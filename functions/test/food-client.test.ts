import { strict as assert } from 'node:assert';
import { status } from '@grpc/grpc-js';

import type { FoodService } from '../../food-service/src/server';
import { FoodClient, type FoodClientOptions } from '../src/food/client';
import { FoodServiceError } from '../src/food/errors';
import { backoffMs } from '../src/backoff';
import { READ_RETRY_POLICY } from '../src/config';
import {
  clientFor,
  freshCerts,
  startTestFoodService,
  testCerts,
  tlsMaterial,
} from './helpers/food-service';

async function rejection(promise: Promise<unknown>): Promise<FoodServiceError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(
      error instanceof FoodServiceError,
      `expected a FoodServiceError, got ${String(error)}`,
    );
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('FoodClient over TLS', () => {
  let service: FoodService;
  let client: FoodClient;

  beforeEach(async () => {
    service = await startTestFoodService();
    client = clientFor(service);
  });
  afterEach(async () => {
    client.close();
    await service.stop();
  });

  it('drives every RPC of the three services', async () => {
    const order = await client.createOrder('customer-1');
    assert.match(order.name, /^orders\/[0-9a-f-]{36}$/);
    assert.equal(order.status, 'NEW');
    assert.equal(order.customerId, 'customer-1');
    assert.ok(!Number.isNaN(Date.parse(order.createTime)), 'create_time is RFC 3339');

    assert.deepEqual(await client.getOrder(order.name), order);

    const kitchenOrder = await client.createKitchenOrder();
    assert.match(kitchenOrder.name, /^kitchenorders\/[0-9a-f-]{36}$/);
    assert.equal(kitchenOrder.status, 'NEW');
    assert.equal((await client.getKitchenOrder(kitchenOrder.name)).name, kitchenOrder.name);

    const updated = await client.updateOrderStatus(order.name, 'PREPARATION');
    assert.equal(updated.status, 'PREPARATION');
    const page = await client.listOrders({ statusFilter: 'PREPARATION' });
    assert.deepEqual(
      page.orders.map((o) => o.name),
      [order.name],
    );
    assert.equal(page.nextPageToken, '');

    const shipment = await client.createShipment();
    assert.match(shipment.name, /^shipments\/[0-9a-f-]{36}$/);
    assert.equal((await client.getShipment(shipment.name)).status, 'NEW');

    const stats = service.stats();
    assert.equal(stats.kitchenOrdersCreated, 1);
    assert.equal(stats.shipmentsCreated, 1);
    for (const method of [
      'CreateOrder',
      'GetOrder',
      'ListOrders',
      'UpdateOrder',
      'CreateKitchenOrder',
      'GetKitchenOrder',
      'CreateShipment',
      'GetShipment',
    ] as const) {
      assert.equal(stats.calls[method].ok, 1, `${method} was called once`);
    }
  });

  it('follows every page of a filtered listing', async () => {
    const names = service.placeOrders(7);
    await client.updateOrderStatus(names[0], 'PREPARATION');
    const pages: string[][] = [];
    for await (const page of client.listAllOrders('NEW', 3)) pages.push(page.map((o) => o.name));
    assert.deepEqual(
      pages.map((p) => p.length),
      [3, 3],
    );
    assert.deepEqual(pages.flat().sort(), names.slice(1).sort());
    assert.equal(service.stats().calls.ListOrders.ok, 2);
  });

  it('fails a call whose deadline expires, naming the method and the resource', async () => {
    service.setFaults({ latencyMs: 300 });
    const slow = clientFor(service, { deadlineMs: 50, retry: { maxAttempts: 1 } });
    try {
      const error = await rejection(slow.getOrder('orders/00000000-0000-0000-0000-000000000000'));
      assert.equal(error.code, status.DEADLINE_EXCEEDED);
      assert.equal(error.transient, true);
      assert.match(error.message, /^GetOrder orders\/0{8}-.*DEADLINE_EXCEEDED/);
    } finally {
      slow.close();
    }
  });

  it('retries an idempotent call after a deadline, but never a create', async () => {
    service.setFaults({ latencyMs: 150 });
    const slow = clientFor(service, { deadlineMs: 50, retry: { maxAttempts: 3 } });
    try {
      const get = await rejection(
        slow.getShipment('shipments/00000000-0000-0000-0000-000000000000'),
      );
      assert.equal(get.attempts, 3);
      const create = await rejection(slow.createKitchenOrder());
      assert.equal(create.code, status.DEADLINE_EXCEEDED);
      assert.equal(create.attempts, 1, 'a create whose outcome is unknown is left to the caller');
      // The server did the work the client gave up on: the reason for not retrying.
      const deadline = Date.now() + 2_000;
      while (service.stats().kitchenOrdersCreated < 1 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.equal(service.stats().kitchenOrdersCreated, 1);
    } finally {
      slow.close();
    }
  });

  it('recovers from injected UNAVAILABLE by retrying with backoff', async () => {
    const [name] = service.placeOrders(1);
    service.failNext('GetOrder', status.UNAVAILABLE, 2);
    const order = await client.getOrder(name);
    assert.equal(order.name, name);
    assert.deepEqual(service.stats().calls.GetOrder, { ok: 1, failed: { UNAVAILABLE: 2 } });
  });

  it('sends a create and an update once, even after UNAVAILABLE: a reply lost after the work reads the same', async () => {
    service.failNext('CreateShipment', status.UNAVAILABLE, 1);
    const create = await rejection(client.createShipment());
    assert.equal(create.code, status.UNAVAILABLE);
    assert.equal(create.attempts, 1);
    assert.equal(create.transient, true);
    assert.equal(create.notSent, false, 'the server answered: the request reached it');
    assert.equal(create.mayHaveHappened, true);
    assert.deepEqual(service.stats().calls.CreateShipment, { ok: 0, failed: { UNAVAILABLE: 1 } });

    const [name] = service.placeOrders(1);
    service.failNext('UpdateOrder', status.UNAVAILABLE, 1);
    const update = await rejection(client.updateOrderStatus(name, 'PREPARATION'));
    assert.equal(update.attempts, 1, 'the caller looks at the order before it tries again');
  });

  it('says a create was not sent when no connection could be made for it', async () => {
    const nobody = await startTestFoodService();
    const address = nobody.address;
    await nobody.stop();
    const unreachable = clientFor(nobody, { address, deadlineMs: 2_000 });
    try {
      const error = await rejection(unreachable.createKitchenOrder());
      assert.equal(error.code, status.UNAVAILABLE);
      assert.match(error.details, /^No connection established/);
      assert.equal(error.notSent, true);
      assert.equal(error.mayHaveHappened, false, 'nothing reached a server');
      assert.equal(error.transient, true);
    } finally {
      unreachable.close();
    }
  });

  it("gives up after the policy's attempts and says the failure is transient", async () => {
    service.failNext('ListOrders', status.UNAVAILABLE, 10);
    const error = await rejection(client.listOrders({ statusFilter: 'NEW' }));
    assert.equal(error.code, status.UNAVAILABLE);
    assert.equal(error.attempts, READ_RETRY_POLICY.maxAttempts);
    assert.equal(error.transient, true);
    assert.match(error.message, /ListOrders orders\?status=NEW: UNAVAILABLE/);
  });

  it('does not retry INVALID_ARGUMENT or NOT_FOUND', async () => {
    const invalid = await rejection(client.getOrder('not-an-order-name'));
    assert.equal(invalid.code, status.INVALID_ARGUMENT);
    assert.equal(invalid.attempts, 1);
    assert.equal(invalid.transient, false);
    assert.match(invalid.message, /^GetOrder not-an-order-name: INVALID_ARGUMENT/);
    const missing = await rejection(
      client.getKitchenOrder('kitchenorders/00000000-0000-0000-0000-000000000000'),
    );
    assert.equal(missing.code, status.NOT_FOUND);
    assert.deepEqual(service.stats().calls.GetOrder.failed, { INVALID_ARGUMENT: 1 });
    assert.deepEqual(service.stats().calls.GetKitchenOrder.failed, { NOT_FOUND: 1 });
  });

  it('reports FAILED_PRECONDITION from a server that refuses updates of final orders', async () => {
    const strict = await startTestFoodService({ finalOrderUpdates: 'refuse' });
    const strictClient = clientFor(strict);
    try {
      const [name] = strict.placeOrders(1);
      strict.cancelOrder(name);
      const error = await rejection(strictClient.updateOrderStatus(name, 'PREPARATION'));
      assert.equal(error.code, status.FAILED_PRECONDITION);
      assert.equal(error.attempts, 1);
      assert.equal(
        error.disposition,
        'flag',
        'the step looks at the order again before it gives up (steps.ts, moveOrder)',
      );
      assert.match(
        error.message,
        new RegExp(`UpdateOrder ${name} status=PREPARATION: FAILED_PRECONDITION`),
      );
    } finally {
      strictClient.close();
      await strict.stop();
    }
  });

  it('fails fast with a clear TLS error when the CA is wrong', async () => {
    const stranger = clientFor(service, { tls: tlsMaterial(freshCerts()) });
    try {
      const error = await rejection(
        stranger.getOrder('orders/00000000-0000-0000-0000-000000000000'),
      );
      assert.equal(error.certificateFailure, true, error.message);
      assert.equal(error.transient, false, 'a bad certificate does not heal by retrying');
      assert.equal(error.attempts, 1);
      assert.match(error.message, /the food service at 127\.0\.0\.1:\d+ failed TLS verification/);
      assert.match(error.message, /FOOD_SERVICE_CA/);
      assert.equal(service.stats().calls.GetOrder.ok, 0);
    } finally {
      stranger.close();
    }
  });
});

describe('FoodClient with mTLS', () => {
  let service: FoodService;
  before(async () => {
    service = await startTestFoodService({ mtls: true });
  });
  after(() => service.stop());

  it('is served when it presents a client certificate the server trusts', async () => {
    const client = clientFor(service, { tls: tlsMaterial(testCerts(), true) });
    try {
      const order = await client.createOrder('mtls-customer');
      assert.equal(order.customerId, 'mtls-customer');
    } finally {
      client.close();
    }
  });

  it('is refused without a client certificate, with a TLS error', async () => {
    const client = clientFor(service, { retry: { maxAttempts: 2 } });
    try {
      const error = await rejection(client.getOrder('orders/00000000-0000-0000-0000-000000000000'));
      assert.equal(error.code, status.UNAVAILABLE);
      assert.equal(error.certificateFailure, true, error.message);
      assert.equal(service.stats().calls.GetOrder.ok, 0);
    } finally {
      client.close();
    }
  });
});

describe('FoodClient configuration', () => {
  const valid = (): FoodClientOptions => ({
    address: '127.0.0.1:9000',
    deadlineMs: 1000,
    tls: tlsMaterial(testCerts()),
  });

  it('rejects a CA that is not PEM, without echoing it', () => {
    assert.throws(
      () => new FoodClient({ ...valid(), tls: { caPem: 'secret-ish garbage' } }),
      (e: Error) =>
        /FOOD_SERVICE_CA is not a PEM certificate/.test(e.message) &&
        !e.message.includes('garbage'),
    );
  });

  it('rejects a client certificate without its key', () => {
    const { caPem, certPem } = tlsMaterial(testCerts(), true);
    assert.throws(
      () => new FoodClient({ ...valid(), tls: { caPem, certPem } }),
      /FOOD_SERVICE_CLIENT_CERT and FOOD_SERVICE_CLIENT_KEY go together/,
    );
  });

  it('rejects a malformed address and a bad deadline', () => {
    assert.throws(
      () => new FoodClient({ ...valid(), address: 'localhost' }),
      /FOOD_SERVICE_ADDRESS must be host:port, got "localhost"/,
    );
    assert.throws(
      () => new FoodClient({ ...valid(), deadlineMs: 0 }),
      /RPC_DEADLINE_MS must be a positive integer/,
    );
  });

  it('rejects a retry policy that cannot work', () => {
    assert.throws(
      () => new FoodClient({ ...valid(), retry: { maxAttempts: 0 } }),
      /maxAttempts must be an integer >= 1/,
    );
  });
});

describe('backoff', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    const policy = { maxAttempts: 10, initialBackoffMs: 100, maxBackoffMs: 1_000, multiplier: 2 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, policy, () => 0.999999)),
      [99, 199, 399, 799, 999, 999],
    );
    assert.equal(
      backoffMs(3, policy, () => 0),
      0,
    );
    assert.equal(
      backoffMs(3, policy, () => 0.5),
      200,
    );
  });
});

describe('FoodClient listings', () => {
  let service: FoodService;
  let client: FoodClient;
  before(async () => {
    service = await startTestFoodService();
    client = clientFor(service);
  });
  after(async () => {
    client.close();
    await service.stop();
  });

  it('follows every page, and fails loudly past maxPages instead of passing off part of a list', async () => {
    service.placeOrders(12);
    const all: string[] = [];
    for await (const page of client.listAllOrders('NEW', 5, 3))
      all.push(...page.map((o) => o.name));
    assert.equal(all.length, 12, 'three pages of at most 5');

    const pages: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const page of client.listAllOrders('NEW', 2, 3)) pages.push(page.length);
      })(),
      /ListOrders status=NEW: still more pages after 3 of 2; stopping/,
    );
    assert.deepEqual(
      pages,
      [2, 2, 2],
      'it stopped at the bound, not at the end of the time budget',
    );
  });

  it('refuses a page token it was handed before: a server that loops would keep a poll busy until it times out', async () => {
    // From the second page on, the server hands back the token it was given.
    service.onServed((method, request, response) => {
      const given = (request as { pageToken?: string }).pageToken;
      if (method === 'ListOrders' && given)
        (response as { nextPageToken: string }).nextPageToken = given;
    });
    try {
      await assert.rejects(
        (async () => {
          for await (const page of client.listAllOrders('NEW', 5)) void page;
        })(),
        /returned a page token twice; stopping to avoid a loop/,
      );
    } finally {
      service.onServed(undefined);
    }
  });
});
