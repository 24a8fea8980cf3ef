// `npm start`: the whole orchestrator on one machine, with no Java, no Docker
// and no account. Prints where to look, a summary line every few seconds, and
// a final summary on Ctrl-C or at the end of --duration.
import * as path from 'node:path';

import { formatProxyStats } from '../food-service/src/fault-proxy';
import { describeError } from '../functions/src/describe-error';
import { checkInvariants, type InvariantReport } from './invariants';
import { routeStructuredLogs } from './logs';
import { parseOptions, UsageError, USAGE, type LocalOptions } from './options';
import { drain, drainLimitMs, foodLines, formatStages, invariantLines, listOrders, openOrders } from './run-report';
import { startLocalStack, type LocalStack } from './stack';

const SUMMARY_EVERY_MS = 5_000;
const FUNCTIONS_LOG = path.resolve(__dirname, '..', 'artifacts', 'functions.log');

const log = (line: string) => console.log(line);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function summaryLine(stack: LocalStack, startedAt: number): string {
  const summary = stack.tracker.summary(new Date());
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  const stages = formatStages(summary.stages);
  const food = stack.simulator?.stats();
  const foodPart = food
    ? ` | food: ${food.ordersCreated} orders, ${food.kitchenOrdersCreated} kitchen, ${food.shipmentsCreated} shipments`
    : '';
  return `[${String(seconds).padStart(4)}s] ${stages} | ${summary.transitionsPerSecond.toFixed(1)} transitions/s | errors: ${summary.errors.transient} retrying, ${summary.errors.flagged} flagged${foodPart}`;
}

/** Stops the customers and waits until nothing the orchestrator would move on its own is in flight. */
async function drainRun(stack: LocalStack, options: LocalOptions): Promise<boolean> {
  stack.simulator?.stopCustomers();
  const limitMs = drainLimitMs(options.pollIntervalSeconds, options.controllerIntervalMs, 30_000);
  log(`duration reached: no new orders; letting the ones in flight finish (up to ${Math.round(limitMs / 1000)} s)`);
  return drain(() => {
    const { active, waitingForPerson } = stack.tracker.summary(new Date());
    return { open: stack.simulator ? openOrders(stack.simulator.stats()) : 0, activeRelations: active, waitingForPerson };
  }, limitMs);
}

async function runFacts(stack: LocalStack, options: LocalOptions, drained: boolean): Promise<InvariantReport> {
  const orders = await listOrders(stack.food);
  const relations = (await stack.db.collection('relations').get()).docs.map((doc) => doc.data());
  const stats = stack.simulator?.stats();
  return checkInvariants({
    orders,
    relations,
    ...(stats ? { created: { kitchenOrders: stats.kitchenOrdersCreated, shipments: stats.shipmentsCreated } } : {}),
    // Dropped replies and late replies leave creates ambiguous, so noted orphans and flags are expected, as with
    // --fail-rate. A cut handshake provably sent nothing: alone, it must leave no orphan note and no flag.
    foodFaults: options.faults.failRate > 0 || options.faults.dropRate > 0 || options.faults.proxyLatencyMs > 0,
    resumedRelations: stack.resumedRelations,
    failedDeliveries: stack.functions.triggers.reduce((sum, t) => sum + t.queue.failed, 0),
    // Against an external food service we do not know its pace; there a timeout is only a note.
    drainTimedOut: !drained && stack.simulator !== undefined,
  });
}

function finalSummary(stack: LocalStack, startedAt: number, report: InvariantReport, options: LocalOptions): string {
  const summary = stack.tracker.summary(new Date());
  const deliveries = stack.functions.triggers
    .map((t) => `${t.name}: ${t.queue.delivered} events delivered, ${t.queue.failed} failed`)
    .join('; ');
  const lines = [
    '',
    `final summary after ${Math.round((Date.now() - startedAt) / 1000)} s`,
    `  relations: ${summary.relations} (${summary.finished} finished, ${summary.active} active)`,
    `  by stage:  ${formatStages(summary.stages)}`,
    `  orders:    ${report.finished} finished, ${report.inProgress} in progress`,
    `  triggers:  ${deliveries}${options.faults.duplicateRate || options.faults.reorderMs ? ' (duplicates/reordering injected)' : ''}`,
    `  polls:     ${stack.functions.scheduledRuns.started} scheduled invocations, ${stack.functions.scheduledRuns.failed} failed`,
  ];
  const food = stack.simulator?.stats();
  if (food) lines.push(...foodLines(food));
  // The fault proxy's line; other engineers may edit the lines around it.
  if (stack.proxy) lines.push(`  proxy:     ${formatProxyStats(stack.proxy.stats())}`);
  lines.push(...invariantLines(report));
  return lines.join('\n');
}

async function main(): Promise<number> {
  let options: LocalOptions;
  try {
    const parsed = parseOptions(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    options = parsed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`npm start: ${error.message}\n\n${USAGE}`);
    return 2;
  }

  const startedAt = Date.now();
  routeStructuredLogs(FUNCTIONS_LOG);
  const stack = await startLocalStack(options, log);
  log(`live board        ${stack.boardUrl}`);
  log(`Firestore         ${stack.firestore.host}: ${stack.firestore.description} (FIRESTORE_EMULATOR_HOST=${stack.firestore.host})`);
  log(`food service      ${stack.foodAddress} (${stack.simulator ? `simulator, ${options.ordersPerSecond} orders/s` : 'external'})`);
  if (stack.proxy) {
    const { dropRate, handshakeCutRate, latencyMs } = stack.proxy.faults();
    log(
      `fault proxy       ${stack.proxy.address} → ${stack.proxy.target} for the functions (drop ${dropRate}, handshake cut ${handshakeCutRate}, latency ${latencyMs} ms)`,
    );
  }
  for (const name of stack.functions.https) {
    if (name === 'ops') log(`ops API           curl '${stack.functions.httpUrl}/ops/orders?flagged=true'   (docs/OPERATIONS.md)`);
    else log(`poll now          curl -X POST ${stack.functions.httpUrl}/${name}`);
  }
  for (const { name, schedule } of stack.functions.schedules)
    log(`${name.padEnd(18)}${schedule}${name === 'pollFoodService' ? `, polling every ${options.pollIntervalSeconds} s` : ''}`);
  for (const { name, document } of stack.functions.triggers) log(`${name.padEnd(18)}on every write of ${document}`);
  log(`function logs     ${FUNCTIONS_LOG}`);
  if (stack.resumedRelations > 0)
    log(
      `resuming          ${stack.resumedRelations} relations an earlier run left; claims it held are taken over once their leases expire`,
    );

  const ticker = setInterval(() => log(summaryLine(stack, startedAt)), SUMMARY_EVERY_MS);
  let drained = true;
  if (options.durationSeconds !== undefined) {
    await sleep(options.durationSeconds * 1000);
    drained = await drainRun(stack, options);
  } else {
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    log('\nstopping…');
  }
  clearInterval(ticker);
  const report = await runFacts(stack, options, drained);
  if (!drained && !stack.simulator) report.notes.push('the drain timed out: some orders were still in flight');
  log(finalSummary(stack, startedAt, report, options));
  await stack.stop();
  // Only a --duration run is judged by its invariants; Ctrl-C is a normal way to stop.
  return options.durationSeconds !== undefined && !report.held ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm start failed: ${describeError(error)}`);
    process.exit(1);
  },
);
