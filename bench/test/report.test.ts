import { strict as assert } from 'node:assert';

import type { LifecycleResult, OutcomeCost } from '../lifecycle';
import type { PollMeasurement } from '../poll-scaling';
import { callTable, costDifferences, counterNotes, lifecycleTable, side, type Run } from '../report';

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
  };
}

function run(
  kind: Run['kind'],
  byOutcome: LifecycleResult['byOutcome'],
  polls: Partial<PollMeasurement>[] = [],
  extra: Partial<LifecycleResult> = {},
): Run {
  const lifecycle = { firestore: { kind, description: kind }, byOutcome, uncounted: {}, firestoreCalls: {}, ...extra } as LifecycleResult;
  const full = polls.map(
    (p) =>
      ({ mode: 'orchestrator', active: 200, history: 0, firestore: { reads: 200, writes: 2 }, uncounted: {}, ...p }) as PollMeasurement,
  );
  return { kind, lifecycle, polls: full, targets: [] };
}

describe('bench report', () => {
  it('shows one value where the runs agree, and each run’s where they do not', () => {
    assert.equal(side(['8.00 (8)', '8.00 (8)']), '8.00 (8)');
    assert.equal(side(['1.06', '2.33']), '1.06 / 2.33');
  });

  it('finds no cost difference between runs that cost the same, whatever their cancelled orders cost', () => {
    const google = run('google', { DELIVERED: cost(8), REJECTED: cost(8), CANCELLED: cost(3.2) }, [{}]);
    const embedded = run('embedded', { DELIVERED: cost(8), REJECTED: cost(8), CANCELLED: cost(4.4) }, [{}]);
    assert.deepEqual(costDifferences([google, embedded]), []);
    assert.match(lifecycleTable([google, embedded]), /CANCELLED \(10 \/ 10 orders\)/);
  });

  it('names each cost that differs, per order and per poll', () => {
    const google = run('google', { DELIVERED: cost(10.33, 9, 6) }, [{ firestore: { reads: 201, writes: 3 } }]);
    const embedded = run('embedded', { DELIVERED: cost(8, 9, 6) }, [{}]);
    assert.deepEqual(costDifferences([google, embedded]), [
      'DELIVERED reads per order: 10.33 (10.33) on google, 8.00 (8) on embedded',
      'poll orchestrator A=200 H=0: 201 reads, 3 writes on google, 200 reads, 2 writes on embedded',
    ]);
  });

  it('times the Firestore calls side by side', () => {
    const google = run('google', {}, [], { firestoreCalls: { Commit: { count: 4, totalMs: 40, maxMs: 20 } } });
    const embedded = run('embedded', {}, [], {
      firestoreCalls: { Commit: { count: 4, totalMs: 8, maxMs: 3 }, RunQuery: { count: 1, totalMs: 1, maxMs: 1 } },
    });
    const lines = callTable([google, embedded]).split('\n');
    assert.match(lines[2], /\| Commit +\| 4 +\| 10\.0 \/ 2\.0 +\| 20 \/ 3 +\|/);
    assert.match(lines[3], /\| RunQuery +\| 0 \/ 1 +\| – \/ 1\.0 +\| – \/ 1 +\|/);
  });

  it('reports how the embedded hooks agree with the wire counter, and calls it could not bill', () => {
    const embedded = run('embedded', {}, [{ hooks: { reads: 200, writes: 2 } }, { history: 1000, hooks: { reads: 199, writes: 2 } }], {
      counterCheck: {
        relations: 3,
        agreeing: 2,
        differing: [{ id: 'x', first: { reads: 1, writes: 0 }, second: { reads: 0, writes: 0 } }],
        overhead: { first: { reads: 1, writes: 1 }, second: { reads: 1, writes: 1 } },
      },
      uncounted: { Listen: 1 },
    });
    const notes = counterNotes([embedded]);
    assert.match(notes[0], /agree with the wire counter on 2 of 3 orders \(differing: x 1 reads, 0 writes vs 0 reads, 0 writes\)/);
    assert.match(notes[1], /on 1 of 2 polls \(differing: orchestrator A=200 H=1000 200 reads, 2 writes vs 199 reads, 2 writes\)/);
    assert.match(notes[2], /could not bill: \{"Listen":1\}/);
  });
});
