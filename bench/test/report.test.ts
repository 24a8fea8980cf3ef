import { strict as assert } from 'node:assert';

import type { LifecycleResult, OutcomeCost } from '../lifecycle';
import type { PollMeasurement } from '../poll-scaling';
import { callTable, counterNotes, lifecycleTable, side, writesTable, type Run } from '../report';

const stat = (mean: number, max = mean) => ({ mean, max });

function cost(reads: number, writes = 9, invocations = 6): OutcomeCost {
  return {
    orders: 10,
    rpcs: {},
    reads: stat(reads),
    writes: stat(writes),
    invocations: stat(invocations),
    pollReads: stat(2),
    documents: stat(4),
    writesFor: {},
  };
}

function run(
  kind: Run['kind'],
  byOutcome: LifecycleResult['byOutcome'],
  polls: Partial<PollMeasurement>[] = [],
  extra: Partial<LifecycleResult> = {},
): Run {
  const lifecycle = {
    firestore: { kind, description: kind },
    byOutcome,
    uncounted: {},
    firestoreCalls: {},
    ...extra,
  } as LifecycleResult;
  const full = polls.map(
    (p) =>
      ({
        mode: 'orchestrator',
        active: 200,
        history: 0,
        firestore: { reads: 200, writes: 2 },
        uncounted: {},
        ...p,
      }) as PollMeasurement,
  );
  return { kind, lifecycle, polls: full, targets: [] };
}

describe('bench report', () => {
  it('shows one value where the runs agree, and each run’s where they do not', () => {
    assert.equal(side(['8.00 (8)', '8.00 (8)']), '8.00 (8)');
    assert.equal(side(['1.06', '2.33']), '1.06 / 2.33');
  });

  it('puts the orders of each outcome in its header', () => {
    const google = run('google', { DELIVERED: cost(8), REJECTED: cost(8), CANCELLED: cost(3.2) }, [
      {},
    ]);
    assert.match(
      lifecycleTable([google]),
      /\| DELIVERED \(10 orders\) \| REJECTED \(10 orders\) \| CANCELLED \(10 orders\) \|/,
    );
    assert.match(
      lifecycleTable([google]),
      /Firestore reads +\| 8\.00 \(8\) +\| 8\.00 \(8\) +\| 3\.20 \(3\.2\)/,
    );
  });

  it("lists where a delivered order's writes go, and their sum", () => {
    const delivered = {
      ...cost(8, 3),
      writesFor: { 'step recorded': stat(2), 'relation created (poll)': stat(1) },
    };
    const text = writesTable([run('google', { DELIVERED: delivered })]);
    const rows = text.split('\n').slice(2);
    assert.match(rows[0], /^\| relation created \(poll\) +\| 1\.00 \(1\) +\|$/);
    assert.match(rows[1], /^\| step recorded +\| 2\.00 \(2\) +\|$/);
    assert.match(rows[2], /^\| all +\| 3\.00 \(3\) +\|$/);
  });

  it('times the Firestore calls', () => {
    const google = run('google', {}, [], {
      firestoreCalls: {
        Commit: { count: 4, totalMs: 40, maxMs: 20 },
        RunQuery: { count: 1, totalMs: 1, maxMs: 1 },
      },
    });
    const lines = callTable([google]).split('\n');
    assert.match(lines[2], /\| Commit +\| 4 +\| 10\.0 +\| 20 +\|/);
    assert.match(lines[3], /\| RunQuery +\| 1 +\| 1\.0 +\| 1 +\|/);
  });

  it('names the calls the counter could not bill', () => {
    const google = run('google', {}, [{ uncounted: { Listen: 2 } }], { uncounted: { Listen: 1 } });
    assert.deepEqual(counterNotes([google]), [
      'google: Firestore calls the counter could not bill: {"Listen":3}',
    ]);
    assert.deepEqual(counterNotes([run('google', {})]), []);
  });
});
