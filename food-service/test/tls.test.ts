import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import { expectStatus, FoodClient, startHarness, type Harness } from './helpers';

describe('TLS', () => {
  let h: Harness;
  const clients: FoodClient[] = [];
  const client = (options: ConstructorParameters<typeof FoodClient>[1]): FoodClient => {
    const c = new FoodClient(h.service.address, options);
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await h.close();
  });

  it('refuses clients that do not trust its CA, or do not speak TLS', async () => {
    h = await startHarness();
    assert.equal((await h.client.listOrders({})).nextPageToken, '');
    await expectStatus(
      client({ credentials: grpc.credentials.createSsl() }).listOrders({}, { deadlineMs: 2000 }),
      grpc.status.UNAVAILABLE,
    );
    await expectStatus(
      client({ credentials: grpc.credentials.createInsecure() }).listOrders(
        {},
        { deadlineMs: 2000 },
      ),
      grpc.status.UNAVAILABLE,
    );
  });

  it('with clientCa (mTLS), refuses a client without a certificate and serves one with', async () => {
    h = await startHarness({ mtls: true });
    assert.equal((await h.client.createOrder({ order: {} })).status, 'NEW');
    await expectStatus(
      client({ clientCert: false }).listOrders({}, { deadlineMs: 2000 }),
      grpc.status.UNAVAILABLE,
    );
  });
});
