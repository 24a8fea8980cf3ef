// The bench's targets, judged from one bench run. A target the run did not
// measure (the quick mode) is reported as not measured, never as met.
import type { LifecycleResult } from './lifecycle';
import type { PollMeasurement } from './poll-scaling';

export interface TargetRow {
  measure: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

function find(
  polls: PollMeasurement[],
  mode: PollMeasurement['mode'],
  active: number,
  history: number,
): PollMeasurement | undefined {
  return polls.find((p) => p.mode === mode && p.active === active && p.history === history);
}

export function judge(lifecycle: LifecycleResult, polls: PollMeasurement[]): TargetRow[] {
  const rows: TargetRow[] = [];
  const delivered = lifecycle.byOutcome.DELIVERED;
  rows.push({
    measure: 'mutating RPCs per delivered order',
    target: 'exactly 1 CreateKitchenOrder, 1 CreateShipment, 3 UpdateOrder',
    measured: delivered
      ? `${delivered.orders - lifecycle.inexactDelivered} of ${delivered.orders} exact; means ${fmt(delivered.rpcs.CreateKitchenOrder.mean)} / ${fmt(delivered.rpcs.CreateShipment.mean)} / ${fmt(delivered.rpcs.UpdateOrder.mean)}`
      : 'no delivered order',
    met: delivered ? lifecycle.inexactDelivered === 0 : null,
  });
  rows.push({
    measure: 'GetOrder look-ups per delivered order',
    // A look before each create and before each of the three updates: a customer's CANCELLED is never overwritten.
    target: 'at most 5',
    measured: delivered
      ? `max ${delivered.rpcs.GetOrder.max}, mean ${fmt(delivered.rpcs.GetOrder.mean)}`
      : 'n/a',
    met: delivered ? delivered.rpcs.GetOrder.max <= 5 : null,
  });

  const orchestrator = polls.filter((p) => p.mode === 'orchestrator');
  const actives = [...new Set(orchestrator.map((p) => p.active))];
  const histories = [...new Set(orchestrator.map((p) => p.history))].sort((a, b) => a - b);
  const [h0, hMax] = [histories[0], histories[histories.length - 1]];
  const sameListing = actives.map(
    (a) =>
      [
        a,
        find(polls, 'orchestrator', a, h0)?.calls.ListOrders,
        find(polls, 'orchestrator', a, hMax)?.calls.ListOrders,
      ] as const,
  );
  rows.push({
    measure: `ListOrders calls per poll, H = ${h0} vs H = ${hMax}`,
    target: 'the same',
    measured: sameListing.map(([a, x, y]) => `A=${a}: ${x} vs ${y}`).join('; '),
    met:
      histories.length > 1 && sameListing.length > 0
        ? sameListing.every(([, x, y]) => x === y)
        : null,
  });

  const ours = find(polls, 'orchestrator', 1000, 10_000);
  const theirs = find(polls, 'original', 1000, 10_000);
  const ratio = ours && theirs ? theirs.calls.ListOrders / ours.calls.ListOrders : NaN;
  rows.push({
    measure: 'ListOrders calls vs the original design at A = 1,000, H = 10,000',
    target: 'at least 50× fewer',
    measured:
      ours && theirs
        ? `${ours.calls.ListOrders} vs ${theirs.calls.ListOrders}: ${fmt(ratio, 0)}× fewer`
        : 'not measured (no poll of that size in this run)',
    met: ours && theirs ? ratio >= 50 : null,
  });

  const worst = (values: number[]) => (values.length ? Math.max(...values) : NaN);
  const costRow = (
    measure: string,
    target: string,
    limit: number,
    pick: (o: NonNullable<typeof delivered>) => { mean: number; max: number },
  ) => {
    const value = delivered ? pick(delivered) : undefined;
    rows.push({
      measure,
      target,
      measured: value ? `max ${value.max}, mean ${fmt(value.mean)}` : 'n/a',
      met: value ? value.max <= limit : null,
    });
  };
  costRow(
    'Firestore writes per delivered order (claims and history included)',
    '≤ 10',
    10,
    (o) => o.writes,
  );
  costRow('trigger invocations per delivered order', '≤ 10', 10, (o) => o.invocations);

  const big = find(polls, 'orchestrator', 10_000, 0);
  const floor = find(polls, 'raw', 10_000, 0);
  const slowdown = big && floor ? big.wallMs / floor.wallMs : NaN;
  rows.push({
    measure: 'poll wall time at A = 10,000, no changes, vs the raw baseline',
    target: '≤ 1.25×',
    measured:
      big && floor
        ? `${fmt(big.wallMs / 1000)} s vs ${fmt(floor.wallMs / 1000)} s: ${fmt(slowdown)}×`
        : 'not measured (no poll of that size in this run)',
    met: big && floor ? slowdown <= 1.25 : null,
  });
  rows.push({
    measure: 'peak RSS of that poll',
    target: '≤ 300 MB',
    measured: big
      ? `${fmt(big.peakRssMb, 0)} MB`
      : `not measured (no poll of that size in this run; largest poll: ${fmt(worst(orchestrator.map((p) => p.peakRssMb)), 0)} MB)`,
    met: big ? big.peakRssMb <= 300 : null,
  });

  const stages = ['NEW', 'PREPARATION', 'IN_FLIGHT'] as const;
  const p95 = stages.map((s) => lifecycle.latency[s].p95);
  rows.push({
    measure: 'latency overhead per stage, p95',
    target: '≤ 1 poll interval',
    measured:
      stages.map((s, i) => `${s} ${fmt(p95[i])}`).join(', ') +
      ` (intervals of ${lifecycle.pollIntervalSeconds} s)`,
    met: p95.every((v) => Number.isFinite(v)) ? p95.every((v) => v <= 1) : null,
  });
  return rows;
}
