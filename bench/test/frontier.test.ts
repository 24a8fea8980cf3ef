import { strict as assert } from 'node:assert';

import { dollars, none, PRICES, scale, SECONDS_PER_MONTH } from '../cost';
import {
  frontierPoints,
  frontierSvg,
  frontierTable,
  niceCeiling,
  type FrontierResult,
  type RestMeasurement,
} from '../frontier';
import type { LifecycleResult } from '../lifecycle';

const oneCpu = { vcpu: 1, memoryGib: 0.5 };
const resources = { pollFoodService: oneCpu, advanceRelation: oneCpu, observeShard: oneCpu };
const stat = (mean: number) => ({ mean, max: mean });
const latency = (intervals: number) => ({ p50: intervals / 2, p95: intervals });

function lifecycle(): LifecycleResult {
  return {
    byOutcome: {
      DELIVERED: {
        orders: 10,
        rpcs: {},
        reads: stat(20),
        writes: stat(10),
        invocations: stat(6),
        pollReads: stat(2),
        documents: stat(4),
        writesFor: {},
      },
    },
    invocationMs: { mean: 40, p50: 30, p95: 90, billedMean: 100 },
    busySecondsPerOrder: 0.4,
    latency: {
      NEW: latency(1),
      PREPARATION: latency(1),
      IN_FLIGHT: latency(1),
      total: latency(3),
    },
  } as unknown as LifecycleResult;
}

function rest(part: Partial<RestMeasurement>): RestMeasurement {
  return {
    intervalSeconds: 5,
    active: 0,
    shape: 'held',
    windowMs: 60_000,
    polls: 12,
    failedPolls: 0,
    reads: 24,
    writes: 2,
    spansMs: [55_000],
    pollMs: { p50: 100, p95: 200 },
    ...part,
  };
}

function result(rests: RestMeasurement[]): FrontierResult {
  return {
    firestore: 'google',
    params: {
      intervals: [5],
      actives: [0, 1000],
      orders: 10,
      windowMs: 60_000,
      controllerIntervalMs: 700,
    },
    lifecycles: [{ intervalSeconds: 5, result: lifecycle() }],
    rest: rests,
  };
}

describe('bench frontier', () => {
  it('turns latency in intervals into seconds, and adds the slower poll of a larger world to each stage', () => {
    const [idle, busy] = frontierPoints(
      result([rest({}), rest({ active: 1000, pollMs: { p50: 600, p95: 1200 } })]),
      resources,
    );
    assert.deepEqual(idle.latency.NEW, { p50: 2.5, p95: 5 });
    assert.deepEqual(idle.latency.total, { p50: 7.5, p95: 15 });
    // 0.5 s more at p50 and 1 s more at p95 for each of the three stages.
    assert.deepEqual(busy.latency.NEW, { p50: 3, p95: 6 });
    assert.deepEqual(busy.latency.total, { p50: 9, p95: 18 });
  });

  it('prices a month of polling at rest: reads, writes, the invocation a minute, its instance time, and the Scheduler job', () => {
    const [point] = frontierPoints(result([rest({})]), resources);
    const minutes = SECONDS_PER_MONTH / 60;
    const usage = scale(
      { ...none, reads: 24, writes: 2, invocations: 1, instanceSeconds: 55 },
      minutes,
    );
    assert.deepEqual(point.held.usage, usage);
    const month = dollars(usage, oneCpu);
    assert.equal(point.held.dollars, month.total + PRICES.cloudScheduler.perJobMonth);
    assert.equal(point.held.instanceDollars, month.compute);
  });

  it('prices a task per slot: each invocation billed on its own, and each task enqueued and delivered', () => {
    const [point] = frontierPoints(
      result([
        rest({}),
        rest({ shape: 'tasks', reads: 120, spansMs: Array.from({ length: 12 }, () => 250) }),
      ]),
      resources,
    );
    const minutes = SECONDS_PER_MONTH / 60;
    assert.deepEqual(
      point.tasks?.usage,
      scale(
        {
          ...none,
          reads: 120,
          writes: 2,
          invocations: 12,
          instanceSeconds: 12 * 0.3,
          taskOperations: 22,
        },
        minutes,
      ),
    );
    assert.equal(point.held.usage.instanceSeconds, 55 * minutes);
    assert.equal(point.picked, 'tasks', 'idle, either shape polls once');
  });

  it('picks a task per slot wherever a minute has several slots, even where holding it reads less', () => {
    const measured = (active: number, shape: 'held' | 'tasks', reads: number) =>
      rest({ active, shape, reads, spansMs: shape === 'held' ? [55_000] : [300] });
    const points = frontierPoints(
      result([rest({}), measured(1000, 'held', 1_000), measured(1000, 'tasks', 12_000)]),
      resources,
    );
    assert.deepEqual(
      points.map((p) => [p.active, p.picked]),
      [
        [0, 'held'], // no task per slot measured there
        [1000, 'tasks'],
      ],
    );
  });

  it('scales a window shorter than a minute up to a minute', () => {
    const [whole] = frontierPoints(result([rest({})]), resources);
    const [fifth] = frontierPoints(
      result([rest({ windowMs: 12_000, reads: 24 / 5, writes: 2 / 5, spansMs: [11_000] })]),
      resources,
    );
    assert.equal(fifth.held.usage.reads.toFixed(6), whole.held.usage.reads.toFixed(6));
    assert.equal(fifth.held.usage.instanceSeconds, whole.held.usage.instanceSeconds);
  });

  it("prices a million delivered orders' own cost, without the polls' reads", () => {
    const [point] = frontierPoints(result([rest({})]), resources);
    const order = {
      ...none,
      reads: 18,
      writes: 10,
      deletes: 4,
      invocations: 6,
      instanceSeconds: 0.4,
    };
    assert.equal(point.perMillionOrders, dollars(scale(order, 1_000_000), oneCpu).total);
  });

  it('refuses a frontier without its baseline at rest', () => {
    assert.throws(
      () => frontierPoints(result([rest({ active: 1000 })]), resources),
      /no measurement at rest with 0 orders every 5 s/,
    );
  });

  it('tabulates and plots every point, the plot only at the chosen number of orders', () => {
    const points = frontierPoints(
      result([rest({}), rest({ active: 1000, pollMs: { p50: 600, p95: 1200 } })]),
      resources,
    );
    const lines = frontierTable(points).split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[3], /^\| 5 s +\| 1,000 +\| 3\.0 \/ 6\.0 /);
    const svg = frontierSvg(points, 1000, 'abc1234 & co');
    assert.match(svg, /^<svg /);
    assert.equal((svg.match(/<circle /g) ?? []).length, 1);
    assert.match(svg, /every 5 s/);
    assert.match(svg, /abc1234 &#38; co/);
    assert.throws(() => frontierSvg(points, 10_000, ''), /no frontier point at A = 10000/);
  });

  it('rounds an axis up to 1, 2 or 5 times a power of ten', () => {
    assert.equal(niceCeiling(0.7), 1);
    assert.equal(niceCeiling(13), 20);
    assert.equal(niceCeiling(47), 50);
    assert.equal(niceCeiling(50), 50);
    assert.equal(niceCeiling(51), 100);
    assert.equal(niceCeiling(0), 1);
  });
});
