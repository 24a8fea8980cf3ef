// Firestore operations, attributed to the order whose documents they touch:
// relations/{id} and everything below it. The rest (the poll lease) is the
// poll's own overhead. They come from a source: the wire counter on the
// functions' Firestore client (firestore-wire.js), which works on either
// emulator, or the embedded emulator's own hooks, which count where it serves
// them and so check the wire counter independently.
import type { EmbeddedFirestore } from '../local/firestore';

export interface Ops {
  reads: number;
  writes: number;
}

/** One billed operation: the document it touched (null: none in particular). */
export interface CountedOp {
  kind: keyof Ops;
  path: string | null;
  /** The Firestore RPC that carried it, where the source knows. */
  method?: string;
}

/** The methods a poll reads relations with: its query, or the invocation's listener. */
const POLL_READS = new Set(['RunQuery', 'Listen']);

export interface OpSource {
  /** Calls `listener` once per billed operation; returns a function that stops it. */
  onOp(listener: (op: CountedOp) => void): () => void;
}

/** The embedded emulator's hooks as a source: every document a response carried, every document it wrote. */
export function embeddedSource(firestore: EmbeddedFirestore): OpSource {
  return {
    onOp(listener) {
      const detach = [
        firestore.onRead(({ path }) => listener({ kind: 'reads', path })),
        firestore.onWrite(({ path }) => listener({ kind: 'writes', path })),
      ];
      return () => {
        for (const stop of detach) stop();
      };
    },
  };
}

const RELATION = /^relations\/([^/]+)/;

export class OpCounter {
  readonly total: Ops = { reads: 0, writes: 0 };
  readonly overhead: Ops = { reads: 0, writes: 0 };
  readonly byRelation = new Map<string, Ops>();
  /** Of those reads, the ones made by a query or a listener: the polls' (the triggers read by document). */
  readonly pollReads = new Map<string, number>();
  private detach: (() => void) | undefined;

  constructor(source: OpSource) {
    this.detach = source.onOp(({ kind, path, method }) => this.count(path, kind, method));
  }

  /** A copy of the totals, to subtract later. */
  snapshot(): Ops {
    return { ...this.total };
  }

  since(before: Ops): Ops {
    return { reads: this.total.reads - before.reads, writes: this.total.writes - before.writes };
  }

  stop(): void {
    this.detach?.();
    this.detach = undefined;
  }

  private count(path: string | null, kind: keyof Ops, method: string | undefined): void {
    this.total[kind]++;
    const id = path ? RELATION.exec(path)?.[1] : undefined;
    if (!id) {
      this.overhead[kind]++;
      return;
    }
    const ops = this.byRelation.get(id) ?? { reads: 0, writes: 0 };
    ops[kind]++;
    this.byRelation.set(id, ops);
    if (kind === 'reads' && method && POLL_READS.has(method)) this.pollReads.set(id, (this.pollReads.get(id) ?? 0) + 1);
  }
}

export interface CounterAgreement {
  /** Relations either counter saw. */
  relations: number;
  /** Those both counted the same reads and writes for. */
  agreeing: number;
  /** A few that differ, for the report: id, then the first and the second counter's counts. */
  differing: Array<{ id: string; first: Ops; second: Ops }>;
  overhead: { first: Ops; second: Ops };
}

/** How two counters of the same run agree, order by order and on the shared overhead. */
export function agreement(first: OpCounter, second: OpCounter, limit = 5): CounterAgreement {
  const none: Ops = { reads: 0, writes: 0 };
  const ids = new Set([...first.byRelation.keys(), ...second.byRelation.keys()]);
  const differing: CounterAgreement['differing'] = [];
  let agreeing = 0;
  for (const id of ids) {
    const a = first.byRelation.get(id) ?? none;
    const b = second.byRelation.get(id) ?? none;
    if (a.reads === b.reads && a.writes === b.writes) agreeing++;
    else if (differing.length < limit) differing.push({ id, first: a, second: b });
  }
  return { relations: ids.size, agreeing, differing, overhead: { first: { ...first.overhead }, second: { ...second.overhead } } };
}

/** Percentile by nearest rank; `values` need not be sorted. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
