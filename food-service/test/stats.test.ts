import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import { expectStatus, startHarness, waitFor, type Harness } from './helpers';

describe('stats', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('serves GET /stats as JSON and GET /healthz on the side port', async () => {
    h = await startHarness({ statsPort: 0, rejectRate: 0 });
    const { statsUrl } = h.service;
    assert.match(statsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/stats$/);
    const [name] = h.service.placeOrders(2);
    await h.client.setStatus(name, 'PREPARATION');
    await h.client.createKitchenOrder();
    await h.client.createShipment();
    await expectStatus(h.client.getOrder('orders/missing'), grpc.status.NOT_FOUND);
    h.service.failNext('GetShipment', grpc.status.UNAVAILABLE);
    await expectStatus(h.client.getShipment('shipments/x'), grpc.status.UNAVAILABLE);
    h.service.tick();

    const response = await fetch(statsUrl ?? '');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(typeof body.uptimeSeconds, 'number');
    delete body.uptimeSeconds;
    const idle = { ok: 0, failed: {} };
    assert.deepEqual(body, {
      calls: {
        CreateOrder: idle,
        GetOrder: { ok: 0, failed: { NOT_FOUND: 1 } },
        ListOrders: idle,
        UpdateOrder: { ok: 1, failed: {} },
        CreateKitchenOrder: { ok: 1, failed: {} },
        GetKitchenOrder: idle,
        CreateShipment: { ok: 1, failed: {} },
        GetShipment: { ok: 0, failed: { UNAVAILABLE: 1 } },
      },
      injectedFaults: 1,
      ordersCreated: 2,
      kitchenOrdersCreated: 1,
      shipmentsCreated: 1,
      ordersCancelledByCustomer: 0,
      finalOrdersOverwritten: 0,
      orders: { NEW: 1, PREPARATION: 1, IN_FLIGHT: 0, DELIVERED: 0, REJECTED: 0, CANCELLED: 0 },
      kitchenOrders: { NEW: 0, PREPARATION: 1, PACKAGED: 0 },
      shipments: { NEW: 0, COLLECTED: 1, DELIVERED: 0, REJECTED: 0 },
    });

    const base = (statsUrl ?? '').replace(/\/stats$/, '');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(statsUrl ?? '', { method: 'POST' })).status, 405);
  });

  it('has no stats server unless a stats port is given', async () => {
    h = await startHarness();
    assert.equal(h.service.statsUrl, undefined);
  });

  it('logs a stats line every statsIntervalMs', async () => {
    h = await startHarness({ statsIntervalMs: 20 });
    h.service.placeOrders(1);
    const line = await waitFor('a stats line', () => h.logs.find((l) => l.startsWith('stats ')), {
      timeoutMs: 2000,
    });
    assert.match(
      line,
      /^stats up=[\d.]+s \| calls ok=0 failed=0 injected=0 \| orders created=1 cancelledByCustomer=0 NEW=1 /,
    );
  });

  it('logs every call with --debug', async () => {
    h = await startHarness({ debug: true });
    await h.client.listOrders({ pageSize: 1 });
    await expectStatus(h.client.listOrders({ pageSize: -1 }), grpc.status.INVALID_ARGUMENT);
    assert.equal(h.logs.length, 2);
    assert.match(
      h.logs[0],
      /^\[debug\] ListOrders \{.*"pageSize":1.*\} -> OK \{"orders":\[\],"nextPageToken":""\} \(\d+\.\d ms\)$/,
    );
    assert.match(
      h.logs[1],
      /^\[debug\] ListOrders .* -> INVALID_ARGUMENT: page_size: must not be negative/,
    );
  });
});
