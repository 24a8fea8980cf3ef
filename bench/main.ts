// `npm run bench`: what an order costs and how a poll scales, measured in one
// run against the simulator and the embedded stack, judged against the
// targets, printed as tables and written as JSON. `--quick` is the CI smoke
// test: small worlds, same code.
import { getApps, initializeApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { startEmbeddedFirestore } from '../local/firestore';
import { PROJECT_ID } from '../local/stack';
import { runChild } from './child';
import type { LifecycleResult } from './lifecycle';
import { pollScalingBench, type PollMeasurement } from './poll-scaling';
import { judge, type TargetRow } from './targets';

const ARTIFACTS = path.resolve(__dirname, '..', 'artifacts');
const USAGE = `usage: npm run bench -- [--quick] [--out FILE]

  --quick     small worlds (a CI smoke test): 60 orders, A = 200, H = 0 and 1,000
  --out FILE  where to write the JSON results (default artifacts/bench.json)
`;

const log = (line: string) => console.log(line);

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function lifecycleTable(result: LifecycleResult): string {
  const outcomes = Object.entries(result.byOutcome);
  const rows: string[][] = [];
  const cell = (s: { mean: number; max: number }) => `${s.mean.toFixed(2)} (max ${s.max})`;
  for (const metric of ['GetOrder', 'UpdateOrder', 'CreateKitchenOrder', 'GetKitchenOrder', 'CreateShipment', 'GetShipment']) {
    rows.push([`RPC ${metric}`, ...outcomes.map(([, c]) => cell(c.rpcs[metric]))]);
  }
  rows.push(['Firestore reads', ...outcomes.map(([, c]) => cell(c.reads))]);
  rows.push(['Firestore writes', ...outcomes.map(([, c]) => cell(c.writes))]);
  rows.push(['trigger invocations', ...outcomes.map(([, c]) => cell(c.invocations))]);
  return table(['per order', ...outcomes.map(([o, c]) => `${o} (${c.orders})`)], rows);
}

function pollTable(polls: PollMeasurement[]): string {
  return table(
    ['A', 'H', 'mode', 'wall s', 'ListOrders', 'GetOrder', 'GetKitchenOrder', 'GetShipment', 'FS reads', 'FS writes', 'peak RSS MB'],
    polls.map((p) => [
      String(p.active), String(p.history), p.mode, (p.wallMs / 1000).toFixed(2), String(p.calls.ListOrders), String(p.calls.GetOrder),
      String(p.calls.GetKitchenOrder), String(p.calls.GetShipment), String(p.firestore.reads), String(p.firestore.writes), p.peakRssMb.toFixed(0),
    ]),
  );
}

function targetTable(rows: TargetRow[]): string {
  return table(['measure', 'target', 'measured', 'met'], rows.map((r) => [r.measure, r.target, r.measured, r.met === null ? 'not measured' : r.met ? 'yes' : 'NO']));
}

async function main(): Promise<number> {
  let values: { quick?: boolean; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { quick: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (error) {
    process.stderr.write(`npm run bench: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const quick = values.quick ?? false;
  const out = path.resolve(values.out ?? path.join(ARTIFACTS, 'bench.json'));

  const machine = { date: new Date().toISOString(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  log(`bench${quick ? ' (quick)' : ''}: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}`);

  const lifecycleParams = quick
    ? { orders: 60, pollIntervalSeconds: 5, controllerIntervalMs: 700, ordersPerSecond: 2, timeoutMs: 120_000 }
    : { orders: 500, pollIntervalSeconds: 5, controllerIntervalMs: 700, ordersPerSecond: 10, timeoutMs: 300_000 };
  log(`1. lifecycle: ${lifecycleParams.orders} orders to their end (poll every ${lifecycleParams.pollIntervalSeconds} s, simulator steps every ${lifecycleParams.controllerIntervalMs} ms)`);
  const lifecycle = await runChild<LifecycleResult>(
    ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'lifecycle-child.ts'), JSON.stringify(lifecycleParams)],
    { timeoutMs: lifecycleParams.timeoutMs + 60_000, onProgress: log },
  );
  log(`   ${lifecycle.orders} orders in ${lifecycle.seconds.toFixed(0)} s; ${lifecycle.neverSeen} cancelled before any poll saw them`);

  const firestore = await startEmbeddedFirestore();
  process.env.FIRESTORE_EMULATOR_HOST = firestore.host;
  process.env.GCLOUD_PROJECT = PROJECT_ID;
  if (getApps().length === 0) initializeApp({ projectId: PROJECT_ID });
  const db = getFirestore();
  try {
    const scaling = quick ? { actives: [200], histories: [0, 1000] } : { actives: [1000, 10_000], histories: [0, 10_000] };
    log(`2-3. poll scaling: A ∈ {${scaling.actives.join(', ')}}, H ∈ {${scaling.histories.join(', ')}}, each against the raw floor and the original design`);
    const polls = await pollScalingBench({ firestore, db, ...scaling, pageSize: 500, maxConcurrency: 32, log });

    const targets = judge(lifecycle, polls);
    log('\nLifecycle cost per finished order, by outcome (mean, max):');
    log(lifecycleTable(lifecycle));
    log(`Shared polling cost per order: ${lifecycle.sharedPerOrder.ListOrders.toFixed(2)} ListOrders, ${lifecycle.sharedPerOrder.reads.toFixed(2)} reads, ${lifecycle.sharedPerOrder.writes.toFixed(2)} writes (the poll lease); creates not recorded by any relation: ${lifecycle.unrecordedCreates}`);
    log(`\nLatency the orchestrator added, in poll intervals of ${lifecycle.pollIntervalSeconds} s (p50 / p95):`);
    log(table(['stage', 'p50', 'p95'], (['NEW', 'PREPARATION', 'IN_FLIGHT', 'total'] as const).map((s) => [s, lifecycle.latency[s].p50.toFixed(2), lifecycle.latency[s].p95.toFixed(2)])));
    const wait = lifecycle.deliveryWaitMs;
    log(`Trigger events waited in the local delivery queue: p50 ${wait.p50.toFixed(0)} ms, p95 ${wait.p95.toFixed(0)} ms, max ${wait.max.toFixed(0)} ms`);
    log('\nOne poll:');
    log(pollTable(polls));
    log('\nTargets:');
    log(targetTable(targets));

    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify({ machine, quick, lifecycle, polls, targets }, null, 2)}\n`);
    log(`\nresults written to ${out}`);
    return 0;
  } finally {
    firestore.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm run bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
