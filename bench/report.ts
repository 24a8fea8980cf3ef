// The bench's tables. They take a list of runs and put them side by side (a
// cell holds one value when they agree); the bench makes one run, on Google's
// Firestore emulator.
import type { FirestoreKind, LifecycleResult, Stat } from './lifecycle';
import type { PollMeasurement } from './poll-scaling';
import type { TargetRow } from './targets';

/** What the bench measured on one emulator. */
export interface Run {
  kind: FirestoreKind;
  lifecycle: LifecycleResult;
  polls: PollMeasurement[];
  targets: TargetRow[];
}

const OUTCOMES = ['DELIVERED', 'REJECTED', 'CANCELLED'] as const;
const METHODS = [
  'GetOrder',
  'UpdateOrder',
  'CreateKitchenOrder',
  'GetKitchenOrder',
  'CreateShipment',
  'GetShipment',
];

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [
    line(headers),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

/** One cell for all runs: the value if they agree, else each run's, in order. */
export function side(values: string[]): string {
  return values.every((v) => v === values[0]) ? (values[0] ?? '') : values.join(' / ');
}

const kinds = (runs: Run[]) => runs.map((r) => r.kind).join(' / ');
const stat = (s: Stat | undefined) => (s ? `${s.mean.toFixed(2)} (${s.max})` : '–');

export function lifecycleTable(runs: Run[]): string {
  const outcomes = OUTCOMES.filter((o) => runs.some((r) => r.lifecycle.byOutcome[o]));
  const row = (
    label: string,
    pick: (
      o: NonNullable<LifecycleResult['byOutcome'][(typeof OUTCOMES)[number]]>,
    ) => Stat | undefined,
  ) => [
    label,
    ...outcomes.map((outcome) =>
      side(
        runs.map((r) => {
          const cost = r.lifecycle.byOutcome[outcome];
          return cost ? stat(pick(cost)) : '–';
        }),
      ),
    ),
  ];
  const rows = [
    ...METHODS.map((m) => row(`RPC ${m}`, (c) => c.rpcs[m])),
    row('Firestore reads', (c) => c.reads),
    row('Firestore writes', (c) => c.writes),
    row('trigger invocations', (c) => c.invocations),
  ];
  const headers = [
    'per order, mean (max)',
    ...outcomes.map(
      (o) => `${o} (${runs.map((r) => r.lifecycle.byOutcome[o]?.orders ?? 0).join(' / ')} orders)`,
    ),
  ];
  return table(headers, rows);
}

/** Where a delivered order's writes go, by what each was for (ops.ts, writePurpose). */
export function writesTable(runs: Run[]): string {
  const costs = runs.map((r) => r.lifecycle.byOutcome.DELIVERED);
  const purposes = [...new Set(costs.flatMap((c) => Object.keys(c?.writesFor ?? {})))].sort();
  return table(
    [`a delivered order's writes, mean (max)`, kinds(runs)],
    [
      ...purposes.map((p) => [p, side(costs.map((c) => stat(c?.writesFor[p])))]),
      ['all', side(costs.map((c) => stat(c?.writes)))],
    ],
  );
}

export function latencyTable(runs: Run[]): string {
  const stages = ['NEW', 'PREPARATION', 'IN_FLIGHT', 'total'] as const;
  return table(
    ['stage', `p50 (${kinds(runs)})`, `p95 (${kinds(runs)})`],
    stages.map((s) => [
      s,
      side(runs.map((r) => r.lifecycle.latency[s].p50.toFixed(2))),
      side(runs.map((r) => r.lifecycle.latency[s].p95.toFixed(2))),
    ]),
  );
}

export function pollTable(runs: Run[]): string {
  const first = runs[0]?.polls ?? [];
  const rows = first.map((p) => {
    const same = runs.map((r) =>
      r.polls.find((q) => q.mode === p.mode && q.active === p.active && q.history === p.history),
    );
    const cell = (pick: (q: PollMeasurement) => string) =>
      side(same.map((q) => (q ? pick(q) : '–')));
    return [
      String(p.active),
      String(p.history),
      p.mode,
      cell((q) => String(q.calls.ListOrders)),
      cell((q) => String(q.calls.GetOrder)),
      cell((q) => String(q.calls.GetKitchenOrder)),
      cell((q) => String(q.calls.GetShipment)),
      cell((q) => String(q.firestore.reads)),
      cell((q) => String(q.firestore.writes)),
      cell((q) => (q.wallMs / 1000).toFixed(2)),
      cell((q) => q.peakRssMb.toFixed(0)),
    ];
  });
  return table(
    [
      'A',
      'H',
      'mode',
      'ListOrders',
      'GetOrder',
      'GetKitchenOrder',
      'GetShipment',
      'FS reads',
      'FS writes',
      'wall s',
      'peak RSS MB',
    ],
    rows,
  );
}

export function targetTable(runs: Run[]): string {
  const first = runs[0]?.targets ?? [];
  const met = (r: TargetRow | undefined) =>
    !r ? '–' : r.met === null ? 'not measured' : r.met ? 'yes' : 'NO';
  return table(
    ['measure', 'target', ...runs.flatMap((r) => [`measured on ${r.kind}`, 'met'])],
    first.map((row) => [
      row.measure,
      row.target,
      ...runs.flatMap((r) => {
        const same = r.targets.find((t) => t.measure === row.measure);
        return [same?.measured ?? '–', met(same)];
      }),
    ]),
  );
}

/** Anything the wire counter could not bill. */
export function counterNotes(runs: Run[]): string[] {
  const notes: string[] = [];
  for (const run of runs) {
    const uncounted = { ...run.lifecycle.uncounted };
    for (const p of run.polls)
      for (const [method, n] of Object.entries(p.uncounted))
        uncounted[method] = (uncounted[method] ?? 0) + n;
    if (Object.keys(uncounted).length)
      notes.push(
        `${run.kind}: Firestore calls the counter could not bill: ${JSON.stringify(uncounted)}`,
      );
  }
  return notes;
}

/** The functions' Firestore calls in the lifecycle, by method: how many, and how long they took on each emulator. */
export function callTable(runs: Run[]): string {
  const methods = [...new Set(runs.flatMap((r) => Object.keys(r.lifecycle.firestoreCalls)))].sort();
  return table(
    [
      'Firestore call',
      `calls (${kinds(runs)})`,
      `mean ms (${kinds(runs)})`,
      `max ms (${kinds(runs)})`,
    ],
    methods.map((method) => {
      const times = runs.map((r) => r.lifecycle.firestoreCalls[method]);
      return [
        method,
        side(times.map((t) => String(t?.count ?? 0))),
        side(times.map((t) => (t && t.count ? (t.totalMs / t.count).toFixed(1) : '–'))),
        side(times.map((t) => (t ? t.maxMs.toFixed(0) : '–'))),
      ];
    }),
  );
}
