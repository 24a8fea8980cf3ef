// `npm run sim`: the deterministic simulation of the orchestrator.
//   npm run sim -- --seed 42             one run, replayed exactly; a failure is shrunk and its trace printed
//   npm run sim -- --seeds 100000        the long hunt: seeds 1..100000 over every core, with progress and a summary
//   npm run sim -- --seeds 2000 --from 5000 --jobs 2 --json
//   npm run sim -- --seed 5694 --rounds-only   a seed found before the person on call was drawn, as it was found
//   npm run sim -- --seed 50511 --before-the-wait   one found before heldWhileAPersonWaits was drawn
//   npm run sim -- --seed 26305 --before-slow-calls   one found before the slow food service was drawn
// A failure prints the seed and the command that replays it.
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

import { PEOPLE_FLAGS, runSeed, type People, type SeedOutcome } from './property';
import { RUN_START, type RunResult } from './run';

interface Totals {
  runs: number;
  orders: number;
  faults: number;
  crashes: number;
  interleavings: number;
  invocations: number;
  kitchenOrders: number;
  shipments: number;
  failures: number[];
}

const emptyTotals = (): Totals => ({
  runs: 0,
  orders: 0,
  faults: 0,
  crashes: 0,
  interleavings: 0,
  invocations: 0,
  kitchenOrders: 0,
  shipments: 0,
  failures: [],
});

function add(totals: Totals, outcome: SeedOutcome): void {
  totals.runs++;
  for (const key of [
    'orders',
    'faults',
    'crashes',
    'interleavings',
    'invocations',
    'kitchenOrders',
    'shipments',
  ] as const) {
    totals[key] += outcome.stats[key];
  }
  if (outcome.failed) totals.failures.push(outcome.seed);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(3).padStart(9)}s`;

/** The trace a person reads: everything about the orders that broke the promise, and what happened to the world around them. */
export function formatFailure(
  seed: number,
  result: RunResult,
  path?: string,
  people: People = 'everyone',
): string {
  const orders = new Set(result.violations.map((v) => v.order));
  const lines = result.trace.filter((line) =>
    line.order === undefined
      ? !/poll (finished|ended)|nothing to do/.test(line.text) &&
        /dies|chaos|paus|kill switch/.test(line.text)
      : orders.has(line.order),
  );
  return [
    `seed ${seed} broke the promise:`,
    ...result.violations.map((v) => `  ${v.kind} ${v.order}: ${v.message}`),
    '',
    `trace (${lines.length} of ${result.trace.length} lines: the orders above, crashes and the world's phases; simulated time from the start):`,
    ...lines.map(
      (line) =>
        `${seconds(line.at - RUN_START)}  ${line.order ? `${line.order}  ` : ''}${line.text}`,
    ),
    '',
    `replay: npm run sim -- --seed ${seed}${people === 'everyone' ? '' : ` ${PEOPLE_FLAGS[people]}`}${path ? `   (fast-check path of the shrunk run: ${path})` : ''}`,
  ].join('\n');
}

async function one(seed: number, shrink: boolean, full: boolean, people: People): Promise<boolean> {
  const started = Date.now();
  const outcome = await runSeed(seed, shrink, people);
  if (!outcome.failure) {
    console.log(
      `seed ${seed}: the promise held (${JSON.stringify(outcome.stats)}, ${Date.now() - started} ms)`,
    );
    return true;
  }
  const { result, path } = outcome.failure;
  console.log(formatFailure(seed, result, path, people));
  if (full)
    console.log(
      [
        '',
        'the whole trace:',
        ...result.trace.map(
          (l) => `${seconds(l.at - RUN_START)}  ${l.order ? `${l.order}  ` : ''}${l.text}`,
        ),
      ].join('\n'),
    );
  return false;
}

/** A worker: runs the seeds it is sent, answers with each outcome's counts (failures are replayed by --seed). */
function serve(): void {
  process.on('message', (message: { seeds: number[] }) => {
    void (async () => {
      for (const seed of message.seeds) {
        const outcome = await runSeed(seed, false);
        process.send?.({
          seed,
          failed: outcome.failed,
          stats: outcome.stats,
          violations: outcome.failure?.result.violations ?? [],
        });
      }
      process.send?.({ done: true });
    })();
  });
}

async function hunt(from: number, count: number, jobs: number, json: boolean): Promise<Totals> {
  const totals = emptyTotals();
  const started = Date.now();
  let lastReport = 0;
  const report = (final: boolean) => {
    const elapsed = (Date.now() - started) / 1000;
    const line =
      `runs ${totals.runs}/${count} · ${(totals.runs / Math.max(elapsed, 0.001)).toFixed(1)}/s · orders ${totals.orders} · faults ${totals.faults} · ` +
      `crashes ${totals.crashes} · interleavings ${totals.interleavings} · failures ${totals.failures.length} · ${elapsed.toFixed(0)} s`;
    if (!json && (final || Date.now() - lastReport > 5_000)) {
      console.error(line);
      lastReport = Date.now();
    }
  };
  const seeds = Array.from({ length: count }, (_, i) => from + i);
  const batch = Math.max(1, Math.min(100, Math.ceil(count / jobs / 10)));
  const workers: ChildProcess[] = [];
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      const worker = fork(__filename, ['--worker'], {
        execArgv: process.execArgv,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      workers.push(worker);
      for (;;) {
        const next = seeds.splice(0, batch);
        if (next.length === 0) break;
        await new Promise<void>((resolve, reject) => {
          const onMessage = (message: {
            done?: boolean;
            seed: number;
            failed: boolean;
            stats: SeedOutcome['stats'];
            violations: unknown[];
          }) => {
            if (message.done) {
              worker.off('message', onMessage);
              worker.off('exit', onExit);
              resolve();
              return;
            }
            add(totals, { seed: message.seed, failed: message.failed, stats: message.stats });
            if (message.failed && !json)
              console.error(
                `seed ${message.seed} broke the promise: ${JSON.stringify(message.violations)}`,
              );
            report(false);
          };
          const onExit = (code: number | null) =>
            reject(new Error(`a simulation worker exited with ${code}`));
          worker.on('message', onMessage);
          worker.once('exit', onExit);
          worker.send({ seeds: next });
        });
      }
      worker.kill();
    }),
  ).finally(() => workers.forEach((w) => w.kill()));
  report(true);
  return totals;
}

const USAGE = `usage: npm run sim -- [--seed N | --seeds COUNT] [flags]

  --seed N          one run, replayed exactly; a failure is shrunk and its trace printed
  --seeds COUNT     the hunt: seeds FROM..FROM+COUNT-1 over every core, with progress (default 100)
  --from N          the first seed of the hunt (default 1)
  --jobs N          worker processes for the hunt (default: every core)
  --json            the hunt's summary as one line of JSON
  --no-shrink       show a failing seed's run as it was, not shrunk
  --full            every line of a failing run's trace, not only the orders involved
  --rounds-only     with --seed: a seed found before the person on call was drawn, as it was found
  --before-the-wait with --seed: a seed found before heldWhileAPersonWaits was drawn, as it was found
  --before-slow-calls with --seed: a seed found before the slow food service was drawn, as it was found
  -h, --help        show this help
`;

/** A command line that cannot be run: said with the usage, without a stack trace. */
class UsageError extends Error {}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        seed: { type: 'string' },
        seeds: { type: 'string' },
        from: { type: 'string', default: '1' },
        jobs: { type: 'string' },
        json: { type: 'boolean', default: false },
        'no-shrink': { type: 'boolean', default: false },
        full: { type: 'boolean', default: false },
        'rounds-only': { type: 'boolean', default: false },
        'before-the-wait': { type: 'boolean', default: false },
        'before-slow-calls': { type: 'boolean', default: false },
        worker: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.worker) return serve();
  const integer = (name: string, text: string | undefined, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min)
      throw new UsageError(`--${name} must be an integer of at least ${min}, got ${String(text)}`);
    return n;
  };
  if (values.seed !== undefined) {
    process.exitCode = (await one(
      integer('seed', values.seed, 0),
      !values['no-shrink'],
      values.full,
      values['rounds-only']
        ? 'rounds only'
        : values['before-the-wait']
          ? 'before the wait'
          : values['before-slow-calls']
            ? 'before slow calls'
            : 'everyone',
    ))
      ? 0
      : 1;
    return;
  }
  const count = integer('seeds', values.seeds ?? '100', 1);
  const from = integer('from', values.from, 0);
  const jobs = integer('jobs', values.jobs ?? String(availableParallelism()), 1);
  const started = Date.now();
  const totals = await hunt(from, count, jobs, values.json);
  const summary = {
    ...totals,
    seeds: `${from}..${from + count - 1}`,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `${totals.runs} runs (seeds ${summary.seeds}) in ${summary.seconds} s: ${totals.orders} orders, ${totals.kitchenOrders} kitchen orders, ` +
        `${totals.shipments} shipments, ${totals.invocations} invocations, ${totals.faults} food-service faults, ${totals.crashes} crashes, ` +
        `${totals.interleavings} interleavings; ${totals.failures.length} broke the promise${totals.failures.length ? `: seeds ${totals.failures.slice(0, 50).join(', ')} (replay each with npm run sim -- --seed N)` : ''}`,
    );
  }
  if (totals.failures.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) console.error(`npm run sim: ${error.message}\n\n${USAGE}`);
  else console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 2;
});
