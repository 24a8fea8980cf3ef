// Loads the compiled entry point the way the Firebase CLI does at deploy:
// firebase-functions' own discovery binary, in a process with no secrets,
// no params and no emulator, writing the manifest the CLI would upload.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { foodCallBound, INT_PARAMS, POLLER_MAX_INSTANCES, STRING_PARAMS } from '../src/config';
import { discoverManifest } from './helpers/manifest';
import { startStack, type Stack } from './helpers/stack';

/** Param-valued options appear in the manifest as CEL, e.g. "{{ params.FUNCTIONS_REGION }}", which the CLI resolves at deploy. */
type Cel = string;

interface Endpoint {
  platform: string;
  region?: Cel | string[];
  serviceAccountEmail?: Cel | null;
  timeoutSeconds: number | Cel | null;
  maxInstances: number | Cel | null;
  concurrency?: number | Cel | null;
  cpu?: number | string | null;
  availableMemoryMb?: number | null;
  secretEnvironmentVariables?: Array<{ key: string }>;
  eventTrigger?: {
    eventType: string;
    eventFilters: Record<string, string>;
    eventFilterPathPatterns: Record<string, string>;
    retry: boolean;
  };
  scheduleTrigger?: { schedule: string; retryConfig: { retryCount: number } };
  httpsTrigger?: { invoker: string[] };
  taskQueueTrigger?: object;
}
interface Manifest {
  endpoints: Record<string, Endpoint>;
  params: Array<{
    name: string;
    type: string;
    default?: unknown;
    input?: { text?: { validationRegex?: string } };
  }>;
}

const functionsDir = path.resolve(__dirname, '..');
const SECRETS = ['FOOD_SERVICE_CA', 'FOOD_SERVICE_CLIENT_CERT', 'FOOD_SERVICE_CLIENT_KEY'];

describe('deployability', () => {
  let manifest: Manifest;
  let stderr: string;

  before(function () {
    assert.ok(
      fs.existsSync(path.join(functionsDir, 'lib', 'index.js')),
      'lib/index.js is missing: run `npm run build` first',
    );
    ({ manifest, stderr } = discoverManifest(functionsDir) as unknown as {
      manifest: Manifest;
      stderr: string;
    });
  });

  it('exports exactly the eight functions, all gen 2', () => {
    assert.deepEqual(Object.keys(manifest.endpoints).sort(), [
      'advanceRelation',
      'forgetHistory',
      'observeShard',
      'ops',
      'pollFoodService',
      'pollFoodServiceNow',
      'pollSlot',
      'reportStuckOrders',
    ]);
    for (const endpoint of Object.values(manifest.endpoints))
      assert.equal(endpoint.platform, 'gcfv2');
  });

  it('advanceRelation times out after ADVANCE_TIMEOUT_SECONDS, the param the claim lease is checked against', () => {
    assert.equal(
      manifest.endpoints.advanceRelation.timeoutSeconds,
      '{{ params.ADVANCE_TIMEOUT_SECONDS }}',
    );
  });

  it('runs every function in FUNCTIONS_REGION as SERVICE_ACCOUNT, params the CLI resolves at deploy', () => {
    for (const [name, endpoint] of Object.entries(manifest.endpoints)) {
      assert.equal(endpoint.region, '{{ params.FUNCTIONS_REGION }}', name);
      assert.equal(endpoint.serviceAccountEmail, '{{ params.SERVICE_ACCOUNT }}', name);
    }
  });

  it("protects the food service: advanceRelation's instances and concurrency are params, and each poller runs on one instance", () => {
    const advance = manifest.endpoints.advanceRelation;
    assert.equal(advance.maxInstances, '{{ params.ADVANCE_MAX_INSTANCES }}');
    assert.equal(advance.concurrency, '{{ params.ADVANCE_CONCURRENCY }}');
    assert.equal(advance.cpu, 1, 'concurrency above 1 needs a whole CPU');
    for (const [name, instances] of Object.entries(POLLER_MAX_INSTANCES))
      assert.equal(manifest.endpoints[name].maxInstances, instances, name);
    // What these add up to, at the defaults: each instance holds at most FOOD_MAX_IN_FLIGHT calls (food/client.ts).
    const bound = foodCallBound({
      advanceMaxInstances: INT_PARAMS.ADVANCE_MAX_INSTANCES.default,
      foodMaxInFlight: INT_PARAMS.FOOD_MAX_IN_FLIGHT.default,
    });
    assert.deepEqual(bound, { triggers: 100, pollers: 90, total: 190 });
  });

  it('advanceRelation fires on every write of relations/{orderId}, without redelivery', () => {
    const { eventTrigger } = manifest.endpoints.advanceRelation;
    assert.deepEqual(eventTrigger, {
      eventType: 'google.cloud.firestore.document.v1.written',
      eventFilters: { database: '(default)', namespace: '(default)' },
      eventFilterPathPatterns: { document: 'relations/{orderId}' },
      retry: false,
    });
  });

  it('pollFoodService runs every minute on one instance, and pollFoodServiceNow is private to OPS_INVOKER', () => {
    assert.deepEqual(manifest.endpoints.pollFoodService.scheduleTrigger, {
      schedule: 'every 1 minutes',
      retryConfig: { retryCount: 0 },
    });
    assert.equal(manifest.endpoints.pollFoodService.maxInstances, 1);
    assert.equal(
      manifest.endpoints.pollFoodService.concurrency,
      2,
      "the next minute's invocation runs beside the last poll of the previous one",
    );
    // A list, which every deploy applies (not 'private', whose members every deploy empties): local/test/deploy.test.ts.
    assert.deepEqual(manifest.endpoints.pollFoodServiceNow.httpsTrigger, {
      invoker: ['{{ params.OPS_INVOKER }}'],
    });
  });

  it("pollSlot is a task queue that never retries a slot (the next one serves it), beside the scheduled poller's settings", () => {
    assert.deepEqual(manifest.endpoints.pollSlot.taskQueueTrigger, {
      retryConfig: {
        maxAttempts: 1,
        minBackoffSeconds: null,
        maxBackoffSeconds: null,
        maxDoublings: null,
        maxRetrySeconds: null,
      },
      rateLimits: { maxConcurrentDispatches: 2, maxDispatchesPerSecond: null },
    });
    for (const setting of ['cpu', 'availableMemoryMb', 'concurrency', 'maxInstances'] as const)
      assert.equal(
        manifest.endpoints.pollSlot[setting],
        manifest.endpoints.pollFoodService[setting],
        setting,
      );
  });

  it('observeShard is a task queue whose rate and retries are set in code', () => {
    assert.deepEqual(manifest.endpoints.observeShard.taskQueueTrigger, {
      retryConfig: {
        maxAttempts: 3,
        minBackoffSeconds: 10,
        maxBackoffSeconds: 60,
        maxDoublings: null,
        maxRetrySeconds: null,
      },
      rateLimits: { maxConcurrentDispatches: 6, maxDispatchesPerSecond: 10 },
    });
  });

  it('the ops API is private to OPS_INVOKER, and the stuck-order report runs every minute on one instance, on its own', () => {
    assert.deepEqual(manifest.endpoints.ops.httpsTrigger, {
      invoker: ['{{ params.OPS_INVOKER }}'],
    });
    assert.deepEqual(manifest.endpoints.reportStuckOrders.scheduleTrigger, {
      schedule: 'every 1 minutes',
      retryConfig: { retryCount: 0 },
    });
    assert.equal(manifest.endpoints.reportStuckOrders.maxInstances, 1);
  });

  it('binds the food-service secrets to every function that talks to the food service, and to no other', () => {
    for (const name of [
      'advanceRelation',
      'observeShard',
      'pollFoodService',
      'pollFoodServiceNow',
      'pollSlot',
    ]) {
      assert.deepEqual(
        manifest.endpoints[name].secretEnvironmentVariables?.map((s) => s.key).sort(),
        SECRETS.slice().sort(),
        name,
      );
    }
    for (const name of ['ops', 'reportStuckOrders'])
      assert.equal(manifest.endpoints[name].secretEnvironmentVariables?.length ?? 0, 0, name);
  });

  it('declares every param with its default, so the CLI can prompt for and default them', () => {
    const params = Object.fromEntries(manifest.params.map((p) => [p.name, p]));
    assert.deepEqual(
      Object.keys(params).sort(),
      [...SECRETS, ...Object.keys(STRING_PARAMS), ...Object.keys(INT_PARAMS)].sort(),
    );
    for (const [name, param] of Object.entries(INT_PARAMS))
      assert.equal(params[name].default, param.default, name);
    for (const name of SECRETS) assert.equal(params[name].type, 'secret', name);
    for (const [name, param] of Object.entries(STRING_PARAMS)) {
      assert.equal(
        params[name].input?.text?.validationRegex,
        param.validationRegex,
        `${name}: the deploy prompt checks what is typed`,
      );
    }
    assert.equal(params.FUNCTIONS_REGION.default, 'us-central1');
  });

  it('gives FOOD_SERVICE_ADDRESS no default, so a deploy must be told where the food service is', () => {
    const address = manifest.params.find((p) => p.name === 'FOOD_SERVICE_ADDRESS');
    assert.ok(address && !('default' in address), JSON.stringify(address));
  });

  it("defaults SERVICE_ACCOUNT to the project's food-orchestrator account, as a full e-mail the CLI resolves", () => {
    const account = manifest.params.find((p) => p.name === 'SERVICE_ACCOUNT');
    assert.equal(
      account?.default,
      'food-orchestrator@{{ params.PROJECT_ID }}.iam.gserviceaccount.com',
    );
    const operators = manifest.params.find((p) => p.name === 'OPS_INVOKER');
    assert.equal(
      operators?.default,
      'food-orchestrator-ops@{{ params.PROJECT_ID }}.iam.gserviceaccount.com',
    );
  });

  it('does no work at import: no param is read during discovery', () => {
    assert.doesNotMatch(stderr, /invoked during function deployment/);
  });
});

describe('pollFoodService (the scheduled function)', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('runs the poll due in its minute, called as Cloud Scheduler calls it, and no second one for the same minute', async () => {
    stack = await startStack({ env: { POLL_INTERVAL_SECONDS: '60' } });
    const [order] = stack.service.placeOrders(1);
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    assert.equal(await stack.functions.fireSchedule('pollFoodService', minute), 200);
    await stack.settle();
    assert.equal((await stack.relation(order))?.stage, 'PREPARATION');
    assert.equal(stack.service.stats().calls.ListOrders.ok, 3, 'one listing per active status');

    // Fired again for the same minute (Cloud Scheduler delivers at least once): the slot was served.
    assert.equal(await stack.functions.fireSchedule('pollFoodService', minute), 200);
    assert.equal(stack.service.stats().calls.ListOrders.ok, 3);
  });

  it('hands the later slots of its minute to pollSlot tasks, which poll each at its slot', async function () {
    this.timeout(90_000);
    stack = await startStack({ env: { POLL_INTERVAL_SECONDS: '5' } });
    stack.service.placeOrders(1);
    // Just past a slot, so the next one cannot pass before the invocation has polled.
    await new Promise((resolve) => setTimeout(resolve, 5_000 - (Date.now() % 5_000) + 100));
    // Started late in its minute: one poll now serves the slots that passed, and two slots are left.
    const lastPassed = Math.floor(Date.now() / 5_000) * 5_000;
    const minute = new Date(lastPassed + 10_000 - 60_000 + 1);
    const dispatched = stack.functions.tasks.dispatched;
    assert.equal(await stack.functions.fireSchedule('pollFoodService', minute), 200);
    assert.equal(stack.service.stats().calls.ListOrders.ok, 3, 'one poll in the invocation');
    const deadline = Date.now() + 30_000;
    // Counted as answered: a task's listings come before its handler returns.
    const done = () =>
      stack.service.stats().calls.ListOrders.ok >= 9 &&
      stack.functions.tasks.dispatched - dispatched >= 2;
    while (!done() && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(stack.service.stats().calls.ListOrders.ok, 9, 'a poll at each of the two slots');
    assert.equal(stack.functions.tasks.dispatched - dispatched, 2, 'two pollSlot tasks');
    assert.equal(
      Date.now() >= lastPassed + 10_000,
      true,
      'the last one polled at its slot, not before',
    );
  });
});
