// `npm start`: the orchestrator on one machine, in the official Firebase
// emulator suite. It runs the deployable build (functions/lib) with
// `firebase emulators:start` on Google's Firestore and Pub/Sub emulators
// found on this machine (Java 21+, firebase-tools' cache or the Cloud SDK),
// the Cloud Tasks emulator and the Emulator UI when its bundle is there;
// beside it the food-service simulator (behind a fault proxy when asked),
// the poll clock that stands in for Cloud Scheduler, and the live board,
// which reads Firestore and the simulator.
//
// It downloads nothing: a missing Java or Firestore emulator is said in one
// line and ends the run. With --duration it runs that long, drains, and
// judges the run by the invariants of local/invariants.ts.
import { initializeApp, deleteApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

import { ensureCerts } from '../food-service/src/certs';
import { formatProxyStats, startFaultProxy } from '../food-service/src/fault-proxy';
import { startFoodService, type FoodService } from '../food-service/src/server';
import { describeError } from '../functions/src/api';
import { hasEmulatorUi, MissingTool } from '../functions/test/helpers/google-tools';
import { watchRelations, type PlainData } from './board/feed';
import { startBoard, type Board } from './board/server';
import { RelationTracker } from './board/tracker';
import { CLOCK_FUNCTION, runClock, type ClockCounts } from './clock';
import { lookForTools, type EmulatorTools } from './google/check';

import { checkInvariants } from './invariants';
import { parseOptions, usesFaultProxy, UsageError, USAGE, type StartOptions } from './options';
import {
  cliEnvironment,
  createRunDirectory,
  emulatorsConfig,
  fixedPorts,
  freePorts,
  FUNCTIONS_DIR,
  localValues,
  readProjectConfig,
  ROOT,
  type RunDirectory,
} from './project';
import {
  drainLimitMs,
  finalSummary,
  openOrders,
  progressLine,
  readOrders,
  type RunSnapshot,
} from './report';

const FIREBASE_BIN = path.join(ROOT, 'node_modules', '.bin', 'firebase');
/**
 * What the Functions emulator prints once for every invocation that threw (a
 * FATAL runtime error kills the worker): the invocations the platform would
 * have dropped (advanceRelation has retry off).
 */
export const FUNCTION_KILLED = /Your function was killed because it raised an unhandled error/;
/** Per-invocation lines of the CLI (start, end, the function's own output): they go to the log file, not the terminal. */
const INVOCATION_LINE =
  /^(i|>)\s+(functions: (Beginning execution of|Finished) "|\s*\{"severity")|^>\s/;
/** Everything is local (nothing is downloaded), so the suite is ready in well under a minute; a slow machine gets three. */
const EMULATORS_READY_MS = 180_000;
/** How long the emulators may take to stop cleanly (an export included) before they and their children are killed. */
const EMULATORS_STOP_MS = 60_000;
const PROGRESS_EVERY_MS = 5_000;
/** Under `npm start`, one Ctrl-C arrives twice (from the terminal and forwarded by npm): signals this close are that keypress. */
const SAME_SIGNAL_MS = 1_000;

const pad = (label: string) => label.padEnd(18);

/** The tools the suite needs, as `npm run tools` finds them; a missing Pub/Sub emulator is left out. */
export function findTools(env: NodeJS.ProcessEnv = process.env): {
  tools: EmulatorTools;
  without: string[];
  lines: string[];
} {
  const { tools, missing, lines } = lookForTools(env);
  if (!tools.java || !tools.firestore) throw missing[0];
  return { tools, without: tools.pubsub ? [] : ['pubsub'], lines };
}

/**
 * Waits until the Functions emulator has loaded the clock's HTTPS function
 * and returns its URL. It asks the emulator's own listing (GET /backends, what
 * the Emulator UI reads) rather than calling the function, so waiting runs nothing.
 */
async function waitForPollFunction(
  base: string,
  projectId: string,
  signal: AbortSignal,
): Promise<string> {
  const name = CLOCK_FUNCTION;
  const deadline = Date.now() + EMULATORS_READY_MS;
  for (;;) {
    signal.throwIfAborted();
    try {
      const response = await fetch(`${base}/backends`, { signal: AbortSignal.timeout(5_000) });
      const body = (await response.json()) as {
        backends?: Array<{ functionTriggers?: Array<Record<string, unknown>> }>;
      };
      const trigger = body.backends
        ?.flatMap((b) => b.functionTriggers ?? [])
        .find((t) => t.entryPoint === name && t.httpsTrigger);
      if (trigger)
        return `${base}/${projectId}/${String(trigger.region ?? 'us-central1')}/${String(trigger.name ?? name)}`;
    } catch {
      // Not listening yet, or still loading the functions: ask again.
    }
    if (Date.now() > deadline)
      throw new Error(
        `the Functions emulator did not serve ${name} at ${base} within ${EMULATORS_READY_MS / 1000} s`,
      );
    await sleep(500, undefined, { signal });
  }
}

/** The CLI's arguments: the run's demo project and config, and where to load and keep the data. */
export function cliArgs(
  projectId: string,
  configFile: string,
  options: Partial<Pick<StartOptions, 'importDir' | 'exportDir'>>,
): string[] {
  return [
    ...['emulators:start', '--project', projectId, '--config', configFile],
    ...(options.importDir ? ['--import', options.importDir] : []),
    ...(options.exportDir ? ['--export-on-exit', options.exportDir] : []),
  ];
}

/**
 * The Firebase CLI in its own process group, so a Ctrl-C in the terminal
 * reaches this script only and the CLI gets exactly one signal from it (it
 * takes a second one as "stop now", skipping the clean shutdown and the export).
 */
function startCli(
  dir: RunDirectory,
  options: StartOptions,
  projectId: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
) {
  const child = spawn(FIREBASE_BIN, cliArgs(projectId, dir.configFile, options), {
    cwd: dir.dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const log = fs.createWriteStream(logFile);
  // killed: invocations the Functions emulator reported as killed by an unhandled error.
  const cli = { process: child, exited: Promise.resolve(1), killed: 0 };
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      // eslint-disable-next-line no-control-regex -- the CLI colours its output
      const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
      log.write(`${plain}\n`);
      if (FUNCTION_KILLED.test(plain)) cli.killed++;
      if (!INVOCATION_LINE.test(plain)) console.log(line);
    });
  }
  // The exit code; a signal counts as 128 + its number, as shells report it.
  cli.exited = new Promise((resolve) => {
    child.once('error', (error) => {
      console.error(`npm start: the Firebase CLI could not start: ${error.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      log.end();
      resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1));
    });
  });
  return cli;
}
type Cli = ReturnType<typeof startCli>;

const running = (cli: Cli) => cli.process.exitCode === null && cli.process.signalCode === null;

function killGroup(cli: Cli): void {
  try {
    process.kill(-(cli.process.pid ?? 0), 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Asks once, waits, then kills the whole group: nothing it started outlives this script. */
async function stopCli(cli: Cli, signal: NodeJS.Signals): Promise<number> {
  if (running(cli)) cli.process.kill(signal);
  const timer = setTimeout(() => {
    console.error(`the emulators did not stop within ${EMULATORS_STOP_MS / 1000} s: killing them`);
    killGroup(cli);
  }, EMULATORS_STOP_MS);
  try {
    return await cli.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Why the run stops before its end: a signal, or the emulators exiting on their own. */
type Interruption =
  { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'emulators'; code: number };

/**
 * The exit code: an open run stopped by a signal exits as the emulators did
 * (0 after their clean shutdown); a bounded run interrupted by one is not
 * judged (130); emulators that exit on their own fail the run; otherwise the
 * run's own verdict, provided the emulators then stopped cleanly.
 */
export function exitCode(
  reason: Interruption | undefined,
  bounded: boolean,
  verdict: number,
  stopCode: number,
): number {
  if (reason?.kind === 'signal') return bounded ? 130 : stopCode;
  if (reason?.kind === 'emulators') return bounded || reason.code !== 0 ? reason.code || 1 : 0;
  return stopCode === 0 ? verdict : 1;
}

async function run(options: StartOptions): Promise<number> {
  const { projectId, firebaseJson } = readProjectConfig(ROOT, options.project);
  const found = findTools();
  for (const line of found.lines) console.log(line);
  // The deployable build, and the simulator's generated types, after the checks that fail fast.
  if (spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) {
    console.error('npm start: the build failed (above)');
    return 1;
  }

  const interrupt = new AbortController();
  const emulators: { cli?: Cli } = {};
  // The first Ctrl-C or SIGTERM ends the run; a second, separate one goes to the emulators ("stop now").
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      interrupt.abort({ kind: 'signal', signal } satisfies Interruption);
    } else if (
      Date.now() - firstSignalAt > SAME_SIGNAL_MS &&
      emulators.cli &&
      running(emulators.cli)
    )
      emulators.cli.process.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // If this script dies, nothing it started outlives it.
  process.once('exit', () => emulators.cli && running(emulators.cli) && killGroup(emulators.cli));

  const ports = options.freePorts ? await freePorts(firebaseJson) : fixedPorts(firebaseJson);
  const certs = ensureCerts();
  const caPem = fs.readFileSync(certs.caCert, 'utf8');
  const foodAddress = `127.0.0.1:${ports.simulator}`;
  // The fault proxy (--drop-rate, --handshake-cut-rate, --proxy-latency): only the functions dial it.
  const { dropRate, handshakeCutRate, proxyLatencyMs: latencyMs } = options.faults;
  const proxy = usesFaultProxy(options.faults)
    ? await startFaultProxy({
        target: foodAddress,
        dropRate,
        handshakeCutRate,
        latencyMs,
        seed: options.seed,
      })
    : undefined;
  const ui = hasEmulatorUi();
  const dir = createRunDirectory(
    os.tmpdir(),
    emulatorsConfig(firebaseJson, { ports, ui, without: found.without }),
    localValues(
      proxy?.address ?? foodAddress,
      options.pollIntervalSeconds,
      caPem,
      options.shardSize === undefined ? {} : { SHARD_SIZE: String(options.shardSize) },
    ),
  );
  const logFile = path.join(ROOT, 'artifacts', `${projectId}.emulators.log`);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const host = (name: string) => `127.0.0.1:${ports.emulators[name]}`;
  console.log(
    `${pad('project folder')}${dir.dir}: the generated firebase.json, functions/.env.local and .secret.local`,
  );
  console.log(
    `${pad('emulator log')}${logFile} (every line of the CLI; the function invocations are only there)`,
  );
  const uiNote =
    'not started: its bundle is not downloaded (once, with internet: npx firebase setup:emulators:ui)';
  console.log(`${pad('Emulator UI')}${ui ? `http://${host('ui')}/` : uiNote}`);

  const cli = startCli(
    dir,
    options,
    projectId,
    {
      ...cliEnvironment(process.env, found.tools, dir.names),
      ...(process.stdout.isTTY ? { FORCE_COLOR: '1' } : { NO_COLOR: '1' }),
    },
    logFile,
  );
  emulators.cli = cli;
  void cli.exited.then((code) =>
    interrupt.abort({ kind: 'emulators', code } satisfies Interruption),
  );
  const startedAt = Date.now();
  const clock: ClockCounts = { ok: 0, skipped: 0, failed: 0 };
  const stopClock = new AbortController();
  let clockDone: Promise<void> | undefined;
  let simulator: FoodService | undefined;
  let board: Board | undefined;
  let unwatch: (() => void) | undefined;
  let progress: NodeJS.Timeout | undefined;
  let verdict = 1;
  // A demo project needs no Google credentials: no probe of the GCE metadata server for them (and no warnings).
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const app = initializeApp({ projectId }, `npm-start-${process.pid}`);
  const db = getFirestore(app);
  db.settings({ host: host('firestore'), ssl: false });
  try {
    const pollUrl = await waitForPollFunction(
      `http://${host('functions')}`,
      projectId,
      interrupt.signal,
    );
    const opsUrl = `${pollUrl.slice(0, pollUrl.lastIndexOf('/'))}/ops`;
    // A function's first call starts a worker of the Functions emulator, which takes seconds: started now, the
    // board's first click on a card does not wait for it.
    void fetch(`${opsUrl}/health`, { signal: AbortSignal.timeout(60_000) })
      .then((r) => r.arrayBuffer())
      .catch(() => undefined);
    console.log(
      `${pad('emulators ready')}in ${Math.round((Date.now() - startedAt) / 1000)} s; the customers start ordering now`,
    );
    const tracker = new RelationTracker();
    const onChange = (id: string, before: PlainData | null, after: PlainData | null) =>
      tracker.apply(id, before, after, new Date());
    unwatch = await watchRelations(db, onChange, (error) =>
      console.error(`board: the relations listener failed: ${error.message}`),
    );
    const resumed = tracker.summary(new Date()).relations;
    const food = (simulator = await startFoodService({
      port: ports.simulator,
      statsPort: ports.simulatorStats,
      tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
      controllerIntervalMs: options.controllerIntervalMs,
      ordersPerSecond: options.ordersPerSecond,
      cancelRate: options.cancelRate,
      rejectRate: options.rejectRate,
      failRate: options.faults.failRate,
      seed: options.seed,
      log: (line) => console.log(`[food-service] ${line}`),
    }));
    // A click on a card shows the order's history from the ops function, as an operator's API call would.
    const extra = () => ({
      firestore: `Google's emulator at ${host('firestore')}`,
      food: food.stats(),
    });
    board = await startBoard({ port: options.boardPort, tracker, statusApi: opsUrl, extra });
    console.log(`${pad('live board')}${board.url}`);
    console.log(
      `${pad('Firestore')}${host('firestore')} (FIRESTORE_EMULATOR_HOST=${host('firestore')} GCLOUD_PROJECT=${projectId} for npm run ops)`,
    );
    console.log(
      `${pad('food service')}${foodAddress} (simulator, ${options.ordersPerSecond} orders/s, stats ${food.statsUrl})`,
    );
    const faults = `drop ${dropRate}, handshake cut ${handshakeCutRate}, latency ${latencyMs} ms`;
    if (proxy)
      console.log(
        `${pad('fault proxy')}${proxy.address} → ${foodAddress} for the functions (${faults})`,
      );
    console.log(`${pad('ops API')}curl '${opsUrl}/orders?flagged=true'`);
    if (resumed > 0) console.log(`${pad('resuming')}${resumed} relations from --import`);
    clockDone = runClock(
      pollUrl,
      options.pollIntervalSeconds,
      AbortSignal.any([interrupt.signal, stopClock.signal]),
      clock,
      console.log,
    );

    const snapshot = (): RunSnapshot => ({
      elapsedSeconds: Math.round((Date.now() - startedAt) / 1000),
      summary: tracker.summary(new Date()),
      stats: food.stats(),
      clock,
      functionErrors: cli.killed,
    });
    progress = setInterval(() => console.log(progressLine(snapshot())), PROGRESS_EVERY_MS);
    const { durationSeconds } = options;
    const signal = interrupt.signal;
    if (durationSeconds === undefined) {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      verdict = 0;
    } else {
      await sleep(durationSeconds * 1000, undefined, { signal }).catch(() => undefined);
      // --duration: the customers stop, the orders in flight finish, and the run is judged by its invariants. An
      // interruption ends it unjudged (the catch below says nothing of it).
      signal.throwIfAborted();
      food.stopCustomers();
      const limitMs = drainLimitMs(
        options.pollIntervalSeconds,
        options.controllerIntervalMs,
        60_000,
      );
      console.log(
        `duration reached: the customers stop ordering; waiting up to ${limitMs / 1000} s until no order is open and no relation is active`,
      );
      const drainStarted = Date.now();
      let drained = false;
      while (!drained && Date.now() < drainStarted + limitMs) {
        // Drained when every active relation, and every open order, is done or waits for a person: nothing moves on its own.
        const { active, waitingForPerson } = tracker.summary(new Date());
        drained = active === waitingForPerson && openOrders(food.stats()) <= waitingForPerson;
        if (!drained) await sleep(500, undefined, { signal });
      }
      const relations = (await db.collection('relations').get()).docs.map((doc) => doc.data());
      const stats = food.stats();
      const report = checkInvariants({
        orders: await readOrders(food.address, caPem, FUNCTIONS_DIR),
        relations,
        created: { kitchenOrders: stats.kitchenOrdersCreated, shipments: stats.shipmentsCreated },
        // Dropped and late replies leave creates ambiguous, so noted orphans and flags are expected; a cut handshake provably sent nothing.
        foodFaults:
          options.faults.failRate > 0 ||
          options.faults.dropRate > 0 ||
          options.faults.proxyLatencyMs > 0,
        resumedRelations: resumed,
        failedDeliveries: cli.killed,
        drainTimedOut: !drained,
      });
      const drainSeconds = Math.round((Date.now() - drainStarted) / 1000);
      const proxyLine = proxy && formatProxyStats(proxy.stats());
      console.log(
        finalSummary({
          ...snapshot(),
          durationSeconds,
          drainSeconds,
          drained,
          relations: relations.length,
          report,
          proxy: proxyLine,
        }),
      );
      verdict = report.held ? 0 : 1;
    }
  } catch (error) {
    if (!interrupt.signal.aborted) console.error(`npm start: ${describeError(error)}`);
  }

  // Stops the clock, then the emulators (so no function calls a simulator that is gone, and the export sees the
  // last writes), then the rest; says why it ended.
  const reason = interrupt.signal.aborted ? (interrupt.signal.reason as Interruption) : undefined;
  stopClock.abort();
  await clockDone;
  clearInterval(progress);
  unwatch?.();
  const stopCode = await stopCli(cli, reason?.kind === 'signal' ? reason.signal : 'SIGTERM');
  await board?.stop();
  await simulator?.stop();
  await proxy?.stop();
  await deleteApp(app);
  if (reason?.kind === 'emulators')
    console.log(
      `error: the emulators exited (${reason.code}) before the run ended; ${logFile} says why`,
    );
  else if (reason === undefined && stopCode !== 0)
    console.log(`error: the emulators did not stop cleanly (exit ${stopCode})`);
  const code = exitCode(reason, options.durationSeconds !== undefined, verdict, stopCode);
  if (code === 0) fs.rmSync(dir.dir, { recursive: true, force: true });
  else
    console.log(
      `the project folder is kept for its logs (firebase-debug.log, firestore-debug.log): ${dir.dir}`,
    );
  return code;
}

async function main(argv: string[]): Promise<number> {
  let options: StartOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`npm start: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // A closed terminal or pipe must not crash the script before it has stopped its children.
  process.stdout.on('error', () => undefined);
  try {
    return await run(options);
  } catch (error) {
    // Java 21+ and Google's emulator are required: say which is missing, in one line, and stop.
    if (error instanceof MissingTool) console.error(`npm start: ${error.message}`);
    else console.error(`npm start failed: ${describeError(error)}`);
    return 1;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
