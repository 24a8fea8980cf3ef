import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import { expectStatus, startHarness, type Harness } from './helpers';

describe('KitchenService and DroneService', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('CreateKitchenOrder assigns a name, times and NEW; GetKitchenOrder returns it', async () => {
    const created = await h.client.createKitchenOrder({
      kitchenorder: { name: 'kitchenorders/mine', status: 'PACKAGED' },
    });
    assert.match(created.name, /^kitchenorders\/[0-9a-f-]{36}$/);
    assert.equal(created.status, 'NEW');
    assert.equal(created.createTime, created.updateTime);
    assert.ok(!Number.isNaN(Date.parse(created.createTime)));
    assert.deepEqual(await h.client.getKitchenOrder(created.name), created);
  });

  it('CreateShipment assigns a name, times and NEW; GetShipment returns it', async () => {
    const created = await h.client.createShipment({ shipment: { status: 'DELIVERED' } });
    assert.match(created.name, /^shipments\/[0-9a-f-]{36}$/);
    assert.equal(created.status, 'NEW');
    assert.deepEqual(await h.client.getShipment(created.name), created);
  });

  it('accepts create requests without a body, since every field is output only', async () => {
    assert.equal((await h.client.createKitchenOrder({})).status, 'NEW');
    assert.equal((await h.client.createShipment({})).status, 'NEW');
    assert.deepEqual(
      [h.service.stats().kitchenOrdersCreated, h.service.stats().shipmentsCreated],
      [2, 2],
    );
  });

  it('answers INVALID_ARGUMENT for malformed names and NOT_FOUND for missing ones', async () => {
    await expectStatus(
      h.client.getKitchenOrder('orders/x'),
      grpc.status.INVALID_ARGUMENT,
      /^name: "orders\/x" is not of the form kitchenorders\/<id>/,
    );
    await expectStatus(
      h.client.getKitchenOrder(''),
      grpc.status.INVALID_ARGUMENT,
      /kitchenorders\/<id>/,
    );
    await expectStatus(
      h.client.getKitchenOrder('kitchenorders/missing'),
      grpc.status.NOT_FOUND,
      /kitchenorders\/missing not found/,
    );
    await expectStatus(
      h.client.getShipment('shipments/'),
      grpc.status.INVALID_ARGUMENT,
      /^name: "shipments\/" is not of the form shipments\/<id>/,
    );
    await expectStatus(
      h.client.getShipment('kitchenorders/x'),
      grpc.status.INVALID_ARGUMENT,
      /shipments\/<id>/,
    );
    await expectStatus(
      h.client.getShipment('shipments/missing'),
      grpc.status.NOT_FOUND,
      /shipments\/missing not found/,
    );
  });
});
