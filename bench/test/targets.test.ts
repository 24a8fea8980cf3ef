import { strict as assert } from 'node:assert';

import type { LifecycleResult, OutcomeCost } from '../lifecycle';
import type { PollMeasurement } from '../poll-scaling';
import { judge } from '../targets';

const stat = (mean: number, max = mean) => ({ mean, max });

function delivered(overrides: Partial<OutcomeCost> = {}): OutcomeCost {
  return {
    orders: 100,
    rpcs: {
      GetOrder: stat(5),
      UpdateOrder: stat(3),
      CreateKitchenOrder: stat(1),
      GetKitchenOrder: stat(1.5, 2),
      CreateShipment: stat(1),
      GetShipment: stat(1.5, 2),
    },
    reads: stat(8),
    writes: stat(9),
    invocations: stat(6),
    pollReads: stat(2),
    documents: stat(4),
    writesFor: {},
    ...overrides,
  };
}

function lifecycle(overrides: Partial<LifecycleResult> = {}): LifecycleResult {
  const ok = { p50: 0.5, p95: 0.9 };
  return {
    firestore: { kind: 'google', description: "Google's emulator" },
    orders: 120,
    neverSeen: 2,
    seconds: 60,
    pollIntervalSeconds: 5,
    byOutcome: { DELIVERED: delivered() },
    sharedPerOrder: { ListOrders: 0.2, reads: 0.1, writes: 0.1 },
    inexactDelivered: 0,
    unrecordedCreates: 0,
    deliveryWaitMs: { p50: 1, p95: 5, max: 9 },
    invocationMs: { mean: 40, p50: 30, p95: 90, billedMean: 100 },
    busySecondsPerOrder: 0.3,
    triggerConcurrency: 20,
    emptyQueries: 0,
    uncounted: {},
    firestoreCalls: {},
    latency: { NEW: ok, PREPARATION: ok, IN_FLIGHT: ok, total: { p50: 1.5, p95: 2.7 } },
    ...overrides,
  };
}

function poll(
  mode: PollMeasurement['mode'],
  active: number,
  history: number,
  overrides: Partial<PollMeasurement> = {},
): PollMeasurement {
  const listOrders = mode === 'original' ? (active + history) / 10 : 5;
  return {
    firestoreKind: 'google',
    mode,
    active,
    history,
    wallMs: 1000,
    peakRssMb: 120,
    emptyQueries: 0,
    uncounted: {},
    calls: {
      ListOrders: listOrders,
      GetOrder: mode === 'original' ? active + history : 0,
      GetKitchenOrder: active / 2,
      GetShipment: active / 2,
    },
    firestore: { reads: active, writes: 0 },
    ...overrides,
  };
}

const full = (): PollMeasurement[] =>
  [1000, 10_000].flatMap((a) =>
    [0, 10_000].flatMap((h) =>
      (['orchestrator', 'raw', 'original'] as const).map((m) => poll(m, a, h)),
    ),
  );
const row = (rows: ReturnType<typeof judge>, start: string) =>
  rows.find((r) => r.measure.startsWith(start));

describe('bench targets', () => {
  it('are all met by a run that meets them', () => {
    const rows = judge(lifecycle(), full());
    assert.equal(rows.length, 9);
    assert.deepEqual(
      rows.filter((r) => r.met !== true).map((r) => r.measure),
      [],
    );
    assert.match(
      row(rows, 'ListOrders calls vs the original')?.measured ?? '',
      /5 vs 1100: 220× fewer/,
    );
  });

  it('fail where a run misses them', () => {
    const slow = full().map((p) =>
      p.mode === 'orchestrator' && p.active === 10_000 && p.history === 0
        ? { ...p, wallMs: 1300, peakRssMb: 301 }
        : p,
    );
    const rows = judge(
      lifecycle({
        inexactDelivered: 1,
        byOutcome: {
          DELIVERED: delivered({
            writes: stat(10, 13),
            invocations: stat(7, 11),
            rpcs: { ...delivered().rpcs, GetOrder: stat(5.1, 6) },
          }),
        },
        latency: { ...lifecycle().latency, NEW: { p50: 0.6, p95: 1.02 } },
      }),
      slow,
    );
    for (const start of [
      'mutating RPCs',
      'GetOrder look-ups',
      'Firestore writes',
      'trigger invocations',
      'poll wall time',
      'peak RSS',
      'latency overhead',
    ]) {
      assert.equal(row(rows, start)?.met, false, start);
    }
  });

  it('says "not measured" for what a quick run does not measure, never "met"', () => {
    const quick = (['orchestrator', 'raw', 'original'] as const).flatMap((m) => [
      poll(m, 200, 0),
      poll(m, 200, 1000),
    ]);
    const rows = judge(lifecycle(), quick);
    for (const start of ['ListOrders calls vs the original', 'poll wall time', 'peak RSS'])
      assert.equal(row(rows, start)?.met, null, start);
    assert.equal(row(rows, 'ListOrders calls per poll')?.met, true);
  });

  it('notices a listing that grows with history', () => {
    const growing = full().map((p) =>
      p.mode === 'orchestrator' && p.history === 10_000
        ? { ...p, calls: { ...p.calls, ListOrders: 25 } }
        : p,
    );
    assert.equal(row(judge(lifecycle(), growing), 'ListOrders calls per poll')?.met, false);
  });
});
