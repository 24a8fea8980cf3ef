// A stack that dies mid-flight (SIGKILL, while a create is in flight) and is
// started again on the same Firestore and food service picks up where it
// stopped: every order ends, and the only duplicates are the ones the
// relations name as possible orphans.
import { getApps, initializeApp, deleteApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ensureCerts } from '../../food-service/src/certs';
import { startFoodService, type FoodService } from '../../food-service/src/server';
import { startGoogleFirestore, type GoogleFirestore } from '../google/firestore-emulator';

const ROOT = path.resolve(__dirname, '..', '..');
const PROJECT_ID = 'demo-food-orchestrator';
/** A short lease that the config still accepts: a step's timeout and calls are short too. */
const STEP_ENV = { ADVANCE_TIMEOUT_SECONDS: '10', RPC_DEADLINE_MS: '500', CREATE_DEADLINE_MS: '2000', CLAIM_LEASE_SECONDS: '25' };

function start(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'local/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...STEP_ENV, FIRESTORE_EMULATOR_HOST: '', FOOD_SERVICE_ADDRESS: '', POLL_INTERVAL_SECONDS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('a stack killed mid-flight and started again', function () {
  this.timeout(240_000);
  let firestore: GoogleFirestore;
  let food: FoodService;
  let caFile: string;

  before(async () => {
    firestore = await startGoogleFirestore({ projectId: PROJECT_ID });
    const certs = ensureCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'restart-certs-')));
    food = await startFoodService({
      port: 0,
      tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
      controllerIntervalMs: 400,
      rejectRate: 0.2,
      log: () => undefined,
    });
    caFile = certs.caCert;
  });

  after(async () => {
    await food?.stop();
    await firestore?.stop();
  });

  it('ends every order, and names every duplicate the crash may have caused', async () => {
    const orders = food.placeOrders(30);
    const common = [
      '--firestore',
      firestore.host,
      '--food-service',
      food.address,
      '--food-ca',
      caFile,
      '--poll-interval',
      '1',
      '--board-port',
      '0',
    ];
    // Kitchens and drones take a while to answer a create, so the kill finds one in flight.
    let createsInFlight = 0;
    food.onCall(async (method) => {
      if (method !== 'CreateKitchenOrder' && method !== 'CreateShipment') return;
      createsInFlight++;
      await new Promise((resolve) => setTimeout(resolve, 800));
      createsInFlight--;
    });

    const first = start(common);
    await until('orders to move and a create to be in flight', () => food.stats().kitchenOrdersCreated >= 8 && createsInFlight > 0, 90_000);
    first.child.kill('SIGKILL');
    await first.exited;
    assert.doesNotMatch(first.output(), /invariants/, 'killed, not stopped: no final summary');

    const second = start([...common, '--duration', '45']);
    const code = await second.exited;
    const output = second.output();
    assert.equal(code, 0, output);
    assert.match(output, /invariants: held/);

    const stats = food.stats();
    const final = stats.orders.DELIVERED + stats.orders.REJECTED + stats.orders.CANCELLED;
    assert.equal(final, orders.length, `every order ended on the food service: ${JSON.stringify(stats.orders)}`);

    const app = getApps().find((a) => a.name === 'restart-test') ?? initializeApp({ projectId: PROJECT_ID }, 'restart-test');
    process.env.FIRESTORE_EMULATOR_HOST = firestore.host;
    try {
      const relations = (await getFirestore(app).collection('relations').get()).docs.map((d) => d.data());
      assert.equal(relations.length, orders.length);
      assert.equal(relations.filter((r) => r.active).length, 0, 'no relation left active');
      const notes = relations.flatMap((r) => (r.possibleOrphans ?? []) as Array<{ step: string }>);
      assert.ok(notes.length >= 1, 'the claim the crash left behind was noted once its lease expired');
      const recorded = { kitchen: relations.filter((r) => r.kitchenOrder).length, shipment: relations.filter((r) => r.shipment).length };
      const noted = {
        kitchen: notes.filter((n) => n.step === 'createKitchenOrder').length,
        shipment: notes.filter((n) => n.step === 'createShipment').length,
      };
      assert.ok(
        stats.kitchenOrdersCreated <= recorded.kitchen + noted.kitchen,
        `kitchen orders: ${stats.kitchenOrdersCreated} made, ${recorded.kitchen} recorded, ${noted.kitchen} noted`,
      );
      assert.ok(
        stats.shipmentsCreated <= recorded.shipment + noted.shipment,
        `shipments: ${stats.shipmentsCreated} made, ${recorded.shipment} recorded, ${noted.shipment} noted`,
      );
    } finally {
      delete process.env.FIRESTORE_EMULATOR_HOST;
      await deleteApp(app);
    }
  });
});
