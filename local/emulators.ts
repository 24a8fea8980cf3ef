// `npm run emulators`: the official Firebase path. It runs the deployable
// build (functions/lib) in the Firebase emulator suite, on Google's Firestore
// and Pub/Sub emulators found on this machine (local/google/tools.ts: Java
// 21+, firebase-tools' cache or the Cloud SDK components), beside the
// food-service simulator, and is the clock that Cloud Scheduler is in
// production: the emulators never fire a scheduled function on a timer, so
// this script POSTs to pollFoodServiceNow every poll interval.
//
// It downloads nothing: a missing Java or Firestore emulator is said in one
// line and ends the run; a missing Emulator UI bundle is skipped with a note.
// With --duration it runs that long, drains, and judges the run by the
// invariants of local/invariants.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { ensureCerts } from '../food-service/src/certs';
import { startFoodService, type FoodService } from '../food-service/src/server';
import {
  countRelations,
  finalSummary,
  progressLine,
  readOrders,
  readStats,
  relationReader,
  type ClockCounts,
  type RelationReader,
  type RunSnapshot,
} from './emulators-facts';
import { drain, drainLimitMs, openOrders } from './run-report';
import {
  cliEnvironment,
  configuredTargets,
  createRunDirectory,
  emulatorsConfig,
  fixedPorts,
  freePorts,
  FUNCTIONS_DIR,
  localValues,
  readProjectConfig,
  ROOT,
  type EmulatorTools,
  type FirebaseJson,
  type RunDirectory,
  type RunPorts,
} from './emulators-project';
import { findFirestoreEmulator, findJava, findPubsubEmulator, hasEmulatorUi, MissingTool } from './google/tools';
import { checkInvariants } from './invariants';
import { describeError } from '../functions/src/describe-error';

const FIREBASE_BIN = path.join(ROOT, 'node_modules', '.bin', 'firebase');

/** Some customers, some cancellations and rejections, and kitchens and drones quick enough to watch orders finish. */
const DEFAULTS = { pollIntervalSeconds: 5, ordersPerSecond: 1, controllerIntervalMs: 3000, cancelRate: 0.1, rejectRate: 0.1 } as const;
/** The clock's target; its trigger is HTTPS, so the Functions emulator serves it without any other emulator. */
export const CLOCK_FUNCTION = 'pollFoodServiceNow';
/**
 * What the Functions emulator prints once for every invocation that threw (a
 * FATAL runtime error kills the worker), whatever the function: the count of
 * invocations that the platform would have dropped (advanceRelation has retry off).
 */
export const FUNCTION_KILLED = /Your function was killed because it raised an unhandled error/;

/** Everything is local (nothing is downloaded), so the suite is ready in well under a minute; a slow machine gets three. */
const EMULATORS_READY_MS = 180_000;
/** pollFoodServiceNow's timeoutSeconds is 120; a poll that outlives it will not answer. */
const POLL_REQUEST_MS = 130_000;
/** How long each process may take to stop cleanly before it and its children are killed. */
const EMULATORS_STOP_MS = 60_000;
/** A progress line this often in a --duration run, during the run and the drain. */
const PROGRESS_EVERY_MS = 5_000;

export const USAGE = `usage: npm run emulators -- [flags]

Builds the functions, runs \`firebase emulators:start\` (project from .firebaserc)
with Google's Firestore and Pub/Sub emulators found on this machine, starts the
food-service simulator (127.0.0.1:9000, stats on :9001) with simulated
customers, and POSTs to ${CLOCK_FUNCTION} every poll interval, because the
emulators have no Cloud Scheduler. Needs Java 21+ and the Firestore emulator
(\`npm run tools\` says what it finds); downloads nothing. The Emulator UI
(http://127.0.0.1:4000) runs when its bundle is there, and is skipped otherwise.

  --poll-interval SECONDS    seconds between polls, 1 to 3600 (default ${DEFAULTS.pollIntervalSeconds});
                             also written as POLL_INTERVAL_SECONDS
  --duration SECONDS         run this long, stop the customers, let the orders in
                             flight finish, print the final summary and the
                             invariants, stop, and exit 0 only if they held
  --orders-per-second N      simulator: the customers' load, 0 to 1000 (default ${DEFAULTS.ordersPerSecond})
  --cancel-rate R            simulator: share of orders cancelled, 0 to 1 (default ${DEFAULTS.cancelRate})
  --reject-rate R            simulator: share of deliveries rejected, 0 to 1 (default ${DEFAULTS.rejectRate})
  --controller-interval MS   simulator: ms per kitchen or drone step, 10 to 600000 (default ${DEFAULTS.controllerIntervalMs})
  --free-ports               every emulator and the simulator on free ports instead of
                             firebase.json's and 9000/9001, to run beside another run
  --only LIST                emulators to start, passed to emulators:start
                             (default: every emulator in firebase.json)
  --shard-size N             SHARD_SIZE for the functions (5 to 5000; default the
                             param's): a small one makes polls fan out to
                             observeShard tasks on the Cloud Tasks emulator
  -h, --help                 show this help`;

/** A flag or value that is wrong: printed with the usage, exit code 2. */
export class UsageError extends Error {}

export interface EmulatorsOptions {
  help: boolean;
  pollIntervalSeconds: number;
  only: string | undefined;
  durationSeconds: number | undefined;
  ordersPerSecond: number;
  cancelRate: number;
  rejectRate: number;
  controllerIntervalMs: number;
  freePorts: boolean;
  /** SHARD_SIZE for the functions, when given: a small one makes polls fan out to observeShard tasks. */
  shardSize: number | undefined;
}

const NUMBER_FLAGS = [
  'poll-interval',
  'duration',
  'orders-per-second',
  'cancel-rate',
  'reject-rate',
  'controller-interval',
  'shard-size',
] as const;
type NumberFlag = (typeof NUMBER_FLAGS)[number];

export function parseFlags(argv: readonly string[]): EmulatorsOptions {
  let values: Partial<Record<NumberFlag | 'only', string>> & { help?: boolean; 'free-ports'?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(NUMBER_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
        only: { type: 'string' },
        'free-ports': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(describeError(error));
  }
  const number = (flag: NumberFlag, fallback: number, min: number, max: number, integer: boolean): number => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    const parsed = /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
    if (Number.isNaN(parsed) || parsed < min || parsed > max || (integer && !Number.isInteger(parsed))) {
      throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`);
    }
    return parsed;
  };
  const only = values.only
    ?.split(',')
    .map((name) => name.trim())
    .filter(Boolean)
    .join(',');
  if (values.only !== undefined && !only)
    throw new UsageError('--only needs a comma-separated list of emulators, e.g. functions,firestore');
  const durationSeconds = values.duration === undefined ? undefined : number('duration', 0, 1, 86_400, false);
  // A bounded run is judged by relations the functions write to Firestore.
  const missing = ['functions', 'firestore'].filter((name) => only && !only.split(',').includes(name));
  if (durationSeconds !== undefined && missing.length > 0) throw new UsageError(`--duration needs ${missing.join(' and ')} in --only`);
  return {
    help: values.help ?? false,
    pollIntervalSeconds: number('poll-interval', DEFAULTS.pollIntervalSeconds, 1, 3600, true),
    only,
    durationSeconds,
    ordersPerSecond: number('orders-per-second', DEFAULTS.ordersPerSecond, 0, 1000, false),
    cancelRate: number('cancel-rate', DEFAULTS.cancelRate, 0, 1, false),
    rejectRate: number('reject-rate', DEFAULTS.rejectRate, 0, 1, false),
    controllerIntervalMs: number('controller-interval', DEFAULTS.controllerIntervalMs, 10, 600_000, true),
    freePorts: values['free-ports'] ?? false,
    shardSize: values['shard-size'] === undefined ? undefined : number('shard-size', 0, 5, 5000, true),
  };
}

/** The CLI's arguments: the demo project, the run's own config, and --only as given. */
export function emulatorArgs(projectId: string, configFile: string, only: string | undefined): string[] {
  return ['emulators:start', '--project', projectId, '--config', configFile, ...(only ? ['--only', only] : [])];
}

// ---- the tools -------------------------------------------------------------------

export interface FoundTools {
  tools: EmulatorTools;
  /** Emulators left out of the generated config because they are missing. */
  without: string[];
  /** What was found, one line each, for the banner. */
  lines: string[];
}

/**
 * Java 21+ and the emulators the run needs, found without downloading
 * anything. A missing Java or Firestore emulator throws MissingTool (one
 * line); a missing Pub/Sub emulator only leaves it out, unless --only asked
 * for it, because nothing fires the scheduled function it would carry anyway.
 */
export function findTools(config: FirebaseJson, only: string | undefined, env: NodeJS.ProcessEnv = process.env): FoundTools {
  const requested = only ? only.split(',') : configuredTargets(config);
  const found: FoundTools = { tools: {}, without: [], lines: [] };
  if (requested.includes('firestore') || requested.includes('pubsub')) {
    const java = (found.tools.java = findJava(env));
    found.lines.push(`${'Java'.padEnd(18)}Java ${java.major} at ${java.bin} (from ${java.source})`);
  }
  if (requested.includes('firestore')) {
    const firestore = (found.tools.firestore = findFirestoreEmulator(env));
    found.lines.push(`${'Firestore'.padEnd(18)}Google's emulator: ${firestore.path} (from ${firestore.source})`);
  }
  if (requested.includes('pubsub')) {
    try {
      const pubsub = (found.tools.pubsub = findPubsubEmulator(env));
      found.lines.push(`${'Pub/Sub'.padEnd(18)}Google's emulator: ${pubsub.path} (from ${pubsub.source})`);
    } catch (error) {
      if (!(error instanceof MissingTool) || only) throw error;
      found.without.push('pubsub');
      found.lines.push(
        `${'Pub/Sub'.padEnd(18)}left out: ${error.message}; the Functions emulator then ignores pollFoodService, and the clock still polls`,
      );
    }
  }
  return found;
}

/** One line about the Emulator UI: where it runs, or why it is skipped. */
export function uiLine(available: boolean, port: number | undefined): string {
  return available
    ? `${'Emulator UI'.padEnd(18)}http://127.0.0.1:${port ?? 4000}/`
    : `${'Emulator UI'.padEnd(18)}skipped: firebase-tools has no UI bundle and downloads it only with internet (once: npx firebase setup:emulators:ui); everything else runs without it`;
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
    if (Date.now() > deadline)
      throw new Error(`the Functions emulator did not serve ${name} at ${base} within ${Math.round(options.timeoutMs / 1000)} s`);
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
  shards?: number;
  shardsInline?: number;
  durationMs?: number;
}

/** One short line per poll: the status and the numbers that say whether orders are moving. */
export function describePoll({ status, body }: PollResponse): string {
  const run = (typeof body === 'object' && body !== null ? body : {}) as {
    polls?: PollSummaryLike[];
    failedPolls?: number;
    skipped?: string;
  };
  const poll = run.polls?.[0];
  if (status === 200 && poll) {
    const extra = [
      ['shards', poll.shards],
      ['shards observed here', poll.shardsInline],
      ['vanished', poll.vanished],
      ['foreign', poll.foreign],
      ['lookup failures', poll.lookupFailures],
    ]
      .filter(([, n]) => Number(n) > 0)
      .map(([label, n]) => `, ${label} ${n}`)
      .join('');
    return `poll ${status} in ${poll.durationMs ?? '?'} ms: listed ${poll.listed ?? '?'}, active relations ${poll.activeRelations ?? '?'}, created ${poll.created ?? '?'}, observed ${poll.observed ?? '?'}, nudged ${poll.nudged ?? '?'}${extra}`;
  }
  if (status === 409) return `poll ${status}: skipped, ${run.skipped ?? 'another poll holds the lease'}`;
  if (status === 502)
    return `poll ${status}: the poll failed (${run.failedPolls ?? '?'}); the functions log above says why, and the next poll tries again`;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return `poll ${status}: ${text.replace(/\s+/g, ' ').slice(0, 200)}`;
}

/** Polls every interval, measured from each poll's start, never two at once, until `signal` aborts; counts the answers. */
async function runClock(
  url: string,
  intervalSeconds: number,
  signal: AbortSignal,
  counts: ClockCounts,
  log: (line: string) => void,
): Promise<void> {
  log(`[clock] POST ${url} every ${intervalSeconds} s (the emulators have no Cloud Scheduler)`);
  while (!signal.aborted) {
    const started = Date.now();
    try {
      const response = await postPoll(url, signal);
      if (response.status === 200) counts.ok++;
      else if (response.status === 409) counts.skipped++;
      else counts.failed++;
      log(`[clock] ${describePoll(response)}`);
    } catch (error) {
      if (signal.aborted) return;
      counts.failed++;
      log(`[clock] poll failed: ${describeError(error)}`);
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
function startChild(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
  onLine: (line: string) => void,
): Child {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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

/** What to tell a person when a Firebase CLI message names a cause we know. */
const HINTS: Array<[RegExp, string]> = [
  [
    /java -version|Java version before/i,
    'The Firestore and Pub/Sub emulators need Java 21 or newer; `npm run tools` says which Java this script found. Without Java, `npm start` runs the same functions on the local stack.',
  ],
  [
    /Failed to make request to https:\/\/storage\.googleapis\.com|download(ing)? failed|Download failed/i,
    'firebase-tools tried to download an emulator, which needs internet; `npm run tools` says what was found locally.',
  ],
  [
    /Port \d+ is not open|unable to start on port/i,
    'Another program holds a port from firebase.json (another `npm run emulators`?). Stop it, or run with --free-ports.',
  ],
];

function hintsFor(line: string): string[] {
  return HINTS.filter(([pattern]) => pattern.test(line)).map(([, hint]) => hint);
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (line: string): string => line.replace(/\x1b\[[0-9;]*m/g, '');

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

// ---- one run ---------------------------------------------------------------------

/** Why the run stops before its end: a signal, or the emulators exiting on their own. */
export type Interruption = { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'emulators'; code: number };

interface Run {
  options: EmulatorsOptions;
  projectId: string;
  ports: RunPorts;
  dir: RunDirectory;
  caPem: string;
  relations: RelationReader;
  emulators: Child;
  /** Aborted, with an Interruption as its reason, by a signal or by the emulators' exit. */
  interrupted: AbortSignal;
  clock: ClockCounts;
  /** Invocations the Functions emulator reported as killed by an unhandled error. */
  functionErrors: { count: number };
  /** When the emulators were started; then, once the simulator runs, when the customers started: the zero of progress lines. */
  startedAt: number;
  log: (line: string) => void;
}

const reasonOf = (run: Run): Interruption | undefined => (run.interrupted.aborted ? (run.interrupted.reason as Interruption) : undefined);
const elapsed = (run: Run): number => Math.round((Date.now() - run.startedAt) / 1000);
const statsUrl = (run: Run): string => `http://127.0.0.1:${run.ports.simulatorStats}/stats`;

async function snapshot(run: Run): Promise<RunSnapshot> {
  const [relations, stats] = await Promise.all([run.relations.read(), readStats(statsUrl(run))]);
  return { elapsedSeconds: elapsed(run), relations, stats, clock: run.clock, functionErrors: run.functionErrors.count };
}

/** A progress line every few seconds until stopped; a slow read skips a beat rather than piling up. */
function startProgress(run: Run): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    snapshot(run)
      .then(
        (now) => run.log(progressLine(now)),
        (error: unknown) => run.log(`[progress] not available: ${describeError(error)}`),
      )
      .finally(() => (busy = false));
  }, PROGRESS_EVERY_MS);
  return () => clearInterval(timer);
}

/** --duration: customers for that long, then the drain, then the judgement. Resolves to the exit code. */
async function timedRun(run: Run, simulator: FoodService, durationSeconds: number): Promise<number> {
  const stopProgress = startProgress(run);
  try {
    await sleep(durationSeconds * 1000, undefined, { signal: run.interrupted }).catch(() => undefined);
    if (run.interrupted.aborted) return 1;
    simulator.stopCustomers();
    const limitMs = drainLimitMs(run.options.pollIntervalSeconds, run.options.controllerIntervalMs, 60_000);
    run.log(
      `duration reached: the customers stop ordering; waiting up to ${limitMs / 1000} s until no order is open and no relation is active`,
    );
    const drainStarted = Date.now();
    const drained = await drain(
      async () => {
        const now = await snapshot(run);
        const { active, waitingForPerson } = countRelations(now.relations);
        return { open: openOrders(now.stats), activeRelations: active, waitingForPerson };
      },
      limitMs,
      { signal: run.interrupted, onLookFailed: (error) => run.log(`[drain] could not look: ${describeError(error)}`) },
    );
    if (run.interrupted.aborted) return 1;
    const drainSeconds = Math.round((Date.now() - drainStarted) / 1000);
    const [now, orders] = await Promise.all([snapshot(run), readOrders(`127.0.0.1:${run.ports.simulator}`, run.caPem, FUNCTIONS_DIR)]);
    const report = checkInvariants({
      orders,
      relations: [...now.relations],
      created: { kitchenOrders: now.stats.kitchenOrdersCreated, shipments: now.stats.shipmentsCreated },
      foodFaults: false,
      failedDeliveries: run.functionErrors.count,
      drainTimedOut: !drained,
    });
    run.log(finalSummary({ ...now, durationSeconds, drainSeconds, drained, report }));
    return report.held ? 0 : 1;
  } finally {
    stopProgress();
  }
}

function startSimulator(run: Run, certs: { serverCert: string; serverKey: string }): Promise<FoodService> {
  const { options } = run;
  return startFoodService({
    host: '127.0.0.1',
    port: run.ports.simulator,
    statsPort: run.ports.simulatorStats,
    tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
    controllerIntervalMs: options.controllerIntervalMs,
    ordersPerSecond: options.ordersPerSecond,
    cancelRate: options.cancelRate,
    rejectRate: options.rejectRate,
    // A bounded run prints its own progress lines; an open one shows the simulator's.
    statsIntervalMs: options.durationSeconds === undefined ? 10_000 : 0,
    log: (line) => run.log(`[food-service] ${line}`),
  });
}

/** What `drive` started, for `finish` to stop in order. */
interface Started {
  clock?: Promise<void>;
  simulator?: FoodService;
}

/**
 * After the emulators started: waits for the clock's function, starts the
 * simulator (so customers order only once the orchestrator can see them) and
 * the clock, then runs until interrupted or, with --duration, for that long.
 */
async function drive(
  run: Run,
  certs: { serverCert: string; serverKey: string },
  stopClock: AbortSignal,
  started: Started,
): Promise<number> {
  const functions = !run.options.only || run.options.only.split(',').includes('functions');
  let url: string | undefined;
  if (functions) {
    const emulator = { host: '127.0.0.1', port: run.ports.emulators.functions, projectId: run.projectId };
    url = await waitForHttpFunction(emulator, CLOCK_FUNCTION, { timeoutMs: EMULATORS_READY_MS, signal: run.interrupted });
  } else {
    run.log('[clock] off: --only does not include functions');
  }
  if (url) run.log(`${'emulators ready'.padEnd(18)}in ${elapsed(run)} s; the customers start ordering now`);
  const simulator = (started.simulator = await startSimulator(run, certs));
  run.startedAt = Date.now();
  const { options } = run;
  run.log(
    `${'food service'.padEnd(18)}${simulator.address} (simulator: ${options.ordersPerSecond} orders/s, cancel rate ${options.cancelRate}, reject rate ${options.rejectRate}, a kitchen or drone step every ${options.controllerIntervalMs} ms; stats ${simulator.statsUrl})`,
  );
  if (url) started.clock = runClock(url, options.pollIntervalSeconds, AbortSignal.any([run.interrupted, stopClock]), run.clock, run.log);
  if (options.durationSeconds !== undefined) return timedRun(run, simulator, options.durationSeconds);
  await new Promise((resolve) => run.interrupted.addEventListener('abort', resolve, { once: true }));
  return 0;
}

/**
 * The exit code: an open run stopped by a signal exits as the emulators did
 * (0 after their clean shutdown); a bounded run interrupted by one is not
 * judged (130); emulators that exit on their own fail the run; otherwise the
 * run's own verdict, provided the emulators then stopped cleanly.
 */
export function exitCode(reason: Interruption | undefined, bounded: boolean, verdict: number, stopCode: number): number {
  if (reason?.kind === 'signal') return bounded ? 130 : stopCode;
  if (reason?.kind === 'emulators') return bounded || reason.code !== 0 ? reason.code || 1 : 0;
  return stopCode === 0 ? verdict : 1;
}

/** Stops the clock, then the emulators (so no function calls a simulator that is gone), then the simulator; says why it ended. */
async function finish(run: Run, verdict: number, hints: Set<string>, stopClock: AbortController, started: Started): Promise<number> {
  // Read before the emulators are stopped here, whose exit would otherwise look like a crash.
  const reason = reasonOf(run);
  stopClock.abort();
  await started.clock;
  const stopCode = await stopChild(run.emulators, reason?.kind === 'signal' ? reason.signal : 'SIGTERM', EMULATORS_STOP_MS);
  await started.simulator?.stop();
  if (reason?.kind === 'emulators') {
    run.log(`error: the emulators exited (${reason.code}) before the run ended; their output above says why`);
    for (const hint of hints) run.log(`hint: ${hint}`);
  } else if (reason === undefined && stopCode !== 0) {
    run.log(`error: the emulators did not stop cleanly (exit ${stopCode})`);
  }
  const code = exitCode(reason, run.options.durationSeconds !== undefined, verdict, stopCode);
  if (code === 0) fs.rmSync(run.dir.dir, { recursive: true, force: true });
  else run.log(`the project folder is kept for its logs (firebase-debug.log, firestore-debug.log): ${run.dir.dir}`);
  return code;
}

/** The Firebase CLI on the run's folder; counts the invocations it reports killed, and keeps hints for its failures. */
function startEmulators(projectId: string, dir: RunDirectory, found: FoundTools, only: string | undefined, log: (line: string) => void) {
  const functionErrors = { count: 0 };
  const hints = new Set<string>();
  const child = startChild(
    'firebase emulators',
    FIREBASE_BIN,
    emulatorArgs(projectId, dir.configFile, only),
    {
      cwd: dir.dir,
      env: { ...cliEnvironment(process.env, found.tools, dir.names), ...(process.stdout.isTTY ? { FORCE_COLOR: '1' } : {}) },
    },
    (line) => {
      const plain = stripAnsi(line);
      if (FUNCTION_KILLED.test(plain)) functionErrors.count++;
      for (const hint of hintsFor(plain)) hints.add(hint);
      log(line);
    },
  );
  return { child, functionErrors, hints };
}

/**
 * Aborts `interrupt` on the first Ctrl-C or SIGTERM; a second, separate one
 * goes to the emulators, which take it as "stop now". The CLI runs in its own
 * group, so if this script dies before stopping it, it kills it on the way out.
 */
function watchSignals(running: { emulators?: Child }, interrupt: AbortController): void {
  process.once('exit', () => {
    if (running.emulators && isRunning(running.emulators)) killGroup(running.emulators);
  });
  void onSignals((signal) => {
    if (running.emulators && isRunning(running.emulators)) running.emulators.process.kill(signal);
  }).then((signal) => interrupt.abort({ kind: 'signal', signal } satisfies Interruption));
}

async function run(options: EmulatorsOptions, log: (line: string) => void): Promise<number> {
  const project = readProjectConfig();
  let found: FoundTools;
  try {
    found = findTools(project.firebaseJson, options.only);
  } catch (error) {
    if (!(error instanceof MissingTool)) throw error;
    console.error(`emulators: ${error.message}`);
    return 1;
  }
  for (const line of found.lines) log(line);
  const interrupt = new AbortController();
  const running: { emulators?: Child } = {};
  watchSignals(running, interrupt);

  if (!build()) return 1;
  if (interrupt.signal.aborted) return 130;

  const ports = options.freePorts ? await freePorts(project.firebaseJson) : fixedPorts(project.firebaseJson);
  const certs = ensureCerts();
  const caPem = fs.readFileSync(certs.caCert, 'utf8');
  const ui = hasEmulatorUi();
  const config = emulatorsConfig(project.firebaseJson, { ports, ui, without: found.without });
  const dir = createRunDirectory(
    os.tmpdir(),
    config,
    localValues(`127.0.0.1:${ports.simulator}`, options.pollIntervalSeconds, caPem, {
      // As in npm start: a listener slows every write in Google's emulator (local/stack.ts).
      LISTENER_MAX_RELATIONS: '0',
      ...(options.shardSize === undefined ? {} : { SHARD_SIZE: String(options.shardSize) }),
    }),
  );
  log(uiLine(ui, ports.emulators.ui));
  log(
    `${'project folder'.padEnd(18)}${dir.dir}: the generated firebase.json, functions/.env.local and functions/.secret.local (FOOD_SERVICE_CA = ${path.relative(ROOT, certs.caCert)}), links to the build`,
  );

  const emulators = startEmulators(project.projectId, dir, found, options.only, log);
  running.emulators = emulators.child;
  void emulators.child.exited.then((code) => interrupt.abort({ kind: 'emulators', code } satisfies Interruption));
  const current: Run = {
    options,
    projectId: project.projectId,
    ports,
    dir,
    caPem,
    relations: relationReader(`127.0.0.1:${ports.emulators.firestore}`, project.projectId),
    emulators: emulators.child,
    interrupted: interrupt.signal,
    clock: { ok: 0, skipped: 0, failed: 0 },
    functionErrors: emulators.functionErrors,
    startedAt: Date.now(),
    log,
  };
  const stopClock = new AbortController();
  const started: Started = {};
  let verdict: number;
  try {
    verdict = await drive(current, certs, stopClock.signal, started);
  } catch (error) {
    if (!interrupt.signal.aborted) log(`error: ${describeError(error)}`);
    verdict = 1;
  }
  try {
    return await finish(current, verdict, emulators.hints, stopClock, started);
  } finally {
    await current.relations.close();
  }
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
    console.error(`emulators: ${describeError(error)}`);
    return 1;
  }
}

/**
 * What `npm start` does with --disable-warning=DEP0123, for this process,
 * whose npm script runs it without that flag: grpc-js sets the TLS server name
 * to the IP it dials (to read the orders at the end of a bounded run), which
 * Node deprecates; the certificate is still checked against that IP.
 */
function hideTlsServerNameWarning(): void {
  const emit = process.emitWarning as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, type, code] = args;
    const options = typeof type === 'object' && type !== null ? (type as { code?: unknown }) : undefined;
    if (code === 'DEP0123' || options?.code === 'DEP0123') return;
    emit.apply(process, args);
  }) as typeof process.emitWarning;
}

if (require.main === module) {
  hideTlsServerNameWarning();
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
