// Section 6 of the bench: the latency–cost frontier. For each poll interval, the
// latency the orchestrator adds to an order's stages (a lifecycle run at that
// interval, section 1's code) and what polling costs with A active orders at
// rest (a minute of polls against a frozen world of A orders, held or a task per
// slot), priced at the deployed settings. Measuring is here; the arithmetic on
// what was measured is pure (frontierPoints), so it is tested on its own.
import { runLifecycle } from './child';
import {
  billedSeconds,
  dollars,
  none,
  PRICES,
  scale,
  SECONDS_PER_MONTH,
  usd,
  type Usage,
} from './cost';
import { orderUsage, type FunctionResources } from './cost-report';
import type { FirestoreKind, LifecycleResult } from './lifecycle';
import { percentile } from './ops';
import { table } from './report';
import { openWorld, type PollTarget } from './world';

export interface FrontierParams {
  intervals: number[];
  /** Active orders at rest; must include 0, the baseline a larger world's slower polls are added to. */
  actives: number[];
  /** Orders per lifecycle run, placed over three intervals so they arrive at every phase of the poll cycle. */
  orders: number;
  /** The measured invocation's window: a minute, as deployed (shorter in --quick, scaled up to a minute). */
  windowMs: number;
  controllerIntervalMs: number;
}

/** How a minute's slots were polled: one invocation held for them, or a task per slot (poller/schedule.ts). */
export type Shape = 'held' | 'tasks';

/** What polling did in one invocation's window with `active` orders at rest. */
export interface RestMeasurement {
  intervalSeconds: number;
  active: number;
  shape: Shape;
  windowMs: number;
  polls: number;
  failedPolls: number;
  /** Firestore reads, each query that found nothing billed as one. */
  reads: number;
  writes: number;
  /** How long each invocation held its instance. */
  spansMs: number[];
  pollMs: { p50: number; p95: number };
}

export interface FrontierResult {
  firestore: FirestoreKind;
  params: FrontierParams;
  lifecycles: Array<{ intervalSeconds: number; result: LifecycleResult }>;
  rest: RestMeasurement[];
}

type Stage = keyof LifecycleResult['latency'];
const STAGES: Stage[] = ['NEW', 'PREPARATION', 'IN_FLIGHT', 'total'];

/** What one scheduled invocation did (poll-child.js, minute). */
export interface MinuteResult {
  polls: number;
  failedPolls: number;
  /** How long each invocation held its instance: one for a held minute, one per slot for tasks. */
  spansMs: number[];
  /** Each poll's own duration. */
  pollMs: number[];
}

/** One point of the frontier: an interval, a number of active orders, its latency and its cost. */
export interface FrontierPoint {
  intervalSeconds: number;
  active: number;
  /** Added latency per stage in seconds (total: the three stages of one order). */
  latency: Record<Stage, { p50: number; p95: number }>;
  /** Polling at rest, a month, one invocation held for each minute's slots. */
  held: RestMonth;
  /** The same with a task per slot; null where a minute has one slot. */
  tasks: RestMonth | null;
  /** The shape the orchestrator picks there: tasks wherever a minute has more than one slot. */
  picked: Shape;
  /** A million delivered orders' own cost, outside polling (their triggers, writes, reads, deletes). */
  perMillionOrders: number;
}

export interface RestMonth {
  usage: Usage;
  dollars: number;
  instanceDollars: number;
}

export async function frontierBench(options: {
  params: FrontierParams;
  target: PollTarget;
  pollConfig: { pageSize: number; maxConcurrency: number };
  log: (line: string) => void;
}): Promise<FrontierResult> {
  const { params, target, pollConfig, log } = options;
  const lifecycles: FrontierResult['lifecycles'] = [];
  for (const intervalSeconds of params.intervals) {
    const arrivalsSeconds = 3 * intervalSeconds;
    log(
      `  frontier: lifecycle at ${intervalSeconds} s, ${params.orders} orders placed over ${arrivalsSeconds} s`,
    );
    const result = await runLifecycle(
      {
        firestore: target.kind,
        orders: params.orders,
        pollIntervalSeconds: intervalSeconds,
        controllerIntervalMs: params.controllerIntervalMs,
        ordersPerSecond: params.orders / arrivalsSeconds,
        // Arrivals, then three stages of about an interval each, with room for a slow machine.
        timeoutMs: (arrivalsSeconds + 8 * intervalSeconds + 120) * 1000,
      },
      log,
    );
    lifecycles.push({ intervalSeconds, result });
  }
  const rest: RestMeasurement[] = [];
  for (const active of params.actives) {
    const world = await openWorld(target, pollConfig);
    try {
      await world.seedActive(active, log);
      for (const intervalSeconds of params.intervals) {
        // At a minute or more a minute has one slot, and the two shapes are one.
        for (const shape of intervalSeconds < 60
          ? (['held', 'tasks'] as const)
          : (['held'] as const)) {
          // Each run is a minute of its own cadence: the last run's poll must not count as having served its first slot.
          await target.db.collection('leases').doc('poll').delete();
          const child = await world.run<MinuteResult>(shape === 'held' ? 'minute' : 'slots', {
            POLL_INTERVAL_SECONDS: String(intervalSeconds),
            BENCH_WINDOW_MS: String(params.windowMs),
          });
          const { polls, failedPolls, spansMs, pollMs } = child.result;
          rest.push({
            intervalSeconds,
            active,
            shape,
            windowMs: params.windowMs,
            polls,
            failedPolls,
            reads: child.firestore.ops.reads + child.firestore.emptyQueries,
            writes: child.firestore.ops.writes,
            spansMs,
            pollMs: { p50: percentile(pollMs, 50), p95: percentile(pollMs, 95) },
          });
          const busy = spansMs.reduce((sum, ms) => sum + ms, 0) / 1000;
          log(
            `  frontier: A = ${active}, every ${intervalSeconds} s, ${shape}: ${polls} polls, ${spansMs.length} invocations busy ${busy.toFixed(1)} s, ${child.firestore.ops.reads} reads`,
          );
        }
      }
    } finally {
      await world.close();
    }
  }
  return { firestore: target.kind, params, lifecycles, rest };
}

/**
 * The frontier's points. Latency is measured at each interval with no other
 * orders; with A at rest, each stage also waits for a poll to get through A
 * relations, so the extra time a poll took there (measured) is added to each
 * stage. A window shorter than a minute is scaled up to one.
 */
export function frontierPoints(
  result: FrontierResult,
  resources: FunctionResources,
): FrontierPoint[] {
  const points: FrontierPoint[] = [];
  for (const { intervalSeconds, result: lifecycle } of result.lifecycles) {
    const atInterval = result.rest.filter((r) => r.intervalSeconds === intervalSeconds);
    const baseline = atInterval.find((r) => !r.active && r.shape === 'held');
    if (!baseline)
      throw new Error(`no measurement at rest with 0 orders every ${intervalSeconds} s`);
    const order = orderUsage(lifecycle);
    const perMillionOrders = order
      ? dollars(scale(order, 1_000_000), resources.advanceRelation).total
      : NaN;
    for (const held of atInterval.filter((r) => r.shape === 'held')) {
      const extra = (p: 'p50' | 'p95') => Math.max(0, held.pollMs[p] - baseline.pollMs[p]) / 1000;
      const latency = Object.fromEntries(
        STAGES.map((stage) => {
          const stages = stage === 'total' ? 3 : 1;
          const { p50, p95 } = lifecycle.latency[stage];
          return [
            stage,
            {
              p50: p50 * intervalSeconds + stages * extra('p50'),
              p95: p95 * intervalSeconds + stages * extra('p95'),
            },
          ];
        }),
      ) as FrontierPoint['latency'];
      const tasks = atInterval.find((r) => r.active === held.active && r.shape === 'tasks');
      points.push({
        intervalSeconds,
        active: held.active,
        latency,
        held: month(held, resources),
        tasks: tasks ? month(tasks, resources) : null,
        picked: tasks ? 'tasks' : 'held',
        perMillionOrders,
      });
    }
  }
  return points;
}

/**
 * A month of one shape's minutes: each invocation, its instance time billed on its own, and for
 * tasks each task's enqueue and delivery (the scheduled invocation's first slot is not a task).
 */
function month(rest: RestMeasurement, resources: FunctionResources): RestMonth {
  const perMinute = 60_000 / rest.windowMs;
  const tasks = rest.shape === 'tasks' ? rest.spansMs.length - 1 : 0;
  const usage = scale(
    {
      ...none,
      reads: rest.reads * perMinute,
      writes: rest.writes * perMinute,
      invocations: rest.spansMs.length * perMinute,
      instanceSeconds: rest.spansMs.reduce((sum, ms) => sum + billedSeconds(ms), 0) * perMinute,
      taskOperations: 2 * tasks * perMinute,
    },
    SECONDS_PER_MONTH / 60,
  );
  const billed = dollars(usage, resources.pollFoodService);
  return {
    usage,
    dollars: billed.total + PRICES.cloudScheduler.perJobMonth,
    instanceDollars: billed.compute,
  };
}

/** What polling at rest costs a month in the shape the orchestrator picks. */
export function picked(point: FrontierPoint): RestMonth {
  return (point.picked === 'tasks' ? point.tasks : null) ?? point.held;
}

const seconds = (s: number) => (s < 10 ? s.toFixed(1) : s.toFixed(0));
const pair = (l: { p50: number; p95: number }) => `${seconds(l.p50)} / ${seconds(l.p95)}`;

export function frontierTable(points: FrontierPoint[]): string {
  const shape = (month: RestMonth | null) =>
    month ? `${usd(month.dollars)} (${usd(month.instanceDollars)})` : '-';
  return table(
    [
      'interval',
      'A',
      'NEW p50 / p95 s',
      'PREPARATION',
      'IN_FLIGHT',
      'total',
      'at rest $ / month, held (of it instance time)',
      'task per slot',
      'picked',
      'reads / month, picked',
      '$ per million orders (outside polling)',
    ],
    points.map((p) => [
      `${p.intervalSeconds} s`,
      p.active.toLocaleString('en-US'),
      pair(p.latency.NEW),
      pair(p.latency.PREPARATION),
      pair(p.latency.IN_FLIGHT),
      pair(p.latency.total),
      shape(p.held),
      shape(p.tasks),
      p.tasks ? (p.picked === 'tasks' ? 'task per slot' : 'held') : 'one slot',
      Math.round(picked(p).usage.reads).toLocaleString('en-US'),
      usd(p.perMillionOrders),
    ]),
  );
}

/**
 * The frontier at `active` orders as an SVG: p95 added latency of a whole
 * order against polling's dollars a month, one point per interval.
 */
export function frontierSvg(points: FrontierPoint[], active: number, caption: string): string {
  const shown = points
    .filter((p) => p.active === active)
    .sort((a, b) => a.intervalSeconds - b.intervalSeconds);
  if (shown.length === 0) throw new Error(`no frontier point at A = ${active}`);
  const [width, height, left, right, top, bottom] = [640, 420, 70, 30, 50, 60];
  // Room above and to the right of the last point for its label.
  const maxX = niceCeiling(1.15 * Math.max(...shown.map((p) => picked(p).dollars)));
  const maxY = niceCeiling(1.15 * Math.max(...shown.map((p) => p.latency.total.p95)));
  const x = (dollars: number) => left + (dollars / maxX) * (width - left - right);
  const y = (s: number) => height - bottom - (s / maxY) * (height - top - bottom);
  const ticks = (max: number) => [0, 1, 2, 3, 4, 5].map((i) => (max * i) / 5);
  const text = (tx: number, ty: number, body: string, anchor = 'middle', extra = '') =>
    `<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" text-anchor="${anchor}"${extra}>${escapeXml(body)}</text>`;
  const line = (x1: number, y1: number, x2: number, y2: number, stroke = '#ccc') =>
    `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${stroke}"/>`;
  const path = shown
    .map(
      (p, i) =>
        `${i ? 'L' : 'M'}${x(picked(p).dollars).toFixed(1)},${y(p.latency.total.p95).toFixed(1)}`,
    )
    .join(' ');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    text(
      width / 2,
      20,
      `Added latency against polling cost, ${active.toLocaleString('en-US')} active orders`,
      'middle',
      ' font-size="14"',
    ),
    text(width / 2, 36, caption, 'middle', ' fill="#666"'),
    ...ticks(maxX).flatMap((v) => [
      line(x(v), top, x(v), height - bottom),
      text(x(v), height - bottom + 16, usd(v)),
    ]),
    ...ticks(maxY).flatMap((v) => [
      line(left, y(v), width - right, y(v)),
      text(left - 8, y(v) + 4, `${seconds(v)} s`, 'end'),
    ]),
    text(
      width / 2,
      height - 18,
      'polling at rest in the shape picked, $ / month (reads, writes, instance time, tasks, Scheduler)',
    ),
    text(
      16,
      height / 2,
      'p95 added latency of an order, s',
      'middle',
      ` transform="rotate(-90 16 ${height / 2})"`,
    ),
    `<path d="${path}" fill="none" stroke="#1a73e8" stroke-width="2"/>`,
    ...shown.flatMap((p) => [
      `<circle cx="${x(picked(p).dollars).toFixed(1)}" cy="${y(p.latency.total.p95).toFixed(1)}" r="5" fill="#1a73e8"/>`,
      text(
        x(picked(p).dollars) + 8,
        y(p.latency.total.p95) - 8,
        `every ${p.intervalSeconds} s`,
        'start',
      ),
    ]),
    '</svg>',
    '',
  ].join('\n');
}

/** 1, 2 or 5 times a power of ten, at or above `value`: round numbers for an axis. */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].find((m) => m * power >= value) ?? 10) * power;
}

function escapeXml(value: string): string {
  return value.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
