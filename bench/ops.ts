// Firestore operations, attributed to the order whose documents they touch:
// relations/{id} and everything below it. The rest (the poll lease) is the
// poll's own overhead. They come from a source: the wire counter on the
// functions' Firestore client (firestore-wire.js).

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
    if (kind === 'reads' && method && POLL_READS.has(method))
      this.pollReads.set(id, (this.pollReads.get(id) ?? 0) + 1);
  }
}

/** Percentile by nearest rank; `values` need not be sorted. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
