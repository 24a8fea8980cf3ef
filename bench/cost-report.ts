// The bench's dollars: the measured operations of sections 1–5, priced with
// cost.ts. Each table says what it assumes; every count in it was measured.
import {
  billedSeconds,
  dollars,
  none,
  PRICES,
  scale,
  SECONDS_PER_MONTH,
  taskOperations,
  usd,
  type Resources,
  type Usage,
} from './cost';
import type { LifecycleResult } from './lifecycle';
import type { PollMeasurement } from './poll-scaling';
import { table } from './report';
import type { ProcessCost, ScaleResult } from './scale';
import type { PollCalls } from './world';

/** The deployed functions' CPU and memory, as firebase-tools resolves them. */
export interface FunctionResources {
  pollFoodService: Resources;
  advanceRelation: Resources;
  observeShard: Resources;
}

// Section 2-3's polls priced one a minute; the frontier (section 6) prices each interval as it runs.
const POLLS_PER_MONTH = SECONDS_PER_MONTH / 60;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fixed = (n: number, digits = 2) => n.toFixed(digits);

export function pricesTable(): string {
  const { firestore: fs, cloudRun: run, cloudTasks: tasks, cloudScheduler: scheduler } = PRICES;
  return table(
    ['what', 'list price', 'source'],
    [
      [
        'Firestore document read / write / delete',
        `$${fs.readsPer100k} / $${fs.writesPer100k} / $${fs.deletesPer100k} per 100,000 (${fs.edition})`,
        fs.source,
      ],
      ['Cloud Run functions CPU', `$${run.perVcpuSecond} per vCPU-second`, run.source],
      ['Cloud Run functions memory', `$${run.perGibSecond} per GiB-second`, run.source],
      ['Cloud Run functions requests', `$${run.perMillionRequests} per million`, run.source],
      [
        'Cloud Tasks',
        `$${tasks.perMillionOperations} per million operations (an enqueue or a delivery, per 32 KiB)`,
        tasks.source,
      ],
      ['Cloud Scheduler', `$${scheduler.perJobMonth} per job per month`, scheduler.source],
    ],
  );
}

/** One delivered order's usage, outside polling: its trigger invocations and their Firestore operations, and retention's deletes. */
export function orderUsage(lifecycle: LifecycleResult): Usage | undefined {
  const delivered = lifecycle.byOutcome.DELIVERED;
  if (!delivered) return undefined;
  return {
    ...none,
    reads: delivered.reads.mean - delivered.pollReads.mean,
    writes: delivered.writes.mean,
    deletes: delivered.documents.mean,
    invocations: delivered.invocations.mean,
    instanceSeconds: lifecycle.busySecondsPerOrder,
  };
}

/** Dollars per million delivered orders, line by line. */
export function perOrderTable(lifecycle: LifecycleResult, resources: FunctionResources): string {
  const usage = orderUsage(lifecycle);
  const delivered = lifecycle.byOutcome.DELIVERED;
  if (!usage || !delivered) return 'no delivered order was measured';
  const billedAlone = (delivered.invocations.mean * lifecycle.invocationMs.billedMean) / 1000;
  const million = (part: Partial<Usage>) =>
    usd(dollars(scale({ ...none, ...part }, 1_000_000), resources.advanceRelation).total);
  const pollRead = usd(
    dollars(scale({ ...none, reads: 1 }, 1_000_000), resources.pollFoodService).total,
  );
  return table(
    ['per delivered order', 'measured', 'per million orders'],
    [
      ['Firestore reads by the triggers', fixed(usage.reads), million({ reads: usage.reads })],
      ['Firestore writes', fixed(usage.writes), million({ writes: usage.writes })],
      [
        'Firestore deletes (retention: the relation and its transitions)',
        fixed(usage.deletes),
        million({ deletes: usage.deletes }),
      ],
      [
        'trigger invocations',
        fixed(usage.invocations),
        million({ invocations: usage.invocations }),
      ],
      [
        `instance seconds (measured: the instance's busy time at ADVANCE_CONCURRENCY ${lifecycle.triggerConcurrency}, per order)`,
        fixed(usage.instanceSeconds),
        million({ instanceSeconds: usage.instanceSeconds }),
      ],
      [
        '**total, outside polling**',
        '',
        `**${usd(dollars(scale(usage, 1_000_000), resources.advanceRelation).total)}**`,
      ],
      [
        `(were each invocation billed alone: ${fixed(lifecycle.invocationMs.billedMean, 0)} ms each, concurrency 1, not in the total)`,
        fixed(billedAlone),
        million({ instanceSeconds: billedAlone }),
      ],
      [
        'polling: one read per poll while the order is active (one a minute at 60 s)',
        '1 per poll',
        `${pollRead} per poll`,
      ],
    ],
  );
}

/** What one poll costs at rest, priced per month at one poll a minute: ours at A = 0, 1k, 10k, and the original listing. */
export function restTable(polls: PollMeasurement[], resources: FunctionResources): string {
  const rows = polls
    .filter((p) => (p.mode === 'orchestrator' && p.history === 0) || p.mode === 'original')
    .map((p) => {
      const perPoll: Usage = {
        ...none,
        reads: p.firestore.reads + p.emptyQueries,
        writes: p.firestore.writes,
        invocations: 1,
        instanceSeconds: billedSeconds(p.wallMs),
      };
      const month = dollars(scale(perPoll, POLLS_PER_MONTH), resources.pollFoodService);
      return [
        p.mode === 'original' ? 'the original listing' : 'orchestrator',
        int(p.active),
        int(p.history),
        int(perPoll.reads),
        int(perPoll.writes),
        fixed(perPoll.instanceSeconds, 1),
        usd(month.firestore),
        usd(month.compute + month.requests),
        usd(month.total + PRICES.cloudScheduler.perJobMonth),
      ];
    });
  return table(
    [
      'poll',
      'A',
      'H',
      'reads / poll',
      'writes / poll',
      'billed s / poll',
      'Firestore / month',
      'function / month',
      'total / month (with the Scheduler job)',
    ],
    rows,
  );
}

const calls = (c: PollCalls) =>
  `${int(c.ListOrders)} / ${int(c.GetOrder + c.GetKitchenOrder + c.GetShipment)}`;
const queryTimes = (costs: ProcessCost[]) => {
  const count = costs.reduce((sum, c) => sum + c.queries, 0);
  return `${int(count)}, ${count ? int(costs.reduce((sum, c) => sum + c.queryMs, 0) / count) : 0} ms`;
};
const mean = (values: number[]) =>
  values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;

/** One poll at scale, in one instance and fanned out. */
export function scaleTable(result: ScaleResult, resources: FunctionResources): string {
  const { single, fanOut } = result;
  const tasks = fanOut.tasks;
  const taskOps = fanOut.taskBytes.reduce((sum, bytes) => sum + taskOperations(bytes), 0);
  const fanOutUsage: Usage = {
    ...none,
    reads: fanOut.poll.firestore.reads + tasks.reduce((sum, t) => sum + t.firestore.reads, 0),
    writes: fanOut.poll.firestore.writes + tasks.reduce((sum, t) => sum + t.firestore.writes, 0),
    invocations: 1 + tasks.length,
    taskOperations: taskOps,
  };
  const singleCost = dollars(
    {
      ...none,
      reads: single.firestore.reads,
      writes: single.firestore.writes,
      invocations: 1,
      instanceSeconds: billedSeconds(single.wallMs),
    },
    resources.pollFoodService,
  );
  const fanOutCost = {
    poll: dollars(
      { ...fanOutUsage, instanceSeconds: billedSeconds(fanOut.poll.wallMs) },
      resources.pollFoodService,
    ),
    tasks: dollars(
      { ...none, instanceSeconds: tasks.reduce((sum, t) => sum + billedSeconds(t.wallMs), 0) },
      resources.observeShard,
    ),
  };
  return table(
    [
      'A = ' + int(result.active),
      'one instance',
      `fanned out (SHARD_SIZE ${int(result.shardSize)})`,
    ],
    [
      [
        'poll wall time',
        `${fixed(single.wallMs / 1000, 1)} s`,
        `${fixed(fanOut.poll.wallMs / 1000, 1)} s (listing and enqueueing)`,
      ],
      [
        'until every relation was observed',
        `${fixed(single.wallMs / 1000, 1)} s`,
        `${fixed(fanOut.wallMs / 1000, 1)} s`,
      ],
      [
        'peak RSS of the poll',
        `${fixed(single.peakRssMb, 0)} MB`,
        `${fixed(fanOut.poll.peakRssMb, 0)} MB`,
      ],
      [
        'shards / tasks',
        `${single.summary.shardsInline} observed in turn`,
        `${tasks.length} tasks (${fanOut.failedTasks} failed), at most ${fanOut.maxConcurrentDispatches} at once`,
      ],
      [
        'per task: wall time mean / max',
        '–',
        `${fixed(mean(tasks.map((t) => t.wallMs)) / 1000, 1)} s / ${fixed(Math.max(0, ...tasks.map((t) => t.wallMs)) / 1000, 1)} s`,
      ],
      [
        'per task: peak RSS max',
        '–',
        `${fixed(Math.max(0, ...tasks.map((t) => t.peakRssMb)), 0)} MB`,
      ],
      [
        'per task: payload mean',
        '–',
        `${int(mean(fanOut.taskBytes) / 1024)} KiB (${taskOperations(mean(fanOut.taskBytes))} Cloud Tasks operations)`,
      ],
      ['Firestore queries: how many, mean time each', queryTimes([single]), queryTimes(tasks)],
      [
        'Firestore reads / writes',
        `${int(single.firestore.reads)} / ${int(single.firestore.writes)}`,
        `${int(fanOutUsage.reads)} / ${int(fanOutUsage.writes)}`,
      ],
      ['food-service calls: ListOrders / look-ups', calls(single.calls), calls(fanOut.calls)],
      [
        'one poll in dollars',
        usd(singleCost.total),
        usd(fanOutCost.poll.total + fanOutCost.tasks.total),
      ],
    ],
  );
}
