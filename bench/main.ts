// `npm run bench`: what an order costs and how a poll scales, measured against
// the simulator on Google's Firestore emulator, judged against the targets,
// printed and written as JSON. `--quick` is the CI smoke test: small worlds,
// same code.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { createRequire } from 'node:module';

import { startGoogleFirestore } from '../functions/test/helpers/firestore-emulator';
import {
  findFirestoreEmulator,
  findJava,
  MissingTool,
} from '../functions/test/helpers/google-tools';
import { PRICES, resourcesOf, SECONDS_PER_MONTH, type Endpoint } from './cost';
import {
  perOrderTable,
  pricesTable,
  restTable,
  scaleTable,
  type FunctionResources,
} from './cost-report';
import {
  frontierBench,
  frontierPoints,
  frontierSvg,
  frontierTable,
  type FrontierParams,
  type FrontierResult,
} from './frontier';
import { runLifecycle } from './child';
import type { FirestoreKind, LifecycleParams } from './lifecycle';
import { pollScalingBench } from './poll-scaling';
import { scaleBench, type ScaleResult } from './scale';
import { FUNCTIONS_DIR, PROJECT_ID, type PollTarget } from './world';
import {
  callTable,
  counterNotes,
  latencyTable,
  lifecycleTable,
  pollTable,
  targetTable,
  writesTable,
  type Run,
} from './report';
import { judge } from './targets';
import { describeError } from '../functions/src/api';

const ARTIFACTS = path.resolve(__dirname, '..', 'artifacts');
const USAGE = `usage: npm run bench -- [--quick] [--frontier] [--scale A] [--out FILE]

  --quick              small worlds (a CI smoke test): 40 orders, A = 200, H = 0 and 1,000;
                       A = 600 in shards of 100 at scale;
                       a frontier of polls every 2 and 4 s at A = 0 and 50
  --frontier           only section 6, the latency-cost frontier: polls every 5, 15, 30 and 60 s
                       at A = 0, 1,000 and 10,000 (about 28 minutes)
  --scale A            the active orders of section 4 (default 100,000)
  --out FILE           where to write the JSON results (default artifacts/bench.json);
                       the frontier's plot goes beside it, as frontier.svg
`;

const log = (line: string) => console.log(line);
const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(0)} s`;

/**
 * Starts the emulator a poll-scaling run uses, with a seeding client (not
 * counted: the wire counter runs in the poll processes only). The client is
 * the functions' own firebase-admin, so the documents their code builds
 * (newRelation's Timestamps) are its own types.
 */
async function startTarget(kind: FirestoreKind): Promise<PollTarget & { stop(): Promise<void> }> {
  const emulator = await startGoogleFirestore({ projectId: PROJECT_ID });
  // The client takes the emulator's address from the environment when it is made.
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  process.env.GCLOUD_PROJECT = PROJECT_ID;
  // Nothing here runs on Google Cloud: no metadata-server probe (and no warning from it).
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const requireFromFunctions = createRequire(path.join(FUNCTIONS_DIR, 'package.json'));
  const { initializeApp, deleteApp } = requireFromFunctions(
    'firebase-admin/app',
  ) as typeof import('firebase-admin/app');
  const { getFirestore } = requireFromFunctions(
    'firebase-admin/firestore',
  ) as typeof import('firebase-admin/firestore');
  const app = initializeApp({ projectId: PROJECT_ID }, `bench-${kind}`);
  return {
    kind,
    host: emulator.host,
    db: getFirestore(app),
    clear: () => emulator.clear(),
    stop: async () => {
      await deleteApp(app).catch(() => undefined);
      await emulator.stop();
    },
  };
}

interface Options {
  quick: boolean;
  /** Only the frontier (section 6). */
  frontier: boolean;
  out: string;
  kinds: FirestoreKind[];
  scale?: number;
}

/**
 * The CPU and memory each function is deployed with: its manifest, resolved
 * by firebase-tools' own rules (a 2nd-gen function's default CPU follows
 * its memory).
 */
function functionResources(): FunctionResources {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the deployable, as firebase-tools loads it
  const deployable = require(
    path.resolve(__dirname, '..', 'functions', 'lib', 'index.js'),
  ) as Record<string, { __endpoint: Endpoint }>;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- firebase-tools' deploy-time defaults, not a copy of them
  const backend = require('firebase-tools/lib/deploy/functions/backend') as {
    DEFAULT_MEMORY: number;
    memoryToGen1Cpu(memoryMb: number): number;
    memoryToGen2Cpu(memoryMb: number): number;
  };
  const tools = {
    defaultMemoryMb: backend.DEFAULT_MEMORY,
    gen1Cpu: backend.memoryToGen1Cpu,
    gen2Cpu: backend.memoryToGen2Cpu,
  };
  return {
    pollFoodService: resourcesOf(deployable.pollFoodService.__endpoint, tools),
    advanceRelation: resourcesOf(deployable.advanceRelation.__endpoint, tools),
    observeShard: resourcesOf(deployable.observeShard.__endpoint, tools),
  };
}

function parse(argv: string[]): Options | { help: true } | { error: string } {
  let values: {
    quick?: boolean;
    frontier?: boolean;
    out?: string;
    scale?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        frontier: { type: 'boolean' },
        out: { type: 'string' },
        scale: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return { error: describeError(error) };
  }
  if (values.help) return { help: true };
  const scale = values.scale === undefined ? undefined : Number(values.scale);
  if (scale !== undefined && !(Number.isInteger(scale) && scale >= 10 && scale <= 1_000_000))
    return {
      error: `--scale ${values.scale}: expected a whole number of active orders from 10 to 1,000,000`,
    };
  return {
    ...(scale === undefined ? {} : { scale }),
    quick: values.quick ?? false,
    frontier: values.frontier ?? false,
    out: path.resolve(values.out ?? path.join(ARTIFACTS, 'bench.json')),
    kinds: ['google'],
  };
}

/** Sections 1 to 4: an order's cost, a poll's scaling, a poll at scale; measured, then printed. */
async function sections1to4(options: {
  quick: boolean;
  kinds: FirestoreKind[];
  scaleParams: { active: number; shardSize: number };
  pollConfig: { pageSize: number; maxConcurrency: number };
  resources: FunctionResources;
}) {
  const { quick, kinds, scaleParams, pollConfig, resources } = options;
  const lifecycleParams: Omit<LifecycleParams, 'firestore' | 'log'> = quick
    ? {
        orders: 40,
        pollIntervalSeconds: 5,
        controllerIntervalMs: 700,
        ordersPerSecond: 4,
        timeoutMs: 90_000,
      }
    : {
        orders: 500,
        pollIntervalSeconds: 5,
        controllerIntervalMs: 700,
        ordersPerSecond: 10,
        timeoutMs: 300_000,
      };
  const scaling = quick
    ? { actives: [0, 200], histories: [0, 1000] }
    : { actives: [0, 1000, 10_000], histories: [0, 10_000] };

  const runs: Run[] = [];
  for (const kind of kinds) {
    log(
      `1. lifecycle on ${kind}: ${lifecycleParams.orders} orders to their end (poll every ${lifecycleParams.pollIntervalSeconds} s, simulator steps every ${lifecycleParams.controllerIntervalMs} ms)`,
    );
    const sectionStarted = Date.now();
    const lifecycle = await runLifecycle({ ...lifecycleParams, firestore: kind }, log);
    log(
      `   ${lifecycle.orders} orders in ${lifecycle.seconds.toFixed(0)} s on ${lifecycle.firestore.description}; ${lifecycle.neverSeen} cancelled before any poll saw them (section: ${elapsed(sectionStarted)})`,
    );

    log(
      `2-3. poll scaling on ${kind}: A ∈ {${scaling.actives.join(', ')}}, H ∈ {${scaling.histories.join(', ')}}, each against the raw floor and the original design`,
    );
    const scalingStarted = Date.now();
    const target = await startTarget(kind);
    try {
      const polls = await pollScalingBench({ target, ...scaling, ...pollConfig, log });
      runs.push({ kind, lifecycle, polls, targets: judge(lifecycle, polls) });
    } finally {
      await target.stop();
    }
    log(`   poll scaling on ${kind}: ${elapsed(scalingStarted)}`);
  }

  // At scale the poll pages through its relations: Google's emulator only.
  let scale: ScaleResult | undefined;
  const atScale = 'google';
  {
    const sectionStarted = Date.now();
    log(
      `4. scale on ${atScale}: one poll at A = ${scaleParams.active}, in one instance and fanned out in shards of ${scaleParams.shardSize}`,
    );
    const target = await startTarget(atScale);
    try {
      scale = await scaleBench({ target, ...scaleParams, ...pollConfig, log });
    } finally {
      await target.stop();
    }
    log(`   scale: ${elapsed(sectionStarted)}`);
  }

  log('\nLifecycle cost per finished order, by outcome:');
  log(lifecycleTable(runs));
  log("\nWhere a delivered order's writes go:");
  log(writesTable(runs));
  for (const { kind, lifecycle: l } of runs) {
    log(
      `${kind}: shared polling cost per order ${l.sharedPerOrder.ListOrders.toFixed(2)} ListOrders, ${l.sharedPerOrder.reads.toFixed(2)} reads, ${l.sharedPerOrder.writes.toFixed(2)} writes (the poll lease); ` +
        `creates not recorded by any relation: ${l.unrecordedCreates}; queries that returned nothing: ${l.emptyQueries}; ${l.seconds.toFixed(0)} s`,
    );
  }
  log("\nThe functions' Firestore calls during the lifecycle, start to status:");
  log(callTable(runs));
  log(
    `\nLatency the orchestrator added, in poll intervals of ${lifecycleParams.pollIntervalSeconds} s:`,
  );
  log(latencyTable(runs));
  for (const {
    kind,
    lifecycle: { deliveryWaitMs: w },
  } of runs) {
    log(
      `${kind}: trigger events waited for a free slot in the test driver's delivery (one instance at ADVANCE_CONCURRENCY) p50 ${w.p50.toFixed(0)} ms, p95 ${w.p95.toFixed(0)} ms, max ${w.max.toFixed(0)} ms`,
    );
  }
  log('\nOne poll:');
  log(pollTable(runs));
  log('\nTargets:');
  log(targetTable(runs));

  const notes = counterNotes(runs);
  if (notes.length) log(`\nCounters:\n${notes.map((n) => `- ${n}`).join('\n')}`);

  const first = runs[0];
  if (scale) {
    log(`\n4. One poll at scale, on ${scale.firestoreKind}:`);
    log(scaleTable(scale, resources));
  }
  log(`\nDollars at list prices (checked ${PRICES.checked}):`);
  log(pricesTable());
  log(`\nPer delivered order, on ${first.kind}:`);
  log(perOrderTable(first.lifecycle, resources));
  log(
    `\nPolling at rest, per month at one poll a minute (${(SECONDS_PER_MONTH / 60).toLocaleString('en-US')} polls), on ${first.kind}:`,
  );
  log(restTable(first.polls, resources));

  return { runs, scale, notes };
}

/** Section 6: the latency-cost frontier, measured, printed, and plotted to `plot`. */
async function frontierSection(options: {
  quick: boolean;
  pollConfig: { pageSize: number; maxConcurrency: number };
  resources: FunctionResources;
  plot: string;
  caption: string;
}): Promise<FrontierResult> {
  const { quick, pollConfig, resources, plot, caption } = options;
  const params: FrontierParams = quick
    ? {
        intervals: [2, 4],
        actives: [0, 50],
        orders: 6,
        windowMs: 12_000,
        controllerIntervalMs: 700,
      }
    : {
        intervals: [5, 15, 30, 60],
        actives: [0, 1000, 10_000],
        orders: 24,
        windowMs: 60_000,
        controllerIntervalMs: 700,
      };
  const started = Date.now();
  log(
    `6. frontier: polls every ${params.intervals.join(', ')} s; a lifecycle of ${params.orders} orders at each, and polling at rest at A = ${params.actives.join(', ')}`,
  );
  const target = await startTarget('google');
  let result: FrontierResult;
  try {
    result = await frontierBench({ params, target, pollConfig, log });
  } finally {
    await target.stop();
  }
  const points = frontierPoints(result, resources);
  log(`   frontier: ${elapsed(started)}`);
  log('\n6. The latency-cost frontier (latency added by the orchestrator, p50 / p95 in seconds):');
  log(frontierTable(points));
  // The plot is for a typical deployment: 1,000 active orders, or the most the run measured.
  const plotted = params.actives.includes(1000) ? 1000 : Math.max(...params.actives);
  fs.mkdirSync(path.dirname(plot), { recursive: true });
  fs.writeFileSync(plot, frontierSvg(points, plotted, caption));
  log(`the frontier at A = ${plotted} is plotted in ${plot}`);
  return result;
}

/** The commit the bench ran on, for its published results. */
function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'an unknown commit';
  }
}

async function main(): Promise<number> {
  const parsed = parse(process.argv.slice(2));
  if ('error' in parsed) {
    process.stderr.write(`npm run bench: ${parsed.error}\n\n${USAGE}`);
    return 2;
  }
  if ('help' in parsed) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { quick, out, kinds } = parsed;
  const scaleParams = {
    active: parsed.scale ?? (quick ? 600 : 100_000),
    shardSize: quick ? 100 : 2000,
  };
  {
    try {
      findJava();
      findFirestoreEmulator();
    } catch (error) {
      if (!(error instanceof MissingTool)) throw error;
      process.stderr.write(
        `npm run bench: Google's Firestore emulator cannot run here: ${error.message}\n`,
      );
      return 1;
    }
  }

  const started = Date.now();
  const machine = {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
  // Read at the start: the code measured is what was built then, whatever is committed meanwhile.
  const measuredCommit = commit();
  log(
    `bench${quick ? ' (quick)' : ''} on ${kinds.join(' and ')}: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}`,
  );

  const pollConfig = { pageSize: 500, maxConcurrency: 32 };
  const resources = functionResources();
  const measured = parsed.frontier
    ? {}
    : await sections1to4({ quick, kinds, scaleParams, pollConfig, resources });
  const frontier = await frontierSection({
    quick,
    pollConfig,
    resources,
    plot: path.join(path.dirname(out), 'frontier.svg'),
    caption: `${measuredCommit}, ${machine.date.slice(0, 10)}, ${machine.cpus} CPUs, Google's Firestore emulator`,
  });

  const seconds = (Date.now() - started) / 1000;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(
    out,
    `${JSON.stringify({ machine, commit: measuredCommit, quick, firestore: kinds, seconds, ...measured, frontier, resources, prices: PRICES }, null, 2)}\n`,
  );
  log(`\nbench took ${seconds.toFixed(0)} s; results written to ${out}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm run bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
