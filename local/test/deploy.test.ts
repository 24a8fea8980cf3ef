// What `npm run deploy` would do, checked with firebase-tools' own code (the
// version pinned in package.json) on the real build and the real
// firebase.json, without an account: which targets the deploy commands
// select, and how the CLI resolves the build's params (region, service
// account, instance limits) into the functions it would create.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { discoverManifest, ROOT } from '../project';

const FUNCTIONS_DIR = path.join(ROOT, 'functions');
const CODEBASE = 'food-orchestrator';

// firebase-tools ships no type declarations; these are the internals its deploy runs, typed as far as used.
const firebaseTools = createRequire(require.resolve('firebase-tools/package.json'));
interface LoadedConfig {
  get(key: string): unknown;
  has(key: string): boolean;
}
const { Config } = firebaseTools('./lib/config') as { Config: { load(options: { cwd: string }): LoadedConfig } };
const { normalizeAndValidate } = firebaseTools('./lib/functions/projectConfig') as {
  normalizeAndValidate(config: unknown): Array<{ codebase: string }>;
};
const { filterTargets } = firebaseTools('./lib/filterTargets') as {
  filterTargets(options: { only?: string; config: LoadedConfig }, valid: string[]): string[];
};
const { getEndpointFilters } = firebaseTools('./lib/deploy/functions/functionsDeployHelper') as {
  getEndpointFilters(options: { only?: string }, config: unknown): Array<{ codebase?: string; idChunks?: string[] }> | undefined;
};
const { buildFromV1Alpha1 } = firebaseTools('./lib/deploy/functions/runtimes/discovery/v1alpha1') as {
  buildFromV1Alpha1(manifest: unknown, project: string, region: string, runtime: string): unknown;
};
interface BackendEndpoint {
  id: string;
  region: string;
  serviceAccount?: string | null;
  maxInstances?: number | null;
  concurrency?: number | null;
  timeoutSeconds?: number | null;
}
const { resolveBackend } = firebaseTools('./lib/deploy/functions/build') as {
  resolveBackend(options: {
    build: unknown;
    firebaseConfig: { projectId: string };
    userEnvs: Record<string, string>;
    nonInteractive: boolean;
    isEmulator: boolean;
  }): Promise<{ backend: { endpoints: Record<string, Record<string, BackendEndpoint>> } }>;
};

const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
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
    assert.deepEqual(filterTargets({ only: targets, config }, ['functions', 'firestore', 'hosting', 'storage', 'database']).sort(), [
      'firestore',
      'functions',
    ]);
    // The CLI takes "functions:<name>" as a codebase only if firebase.json has one by that name;
    // otherwise it is a function name in the default codebase.
    assert.deepEqual(
      codebases.map((c) => c.codebase),
      [CODEBASE],
    );
    assert.deepEqual(getEndpointFilters({ only: targets }, config.get('functions')), [{ codebase: CODEBASE }]);
    // firebase-tools' firestore deploy leaves the rules out when firestore:indexes is named and neither
    // firestore nor firestore:rules is (lib/deploy/firestore/prepare.js).
    assert.ok(!targets.split(',').some((t) => t === 'firestore' || t === 'firestore:rules'));
  });

  it('npm run deploy:rules is the opt-in for the deny-all rules, and deploys nothing else', () => {
    assert.equal(only('deploy:rules'), 'firestore:rules');
    assert.ok(config.has('firestore.rules'), 'firebase.json names the rules file the opt-in deploys');
  });
});

describe("the build as the CLI resolves it at deploy (firebase-tools' resolveBackend)", function () {
  this.timeout(60_000);
  const PROJECT = 'demo-food-orchestrator';
  const ACCOUNT = `food-orchestrator@${PROJECT}.iam.gserviceaccount.com`;
  let build: unknown;
  /** What functions/.env.<project> holds for a deploy that is not interactive: every param, since the CLI prompts for any missing. */
  let userEnvs: Record<string, string>;

  before(() => {
    assert.ok(fs.existsSync(path.join(FUNCTIONS_DIR, 'lib', 'index.js')), 'build the functions first (npm run build)');
    const manifest = discoverManifest(FUNCTIONS_DIR);
    build = buildFromV1Alpha1(manifest, PROJECT, 'us-central1', 'nodejs22');
    userEnvs = Object.fromEntries((manifest.params ?? []).filter((p) => p.type !== 'secret').map((p) => [p.name, String(p.default ?? '')]));
    Object.assign(userEnvs, { FOOD_SERVICE_ADDRESS: 'food.example.com:443', SERVICE_ACCOUNT: ACCOUNT });
  });

  const endpoints = async (env: Record<string, string>): Promise<BackendEndpoint[]> => {
    const { backend } = await resolveBackend({
      build,
      firebaseConfig: { projectId: PROJECT },
      userEnvs: env,
      nonInteractive: true,
      isEmulator: true,
    });
    return Object.values(backend.endpoints).flatMap((byId) => Object.values(byId));
  };

  it('puts every function in FUNCTIONS_REGION, running as SERVICE_ACCOUNT', async () => {
    const resolved = await endpoints({ ...userEnvs, FUNCTIONS_REGION: 'europe-west1' });
    assert.deepEqual(resolved.map((e) => e.id).sort(), [
      'advanceRelation',
      'observeShard',
      'ops',
      'pollFoodService',
      'pollFoodServiceNow',
      'reportStuckOrders',
    ]);
    for (const endpoint of resolved) {
      assert.equal(endpoint.region, 'europe-west1', endpoint.id);
      assert.equal(endpoint.serviceAccount, ACCOUNT, endpoint.id);
    }
  });

  it('gives advanceRelation the instance and concurrency limits from the params, and each poller one instance', async () => {
    const resolved = await endpoints({ ...userEnvs, ADVANCE_MAX_INSTANCES: '4', ADVANCE_CONCURRENCY: '8' });
    const byId = Object.fromEntries(resolved.map((e) => [e.id, e]));
    assert.equal(byId.advanceRelation.maxInstances, 4);
    assert.equal(byId.advanceRelation.concurrency, 8);
    assert.equal(byId.pollFoodService.maxInstances, 1);
    assert.equal(byId.pollFoodServiceNow.maxInstances, 1);
    assert.equal(byId.observeShard.maxInstances, 6);
  });

  it('refuses a non-interactive deploy that does not name the food service (no default to fall back on)', async () => {
    const rest = Object.fromEntries(Object.entries(userEnvs).filter(([name]) => name !== 'FOOD_SERVICE_ADDRESS'));
    await assert.rejects(
      endpoints(rest),
      /non-interactive mode but have no value for the following environment variables: FOOD_SERVICE_ADDRESS/,
    );
  });
});
