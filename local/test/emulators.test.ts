// The official emulator path (`npm run emulators`), as far as it runs here:
// firebase.json and the files it names checked by firebase-tools' own
// validators, the local config files the script writes read back by
// firebase-tools' own parser, and the Functions emulator (the only one that
// runs offline) loading the deployable build and running a poll against the
// embedded Firestore and the simulator.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { ensureCerts } from '../../food-service/src/certs';
import { startFoodService, type FoodService } from '../../food-service/src/server';
import {
  CLOCK_FUNCTION, GENERATED_MARKER, ROOT, UsageError, describePoll, emulatorArgs, formatDotenv, localValues,
  parseFlags, postPoll, readProjectConfig, waitForHttpFunction, writeFunctionsConfig,
} from '../emulators';
import { freePort, startEmbeddedFirestore, type DocumentWrite, type EmbeddedFirestore } from '../firestore';

const FUNCTIONS_DIR = path.join(ROOT, 'functions');
const FIREBASE_BIN = path.join(ROOT, 'node_modules', '.bin', 'firebase');
const FUNCTIONS = ['advanceRelation', 'pollFoodService', 'pollFoodServiceNow'];
const EMULATOR_READY_MS = 90_000;
const EMULATOR_STOP_MS = 30_000;

// firebase-tools ships no type declarations; these are the few internals the
// CLI itself runs on the same files, typed as far as they are used. The
// version is pinned exactly in package.json, so a moved path fails here first.
const firebaseTools = createRequire(require.resolve('firebase-tools/package.json'));
interface SchemaError {
  instancePath: string;
  keyword: string;
  message?: string;
}
type SchemaValidator = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };
const configSchema = firebaseTools('./lib/firebaseConfigValidate') as { getValidator(): SchemaValidator; getErrorMessage(e: SchemaError): string };
const { Ajv } = firebaseTools('ajv') as { Ajv: new (options: { allowUnionTypes: boolean }) => { compile(schema: unknown): SchemaValidator } };
const { Config } = firebaseTools('./lib/config') as { Config: { load(options: { cwd: string }): { get(key: string): unknown } } };
const { normalizeAndValidate } = firebaseTools('./lib/functions/projectConfig') as { normalizeAndValidate(config: unknown): Array<Record<string, unknown>> };
const runtimes = firebaseTools('./lib/deploy/functions/runtimes/supported') as { isRuntime(r: string): boolean; isDecommissioned(r: string): boolean };
const { FirestoreApi } = firebaseTools('./lib/firestore/api') as { FirestoreApi: new () => { upgradeOldSpec(spec: unknown): unknown; validateSpec(spec: unknown): void } };
const { readdirRecursive } = firebaseTools('./lib/fsAsync') as { readdirRecursive(o: { path: string; ignoreStrings: string[] }): Promise<Array<{ name: string }>> };
const { parseStrict } = firebaseTools('./lib/functions/env') as { parseStrict(data: string): Record<string, string> };

interface FirebaseJson {
  functions: Array<{ source: string; runtime: string; ignore: string[]; predeploy: string[] }>;
  firestore: { rules: string; indexes: string };
  emulators: Record<string, { host?: string; port?: number; enabled?: boolean } | boolean>;
}

const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(file, 'utf8'));
const firebaseJson = (): FirebaseJson => readJson(path.join(ROOT, 'firebase.json')) as FirebaseJson;
const tempDir = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** A functions/ folder whose build is the real one but whose .env.local and .secret.local are the test's own. */
function functionsCopy(parent: string): string {
  const dir = path.join(parent, 'functions');
  fs.mkdirSync(dir);
  for (const entry of ['package.json', 'lib', 'proto', 'node_modules']) fs.symlinkSync(path.join(FUNCTIONS_DIR, entry), path.join(dir, entry));
  return dir;
}

/** The Firebase CLI as a child process, its output kept line by line without colors. */
class FirebaseProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(cwd: string, args: string[], env: NodeJS.ProcessEnv) {
    // Its own process group, so teardown can stop the function workers it starts too.
    this.child = spawn(FIREBASE_BIN, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      readline.createInterface({ input: stream! }).on('line', (line) => {
        // eslint-disable-next-line no-control-regex
        this.lines.push(line.replace(/\x1b\[[0-9;]*m/g, ''));
        for (const wake of this.waiters) wake();
      });
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => {
      for (const wake of this.waiters) wake();
      resolve(code);
    }));
  }

  get output(): string {
    return this.lines.join('\n');
  }

  /** Resolves when a line matches; fails with the output so far if the CLI exits or time runs out. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      const check = (): void => {
        const line = this.lines.find((l) => pattern.test(l));
        if (line !== undefined) done(() => resolve(line));
        else if (this.child.exitCode !== null || this.child.signalCode !== null) done(() => reject(new Error(`firebase exited before ${pattern}:\n${this.output}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.output}`))), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** A clean shutdown (SIGTERM), bounded; then the whole group is killed. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-(this.child.pid ?? 0), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, EMULATOR_STOP_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

describe('npm run emulators: the official Firebase emulator path', () => {
  before(function () {
    this.timeout(180_000);
    const build = spawnSync('npm', ['--prefix', FUNCTIONS_DIR, 'run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
    assert.equal(build.status, 0, `npm --prefix functions run build failed:\n${build.stdout}\n${build.stderr}`);
  });

  describe('firebase.json and the files it names', () => {
    it("pass firebase-tools' own schemas, which do reject an unknown key", () => {
      const validate = configSchema.getValidator();
      const config = firebaseJson();
      assert.ok(validate(config), (validate.errors ?? []).map(configSchema.getErrorMessage).join('\n'));
      assert.equal(validate({ ...config, functionz: {} }), false, 'the schema validator accepted an unknown top-level key');

      const rcSchema = new Ajv({ allowUnionTypes: true }).compile(readJson(require.resolve('firebase-tools/schema/firebaserc.json')));
      assert.ok(rcSchema(readJson(path.join(ROOT, '.firebaserc'))), JSON.stringify(rcSchema.errors));
      assert.equal(readProjectConfig().projectId, 'demo-food-orchestrator');
    });

    it("load with the CLI's Config and pass its functions validation: one codebase, built and linted before deploy", () => {
      const loaded = Config.load({ cwd: ROOT });
      const [codebase, ...others] = normalizeAndValidate(loaded.get('functions'));
      assert.equal(others.length, 0);
      assert.equal(codebase.codebase, 'default');
      assert.equal(codebase.source, 'functions');
      const runtime = String(codebase.runtime);
      assert.ok(runtimes.isRuntime(runtime) && !runtimes.isDecommissioned(runtime), `${runtime} is not a runtime the CLI deploys`);

      const pkg = readJson(path.join(FUNCTIONS_DIR, 'package.json')) as { main: string; engines: { node: string }; scripts: Record<string, string> };
      assert.equal(`nodejs${pkg.engines.node}`, runtime, 'functions/package.json engines.node and firebase.json runtime disagree');
      assert.deepEqual(codebase.predeploy, ['npm --prefix "$RESOURCE_DIR" run lint', 'npm --prefix "$RESOURCE_DIR" run build']);
      assert.ok(pkg.scripts.lint && pkg.scripts.build);
      assert.equal(pkg.scripts['gcp-build'], '', 'an empty gcp-build keeps Cloud Build from compiling again');
      assert.ok(fs.existsSync(path.join(FUNCTIONS_DIR, pkg.main)), `${pkg.main} is missing after the build`);
    });

    it('upload only the build, the proto, the manifests and .npmrc from functions/ (never .env.local or .secret.local)', async () => {
      const dir = tempDir('functions-upload-');
      try {
        const functionsDir = functionsCopy(dir);
        for (const file of ['package-lock.json', '.npmrc', '.mocharc.json', 'eslint.config.mjs', 'tsconfig.json', '.env.local', '.secret.local']) {
          fs.writeFileSync(path.join(functionsDir, file), '');
        }
        for (const folder of ['src', 'test', 'scripts']) fs.mkdirSync(path.join(functionsDir, folder));
        fs.writeFileSync(path.join(functionsDir, 'src', 'index.ts'), '');
        // What prepareFunctionsUpload archives: the codebase's ignore list plus the CLI's own additions.
        const ignore = [...firebaseJson().functions[0].ignore, 'firebase-debug.log', 'firebase-debug.*.log'];
        const files = await readdirRecursive({ path: functionsDir, ignoreStrings: ignore });
        const topLevel = new Set(files.map((f) => path.relative(functionsDir, f.name).split(path.sep)[0]));
        assert.deepEqual([...topLevel].sort(), ['.npmrc', 'lib', 'package-lock.json', 'package.json', 'proto']);
        const relative = files.map((f) => path.relative(functionsDir, f.name));
        assert.ok(relative.includes(path.join('lib', 'index.js')));
        assert.ok(relative.includes(path.join('proto', 'food', 'v1', 'food.proto')));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('give every emulator a loopback host and its own port', () => {
      const ports = new Map<number, string>();
      for (const [name, settings] of Object.entries(firebaseJson().emulators)) {
        if (typeof settings !== 'object') continue; // singleProjectMode
        assert.equal(settings.host, '127.0.0.1', `${name} host`);
        assert.ok(Number.isInteger(settings.port), `${name} port`);
        assert.ok(!ports.has(settings.port as number), `${name} and ${ports.get(settings.port as number)} share a port`);
        ports.set(settings.port as number, name);
      }
      for (const name of ['functions', 'firestore', 'pubsub', 'ui', 'hub', 'logging']) assert.ok([...ports.values()].includes(name), `no ${name} emulator`);
    });

    it('name Firestore rules and indexes that exist and parse', () => {
      const { rules, indexes } = firebaseJson().firestore;
      // The deploy's own check of the index spec, offline.
      const api = new FirestoreApi();
      api.validateSpec(api.upgradeOldSpec(readJson(path.join(ROOT, indexes))));
      // The rules compiler runs only in the Firestore emulator (Java) or at deploy, so the shape is checked here.
      const source = fs.readFileSync(path.join(ROOT, rules), 'utf8').replace(/\/\/.*$/gm, '');
      assert.match(source, /^\s*rules_version\s*=\s*'2';/);
      assert.match(source, /service\s+cloud\.firestore\s*\{/);
      assert.equal(source.split('{').length, source.split('}').length, 'unbalanced braces');
    });
  });

  describe('flags and the local config files', function () {
    this.timeout(60_000);
    let dir: string;
    beforeEach(() => (dir = tempDir('emulators-config-')));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('takes --poll-interval and --only, and rejects bad values with a usage error', () => {
      assert.deepEqual(parseFlags([]), { help: false, pollIntervalSeconds: 5, only: undefined });
      assert.deepEqual(parseFlags(['--poll-interval', '7', '--only', 'functions, firestore']), { help: false, pollIntervalSeconds: 7, only: 'functions,firestore' });
      for (const bad of [['--poll-interval', '0'], ['--poll-interval', '1.5'], ['--poll-interval', '3601'], ['--only', ' , '], ['--nope'], ['extra']]) {
        assert.throws(() => parseFlags(bad), UsageError, bad.join(' '));
      }
      assert.deepEqual(emulatorArgs('demo-x', 'functions'), ['emulators:start', '--project', 'demo-x', '--only', 'functions']);
    });

    it("writes every declared param and secret so that firebase-tools' parser reads them back unchanged", () => {
      const functionsDir = functionsCopy(dir);
      const caPem = fs.readFileSync(ensureCerts(path.join(dir, 'certs')).caCert, 'utf8');
      const files = writeFunctionsConfig(functionsDir, localValues('127.0.0.1:9000', 7, caPem));

      assert.deepEqual(parseStrict(fs.readFileSync(files.envFile, 'utf8')), {
        FOOD_SERVICE_ADDRESS: '127.0.0.1:9000', POLL_INTERVAL_SECONDS: '7', PAGE_SIZE: '500', RPC_DEADLINE_MS: '5000', MAX_CONCURRENCY: '32', CLAIM_LEASE_SECONDS: '180',
      });
      const secretText = fs.readFileSync(files.secretFile, 'utf8');
      assert.match(secretText, /^FOOD_SERVICE_CA="-----BEGIN CERTIFICATE-----\\n/m, 'the PEM is one double-quoted line with \\n escapes');
      assert.deepEqual(parseStrict(secretText), { FOOD_SERVICE_CA: caPem, FOOD_SERVICE_CLIENT_CERT: 'none', FOOD_SERVICE_CLIENT_KEY: 'none' });
      assert.equal(fs.statSync(files.secretFile).mode & 0o777, 0o600);
      assert.deepEqual(parseStrict(formatDotenv({ TRICKY: 'a "b" \'c\' \\d\te' })), { TRICKY: 'a "b" \'c\' \\d\te' });

      // Its own files are rewritten; a developer's own file is never overwritten.
      writeFunctionsConfig(functionsDir, localValues('127.0.0.1:9000', 9, caPem));
      assert.equal(parseStrict(fs.readFileSync(files.envFile, 'utf8')).POLL_INTERVAL_SECONDS, '9');
      fs.writeFileSync(files.envFile, 'FOOD_SERVICE_ADDRESS=mine:1\n');
      assert.throws(() => writeFunctionsConfig(functionsDir, localValues('127.0.0.1:9000', 9, caPem)), /was not written by this script/);
      assert.equal(fs.readFileSync(files.envFile, 'utf8'), 'FOOD_SERVICE_ADDRESS=mine:1\n');
      assert.ok(fs.readFileSync(files.secretFile, 'utf8').startsWith(GENERATED_MARKER));
    });

    it('keeps functions/.env.local and functions/.secret.local out of git', () => {
      const check = spawnSync('git', ['check-ignore', '--no-index', 'functions/.env.local', 'functions/.secret.local'], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(check.status, 0, `not ignored: ${check.stdout}${check.stderr}`);
      assert.deepEqual(check.stdout.trim().split('\n'), ['functions/.env.local', 'functions/.secret.local']);
    });

    it('prints one short line per poll', () => {
      const summary = { listed: 3, activeRelations: 2, created: 1, observed: 1, nudged: 0, vanished: 0, foreign: 1, lookupFailures: 0, durationMs: 42 };
      assert.equal(describePoll({ status: 200, body: { polls: [summary], failedPolls: 0 } }),
        'poll 200 in 42 ms: listed 3, active relations 2, created 1, observed 1, nudged 0, foreign 1');
      assert.match(describePoll({ status: 409, body: { polls: [], failedPolls: 0, skipped: 'another poll holds the lease (x)' } }), /^poll 409: skipped, another poll/);
      assert.match(describePoll({ status: 502, body: { polls: [], failedPolls: 1 } }), /^poll 502: the poll failed/);
      assert.equal(describePoll({ status: 500, body: 'Internal Server Error' }), 'poll 500: Internal Server Error');
    });
  });

  describe('the Functions emulator running the deployable build', function () {
    this.timeout(180_000);
    let dir: string;
    let firestore: EmbeddedFirestore;
    let service: FoodService;
    let firebase: FirebaseProcess;
    let functionsPort: number;
    const writes: DocumentWrite[] = [];

    before(async () => {
      dir = tempDir('emulators-project-');
      const certs = ensureCerts(path.join(dir, 'certs'));
      firestore = await startEmbeddedFirestore();
      firestore.onWrite((write) => writes.push(write));
      service = await startFoodService({
        port: 0, controllerIntervalMs: 0, log: () => undefined,
        tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
      });

      // The repository's firebase.json, except: no Emulator UI (a download, impossible offline)
      // and free ports, so the test can run beside a developer's `npm run emulators`.
      const config = firebaseJson();
      const [hub, logging] = [await freePort(), await freePort()];
      functionsPort = await freePort();
      config.emulators = { ...config.emulators, ui: { enabled: false }, functions: { host: '127.0.0.1', port: functionsPort }, hub: { host: '127.0.0.1', port: hub }, logging: { host: '127.0.0.1', port: logging } };
      fs.writeFileSync(path.join(dir, 'firebase.json'), JSON.stringify(config, null, 2));
      fs.copyFileSync(path.join(ROOT, '.firebaserc'), path.join(dir, '.firebaserc'));
      writeFunctionsConfig(functionsCopy(dir), localValues(service.address, 60, fs.readFileSync(certs.caCert, 'utf8')));

      firebase = new FirebaseProcess(dir, emulatorArgs(readProjectConfig().projectId, 'functions'), {
        ...process.env,
        // Offline and unattended: CI skips the message-of-the-day fetch and any prompt; no update check, no credentials probe.
        CI: 'true',
        NO_UPDATE_NOTIFIER: '1',
        METADATA_SERVER_DETECTION: 'none',
        // The functions' firebase-admin reaches the embedded Firestore, standing in for the Firestore emulator.
        FIRESTORE_EMULATOR_HOST: firestore.host,
      });
      await firebase.waitFor(/All emulators ready/, EMULATOR_READY_MS);
    });

    after(async () => {
      await firebase?.stop();
      await service?.stop();
      firestore?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('loads all three functions from lib/, serves the HTTPS one and says it cannot emulate the other two here', async () => {
      const output = firebase.output;
      assert.match(output, new RegExp(`Loaded functions definitions from source: ${FUNCTIONS.join(', ')}\\.`));
      assert.match(output, /Loaded environment variables from functions\/\.env\.local/);
      assert.doesNotMatch(output, /Prompting for parameters/, 'a param is missing from .env.local');
      const url = `http://127.0.0.1:${functionsPort}/demo-food-orchestrator/us-central1/${CLOCK_FUNCTION}`;
      assert.ok(output.includes(`functions[us-central1-pollFoodServiceNow]: http function initialized (${url}).`), output);
      assert.match(output, /functions\[us-central1-advanceRelation\]: function ignored because the firestore emulator does not exist or is not running\./);
      assert.match(output, /functions\[us-central1-pollFoodService\]: function ignored because the pubsub emulator does not exist or is not running\./);
      assert.equal(await waitForHttpFunction({ host: '127.0.0.1', port: functionsPort, projectId: 'demo-food-orchestrator' }, CLOCK_FUNCTION, { timeoutMs: 10_000 }), url);
    });

    it('runs a poll through the emulated pollFoodServiceNow that records a new order in Firestore', async () => {
      const [order] = service.placeOrders(1);
      const url = await waitForHttpFunction({ host: '127.0.0.1', port: functionsPort, projectId: 'demo-food-orchestrator' }, CLOCK_FUNCTION, { timeoutMs: 10_000 });
      const response = await postPoll(url);
      assert.equal(response.status, 200, `${describePoll(response)}\n${firebase.output}`);
      const run = response.body as { polls: Array<{ listed: number; created: number }>; failedPolls: number };
      assert.equal(run.failedPolls, 0);
      assert.equal(run.polls[0].listed, 1);
      assert.equal(run.polls[0].created, 1);

      const relation = writes.find((w) => w.path === `relations/${order.split('/')[1]}`);
      assert.ok(relation?.data, `no relation written for ${order}; writes: ${writes.map((w) => w.path).join(', ')}`);
      assert.equal(relation.data.order, order);
      assert.equal(relation.data.stage, 'NEW');
      assert.doesNotMatch(firebase.output, /Trying to access secret/, 'the secrets did not come from .secret.local');
    });
  });
});
