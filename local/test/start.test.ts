// `npm start` end to end, as a user runs it: a real process with Google's
// Firestore emulator, the simulator, the compiled functions and the board.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ensureCerts } from '../../food-service/src/certs';
import { startFoodService } from '../../food-service/src/server';
import { startGoogleFirestore } from '../google/firestore-emulator';

const ROOT = path.resolve(__dirname, '..', '..');

interface Run {
  code: number | null;
  output: string;
}

/** Runs the stack the way `npm start -- …` does (after the build that `npm test` has done), bounded in time. */
function runStart(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'local/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, FIRESTORE_EMULATOR_HOST: '', FOOD_SERVICE_ADDRESS: '', POLL_INTERVAL_SECONDS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm start did not finish within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function finalCount(output: string, stage: string): number {
  const line = output.split('\n').find((l) => l.trim().startsWith('by stage:')) ?? '';
  return Number(new RegExp(`${stage} (\\d+)`).exec(line)?.[1] ?? NaN);
}

describe('npm start', function () {
  this.timeout(150_000);

  it('runs orders to their end and exits 0 when the invariants hold', async () => {
    const run = await runStart(
      ['--duration', '12', '--orders-per-second', '4', '--poll-interval', '1', '--board-port', '0', '--controller-interval', '400'],
      120_000,
    );
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /live board\s+http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(run.output, /Firestore\s+127\.0\.0\.1:\d+: Google's Firestore emulator/, "Google's emulator by default");
    assert.doesNotMatch(run.output, /embedded Node Firestore/);
    assert.match(run.output, /\[\s*\d+s\] NEW \d+ · PREPARATION/, 'a summary line every few seconds');
    assert.match(run.output, /invariants: held/);
    const finished = finalCount(run.output, 'DELIVERED') + finalCount(run.output, 'REJECTED') + finalCount(run.output, 'CANCELLED');
    assert.ok(finished >= 20, `orders reached final stages: ${finished}\n${run.output}`);
    assert.match(run.output, /relations: \d+ \(\d+ finished, 0 active\)/);
  });

  it('holds the invariants with duplicated and reordered deliveries, refused calls, and replies dropped after the work', async () => {
    const run = await runStart(
      [
        '--duration',
        '12',
        '--orders-per-second',
        '4',
        '--poll-interval',
        '1',
        '--board-port',
        '0',
        '--controller-interval',
        '400',
        '--duplicate-rate',
        '0.5',
        '--reorder-ms',
        '200',
        '--fail-rate',
        '0.1',
        '--seed',
        '7',
        '--drop-rate',
        '0.005',
        '--handshake-cut-rate',
        '0.2',
        '--proxy-latency',
        '20',
      ],
      120_000,
    );
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /invariants: held/);
    assert.match(run.output, /duplicates\/reordering injected/);
    assert.match(run.output, /[1-9]\d* injected faults/);
    assert.match(run.output, /cuts: [1-9]\d* replies dropped/, 'the proxy did drop replies');
  });

  it('uses an existing food service and an existing Firestore emulator when given', async () => {
    const certs = ensureCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'start-certs-')));
    const firestore = await startGoogleFirestore({ projectId: 'demo-food-orchestrator' });
    const food = await startFoodService({
      port: 0,
      tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
      controllerIntervalMs: 300,
      rejectRate: 0,
      log: () => undefined,
    });
    // A fixed batch: npm start cannot stop an external service's customers, so the drain can finish.
    const orders = food.placeOrders(10);
    try {
      const run = await runStart(
        [
          '--food-service',
          food.address,
          '--food-ca',
          certs.caCert,
          '--firestore',
          firestore.host,
          '--duration',
          '8',
          '--poll-interval',
          '1',
          '--board-port',
          '0',
        ],
        120_000,
      );
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, new RegExp(`food service\\s+${food.address} \\(external\\)`));
      assert.match(run.output, new RegExp(`Firestore\\s+${firestore.host}: external emulator`));
      assert.match(run.output, /external food service does not report what it created/);
      assert.equal(
        food.stats().orders.DELIVERED,
        orders.length,
        `every order was driven to the end: ${JSON.stringify(food.stats().orders)}`,
      );
      assert.equal(food.stats().kitchenOrdersCreated, orders.length);
      assert.match(run.output, /relations: 10 \(10 finished, 0 active\)/);
    } finally {
      await food.stop();
      await firestore.stop();
    }
  });

  it('falls back to the embedded Firestore when asked, and says what it lacks', async () => {
    const run = await runStart(
      [
        '--embedded-firestore',
        '--duration',
        '6',
        '--orders-per-second',
        '2',
        '--poll-interval',
        '1',
        '--board-port',
        '0',
        '--controller-interval',
        '300',
      ],
      120_000,
    );
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /Firestore\s+127\.0\.0\.1:\d+: embedded Node Firestore \(no transaction isolation\)/);
    assert.match(run.output, /does not isolate transactions or honour preconditions/);
    assert.match(run.output, /invariants: held/);
  });

  it('refuses bad flags with a usage message and exit code 2', async () => {
    const run = await runStart(['--poll-interval', '0'], 30_000);
    assert.equal(run.code, 2);
    assert.match(run.output, /--poll-interval must be an integer from 1 to 3600, got "0"/);
    assert.match(run.output, /usage: npm start -- \[flags\]/);
  });
});
