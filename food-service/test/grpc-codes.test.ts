// Every gRPC status on every method, as the orchestrator's own FoodClient
// sees it over TLS, against FAILURE_TABLE (functions/src/food/errors.ts):
// the code and details arrive as the server sent them, the client classifies
// each (read, create, update) as the table says, retries reads exactly when
// the table says waiting helps, and never sends a create or an update twice.
// The simulator answers each code before doing the work and after it (the
// work done, the reply lost to the code): the client sees the same either
// way, which is why a create's CANCELLED, UNKNOWN, ABORTED, INTERNAL and
// DATA_LOSS are ambiguous. The table takes RESOURCE_EXHAUSTED and the
// refusals (INVALID_ARGUMENT, ...) on a create at their word: a server
// answers them instead of the work. Also pinned: what grpc-js itself says
// for a reply over the client's receive limit, where the work was done.
import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';

import {
  CALL_KINDS,
  FAILURE_TABLE,
  FoodClient,
  FoodServiceError,
  isOverReceiveLimit,
  type FailureCode,
  type FoodMethod,
} from '../../functions/src/api';
import { startFoodService, type FaultTiming, type FoodService } from '../src/server';
import { FOOD_METHODS } from '../src/methods';
import { testCerts } from './helpers';

const CODES = Object.keys(FAILURE_TABLE).map(Number) as FailureCode[];
const READ_ATTEMPTS = 2;

describe('every gRPC status on every method, against FAILURE_TABLE (real FoodClient over TLS)', function () {
  this.timeout(60_000);
  let service: FoodService;
  let client: FoodClient;
  let order: string;
  let kitchenOrder: string;
  let shipment: string;

  before(async () => {
    const certs = testCerts();
    service = await startFoodService({
      port: 0,
      controllerIntervalMs: 0,
      log: () => undefined,
      tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
    });
    client = new FoodClient({
      address: service.address,
      tls: { caPem: fs.readFileSync(certs.caCert, 'utf8') },
      deadlineMs: 5_000,
      retry: { maxAttempts: READ_ATTEMPTS, initialBackoffMs: 1, maxBackoffMs: 1 },
    });
    [order] = service.placeOrders(1);
    kitchenOrder = (await client.createKitchenOrder()).name;
    shipment = (await client.createShipment()).name;
  });
  after(async () => {
    client.close();
    await service.stop();
  });

  /** A valid call of each method, so that 'after' finds work to do. */
  const call = (method: FoodMethod): Promise<unknown> => {
    switch (method) {
      case 'CreateOrder':
        return client.createOrder('customer-codes');
      case 'GetOrder':
        return client.getOrder(order);
      case 'ListOrders':
        return client.listOrders({ statusFilter: 'NEW' });
      case 'UpdateOrder':
        return client.updateOrderStatus(order, 'NEW');
      case 'CreateKitchenOrder':
        return client.createKitchenOrder();
      case 'GetKitchenOrder':
        return client.getKitchenOrder(kitchenOrder);
      case 'CreateShipment':
        return client.createShipment();
      case 'GetShipment':
        return client.getShipment(shipment);
      default: {
        const unreachable: never = method;
        throw new Error(`unknown method ${String(unreachable)}`);
      }
    }
  };
  const made = (): number => {
    const stats = service.stats();
    return stats.ordersCreated + stats.kitchenOrdersCreated + stats.shipmentsCreated;
  };
  const served = (method: FoodMethod): number => {
    const stats = service.stats().calls[method];
    return stats.ok + Object.values(stats.failed).reduce((a, b) => a + b, 0);
  };

  for (const when of ['before', 'after'] as FaultTiming[]) {
    it(`classifies each code as the table says, answered ${when} the work`, async () => {
      const rows: string[] = [];
      for (const method of FOOD_METHODS) {
        const kind = CALL_KINDS[method];
        for (const code of CODES) {
          const expected = FAILURE_TABLE[code][kind];
          // Reads the table retries fail every attempt; everything else fails its one call.
          service.failNext(method, code, READ_ATTEMPTS, when);
          const [callsBefore, madeBefore] = [served(method), made()];
          const error = await call(method).then(
            (value) =>
              assert.fail(
                `${method} answered ${grpc.status[code]} ${when}: expected a failure, got ${JSON.stringify(value)}`,
              ),
            (e: unknown) => e,
          );
          assert.ok(
            error instanceof FoodServiceError,
            `${method} ${grpc.status[code]}: ${String(error)}`,
          );
          const row = `${method} ${grpc.status[code]} ${when}`;
          assert.equal(error.code, code, row);
          const timing = when === 'after' ? ' after doing its work' : '';
          assert.equal(
            error.details,
            `injected fault: ${method} failed with ${grpc.status[code]}${timing}`,
            row,
          );
          assert.equal(error.disposition, expected, row);
          const retried = kind === 'read' && (expected === 'retry' || expected === 'retry-bounded');
          assert.equal(
            served(method) - callsBefore,
            retried ? READ_ATTEMPTS : 1,
            `${row}: calls the server saw`,
          );
          assert.equal(error.attempts, retried ? READ_ATTEMPTS : 1, row);
          assert.equal(
            made() - madeBefore,
            kind === 'create' && when === 'after' ? 1 : 0,
            `${row}: what it made`,
          );
          assert.equal(error.mayHaveHappened, expected === 'ambiguous', row);
          rows.push(`${row}: ${error.disposition}`);
          // A call that was not retried left its second fault queued: spend it, so the next row starts clean.
          if (!retried)
            await call(method).then(
              () => assert.fail(`${row}: the second fault was not queued`),
              () => undefined,
            );
        }
      }
      if (process.env.FAULT_MAP) console.log(rows.join('\n'));
      assert.equal(rows.length, FOOD_METHODS.length * CODES.length);
    });
  }

  it('pins what grpc-js says for a reply over the receive limit, and that a create whose reply it refused was made', async () => {
    const small = new FoodClient({
      address: service.address,
      tls: { caPem: fs.readFileSync(testCerts().caCert, 'utf8') },
      deadlineMs: 5_000,
      maxReceiveBytes: 2_000,
      retry: { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 1 },
    });
    try {
      const big = 'c'.repeat(3_000);
      service.placeOrders(1, big);
      const callsBefore = served('ListOrders');
      const listed = await small.listOrders({ statusFilter: 'NEW', pageSize: 1000 }).then(
        () => assert.fail('expected the page to be over the limit'),
        (e: unknown) => e,
      );
      assert.ok(listed instanceof FoodServiceError);
      assert.equal(listed.codeName, 'RESOURCE_EXHAUSTED');
      assert.match(listed.details, /^Received message larger than max \(\d+ vs 2000\)$/);
      assert.ok(isOverReceiveLimit(listed.code, listed.details));
      assert.equal(listed.disposition, 'retry-bounded');
      assert.equal(
        served('ListOrders') - callsBefore,
        1,
        'the same reply would come back: not retried',
      );

      const madeBefore = service.stats().ordersCreated;
      const created = await small.createOrder(big).then(
        () => assert.fail('expected the reply to be over the limit'),
        (e: unknown) => e,
      );
      assert.ok(created instanceof FoodServiceError);
      assert.match(created.details, /^Received message larger than max \(\d+ vs 2000\)$/);
      assert.equal(service.stats().ordersCreated - madeBefore, 1, 'the server made it');
      assert.equal(created.disposition, 'ambiguous');
      assert.equal(created.mayHaveHappened, true);
    } finally {
      small.close();
    }
  });
});
