import * as assert from 'node:assert/strict';
import { startHarness, waitFor, type Harness, type HarnessOptions } from './helpers';

describe('controller', () => {
  const harnesses: Harness[] = [];
  const start = async (options: HarnessOptions = {}): Promise<Harness> => {
    const h = await startHarness(options);
    harnesses.push(h);
    return h;
  };
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((h) => h.close()));
  });

  it('advances one step per tick: kitchen NEW → PREPARATION → PACKAGED, shipment NEW → COLLECTED → DELIVERED', async () => {
    const { service, client } = await start({ rejectRate: 0 });
    const kitchen = await client.createKitchenOrder();
    const shipment = await client.createShipment();
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push(
        `${(await client.getKitchenOrder(kitchen.name)).status}/${(await client.getShipment(shipment.name)).status}`,
      );
      service.tick();
    }
    assert.deepEqual(seen, [
      'NEW/NEW',
      'PREPARATION/COLLECTED',
      'PACKAGED/DELIVERED',
      'PACKAGED/DELIVERED',
    ]);
    const packaged = await client.getKitchenOrder(kitchen.name);
    assert.ok(packaged.updateTime >= kitchen.updateTime);
    assert.deepEqual(service.stats().kitchenOrders, { NEW: 0, PREPARATION: 0, PACKAGED: 1 });
    assert.deepEqual(service.stats().shipments, {
      NEW: 0,
      COLLECTED: 0,
      DELIVERED: 1,
      REJECTED: 0,
    });
  });

  it('rejects every delivery with rejectRate 1', async () => {
    const { service, client } = await start({ rejectRate: 1 });
    const shipments = await Promise.all([client.createShipment(), client.createShipment()]);
    service.tick();
    service.tick();
    for (const s of shipments) assert.equal((await client.getShipment(s.name)).status, 'REJECTED');
  });

  it('moves nothing with advanceRate 0', async () => {
    const { service, client } = await start({ advanceRate: 0 });
    const kitchen = await client.createKitchenOrder();
    for (let i = 0; i < 5; i++) service.tick();
    assert.equal((await client.getKitchenOrder(kitchen.name)).status, 'NEW');
  });

  /** The final statuses of `count` shipments after enough ticks, in creation order. */
  async function outcomes(options: HarnessOptions, count: number): Promise<string[]> {
    const { service, client } = await start(options);
    const names: string[] = [];
    for (let i = 0; i < count; i++) names.push((await client.createShipment()).name);
    for (let i = 0; i < 40; i++) service.tick();
    return Promise.all(names.map(async (name) => (await client.getShipment(name)).status));
  }

  it('is repeatable: the same seed gives the same outcomes, another seed other ones', async () => {
    const options = { seed: 7, rejectRate: 0.5, advanceRate: 0.5 };
    const first = await outcomes(options, 24);
    assert.deepEqual(await outcomes(options, 24), first);
    assert.ok(first.includes('REJECTED') && first.includes('DELIVERED'), first.join());
    assert.notDeepEqual(await outcomes({ ...options, seed: 8 }, 24), first);
  });

  it('ticks on its own every controllerIntervalMs', async () => {
    const { client } = await start({ controllerIntervalMs: 20, rejectRate: 0 });
    const kitchen = await client.createKitchenOrder();
    const shipment = await client.createShipment();
    await waitFor(
      'PACKAGED and DELIVERED',
      async () => {
        const k = await client.getKitchenOrder(kitchen.name);
        const s = await client.getShipment(shipment.name);
        return k.status === 'PACKAGED' && s.status === 'DELIVERED' ? true : undefined;
      },
      { timeoutMs: 2000 },
    );
  });
});
