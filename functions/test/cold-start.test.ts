// A deployed instance of advanceRelation often starts with a trigger event:
// nothing has initialised firebase-admin yet, and firebase-functions makes
// an app of its own to decode the event. This runs the build (what
// `firebase deploy` ships) in a fresh process whose first and only call is a
// real event from the Firestore emulator, as on a cold start.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { relationId } from '../src/store/schema';
import { captureEvent, startStack, testEnv, type Stack } from './helpers/stack';

const functionsDir = path.resolve(__dirname, '..');

/**
 * Runs lib/index.js's advanceRelation on `event` in a new Node process and
 * resolves with its exit status and output. Asynchronous, because the food
 * service it calls runs in this process.
 */
function runInFreshProcess(
  event: object,
  env: Record<string, string>,
): Promise<{ status: number | null; output: string }> {
  const script = `
    const functions = require(${JSON.stringify(path.join(functionsDir, 'lib', 'index.js'))});
    const event = JSON.parse(process.env.EVENT_JSON);
    event.data = Buffer.from(event.data, 'base64');
    functions.advanceRelation(event).then(
      () => process.exit(0),
      (error) => { console.error('advanceRelation threw: ' + (error && error.stack || error)); process.exit(1); },
    );`;
  const child = spawn(process.execPath, ['-e', script], {
    cwd: functionsDir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      METADATA_SERVER_DETECTION: 'none',
      EVENT_JSON: JSON.stringify(event),
      ...env,
    },
    timeout: 30_000,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, output })));
}

describe('a cold start whose first call is a trigger event', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('initialises the default app and advances the relation', async () => {
    stack = await startStack({ autoDeliver: false });
    const [order] = stack.service.placeOrders(1);
    const captured = captureEvent(`relations/${relationId(order)}`);
    await stack.pollNow();
    const event = await captured;

    const { status, output } = await runInFreshProcess(
      { ...event, data: event.data.toString('base64') },
      {
        ...testEnv(stack.service),
        FIRESTORE_EMULATOR_HOST: String(process.env.FIRESTORE_EMULATOR_HOST),
        GCLOUD_PROJECT: String(process.env.GCLOUD_PROJECT),
      },
    );
    assert.doesNotMatch(output, /default Firebase app does not exist/);
    assert.equal(status, 0, output);
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION', JSON.stringify(relation));
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
  });
});
