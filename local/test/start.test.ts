// `npm start`, the official Firebase emulator suite: firebase.json and the
// files it names checked by firebase-tools' own validators; the flags, the
// generated project folder and the local config files, read back by
// firebase-tools' own loaders and parser; and, end to end, a real
// `npm start -- --duration N`: the Firebase CLI with Google's Firestore and
// Pub/Sub emulators found on this machine, the Functions emulator running the
// deployable build with its params from .env.local and its secrets from
// .secret.local, real trigger delivery from Firestore writes, Cloud Tasks,
// the Emulator UI (from a bundle laid out as firebase-tools lays it out),
// the simulator, the fault proxy, the clock, the board, the drain and the invariants.
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { ensureCerts } from '../../food-service/src/certs';
import { formatDotenv, GENERATED_MARKER } from '../../food-service/src/dotenv';
import {
  findFirestoreEmulator,
  findJava,
  hasEmulatorUi,
  MissingTool,
  uiBundleDir,
} from '../../functions/test/helpers/google-tools';
import { discoverManifest } from '../../functions/test/helpers/manifest';
import { describePoll } from '../clock';
import { exportLine } from '../google/check';
import { cliArgs, exitCode, findTools, FUNCTION_KILLED } from '../main';
import { parseOptions, UsageError, usesFaultProxy } from '../options';
import {
  cliEnvironment,
  createRunDirectory,
  emulatorsConfig,
  fixedPorts,
  freePorts,
  LOCAL_OPS_INVOKER,
  LOCAL_SERVICE_ACCOUNT,
  localValues,
  readProjectConfig,
  ROOT,
  writeFunctionsConfig,
} from '../project';
import { drainLimitMs, progressLine } from '../report';
import { RelationTracker } from '../board/tracker';
import { openBoard } from './helpers/chromium';

const FUNCTIONS_DIR = path.join(ROOT, 'functions');

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
const configSchema = firebaseTools('./lib/firebaseConfigValidate') as {
  getValidator(): SchemaValidator;
  getErrorMessage(e: SchemaError): string;
};
const { Ajv } = firebaseTools('ajv') as {
  Ajv: new (options: { allowUnionTypes: boolean }) => { compile(schema: unknown): SchemaValidator };
};
interface LoadedConfig {
  projectDir: string;
  get(key: string): unknown;
}
const { Config } = firebaseTools('./lib/config') as {
  Config: { load(options: { cwd: string; configPath?: string }): LoadedConfig };
};
const { normalizeAndValidate } = firebaseTools('./lib/functions/projectConfig') as {
  normalizeAndValidate(config: unknown): Array<Record<string, unknown>>;
};
const runtimes = firebaseTools('./lib/deploy/functions/runtimes/supported') as {
  isRuntime(r: string): boolean;
  isDecommissioned(r: string): boolean;
};
const { FirestoreApi } = firebaseTools('./lib/firestore/api') as {
  FirestoreApi: new () => {
    upgradeOldSpec(spec: unknown): unknown;
    validateSpec(spec: unknown): void;
  };
};
const { readdirRecursive } = firebaseTools('./lib/fsAsync') as {
  readdirRecursive(o: { path: string; ignoreStrings: string[] }): Promise<Array<{ name: string }>>;
};
const { parseStrict, loadUserEnvs } = firebaseTools('./lib/functions/env') as {
  parseStrict(data: string): Record<string, string>;
  loadUserEnvs(options: {
    functionsSource: string;
    projectDir: string;
    projectId: string;
    isEmulator: boolean;
  }): Record<string, string>;
};

interface RepoFirebaseJson {
  functions: Array<{ source: string; runtime: string; ignore: string[]; predeploy: string[] }>;
  firestore: { rules: string; indexes: string };
  emulators: Record<string, { host?: string; port?: number; enabled?: boolean } | boolean>;
}

const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(file, 'utf8'));
const firebaseJson = (): RepoFirebaseJson =>
  readJson(path.join(ROOT, 'firebase.json')) as RepoFirebaseJson;
const tempDir = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** A functions/ folder whose build is the real one but whose .env.local and .secret.local are the test's own. */
function functionsCopy(parent: string): string {
  const dir = path.join(parent, 'functions');
  fs.mkdirSync(dir);
  for (const entry of ['package.json', 'lib', 'proto', 'node_modules', '.env'])
    fs.symlinkSync(path.join(FUNCTIONS_DIR, entry), path.join(dir, entry));
  return dir;
}

interface StartRun {
  code: number | null;
  /** stdout and stderr together, in order, without colors. */
  output: string;
  stderr: string;
  seconds: number;
}

/**
 * `npm start -- ARGS`, exactly as a person runs it, bounded: past `timeoutMs`
 * it gets SIGTERM (the script then stops what it started), and 30 s later its
 * whole process group is killed. `onLine` sees each line as it comes, so a
 * test can look at the run while it lasts.
 */
function runStart(
  args: string[],
  timeoutMs: number,
  extraEnv: NodeJS.ProcessEnv = {},
  onLine: (line: string) => void = () => undefined,
): Promise<StartRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    let stderr = '';
    let partial = '';
    // eslint-disable-next-line no-control-regex
    const plain = (chunk: Buffer) => chunk.toString().replace(/\x1b\[[0-9;]*m/g, '');
    const take = (text: string) => {
      output += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    child.stdout.on('data', (chunk: Buffer) => take(plain(chunk)));
    child.stderr.on('data', (chunk: Buffer) => {
      take(plain(chunk));
      stderr += plain(chunk);
    });
    let kill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      kill = setTimeout(() => {
        try {
          process.kill(-(child.pid ?? 0), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }, 30_000);
      reject(
        new Error(
          `npm start -- ${args.join(' ')} did not finish within ${timeoutMs / 1000} s:\n${output}`,
        ),
      );
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (kill) clearTimeout(kill);
      resolve({ code, output, stderr, seconds: Math.round((Date.now() - started) / 1000) });
    });
  });
}

/** Resolves with the first line that matches, as the run prints it. */
function lineMatching(pattern: RegExp): {
  onLine: (line: string) => void;
  found: Promise<RegExpExecArray>;
} {
  let resolve: (match: RegExpExecArray) => void = () => undefined;
  const found = new Promise<RegExpExecArray>((r) => (resolve = r));
  return {
    found,
    onLine: (line) => {
      const match = pattern.exec(line);
      if (match) resolve(match);
    },
  };
}

/** A bundle laid out as firebase-tools unpacks the Emulator UI (ui-v<version>/client and server), made by the test. */
function emulatorUiFixture(cacheDir: string): string {
  const dir = uiBundleDir({ FIREBASE_EMULATORS_PATH: cacheDir });
  fs.mkdirSync(path.join(dir, 'client'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'server'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'client', 'index.html'),
    '<!doctype html><title>ui fixture</title>',
  );
  fs.writeFileSync(
    path.join(dir, 'server', 'server.mjs'),
    '// never run: the CLI serves client/ itself\n',
  );
  return dir;
}

/** A number from the final summary's line that starts with `label`, e.g. ('by stage:', 'DELIVERED'). */
function summaryCount(output: string, label: string, name: string): number {
  const line = output.split('\n').find((l) => l.trim().startsWith(label)) ?? '';
  return Number(new RegExp(`${name} (\\d+)`).exec(line)?.[1] ?? NaN);
}

/** Whether something still accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm start: the official Firebase emulator suite', () => {
  before(function () {
    this.timeout(180_000);
    const build = spawnSync('npm', ['--prefix', FUNCTIONS_DIR, 'run', 'build'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 170_000,
    });
    assert.equal(
      build.status,
      0,
      `npm --prefix functions run build failed:\n${build.stdout}\n${build.stderr}`,
    );
  });

  describe('firebase.json and the files it names', () => {
    it("pass firebase-tools' own schemas, which do reject an unknown key", () => {
      const validate = configSchema.getValidator();
      const config = firebaseJson();
      assert.ok(
        validate(config),
        (validate.errors ?? []).map(configSchema.getErrorMessage).join('\n'),
      );
      assert.equal(
        validate({ ...config, functionz: {} }),
        false,
        'the schema validator accepted an unknown top-level key',
      );

      const rcSchema = new Ajv({ allowUnionTypes: true }).compile(
        readJson(require.resolve('firebase-tools/schema/firebaserc.json')),
      );
      assert.ok(
        rcSchema(readJson(path.join(ROOT, '.firebaserc'))),
        JSON.stringify(rcSchema.errors),
      );
      assert.equal(readProjectConfig().projectId, 'demo-food-orchestrator');
    });

    it("load with the CLI's Config and pass its functions validation: one codebase, built and linted before deploy", () => {
      const loaded = Config.load({ cwd: ROOT });
      const [codebase, ...others] = normalizeAndValidate(loaded.get('functions'));
      assert.equal(others.length, 0);
      assert.equal(
        codebase.codebase,
        'food-orchestrator',
        'its own codebase: a deploy of it never touches functions of other codebases',
      );
      assert.equal(codebase.source, 'functions');
      const runtime = String(codebase.runtime);
      assert.ok(
        runtimes.isRuntime(runtime) && !runtimes.isDecommissioned(runtime),
        `${runtime} is not a runtime the CLI deploys`,
      );

      const pkg = readJson(path.join(FUNCTIONS_DIR, 'package.json')) as {
        main: string;
        engines: { node: string };
        scripts: Record<string, string>;
      };
      assert.equal(
        `nodejs${pkg.engines.node}`,
        runtime,
        'functions/package.json engines.node and firebase.json runtime disagree',
      );
      assert.deepEqual(codebase.predeploy, [
        'npm --prefix "$RESOURCE_DIR" run lint',
        'npm --prefix "$RESOURCE_DIR" run build',
      ]);
      assert.ok(pkg.scripts.lint && pkg.scripts.build);
      assert.equal(
        pkg.scripts['gcp-build'],
        '',
        'an empty gcp-build keeps Cloud Build from compiling again',
      );
      assert.ok(
        fs.existsSync(path.join(FUNCTIONS_DIR, pkg.main)),
        `${pkg.main} is missing after the build`,
      );
    });

    it('upload only the build, the proto, the manifests, .npmrc and .env from functions/ (never .env.local or .secret.local)', async () => {
      const dir = tempDir('functions-upload-');
      try {
        const functionsDir = functionsCopy(dir);
        for (const file of [
          'package-lock.json',
          '.npmrc',
          '.mocharc.json',
          'eslint.config.mjs',
          'tsconfig.json',
          '.env.local',
          '.secret.local',
        ]) {
          fs.writeFileSync(path.join(functionsDir, file), '');
        }
        for (const folder of ['src', 'test', 'scripts'])
          fs.mkdirSync(path.join(functionsDir, folder));
        fs.writeFileSync(path.join(functionsDir, 'src', 'index.ts'), '');
        // What prepareFunctionsUpload archives: the codebase's ignore list plus the CLI's own additions.
        const ignore = [
          ...firebaseJson().functions[0].ignore,
          'firebase-debug.log',
          'firebase-debug.*.log',
        ];
        const files = await readdirRecursive({ path: functionsDir, ignoreStrings: ignore });
        const topLevel = new Set(
          files.map((f) => path.relative(functionsDir, f.name).split(path.sep)[0]),
        );
        assert.deepEqual([...topLevel].sort(), [
          '.env',
          '.npmrc',
          'lib',
          'package-lock.json',
          'package.json',
          'proto',
        ]);
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
        assert.ok(
          !ports.has(settings.port as number),
          `${name} and ${ports.get(settings.port as number)} share a port`,
        );
        ports.set(settings.port as number, name);
      }
      for (const name of ['functions', 'firestore', 'pubsub', 'ui', 'hub', 'logging'])
        assert.ok([...ports.values()].includes(name), `no ${name} emulator`);
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

  describe('flags', () => {
    it('takes every flag, with defaults, and rejects bad values with a usage error', () => {
      const defaults = parseOptions([], '/here');
      assert.deepEqual(defaults, {
        help: false,
        project: undefined,
        pollIntervalSeconds: 2,
        durationSeconds: undefined,
        ordersPerSecond: 1,
        cancelRate: 0.1,
        rejectRate: 0.1,
        controllerIntervalMs: 1500,
        seed: 1,
        boardPort: 3000,
        freePorts: false,
        shardSize: undefined,
        importDir: undefined,
        exportDir: undefined,
        faults: { failRate: 0, dropRate: 0, handshakeCutRate: 0, proxyLatencyMs: 0 },
      });
      const all = parseOptions(
        [
          ...[
            '--poll-interval',
            '7',
            '--duration',
            '30',
            '--orders-per-second',
            '2.5',
            '--cancel-rate',
            '0.3',
            '--reject-rate',
            '0',
          ],
          ...[
            '--controller-interval',
            '500',
            '--seed',
            '9',
            '--fail-rate',
            '0.1',
            '--drop-rate',
            '0.2',
            '--handshake-cut-rate',
            '0.3',
          ],
          ...['--proxy-latency', '40', '--board-port', '0', '--free-ports'],
          ...[
            '--project',
            'demo-mine',
            '--shard-size',
            '50',
            '--import',
            'data',
            '--export-on-exit',
            '/abs/out',
          ],
        ],
        '/here',
      );
      assert.deepEqual(all, {
        help: false,
        project: 'demo-mine',
        pollIntervalSeconds: 7,
        durationSeconds: 30,
        ordersPerSecond: 2.5,
        cancelRate: 0.3,
        rejectRate: 0,
        controllerIntervalMs: 500,
        seed: 9,
        boardPort: 0,
        freePorts: true,
        shardSize: 50,
        importDir: '/here/data',
        exportDir: '/abs/out',
        faults: { failRate: 0.1, dropRate: 0.2, handshakeCutRate: 0.3, proxyLatencyMs: 40 },
      });
      assert.equal(usesFaultProxy(all.faults), true);
      assert.equal(
        usesFaultProxy({ ...all.faults, dropRate: 0, handshakeCutRate: 0, proxyLatencyMs: 0 }),
        false,
        '--fail-rate is the simulator',
      );
      const bad: Array<[string[], RegExp]> = [
        [['--poll-interval', '0'], /--poll-interval must be an integer from 1 to 3600, got "0"/],
        [['--poll-interval', '1.5'], /--poll-interval must be an integer/],
        [['--duration', '0'], /--duration must be a number from 1 to 86400, got "0"/],
        [
          ['--orders-per-second', 'lots'],
          /--orders-per-second must be a number from 0 to 1000, got "lots"/,
        ],
        [['--board-port', '70000'], /--board-port must be an integer from 0 to 65535/],
        [['--drop-rate', '1.5'], /--drop-rate must be a number from 0 to 1, got "1.5"/],
        [['--proxy-latency=-1'], /--proxy-latency must be an integer from 0 to 600000, got "-1"/],
        [['--controller-interval', '5'], /--controller-interval must be an integer from 10/],
        [['--shard-size', '4'], /--shard-size must be an integer from 5 to 5000/],
        [['--food-service', '127.0.0.1:9000'], /Unknown option '--food-service'/],
        [['--project', 'my-prod-project'], /--project must be a demo- project id/],
        [['--embedded-firestore'], /Unknown option '--embedded-firestore'/],
        [['--duplicate-rate', '0.5'], /Unknown option '--duplicate-rate'/],
        [['extra'], /Unexpected argument 'extra'/],
      ];
      for (const [args, message] of bad) {
        assert.throws(
          () => parseOptions(args, '/here'),
          (e: Error) => e instanceof UsageError && message.test(e.message),
          args.join(' '),
        );
      }
      assert.equal(parseOptions(['-h']).help, true);
    });

    it('runs the CLI on the demo project with the generated config, and keeps the data when asked', () => {
      assert.deepEqual(cliArgs('demo-x', '/tmp/run/firebase.json', {}), [
        'emulators:start',
        '--project',
        'demo-x',
        '--config',
        '/tmp/run/firebase.json',
      ]);
      assert.deepEqual(
        cliArgs('demo-x', '/f.json', { importDir: '/in', exportDir: '/out' }).slice(5),
        ['--import', '/in', '--export-on-exit', '/out'],
      );
    });

    it('gives the drain ten polls and eight kitchen or drone steps, and at least a minute', () => {
      assert.equal(drainLimitMs(1, 1000, 60_000), 60_000);
      assert.equal(drainLimitMs(10, 3000, 60_000), 124_000);
    });

    it('exits by the verdict, 130 for an interrupted bounded run, and fails when the emulators end on their own', () => {
      assert.equal(exitCode(undefined, true, 0, 0), 0);
      assert.equal(exitCode(undefined, true, 1, 0), 1);
      assert.equal(exitCode(undefined, true, 0, 2), 1, 'the emulators did not stop cleanly');
      assert.equal(
        exitCode({ kind: 'signal', signal: 'SIGINT' }, false, 0, 0),
        0,
        'Ctrl-C ends an open run normally',
      );
      assert.equal(exitCode({ kind: 'signal', signal: 'SIGINT' }, true, 0, 0), 130);
      assert.equal(exitCode({ kind: 'emulators', code: 1 }, false, 0, 1), 1);
      assert.equal(
        exitCode({ kind: 'emulators', code: 0 }, true, 0, 0),
        1,
        'a bounded run that lost its emulators is not a success',
      );
    });
  });

  describe('the tools and the generated project folder', function () {
    this.timeout(60_000);
    let dir: string;
    beforeEach(() => (dir = tempDir('emulators-config-')));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('says in one line that the Firestore emulator is missing, and leaves out a missing Pub/Sub', () => {
      const missing = path.join(dir, 'nowhere', 'emulator.jar');
      assert.throws(
        () => findTools({ ...process.env, FIRESTORE_EMULATOR_BINARY_PATH: missing }),
        (error: unknown) => {
          assert.ok(error instanceof MissingTool);
          assert.equal(
            error.message,
            `FIRESTORE_EMULATOR_BINARY_PATH names ${missing}, which does not exist`,
          );
          return true;
        },
      );
      const found = findTools({ ...process.env, PUBSUB_EMULATOR_BINARY_PATH: missing });
      assert.deepEqual(found.without, ['pubsub']);
      assert.ok(found.tools.java && found.tools.java.major >= 21 && found.tools.firestore);
      assert.match(
        found.lines.join('\n'),
        /^Pub\/Sub\s+MISSING: PUBSUB_EMULATOR_BINARY_PATH names .*; npm start leaves it out/m,
      );
    });

    it('finds the Emulator UI where firebase-tools 15 keeps it: ui-v<ui.main.version>, with its client and server', () => {
      const info = readJson(
        require.resolve('firebase-tools/lib/emulator/downloadableEmulatorInfo.json'),
      ) as {
        ui: { main: { version: string; binaryPathRelativeToCacheDir: string } };
      };
      const env = { FIREBASE_EMULATORS_PATH: dir };
      assert.equal(uiBundleDir(env), path.join(dir, `ui-v${info.ui.main.version}`));
      assert.equal(hasEmulatorUi(env), false);
      const bundle = emulatorUiFixture(dir);
      assert.equal(
        path.join(dir, info.ui.main.binaryPathRelativeToCacheDir),
        path.join(bundle, 'server', 'server.mjs'),
        'the fixture is where firebase-tools checks for the download (binaryPathRelativeToCacheDir)',
      );
      assert.equal(hasEmulatorUi(env), true);
      fs.rmSync(path.join(bundle, 'client'), { recursive: true });
      assert.equal(hasEmulatorUi(env), false, 'a bundle without the client it serves is not there');
    });

    it('prints the line that hands the tools to a plain firebase emulators:start', () => {
      const java = findJava();
      const firestore = findFirestoreEmulator();
      const line = exportLine(java, firestore, { path: "/cache/it's/pubsub", source: 'test' });
      const env = spawnSync('sh', ['-c', `${line}; env`], {
        env: { PATH: '/usr/bin:/bin' },
        encoding: 'utf8',
      }).stdout;
      assert.match(env, new RegExp(`^PATH=${java.binDir}:/usr/bin:/bin$`, 'm'));
      assert.match(env, new RegExp(`^JAVA_HOME=${path.dirname(java.binDir)}$`, 'm'));
      assert.match(env, new RegExp(`^FIRESTORE_EMULATOR_BINARY_PATH=${firestore.path}$`, 'm'));
      assert.match(env, /^PUBSUB_EMULATOR_BINARY_PATH=\/cache\/it's\/pubsub$/m);
      assert.match(env, /^METADATA_SERVER_DETECTION=none$/m);
    });

    it("generates a config the CLI accepts: this run's ports, the UI only when its bundle is there, nothing missing", async () => {
      const repo = readProjectConfig().firebaseJson;
      const ports = await freePorts(repo);
      const all = [
        ...Object.values(ports.emulators),
        ports.firestoreWebsocket,
        ports.simulator,
        ports.simulatorStats,
      ];
      assert.equal(new Set(all).size, all.length, `ports repeat: ${all.join(', ')}`);
      assert.deepEqual(
        Object.keys(ports.emulators).sort(),
        Object.keys(fixedPorts(repo).emulators).sort(),
      );

      const withoutUi = emulatorsConfig(repo, { ports, ui: false, without: ['pubsub'] });
      const validate = configSchema.getValidator();
      assert.ok(
        validate(withoutUi),
        (validate.errors ?? []).map(configSchema.getErrorMessage).join('\n'),
      );
      const emulators = withoutUi.emulators as Record<
        string,
        { port?: number; enabled?: boolean; websocketPort?: number }
      >;
      assert.deepEqual(emulators.ui, {
        host: '127.0.0.1',
        port: ports.emulators.ui,
        enabled: false,
      });
      assert.equal(emulators.pubsub, undefined);
      assert.equal(emulators.functions.port, ports.emulators.functions);
      assert.equal(emulators.firestore.websocketPort, ports.firestoreWebsocket);
      assert.deepEqual(
        withoutUi.functions,
        repo.functions,
        "everything but the emulators is the repository's",
      );
      const withUi = emulatorsConfig(repo, { ports: fixedPorts(repo), ui: true, without: [] });
      assert.deepEqual(withUi.emulators?.ui, { host: '127.0.0.1', port: 4000, enabled: true });
      assert.deepEqual(
        { ...withUi, emulators: { ...withUi.emulators, ui: repo.emulators?.ui } },
        repo,
        'otherwise firebase.json itself',
      );
      assert.equal(
        (firebaseJson().emulators.ui as { enabled?: boolean }).enabled,
        false,
        'firebase.json keeps the UI off: offline, a plain emulators:start would abort for want of its download',
      );
    });

    it("makes a project folder the CLI loads as the project root, with the real build and the run's own .env.local and .secret.local", async () => {
      const repo = readProjectConfig().firebaseJson;
      const caPem = fs.readFileSync(ensureCerts(path.join(dir, 'certs')).caCert, 'utf8');
      const repoEnvFile = path.join(FUNCTIONS_DIR, '.env.local');
      const repoEnvBefore = fs.existsSync(repoEnvFile)
        ? fs.statSync(repoEnvFile).mtimeMs
        : undefined;
      const run = createRunDirectory(
        dir,
        emulatorsConfig(repo, { ports: await freePorts(repo), ui: false, without: [] }),
        localValues('127.0.0.1:9123', 3, caPem),
      );

      // What `firebase --config <file>` does: the file's folder is the project root, and paths resolve inside it.
      const loaded = Config.load({ cwd: ROOT, configPath: run.configFile });
      assert.equal(loaded.projectDir, run.dir);
      const [codebase] = normalizeAndValidate(loaded.get('functions'));
      assert.equal(path.join(run.dir, String(codebase.source)), run.functionsDir);
      assert.equal(
        fs.realpathSync(path.join(run.functionsDir, 'lib')),
        path.join(FUNCTIONS_DIR, 'lib'),
      );
      assert.equal(
        fs.realpathSync(path.join(run.dir, 'firestore.rules')),
        path.join(ROOT, 'firestore.rules'),
      );
      assert.deepEqual(
        readJson(path.join(run.dir, '.firebaserc')),
        readJson(path.join(ROOT, '.firebaserc')),
      );
      assert.equal(
        parseStrict(fs.readFileSync(run.envFile, 'utf8')).FOOD_SERVICE_ADDRESS,
        '127.0.0.1:9123',
      );
      assert.equal(parseStrict(fs.readFileSync(run.secretFile, 'utf8')).FOOD_SERVICE_CA, caPem);
      assert.ok(
        run.names.includes('FOOD_SERVICE_CA') && run.names.includes('POLL_INTERVAL_SECONDS'),
      );
      const repoEnvAfter = fs.existsSync(repoEnvFile)
        ? fs.statSync(repoEnvFile).mtimeMs
        : undefined;
      assert.equal(
        repoEnvAfter,
        repoEnvBefore,
        "the repository's functions/.env.local is left alone",
      );
    });

    it("gives every declared param and secret a value, with functions/.env, that firebase-tools' loader reads back unchanged", () => {
      const functionsDir = functionsCopy(dir);
      const caPem = fs.readFileSync(ensureCerts(path.join(dir, 'certs')).caCert, 'utf8');
      const files = writeFunctionsConfig(functionsDir, localValues('127.0.0.1:9000', 7, caPem));

      // What the Functions emulator loads (.env, then .env.local), against what the build declares.
      const loaded = loadUserEnvs({
        functionsSource: functionsDir,
        projectDir: dir,
        projectId: 'demo-x',
        isEmulator: true,
      });
      const declared = discoverManifest(functionsDir).manifest.params ?? [];
      assert.deepEqual(
        Object.keys(loaded).sort(),
        declared
          .filter((p) => p.type !== 'secret')
          .map((p) => p.name)
          .sort(),
        'every param has a value, so the CLI prompts for none',
      );
      assert.deepEqual(
        declared
          .filter((p) => p.type === 'secret')
          .map((p) => p.name)
          .sort(),
        Object.keys(parseStrict(fs.readFileSync(files.secretFile, 'utf8'))).sort(),
        'every secret has one',
      );
      assert.deepEqual(parseStrict(fs.readFileSync(files.envFile, 'utf8')), {
        FOOD_SERVICE_ADDRESS: '127.0.0.1:9000',
        POLL_INTERVAL_SECONDS: '7',
        SERVICE_ACCOUNT: LOCAL_SERVICE_ACCOUNT,
        OPS_INVOKER: LOCAL_OPS_INVOKER,
      });
      assert.equal(loaded.FUNCTIONS_REGION, 'us-central1', "functions/.env's default");
      assert.equal(loaded.POLL_INTERVAL_SECONDS, '7', '.env.local wins');
      assert.deepEqual(files.names.filter((n) => !(n in loaded)).sort(), [
        'FOOD_SERVICE_CA',
        'FOOD_SERVICE_CLIENT_CERT',
        'FOOD_SERVICE_CLIENT_KEY',
      ]);
      const secretText = fs.readFileSync(files.secretFile, 'utf8');
      assert.match(
        secretText,
        /^FOOD_SERVICE_CA="-----BEGIN CERTIFICATE-----\\n/m,
        'the PEM is one double-quoted line with \\n escapes',
      );
      assert.deepEqual(parseStrict(secretText), {
        FOOD_SERVICE_CA: caPem,
        FOOD_SERVICE_CLIENT_CERT: 'none',
        FOOD_SERVICE_CLIENT_KEY: 'none',
      });
      assert.equal(fs.statSync(files.secretFile).mode & 0o777, 0o600);
      assert.deepEqual(parseStrict(formatDotenv({ TRICKY: 'a "b" \'c\' \\d\te' })), {
        TRICKY: 'a "b" \'c\' \\d\te',
      });

      // Its own files are rewritten; a developer's own file is never overwritten.
      writeFunctionsConfig(functionsDir, localValues('127.0.0.1:9000', 9, caPem));
      assert.equal(parseStrict(fs.readFileSync(files.envFile, 'utf8')).POLL_INTERVAL_SECONDS, '9');
      fs.writeFileSync(files.envFile, 'FOOD_SERVICE_ADDRESS=mine:1\n');
      assert.throws(
        () => writeFunctionsConfig(functionsDir, localValues('127.0.0.1:9000', 9, caPem)),
        /was not written by this script/,
      );
      assert.equal(fs.readFileSync(files.envFile, 'utf8'), 'FOOD_SERVICE_ADDRESS=mine:1\n');
      assert.ok(fs.readFileSync(files.secretFile, 'utf8').startsWith(GENERATED_MARKER));
    });

    it('gives the CLI Java 21+ first on PATH and as JAVA_HOME, the local emulators, and nothing that points elsewhere', () => {
      const java = findJava();
      const firestore = findFirestoreEmulator();
      const env = cliEnvironment(
        {
          PATH: '/usr/bin:/bin',
          HOME: '/home/x',
          FIRESTORE_EMULATOR_HOST: '127.0.0.1:1',
          GCLOUD_PROJECT: 'prod',
          FOOD_SERVICE_CA: 'stale',
          KEEP: 'me',
        },
        { java, firestore, pubsub: { path: '/cache/pubsub', source: 'test' } },
        ['FOOD_SERVICE_CA', 'FOOD_SERVICE_ADDRESS'],
      );
      assert.equal(env.PATH, `${java.binDir}:/usr/bin:/bin`);
      assert.equal(env.JAVA_HOME, path.dirname(java.binDir));
      assert.equal(env.FIRESTORE_EMULATOR_BINARY_PATH, firestore.path);
      assert.equal(env.PUBSUB_EMULATOR_BINARY_PATH, '/cache/pubsub');
      assert.equal(env.METADATA_SERVER_DETECTION, 'none');
      assert.equal(env.NODE_OPTIONS, '--disable-warning=DEP0123');
      for (const gone of ['FIRESTORE_EMULATOR_HOST', 'GCLOUD_PROJECT', 'FOOD_SERVICE_CA'])
        assert.equal(env[gone], undefined, gone);
      assert.equal(env.KEEP, 'me');
      const version = spawnSync('java', ['-version'], { env, encoding: 'utf8' });
      assert.match(
        `${version.stderr}`,
        new RegExp(`version "${java.major}[."]`),
        'plain `java` is the one found',
      );
    });

    it('commits functions/.env and .env.local for a plain emulators:start, and keeps .secret.local out of git', () => {
      const check = (file: string) =>
        spawnSync('git', ['check-ignore', '--no-index', '-q', file], { cwd: ROOT }).status;
      assert.equal(check('functions/.secret.local'), 0, '.secret.local is ignored');
      assert.equal(check('functions/.env.local'), 1, 'functions/.env.local is committed');
      assert.equal(check('functions/.env'), 1, 'functions/.env is committed');
      assert.equal(check('functions/.env.my-project'), 1, 'a project env file may be committed');
    });
  });

  describe('what the run prints', () => {
    it('one short line per poll', () => {
      const summary = {
        listed: 3,
        activeRelations: 2,
        created: 1,
        observed: 1,
        nudged: 0,
        vanished: 0,
        foreign: 1,
        lookupFailures: 0,
        durationMs: 42,
      };
      assert.equal(
        describePoll({ status: 200, body: { polls: [summary], failedPolls: 0 } }),
        'poll 200 in 42 ms: listed 3, active relations 2, created 1, observed 1, nudged 0, foreign 1',
      );
      assert.match(
        describePoll({
          status: 409,
          body: { polls: [], failedPolls: 0, skipped: 'another poll holds the lease (x)' },
        }),
        /^poll 409: skipped, another poll/,
      );
      assert.match(
        describePoll({ status: 502, body: { polls: [], failedPolls: 1 } }),
        /^poll 502: the poll failed/,
      );
      assert.equal(
        describePoll({ status: 500, body: 'Internal Server Error' }),
        'poll 500: Internal Server Error',
      );
    });

    it('a progress line with the stages, the transitions, the food service and the clock', () => {
      const stats = {
        ordersCreated: 5,
        kitchenOrdersCreated: 3,
        shipmentsCreated: 1,
        orders: { NEW: 1, PREPARATION: 1, IN_FLIGHT: 0 },
      };
      const tracker = new RelationTracker();
      const at = new Date();
      tracker.apply('a', null, { order: 'orders/a', stage: 'NEW', active: true }, at);
      tracker.apply('b', null, { order: 'orders/b', stage: 'DELIVERED', active: false }, at);
      tracker.apply('c', null, { order: 'orders/c', stage: 'CANCELLED', active: false }, at);
      const line = progressLine({
        elapsedSeconds: 12,
        summary: tracker.summary(at),
        stats: stats as unknown as Parameters<typeof progressLine>[0]['stats'],
        clock: { ok: 6, skipped: 0, failed: 1 },
        functionErrors: 0,
      });
      assert.equal(
        line,
        '[  12s] NEW 1 · PREPARATION 0 · IN_FLIGHT 0 · DELIVERED 1 · REJECTED 0 · CANCELLED 1 (1 active) | 0.3 transitions/s' +
          ' | errors: 0 retrying, 0 flagged | food: 5 orders (2 open), 3 kitchen, 1 shipments | polls 6 ok, 1 failed | function errors 0',
      );
      assert.match(
        '⚠  Your function was killed because it raised an unhandled error.',
        FUNCTION_KILLED,
      );
    });
  });

  describe('npm start -- --duration, end to end through the official emulators', function () {
    this.timeout(300_000);
    let run: StartRun;
    let cli: string;
    const project = `demo-start-${randomUUID().slice(0, 8)}`;
    const cache = tempDir('emulators-cache-');
    const exported = path.join(tempDir('emulators-export-'), 'data');
    const seenWhileRunning: {
      ui?: string;
      config?: Record<string, unknown>;
      history?: string[];
      delivered?: boolean;
      retried?: string[];
      problems?: string[];
    } = {};

    const RUN_LIMIT_MS = 240_000;

    before(async () => {
      // Never skipped: without Java 21+ or the Firestore emulator this fails with the one-line MissingTool message.
      findJava();
      findFirestoreEmulator();
      emulatorUiFixture(cache);
      const board = lineMatching(/^live board\s+(http:\/\/127\.0\.0\.1:\d+\/)/);
      const ui = lineMatching(/^Emulator UI\s+(http:\/\/127\.0\.0\.1:\d+\/)/);
      // While the run lasts: the Emulator UI serves the fixture's page and its config, and a card of the board
      // opens the order's history from the ops function in the Functions emulator.
      const looking = (async () => {
        const [, uiUrl] = await ui.found;
        const [, boardUrl] = await board.found;
        seenWhileRunning.ui = await (await fetch(uiUrl)).text();
        seenWhileRunning.config = (await (await fetch(`${uiUrl}api/config`)).json()) as Record<
          string,
          unknown
        >;
        const browser = await openBoard(boardUrl, 60_000);
        try {
          // Cards move on to the end, live; a finished one (its card no longer changes) opens its history from the ops function.
          const { page } = browser;
          const card = page.locator('[data-stage="DELIVERED"] [data-order-id]').first();
          // As long as the run may last: the first order needs tens of polls, slow on a loaded machine, and a
          // run that ends without one is caught below, 5 s after its end.
          await card.waitFor({ timeout: RUN_LIMIT_MS });
          seenWhileRunning.delivered = true;
          // The ops function's first call starts a worker of the Functions emulator, which can take longer than the
          // board waits for it on a loaded machine: the panel then says so, and a person clicks again.
          const entry = page.locator(
            '[data-testid="history"] [data-testid="history-entry"][data-id="DELIVERED-1"]',
          );
          const failed = page.locator('[data-testid="history-body"] .error');
          for (let attempt = 1; attempt <= 4; attempt++) {
            await card.click();
            await entry.or(failed).first().waitFor();
            if (await entry.isVisible()) break;
            seenWhileRunning.retried = [
              ...(seenWhileRunning.retried ?? []),
              await failed.innerText(),
            ];
          }
          await entry.waitFor({ timeout: 1_000 });
          seenWhileRunning.history = await page
            .locator('[data-testid="history-entry"]')
            .evaluateAll((nodes) => nodes.map((n) => String(n.getAttribute('data-id'))));
          seenWhileRunning.problems = browser.problems;
        } finally {
          await browser.close();
        }
      })();
      // A project and ports of its own, so it runs beside anyone's emulators; quick kitchens and drones, and
      // cancellation and rejection rates high enough that every ending happens in 25 s of customers, which leave the
      // browser time to see the board while the run lasts.
      run = await runStart(
        [
          ...[
            '--duration',
            '25',
            '--free-ports',
            '--board-port',
            '0',
            '--project',
            project,
            '--poll-interval',
            '1',
          ],
          ...[
            '--orders-per-second',
            '2',
            '--cancel-rate',
            '0.3',
            '--reject-rate',
            '0.3',
            '--controller-interval',
            '1000',
          ],
          // Small shards, so polls fan out to observeShard tasks on the Cloud Tasks emulator.
          ...['--shard-size', '5', '--export-on-exit', exported],
        ],
        RUN_LIMIT_MS,
        { FIREBASE_EMULATORS_PATH: cache },
        (line) => {
          board.onLine(line);
          ui.onLine(line);
        },
      );
      // What it could not see while the run lasted (the lines never came, say) is a problem, not a wait.
      const late = new Promise((resolve) =>
        setTimeout(resolve, 5_000, 'the run ended before the UI and the board were seen'),
      );
      const looked = await Promise.race([looking.then(() => undefined), late]).catch(
        (error: unknown) => String(error),
      );
      if (looked) seenWhileRunning.problems = [String(looked)];
      cli = fs.readFileSync(path.join(ROOT, 'artifacts', `${project}.emulators.log`), 'utf8');
      console.log(`      (npm start -- --duration 25 took ${run.seconds} s)`);
    });
    after(() => {
      fs.rmSync(cache, { recursive: true, force: true });
      fs.rmSync(path.dirname(exported), { recursive: true, force: true });
    });

    it('exits 0 after draining, with every order finished and the invariants held', () => {
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /duration reached: the customers stop ordering/);
      assert.match(
        run.output,
        /final summary after \d+ s: 25 s of customers, then drained in \d+ s/,
      );
      assert.match(run.output, /invariants: held/);
      assert.match(run.output, /relations: +(\d+) \(\1 finished, 0 active\)/);
      assert.match(run.output, /orders: +\d+ finished, 0 in progress/);
      assert.match(
        run.output,
        /^\[\s*\d+s\] NEW \d+ · PREPARATION \d+ .*\| food: \d+ orders/m,
        'a progress line every few seconds',
      );
    });

    it('drives orders to DELIVERED, REJECTED and CANCELLED', () => {
      for (const stage of ['DELIVERED', 'REJECTED', 'CANCELLED']) {
        assert.ok(
          summaryCount(run.output, 'by stage:', stage) >= 1,
          `no relation ended ${stage}:\n${run.output.slice(-3000)}`,
        );
      }
      assert.match(run.output, /polls: +[1-9]\d* answered 200, \d+ skipped \(409\), 0 failed/);
    });

    it("runs the deployable build in the Functions emulator, on Google's Firestore emulator, with real trigger delivery", () => {
      assert.match(
        run.output,
        /firestore: Env variable override detected\. Using firestore emulator at \S+/,
      );
      assert.match(
        run.output,
        /Loaded functions definitions from source: advanceRelation, forgetHistory, ops, pollFoodService, pollFoodServiceNow, pollSlot, observeShard, reportStuckOrders\./,
      );
      assert.match(
        run.output,
        /functions\[us-central1-advanceRelation\]: firestore function initialized\./,
      );
      assert.match(
        cli,
        /Beginning execution of "us-central1-advanceRelation"/,
        'the invocations are in the log file',
      );
      assert.match(cli, /"message":"relation advanced"/);
      assert.doesNotMatch(run.output, /Beginning execution of/, 'and not on the terminal');
      assert.match(run.output, /\[clock\] poll 200 in \d+ ms/);
    });

    it('fans polls out to observeShard tasks through the Cloud Tasks emulator when there are more active orders than SHARD_SIZE', () => {
      assert.match(
        run.output,
        /\[clock\] poll 200 in \d+ ms: .*, shards [1-9]\d*/,
        'a poll handed shards to tasks',
      );
      assert.doesNotMatch(run.output, /shards observed here/, 'every shard was enqueued');
      assert.match(cli, /Beginning execution of "us-central1-observeShard"/);
      assert.match(cli, /"message":"shard observed"/);
    });

    it('takes the params from .env.local and the secrets from .secret.local, with no prompt', () => {
      assert.match(
        run.output,
        /Loaded environment variables from functions\/\.env, functions\/\.env\.local/,
      );
      assert.doesNotMatch(
        cli,
        /Prompting for parameters|Trying to access secret|Unable to access secret/,
      );
      // FOOD_SERVICE_CA is in no other place the functions could read, and every call to the simulator is TLS.
      assert.match(cli, /"step":"createKitchenOrder"/);
    });

    it('never fails an invocation: no "default Firebase app does not exist", none killed by an unhandled error', () => {
      assert.doesNotMatch(cli, /default Firebase app does not exist/);
      assert.doesNotMatch(cli, FUNCTION_KILLED);
      assert.doesNotMatch(cli, /DEP0123/, 'the function workers hide the warning');
      assert.doesNotMatch(
        run.output,
        /MetadataLookupWarning/,
        'nothing probes for a cloud metadata server',
      );
      assert.match(run.output, /functions: +0 invocation\(s\) killed by an unhandled error/);
    });

    it('starts the Emulator UI from a bundle laid out as firebase-tools lays it out, and downloads nothing', () => {
      assert.match(run.output, /^Emulator UI\s+http:\/\/127\.0\.0\.1:\d+\//m);
      assert.equal(
        seenWhileRunning.ui,
        '<!doctype html><title>ui fixture</title>',
        JSON.stringify(seenWhileRunning),
      );
      assert.equal(seenWhileRunning.config?.projectId, project);
      assert.ok(
        seenWhileRunning.config?.firestore && seenWhileRunning.config.functions,
        JSON.stringify(seenWhileRunning.config),
      );
      assert.doesNotMatch(cli, /[Dd]ownload/);
    });

    it('shows the orders on the live board, moving to the end, and a card opens the history from the ops function', () => {
      // A click answered 502 (the status API too slow once) shows in the console; nothing else may.
      const problems = (seenWhileRunning.problems ?? ['not seen']).filter(
        (p) => !(seenWhileRunning.retried && /status of 502/.test(p)),
      );
      assert.deepEqual(problems, [], JSON.stringify(seenWhileRunning));
      assert.equal(seenWhileRunning.delivered, true, 'a card reached DELIVERED');
      assert.deepEqual(seenWhileRunning.history, ['PREPARATION-1', 'IN_FLIGHT-1', 'DELIVERED-1']);
    });

    it('keeps the data with --export-on-exit, and stops everything it started and removes its project folder', async () => {
      assert.ok(
        fs.existsSync(path.join(exported, 'firebase-export-metadata.json')),
        `nothing exported to ${exported}`,
      );
      assert.ok(
        fs.readdirSync(exported).some((f) => f.startsWith('firestore_export')),
        fs.readdirSync(exported).join(', '),
      );
      assert.match(cli, /Received SIGTERM for the first time\. Starting a clean shutdown\./);
      const folder = /^project folder\s+(\S+):/m.exec(run.output)?.[1];
      assert.ok(folder, 'the project folder is named');
      assert.equal(fs.existsSync(folder), false, `${folder} is left behind`);
      const ports = [
        /pollFoodServiceNow.*http:\/\/127\.0\.0\.1:(\d+)\//.exec(run.output)?.[1],
        /^Firestore\s+127\.0\.0\.1:(\d+)/m.exec(run.output)?.[1],
        /^food service\s+127\.0\.0\.1:(\d+)/m.exec(run.output)?.[1],
        /^live board\s+http:\/\/127\.0\.0\.1:(\d+)/m.exec(run.output)?.[1],
      ].map(Number);
      assert.ok(
        ports.every((port) => port > 0),
        `ports found in the output: ${ports.join(', ')}`,
      );
      for (const port of ports)
        assert.equal(await listening(port), false, `something still listens on ${port}`);
    });
  });

  describe('npm start -- --import, from an earlier run', function () {
    this.timeout(300_000);

    it("loads an earlier run's export and resumes its relations, judging them apart from this run's food service", async () => {
      const dir = tempDir('emulators-import-');
      const exported = path.join(dir, 'data');
      try {
        const common = [
          '--free-ports',
          '--board-port',
          '0',
          '--poll-interval',
          '1',
          '--controller-interval',
          '1000',
        ];
        const first = await runStart(
          [
            '--duration',
            '5',
            ...common,
            '--project',
            `demo-exp-${randomUUID().slice(0, 8)}`,
            '--export-on-exit',
            exported,
          ],
          240_000,
        );
        assert.equal(first.code, 0, first.output);
        const kept = Number(/relations: +(\d+) \(/.exec(first.output)?.[1]);
        assert.ok(kept > 0, first.output);
        const second = await runStart(
          [
            '--duration',
            '3',
            ...common,
            '--project',
            `demo-imp-${randomUUID().slice(0, 8)}`,
            '--import',
            exported,
          ],
          240_000,
        );
        assert.equal(second.code, 0, second.output);
        assert.match(second.output, /firestore: Importing data from /);
        assert.match(
          second.output,
          new RegExp(`^resuming\\s+${kept} relations from --import`, 'm'),
        );
        assert.match(
          second.output,
          new RegExp(
            `· ${kept} relation\\(s\\) name orders the food service does not know \\(an earlier run's, resumed\\)`,
          ),
        );
        assert.match(second.output, /invariants: held/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('npm start with faults: the fault proxy and a failing food service', function () {
    this.timeout(300_000);

    it('holds the invariants with refused calls and replies dropped after the work, naming what waits for a person', async () => {
      const run = await runStart(
        [
          ...[
            '--duration',
            '10',
            '--free-ports',
            '--board-port',
            '0',
            '--project',
            `demo-faults-${randomUUID().slice(0, 8)}`,
          ],
          ...['--poll-interval', '1', '--orders-per-second', '2', '--controller-interval', '1000'],
          ...['--fail-rate', '0.05', '--drop-rate', '0.03', '--handshake-cut-rate', '0.05'],
        ],
        240_000,
      );
      assert.equal(run.code, 0, run.output);
      assert.match(
        run.output,
        /^fault proxy\s+127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ for the functions \(drop 0\.03, handshake cut 0\.05/m,
      );
      assert.match(run.output, /injected faults/);
      assert.match(run.output, /^\s+proxy: .*/m);
      assert.match(run.output, /invariants: held/);
    });
  });

  describe('npm start without the tools', function () {
    this.timeout(120_000);

    it('says in one line that the Firestore emulator is missing, and exits 1', async () => {
      const missing = '/nonexistent/cloud-firestore-emulator.jar';
      const run = await runStart(['--duration', '5', '--free-ports'], 100_000, {
        FIRESTORE_EMULATOR_BINARY_PATH: missing,
      });
      assert.equal(run.code, 1, run.output);
      const lines = run.stderr.split('\n').filter((line) => line.startsWith('npm start:'));
      assert.deepEqual(lines, [
        `npm start: FIRESTORE_EMULATOR_BINARY_PATH names ${missing}, which does not exist`,
      ]);
      assert.doesNotMatch(run.output, /emulators:start|Starting emulators/);
    });

    it('refuses a bad flag with the usage, exit code 2', async () => {
      const run = await runStart(['--duration', '0'], 100_000);
      assert.equal(run.code, 2, run.output);
      assert.match(run.stderr, /npm start: --duration must be a number from 1 to 86400, got "0"/);
      assert.match(run.stderr, /usage: npm start -- \[flags\]/);
    });
  });
});
