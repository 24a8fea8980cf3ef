// `npm run emulators`: the official Firebase path, for people with Java 21+
// and internet (the emulators' jars and the Emulator UI are downloaded once).
// It runs the deployable build (functions/lib) in the Firebase emulator suite
// beside the food-service simulator, and is the clock that Cloud Scheduler is
// in production: the emulators never fire a scheduled function on a timer, so
// this script POSTs to pollFoodServiceNow every POLL_INTERVAL_SECONDS.
// Without Java, `npm start` runs the same functions on the embedded stack.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { ensureCerts } from '../food-service/src/certs';

export const ROOT = path.resolve(__dirname, '..');
const FUNCTIONS_DIR = path.join(ROOT, 'functions');
const FIREBASE_BIN = path.join(ROOT, 'node_modules', '.bin', 'firebase');

/** The simulator's address, passed to it as flags and to the functions as FOOD_SERVICE_ADDRESS, so they cannot drift apart. */
const SIMULATOR = { host: '127.0.0.1', port: 9000, statsPort: 9001 } as const;
/** Some customers, some cancellations, and kitchens and drones quick enough to watch orders finish. */
const SIMULATOR_LOAD = ['--orders-per-second', '1', '--cancel-rate', '0.1', '--controller-interval', '3s'];
/** Slower than `npm start`'s 2 s: the emulator logs every invocation, and a poll every 5 s keeps that readable. */
const DEFAULT_POLL_INTERVAL_SECONDS = 5;
/** The clock's target; its trigger is HTTPS, so the Functions emulator serves it without any other emulator. */
export const CLOCK_FUNCTION = 'pollFoodServiceNow';

const SIMULATOR_START_MS = 30_000;
/** The first run downloads the Firestore and Pub/Sub jars and the Emulator UI, which can take minutes. */
const EMULATORS_READY_MS = 10 * 60_000;
/** pollFoodServiceNow's timeoutSeconds is 120; a poll that outlives it will not answer. */
const POLL_REQUEST_MS = 130_000;
const DISCOVERY_MS = 30_000;
/** How long each process may take to stop cleanly before it and its children are killed. */
const EMULATORS_STOP_MS = 60_000;
const SIMULATOR_STOP_MS = 10_000;

export const USAGE = `usage: npm run emulators -- [flags]

Builds the functions, starts the food-service simulator (127.0.0.1:${SIMULATOR.port}) with
simulated customers, writes functions/.env.local and functions/.secret.local,
runs \`firebase emulators:start\` (Emulator UI: http://127.0.0.1:4000) and POSTs
to ${CLOCK_FUNCTION} every poll interval, because the emulators have no
Cloud Scheduler. Needs Java 21+ and, on the first run, internet.
Without Java, \`npm start\` runs the local stack instead.

  --poll-interval SECONDS   seconds between polls, 1 to 3600 (default ${DEFAULT_POLL_INTERVAL_SECONDS});
                            also written as POLL_INTERVAL_SECONDS
  --only LIST               emulators to start, passed to emulators:start
                            (default: every emulator in firebase.json)
  -h, --help                show this help`;

/** A flag or value that is wrong: printed with the usage, exit code 2. */
export class UsageError extends Error {}

export interface EmulatorsOptions {
  help: boolean;
  pollIntervalSeconds: number;
  only: string | undefined;
}

export function parseFlags(argv: readonly string[]): EmulatorsOptions {
  let values: { 'poll-interval'?: string; only?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { 'poll-interval': { type: 'string' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const raw = values['poll-interval'];
  const pollIntervalSeconds = raw === undefined ? DEFAULT_POLL_INTERVAL_SECONDS : /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(pollIntervalSeconds) || pollIntervalSeconds < 1 || pollIntervalSeconds > 3600) {
    throw new UsageError(`--poll-interval must be an integer from 1 to 3600, got "${raw}"`);
  }
  const only = values.only?.split(',').map((name) => name.trim()).filter(Boolean).join(',');
  if (values.only !== undefined && !only) throw new UsageError('--only needs a comma-separated list of emulators, e.g. functions,firestore');
  return { help: values.help ?? false, pollIntervalSeconds, only };
}

export interface ProjectConfig {
  /** The demo project the emulators run as: no account, and no real service can be reached through it. */
  projectId: string;
  functions: { host: string; port: number };
}

/** The emulator project (.firebaserc's default) and where firebase.json puts the Functions emulator. */
export function readProjectConfig(root: string = ROOT): ProjectConfig {
  const rc = JSON.parse(fs.readFileSync(path.join(root, '.firebaserc'), 'utf8')) as { projects?: Record<string, string> };
  const projectId = rc.projects?.default;
  // A real project here would let emulated functions reach production services that are not emulated.
  if (!projectId?.startsWith('demo-')) {
    throw new Error(`.firebaserc's default project must be a demo- project for the emulators, got "${projectId}"; add real projects under another alias (firebase use --add)`);
  }
  const config = JSON.parse(fs.readFileSync(path.join(root, 'firebase.json'), 'utf8')) as { emulators?: { functions?: { host?: string; port?: number } } };
  const functions = config.emulators?.functions;
  if (!functions?.port) throw new Error('firebase.json has no emulators.functions.port');
  return { projectId, functions: { host: functions.host ?? '127.0.0.1', port: functions.port } };
}

// ---- functions/.env.local and functions/.secret.local ----------------------

/** A param as firebase-functions declares it in the manifest the CLI reads. */
export interface DeclaredParam {
  name: string;
  type: string;
  default?: unknown;
}

/**
 * The params and secrets the build declares, read the way the Firebase CLI
 * reads them: firebase-functions' discovery binary loads lib/ in a process
 * without secrets and writes the manifest. The defaults stay in config.ts.
 */
export function declaredParams(functionsDir: string): DeclaredParam[] {
  const output = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'functions-manifest-')), 'functions.json');
  try {
    const result = spawnSync(process.execPath, [path.join(functionsDir, 'node_modules', 'firebase-functions', 'lib', 'bin', 'firebase-functions.js'), functionsDir], {
      cwd: functionsDir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, FUNCTIONS_CONTROL_API: 'true', GCLOUD_PROJECT: 'demo-discovery', FUNCTIONS_MANIFEST_OUTPUT_PATH: output },
      encoding: 'utf8',
      timeout: DISCOVERY_MS,
    });
    if (result.status !== 0) {
      throw new Error(`could not load ${path.join(functionsDir, 'lib')} to read its params (is it built?): ${result.error?.message ?? result.stderr.trim()}`);
    }
    return (JSON.parse(fs.readFileSync(output, 'utf8')) as { params?: DeclaredParam[] }).params ?? [];
  } finally {
    fs.rmSync(path.dirname(output), { recursive: true, force: true });
  }
}

export interface LocalConfigValues {
  /** Values for params, by name; the others get their declared default. */
  params: Record<string, string>;
  /** A value for every secret. */
  secrets: Record<string, string>;
}

/**
 * Every declared param gets a value, because the CLI prompts for any param
 * missing from the .env files (and writes the answer into .env.local).
 */
export function localConfig(declared: readonly DeclaredParam[], values: LocalConfigValues): { env: Record<string, string>; secrets: Record<string, string> } {
  const env: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  for (const param of declared) {
    if (param.type === 'secret') {
      const value = values.secrets[param.name];
      if (value === undefined) throw new Error(`no local value for the secret ${param.name}`);
      secrets[param.name] = value;
    } else {
      const value = values.params[param.name] ?? (param.default === undefined ? undefined : String(param.default));
      if (value === undefined) throw new Error(`no local value or default for the param ${param.name}`);
      env[param.name] = value;
    }
  }
  return { env, secrets };
}

/** The first line of every file this script writes; a file without it is someone's own and is never overwritten. */
export const GENERATED_MARKER = '# Written by `npm run emulators` (local/emulators.ts) on every run: change its flags, not this file.';

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', "'": "\\'", '"': '\\"' };

/**
 * KEY=value lines as firebase-tools writes them itself (formatUserEnvForWrite
 * in lib/functions/env.js): a value with a newline, quote or backslash goes in
 * double quotes with escapes, which its parser turns back, so a PEM fits on one line.
 */
export function formatDotenv(values: Record<string, string>): string {
  const lines = Object.entries(values).map(([key, value]) => {
    const escaped = value.replace(/[\n\r\t\v\\'"]/g, (c) => ESCAPES[c]);
    return escaped === value ? `${key}=${value}` : `${key}="${escaped}"`;
  });
  return `${GENERATED_MARKER}\n${lines.join('\n')}\n`;
}

function writeGenerated(file: string, content: string, mode: number): void {
  if (fs.existsSync(file) && !fs.readFileSync(file, 'utf8').startsWith(GENERATED_MARKER)) {
    throw new Error(`${file} exists and was not written by this script; move it away (the emulator would read it) and run again`);
  }
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
}

export interface FunctionsConfigFiles {
  envFile: string;
  secretFile: string;
}

/**
 * Writes the functions' local config where the Firebase CLI looks for it in
 * the emulator: params in .env.local, secrets in .secret.local (both are
 * git-ignored and excluded from deploys by firebase.json's `*.local`).
 */
export function writeFunctionsConfig(functionsDir: string, values: LocalConfigValues): FunctionsConfigFiles {
  const { env, secrets } = localConfig(declaredParams(functionsDir), values);
  const files = { envFile: path.join(functionsDir, '.env.local'), secretFile: path.join(functionsDir, '.secret.local') };
  writeGenerated(files.envFile, formatDotenv(env), 0o644);
  writeGenerated(files.secretFile, formatDotenv(secrets), 0o600);
  return files;
}

/** What the functions need to reach the simulator over TLS: its CA, and "none" for the mTLS pair (Secret Manager refuses empty values, so the code reads "none" as absent). */
export function localValues(address: string, pollIntervalSeconds: number, caPem: string): LocalConfigValues {
  return {
    params: { FOOD_SERVICE_ADDRESS: address, POLL_INTERVAL_SECONDS: String(pollIntervalSeconds) },
    secrets: { FOOD_SERVICE_CA: caPem, FOOD_SERVICE_CLIENT_CERT: 'none', FOOD_SERVICE_CLIENT_KEY: 'none' },
  };
}

// ---- the clock ---------------------------------------------------------------

interface EmulatedTrigger {
  entryPoint?: string;
  name?: string;
  region?: string;
  httpsTrigger?: unknown;
}

/**
 * Waits until the Functions emulator has loaded `name` as an HTTPS function
 * and returns its URL. It asks the emulator's own listing (GET /backends, what
 * the Emulator UI reads) rather than calling the function, so waiting runs nothing.
 */
export async function waitForHttpFunction(
  emulator: { host: string; port: number; projectId: string },
  name: string,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<string> {
  const base = `http://${emulator.host}:${emulator.port}`;
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const response = await fetch(`${base}/backends`, { signal: AbortSignal.timeout(5_000) });
      const body = (await response.json()) as { backends?: Array<{ functionTriggers?: EmulatedTrigger[] }> };
      const trigger = body.backends?.flatMap((b) => b.functionTriggers ?? []).find((t) => t.entryPoint === name && t.httpsTrigger);
      if (trigger) return `${base}/${emulator.projectId}/${trigger.region ?? 'us-central1'}/${trigger.name ?? name}`;
    } catch {
      // Not listening yet, or still loading the functions: ask again.
    }
    if (Date.now() > deadline) throw new Error(`the Functions emulator did not serve ${name} at ${base} within ${Math.round(options.timeoutMs / 1000)} s`);
    await sleep(500, undefined, options.signal ? { signal: options.signal } : {});
  }
}

export interface PollResponse {
  status: number;
  body: unknown;
}

/** One poll: what Cloud Scheduler's invocation does in production, through the HTTPS function. */
export async function postPoll(url: string, signal?: AbortSignal): Promise<PollResponse> {
  const timeout = AbortSignal.timeout(POLL_REQUEST_MS);
  const response = await fetch(url, { method: 'POST', signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // The emulator answers some errors in plain text; keep it as is.
  }
  return { status: response.status, body };
}

interface PollSummaryLike {
  listed?: number;
  activeRelations?: number;
  created?: number;
  observed?: number;
  nudged?: number;
  vanished?: number;
  foreign?: number;
  lookupFailures?: number;
  durationMs?: number;
}

/** One short line per poll: the status and the numbers that say whether orders are moving. */
export function describePoll({ status, body }: PollResponse): string {
  const run = (typeof body === 'object' && body !== null ? body : {}) as { polls?: PollSummaryLike[]; failedPolls?: number; skipped?: string };
  const poll = run.polls?.[0];
  if (status === 200 && poll) {
    const extra = [['vanished', poll.vanished], ['foreign', poll.foreign], ['lookup failures', poll.lookupFailures]]
      .filter(([, n]) => Number(n) > 0).map(([label, n]) => `, ${label} ${n}`).join('');
    return `poll ${status} in ${poll.durationMs ?? '?'} ms: listed ${poll.listed ?? '?'}, active relations ${poll.activeRelations ?? '?'}, created ${poll.created ?? '?'}, observed ${poll.observed ?? '?'}, nudged ${poll.nudged ?? '?'}${extra}`;
  }
  if (status === 409) return `poll ${status}: skipped, ${run.skipped ?? 'another poll holds the lease'}`;
  if (status === 502) return `poll ${status}: the poll failed (${run.failedPolls ?? '?'}); the functions log above says why, and the next poll tries again`;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return `poll ${status}: ${text.replace(/\s+/g, ' ').slice(0, 200)}`;
}

/** Polls every interval, measured from each poll's start, never two at once, until `signal` aborts. */
async function runClock(url: string, intervalSeconds: number, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  log(`[clock] POST ${url} every ${intervalSeconds} s (the emulators have no Cloud Scheduler)`);
  while (!signal.aborted) {
    const started = Date.now();
    try {
      log(`[clock] ${describePoll(await postPoll(url, signal))}`);
    } catch (error) {
      if (signal.aborted) return;
      log(`[clock] poll failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    await sleep(Math.max(0, started + intervalSeconds * 1000 - Date.now()), undefined, { signal }).catch(() => undefined);
  }
}

// ---- processes -----------------------------------------------------------------

interface Child {
  name: string;
  process: ChildProcess;
  /** The exit code; a signal counts as 128 + its number, as shells report it. */
  exited: Promise<number>;
}

function signalCode(signal: NodeJS.Signals | null): number {
  return signal ? 128 + (os.constants.signals[signal] ?? 0) : 1;
}

/**
 * Starts a process in its own process group, so a Ctrl-C in the terminal
 * reaches this script only and each child gets exactly one signal from it:
 * the Firebase CLI takes a second signal as "stop now, skip the clean shutdown".
 */
function startChild(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, onLine: (line: string) => void): Child {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const stream of [child.stdout, child.stderr]) readline.createInterface({ input: stream }).on('line', onLine);
  const exited = new Promise<number>((resolve) => {
    child.once('error', (error) => {
      onLine(`${name} could not start: ${error.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? signalCode(signal)));
  });
  return { name, process: child, exited };
}

function isRunning(child: Child): boolean {
  return child.process.exitCode === null && child.process.signalCode === null;
}

function killGroup(child: Child): void {
  try {
    process.kill(-(child.process.pid ?? 0), 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Asks once, waits, then kills the whole group: nothing it started outlives this script. */
async function stopChild(child: Child, signal: NodeJS.Signals, graceMs: number): Promise<number> {
  if (isRunning(child)) child.process.kill(signal);
  const timer = setTimeout(() => {
    console.error(`${child.name} did not stop within ${graceMs / 1000} s: killing it`);
    killGroup(child);
  }, graceMs);
  try {
    return await child.exited;
  } finally {
    clearTimeout(timer);
  }
}

async function waitForSimulator(simulator: Child, signal: AbortSignal): Promise<void> {
  const healthz = `http://${SIMULATOR.host}:${SIMULATOR.statsPort}/healthz`;
  const deadline = Date.now() + SIMULATOR_START_MS;
  while (Date.now() < deadline) {
    signal.throwIfAborted();
    if (!isRunning(simulator)) throw new Error('the food-service simulator exited; its output above says why');
    if (await fetch(healthz, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false)) return;
    await sleep(250, undefined, { signal });
  }
  throw new Error(`the food-service simulator did not answer ${healthz} within ${SIMULATOR_START_MS / 1000} s`);
}

/** What to tell a person when a Firebase CLI message names a cause we know. */
const HINTS: Array<[RegExp, string]> = [
  [/java -version|Java version before/i,
    'The Firestore and Pub/Sub emulators need Java 21 or newer on the PATH. Without Java, `npm start` runs the same functions on the local stack.'],
  [/Failed to make request to https:\/\/storage\.googleapis\.com|download(ing)? failed|Download failed/i,
    'The emulators and the Emulator UI are downloaded on first use (into ~/.cache/firebase/emulators), which needs internet. Without it, `npm start` runs the local stack.'],
  [/Port \d+ is not open/i,
    'Another program holds a port from firebase.json (another `npm run emulators`?). Stop it, or change the ports in firebase.json.'],
];

function hintsFor(line: string): string[] {
  return HINTS.filter(([pattern]) => pattern.test(line)).map(([, hint]) => hint);
}

function build(): boolean {
  // The root build generates the simulator's proto types too, which it needs at run time.
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  return result.status === 0;
}

/**
 * Under `npm run`, one Ctrl-C arrives twice: from the terminal and forwarded
 * by npm. Signals this close to the first are that same keypress.
 */
const SAME_SIGNAL_MS = 1_000;

/** Resolves with the first termination signal; a later, separate one goes to `onRepeat`. */
function onSignals(onRepeat: (signal: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let firstAt: number | undefined;
    const handler = (signal: NodeJS.Signals): void => {
      if (firstAt === undefined) {
        firstAt = Date.now();
        resolve(signal);
      } else if (Date.now() - firstAt > SAME_SIGNAL_MS) {
        onRepeat(signal);
      }
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

export function emulatorArgs(projectId: string, only: string | undefined): string[] {
  return ['emulators:start', '--project', projectId, ...(only ? ['--only', only] : [])];
}

function startSimulator(log: (line: string) => void): Child {
  const args = ['-r', 'ts-node/register/transpile-only', 'food-service/src/main.ts', '--host', SIMULATOR.host,
    '--port', String(SIMULATOR.port), '--stats-port', String(SIMULATOR.statsPort), ...SIMULATOR_LOAD];
  return startChild('food-service', process.execPath, args, process.env, (line) => log(`[food-service] ${line}`));
}

function startEmulators(projectId: string, only: string | undefined, onLine: (line: string) => void): Child {
  return startChild('firebase emulators', FIREBASE_BIN, emulatorArgs(projectId, only), {
    ...process.env,
    // The CLI is pinned in package.json; its "npm install -g" update notice would mislead.
    NO_UPDATE_NOTIFIER: '1',
    // A demo project needs no Google credentials: no probe of the GCE metadata server for them.
    METADATA_SERVER_DETECTION: 'none',
    ...(process.stdout.isTTY ? { FORCE_COLOR: '1' } : {}),
  }, onLine);
}

/** Waits for the Functions emulator, then polls until `signal` aborts; never throws. */
async function startClock(project: ProjectConfig, options: EmulatorsOptions, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  if (options.only && !options.only.split(',').includes('functions')) {
    log('[clock] off: --only does not include functions');
    return;
  }
  try {
    const url = await waitForHttpFunction({ ...project.functions, projectId: project.projectId }, CLOCK_FUNCTION, { timeoutMs: EMULATORS_READY_MS, signal });
    await runClock(url, options.pollIntervalSeconds, signal, log);
  } catch (error) {
    if (!signal.aborted) log(`[clock] not started: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function run(options: EmulatorsOptions, log: (line: string) => void): Promise<number> {
  const project = readProjectConfig();
  const stopping = new AbortController();
  const running: { emulators?: Child; simulator?: Child } = {};
  // The children run in their own groups, so if this script dies before stopping them, it kills them on the way out.
  process.once('exit', () => {
    for (const child of Object.values(running)) if (isRunning(child)) killGroup(child);
  });
  // A second Ctrl-C goes to the emulators, which take it as "stop now".
  const signalled = onSignals((signal) => {
    if (running.emulators && isRunning(running.emulators)) running.emulators.process.kill(signal);
  });
  void signalled.then(() => stopping.abort());

  if (!build()) return 1;
  if (stopping.signal.aborted) return 130;
  const certs = ensureCerts();
  const files = writeFunctionsConfig(FUNCTIONS_DIR, localValues(`${SIMULATOR.host}:${SIMULATOR.port}`, options.pollIntervalSeconds, fs.readFileSync(certs.caCert, 'utf8')));
  log(`functions config: ${path.relative(ROOT, files.envFile)}, ${path.relative(ROOT, files.secretFile)} (FOOD_SERVICE_CA = ${path.relative(ROOT, certs.caCert)})`);

  const simulator = (running.simulator = startSimulator(log));
  try {
    await waitForSimulator(simulator, stopping.signal);
  } catch (error) {
    if (!stopping.signal.aborted) log(`error: ${error instanceof Error ? error.message : String(error)}`);
    await stopChild(simulator, 'SIGTERM', SIMULATOR_STOP_MS);
    return stopping.signal.aborted ? 130 : 1;
  }

  const hints = new Set<string>();
  const emulators = (running.emulators = startEmulators(project.projectId, options.only, (line) => {
    for (const hint of hintsFor(line)) hints.add(hint);
    log(line);
  }));
  const clock = startClock(project, options, stopping.signal, log);

  const first = await Promise.race([
    signalled.then((signal) => ({ kind: 'signal' as const, signal })),
    emulators.exited.then(() => ({ kind: 'emulators' as const })),
    simulator.exited.then(() => ({ kind: 'simulator' as const })),
  ]);
  stopping.abort();
  await clock;
  if (first.kind === 'simulator') log('error: the food-service simulator stopped; stopping the emulators');
  // The emulators first, so no function is left calling a simulator that is gone.
  const code = await stopChild(emulators, first.kind === 'signal' ? first.signal : 'SIGTERM', EMULATORS_STOP_MS);
  await stopChild(simulator, 'SIGTERM', SIMULATOR_STOP_MS);
  if (first.kind === 'emulators' && code !== 0) for (const hint of hints) log(`hint: ${hint}`);
  return first.kind === 'simulator' ? 1 : code;
}

export async function main(argv: readonly string[]): Promise<number> {
  let options: EmulatorsOptions;
  try {
    options = parseFlags(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`emulators: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  // A closed terminal or pipe must not crash the script before it has stopped its children.
  process.stdout.on('error', () => undefined);
  try {
    return await run(options, (line) => console.log(line));
  } catch (error) {
    console.error(`emulators: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
