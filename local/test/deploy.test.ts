// What `npm run deploy` would do, checked with firebase-tools' own code (the
// version pinned in package.json) on the real build and the real
// firebase.json, without an account or a network: which targets the deploy
// commands select; which env files the CLI loads (functions/.env with every
// default and .env.<projectId>) and that a non-interactive deploy then asks
// for nothing; how it resolves the build's params (region, service account,
// instance limits, the invoker list); and that the operators' invoker grant
// survives its update path (its fabricator, with the HTTP layer answered here).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

import { discoverManifest } from '../../functions/test/helpers/manifest';
import { ROOT } from '../project';

const FUNCTIONS_DIR = path.join(ROOT, 'functions');
const CODEBASE = 'food-orchestrator';

// firebase-tools ships no type declarations; these are the internals its deploy runs, typed as far as used.
const firebaseTools = createRequire(require.resolve('firebase-tools/package.json'));
interface LoadedConfig {
  get(key: string): unknown;
  has(key: string): boolean;
}
const { Config } = firebaseTools('./lib/config') as {
  Config: { load(options: { cwd: string }): LoadedConfig };
};
const { normalizeAndValidate } = firebaseTools('./lib/functions/projectConfig') as {
  normalizeAndValidate(config: unknown): Array<{ codebase: string }>;
};
const { filterTargets } = firebaseTools('./lib/filterTargets') as {
  filterTargets(options: { only?: string; config: LoadedConfig }, valid: string[]): string[];
};
const { getEndpointFilters } = firebaseTools('./lib/deploy/functions/functionsDeployHelper') as {
  getEndpointFilters(
    options: { only?: string },
    config: unknown,
  ): Array<{ codebase?: string; idChunks?: string[] }> | undefined;
};
const { buildFromV1Alpha1 } = firebaseTools(
  './lib/deploy/functions/runtimes/discovery/v1alpha1',
) as {
  buildFromV1Alpha1(manifest: unknown, project: string, region: string, runtime: string): unknown;
};
interface BackendEndpoint {
  id: string;
  project: string;
  codebase?: string;
  httpsTrigger?: { invoker?: string[] | null };
  region: string;
  serviceAccount?: string | null;
  maxInstances?: number | null;
  concurrency?: number | null;
  timeoutSeconds?: number | null;
}
const { loadUserEnvs } = firebaseTools('./lib/functions/env') as {
  loadUserEnvs(options: {
    functionsSource: string;
    projectDir: string;
    projectId: string;
    projectAlias?: string;
    isEmulator?: boolean;
  }): Record<string, string>;
};
const { resolveBackend } = firebaseTools('./lib/deploy/functions/build') as {
  resolveBackend(options: {
    build: unknown;
    firebaseConfig: { projectId: string };
    userEnvs: Record<string, string>;
    nonInteractive: boolean;
    isEmulator: boolean;
  }): Promise<{ backend: { endpoints: Record<string, Record<string, BackendEndpoint>> } }>;
};

const scripts = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;
/** The targets a script deploys: its --only list. */
function only(script: string): string {
  const match = /^firebase deploy --only (\S+)$/.exec(scripts[script] ?? '');
  assert.ok(match, `npm run ${script} is "firebase deploy --only …": ${scripts[script]}`);
  return match[1];
}

describe('the deploy commands', () => {
  const config = Config.load({ cwd: ROOT });
  const codebases = normalizeAndValidate(config.get('functions'));

  it('npm run deploy touches only this codebase and the Firestore indexes, never the rules', () => {
    const targets = only('deploy');
    assert.deepEqual(targets.split(','), [`functions:${CODEBASE}`, 'firestore:indexes']);
    assert.deepEqual(
      filterTargets({ only: targets, config }, [
        'functions',
        'firestore',
        'hosting',
        'storage',
        'database',
      ]).sort(),
      ['firestore', 'functions'],
    );
    // The CLI takes "functions:<name>" as a codebase only if firebase.json has one by that name;
    // otherwise it is a function name in the default codebase.
    assert.deepEqual(
      codebases.map((c) => c.codebase),
      [CODEBASE],
    );
    assert.deepEqual(getEndpointFilters({ only: targets }, config.get('functions')), [
      { codebase: CODEBASE },
    ]);
    // firebase-tools' firestore deploy leaves the rules out when firestore:indexes is named and neither
    // firestore nor firestore:rules is (lib/deploy/firestore/prepare.js).
    assert.ok(!targets.split(',').some((t) => t === 'firestore' || t === 'firestore:rules'));
  });

  it('npm run deploy:rules is the opt-in for the deny-all rules, and deploys nothing else', () => {
    assert.equal(only('deploy:rules'), 'firestore:rules');
    assert.ok(
      config.has('firestore.rules'),
      'firebase.json names the rules file the opt-in deploys',
    );
  });
});

describe("the build as the CLI resolves it at deploy (firebase-tools' loadUserEnvs and resolveBackend)", function () {
  this.timeout(60_000);
  const PROJECT = 'food-orchestrator-prod';
  const ACCOUNT = `food-orchestrator@${PROJECT}.iam.gserviceaccount.com`;
  const OPERATORS = `food-orchestrator-ops@${PROJECT}.iam.gserviceaccount.com`;
  let build: unknown;
  let dir: string;
  /** What the CLI loads at deploy: functions/.env, then the functions/.env.<projectId> that npm run setup writes. */
  let userEnvs: Record<string, string>;

  before(() => {
    assert.ok(
      fs.existsSync(path.join(FUNCTIONS_DIR, 'lib', 'index.js')),
      'build the functions first (npm run build)',
    );
    build = buildFromV1Alpha1(
      discoverManifest(FUNCTIONS_DIR).manifest,
      PROJECT,
      'us-central1',
      'nodejs22',
    );
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-env-'));
    fs.copyFileSync(path.join(FUNCTIONS_DIR, '.env'), path.join(dir, '.env'));
    fs.copyFileSync(path.join(FUNCTIONS_DIR, '.env.local'), path.join(dir, '.env.local'));
    fs.writeFileSync(
      path.join(dir, `.env.${PROJECT}`),
      `FOOD_SERVICE_ADDRESS=food.example.com:443\nSERVICE_ACCOUNT=${ACCOUNT}\nOPS_INVOKER=${OPERATORS}\n`,
    );
    userEnvs = loadUserEnvs({
      functionsSource: dir,
      projectDir: dir,
      projectId: PROJECT,
      projectAlias: 'prod',
    });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const endpoints = async (env: Record<string, string>): Promise<BackendEndpoint[]> => {
    const { backend } = await resolveBackend({
      build,
      firebaseConfig: { projectId: PROJECT },
      userEnvs: env,
      nonInteractive: true,
      // Only skips looking the secrets up in Secret Manager (params.js), which needs an account and the network.
      isEmulator: true,
    });
    return Object.values(backend.endpoints).flatMap((byId) => Object.values(byId));
  };

  it('loads .env and .env.<projectId> (never .env.local), and refuses .env.<alias> beside it', () => {
    assert.equal(
      userEnvs.FOOD_SERVICE_ADDRESS,
      'food.example.com:443',
      'the project file wins over .env',
    );
    assert.equal(
      userEnvs.POLL_INTERVAL_SECONDS,
      '30',
      ".env's default, not .env.local's emulator value",
    );
    fs.writeFileSync(path.join(dir, '.env.prod'), 'FOOD_SERVICE_ADDRESS=other.example.com:443\n');
    try {
      assert.throws(
        () =>
          loadUserEnvs({
            functionsSource: dir,
            projectDir: dir,
            projectId: PROJECT,
            projectAlias: 'prod',
          }),
        /Can't have both dotenv files/,
      );
    } finally {
      fs.rmSync(path.join(dir, '.env.prod'));
    }
  });

  it('deploys without a prompt: .env gives every param a value, and the project file the three without a usable default', async () => {
    const resolved = await endpoints(userEnvs);
    assert.equal(resolved.length, 8);
    const onlyDefaults = loadUserEnvs({
      functionsSource: FUNCTIONS_DIR,
      projectDir: ROOT,
      projectId: 'no-such-project',
    });
    for (const name of ['FOOD_SERVICE_ADDRESS', 'SERVICE_ACCOUNT', 'OPS_INVOKER'])
      assert.ok(!(name in onlyDefaults), `${name} is not in functions/.env`);
    await assert.rejects(
      endpoints(onlyDefaults),
      /non-interactive mode but have no value for the following environment variables: FOOD_SERVICE_ADDRESS, SERVICE_ACCOUNT, OPS_INVOKER/,
      'only the project file supplies those three; everything else comes from .env',
    );
  });

  it("functions/.env holds every param's default as config.ts declares it, and nothing else", () => {
    const onlyDefaults = loadUserEnvs({
      functionsSource: FUNCTIONS_DIR,
      projectDir: ROOT,
      projectId: 'no-such-project',
    });
    const { manifest } = discoverManifest(FUNCTIONS_DIR);
    const plainDefaults = Object.fromEntries(
      (manifest.params ?? [])
        .filter(
          (p) =>
            p.type !== 'secret' && p.default !== undefined && !String(p.default).includes('{{'),
        )
        .map((p) => [p.name, String(p.default)]),
    );
    assert.deepEqual(onlyDefaults, plainDefaults);
  });

  it('puts every function in FUNCTIONS_REGION, running as SERVICE_ACCOUNT', async () => {
    const resolved = await endpoints({ ...userEnvs, FUNCTIONS_REGION: 'europe-west1' });
    assert.deepEqual(resolved.map((e) => e.id).sort(), [
      'advanceRelation',
      'forgetHistory',
      'observeShard',
      'ops',
      'pollFoodService',
      'pollFoodServiceNow',
      'pollSlot',
      'reportStuckOrders',
    ]);
    for (const endpoint of resolved) {
      assert.equal(endpoint.region, 'europe-west1', endpoint.id);
      assert.equal(endpoint.serviceAccount, ACCOUNT, endpoint.id);
    }
  });

  it('gives advanceRelation the instance and concurrency limits from the params, and each poller one instance', async () => {
    const resolved = await endpoints({
      ...userEnvs,
      ADVANCE_MAX_INSTANCES: '4',
      ADVANCE_CONCURRENCY: '8',
    });
    const byId = Object.fromEntries(resolved.map((e) => [e.id, e]));
    assert.equal(byId.advanceRelation.maxInstances, 4);
    assert.equal(byId.advanceRelation.concurrency, 8);
    assert.equal(byId.pollFoodService.maxInstances, 1);
    assert.equal(byId.pollFoodServiceNow.maxInstances, 1);
    assert.equal(byId.pollSlot.maxInstances, 1);
    assert.equal(byId.observeShard.maxInstances, 6);
  });

  it('refuses a non-interactive deploy that does not name the food service (no default to fall back on)', async () => {
    const rest = Object.fromEntries(
      Object.entries(userEnvs).filter(([name]) => name !== 'FOOD_SERVICE_ADDRESS'),
    );
    await assert.rejects(
      endpoints(rest),
      /non-interactive mode but have no value for the following environment variables: FOOD_SERVICE_ADDRESS/,
    );
  });

  it("keeps the operators' invoker grant across a redeploy: firebase-tools' update path applies the OPS_INVOKER list", async () => {
    const resolved = await endpoints(userEnvs);
    const byId = Object.fromEntries(resolved.map((e) => [e.id, e]));
    for (const id of ['pollFoodServiceNow', 'ops'])
      assert.deepEqual(byId[id].httpsTrigger?.invoker, [OPERATORS], id);

    const member = `serviceAccount:${OPERATORS}`;
    // As the last deploy left it: the operators' account may invoke it.
    const granted = [member];
    assert.deepEqual(await redeploy(byId.pollFoodServiceNow, granted), {
      members: granted,
      written: false,
    });
    // A grant made by hand beside it is not kept (only service accounts can be named in the list), but theirs is.
    assert.deepEqual(await redeploy(byId.ops, [member, 'user:alice@example.com']), {
      members: [member],
      written: true,
    });
    // Before any grant (a first deploy over a function created by hand, say): the update grants it.
    assert.deepEqual(await redeploy(byId.ops, []), { members: [member], written: true });
    // The control, what `invoker: 'private'` did: every update empties the members, so grants vanish.
    assert.deepEqual(
      await redeploy({ ...byId.ops, httpsTrigger: { invoker: ['private'] } }, granted),
      { members: [], written: true },
    );
  });
});

/**
 * Runs firebase-tools' own update of a 2nd-gen function (Fabricator's
 * updateV2Function, then run.setInvokerUpdate) on `endpoint`, with its HTTP
 * client answered here: the update's operation, and the Cloud Run service's
 * IAM policy, whose run.invoker members start as `members`. Resolves with the
 * members after the update, and whether the policy was written. Any other
 * request fails the test: nothing reaches the network.
 */
async function redeploy(
  endpoint: BackendEndpoint,
  members: string[],
): Promise<{ members: string[]; written: boolean }> {
  const apiv2 = firebaseTools('./lib/apiv2') as {
    Client: { prototype: { request(options: unknown): Promise<unknown> } };
  };
  const poller = firebaseTools('./lib/operation-poller') as {
    pollOperation(options: unknown): Promise<unknown>;
  };
  const { Fabricator } = firebaseTools('./lib/deploy/functions/release/fabricator') as {
    Fabricator: new (args: Record<string, unknown>) => {
      updateV2Function(endpoint: unknown, scraper: unknown): Promise<void>;
    };
  };
  const { SourceTokenScraper } = firebaseTools(
    './lib/deploy/functions/release/sourceTokenScraper',
  ) as {
    SourceTokenScraper: new () => unknown;
  };
  const service = `projects/${endpoint.project}/locations/${endpoint.region}/services/${endpoint.id.toLowerCase()}`;
  let policy = { bindings: [{ role: 'roles/run.invoker', members: [...members] }], etag: 'e1' };
  let written = false;
  const request = apiv2.Client.prototype.request;
  const pollOperation = poller.pollOperation;
  apiv2.Client.prototype.request = async (options: unknown) => {
    const {
      method,
      path: url,
      body,
    } = options as { method: string; path: string; body?: { policy: typeof policy } };
    if (method === 'PATCH' && url.includes(`/functions/${endpoint.id}`))
      return { status: 200, response: {}, body: { name: 'operations/update' } };
    if (method === 'GET' && url === `${service}:getIamPolicy`)
      return { status: 200, response: {}, body: structuredClone(policy) };
    if (method === 'POST' && url === `${service}:setIamPolicy` && body) {
      policy = body.policy;
      written = true;
      return { status: 200, response: {}, body: body.policy };
    }
    throw new Error(`unexpected request in the deploy test: ${method} ${url}`);
  };
  poller.pollOperation = async () => ({
    serviceConfig: { service, uri: `https://${endpoint.id}.example.run.app` },
  });
  try {
    const immediately = { run: <T>(fn: () => Promise<T>) => fn() };
    const fabricator = new Fabricator({
      executor: immediately,
      functionExecutor: immediately,
      runFunctionExecutor: immediately,
      sources: { [CODEBASE]: { storage: { bucket: 'b', object: 'o' } } },
      appEngineLocation: 'us-central',
      projectNumber: '123',
      projectId: endpoint.project,
    });
    await fabricator.updateV2Function(
      { ...endpoint, codebase: CODEBASE },
      new SourceTokenScraper(),
    );
  } finally {
    apiv2.Client.prototype.request = request;
    poller.pollOperation = pollOperation;
  }
  const invoker = policy.bindings.find((binding) => binding.role === 'roles/run.invoker');
  return { members: invoker?.members ?? [], written };
}
