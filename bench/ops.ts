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
  /** A write's shape (firestore-wire.js, writeShape), where the source knows. */
  shape?: string;
}

/** The method a poll reads relations with: a query (the triggers read by document). */
const POLL_READS = new Set(['RunQuery']);

export interface OpSource {
  /** Calls `listener` once per billed operation; returns a function that stops it. */
  onOp(listener: (op: CountedOp) => void): () => void;
}

const RELATION = /^relations\/([^/]+)/;

/** The relation fields only the poller writes (store/relations.ts, writeObservation). */
const OBSERVED = new Set([
  'orderStatus',
  'orderUpdateTime',
  'kitchenOrderStatus',
  'shipmentStatus',
  'observationError',
  'observationFaults',
  'observedAt',
]);

/** What a write of an order's documents is for, as BENCHMARKS.md's table of an order's writes names it. */
export function writePurpose(path: string, shape = 'set'): string {
  const entry = /^relations\/[^/]+\/transitions\/([A-Z_]+)-\d+$/.exec(path);
  if (entry) {
    const attempt = entry[1] === 'PREPARATION' || entry[1] === 'IN_FLIGHT';
    if (shape === 'delete') return 'history deleted';
    if (shape === 'create') return attempt ? 'claim: an attempt created' : 'history entry created';
    return attempt ? 'attempt updated (name, send window, end)' : 'history entry updated';
  }
  if (!/^relations\/[^/]+$/.test(path)) return `other (${path})`;
  if (shape === 'create') return 'relation created (poll)';
  if (shape === 'delete' || shape === 'set') return `relation ${shape}`;
  const fields = shape.replace(/^update:/, '').split(',');
  if (fields.includes('stage')) return 'step recorded';
  if (fields.includes('error')) return 'error recorded';
  if (fields.length === 1 && fields[0] === 'watchUntil') return 'watch ended (poll)';
  if (fields.length === 1 && fields[0] === 'nudgedAt') return 'nudged (poll)';
  if (fields.some((f) => OBSERVED.has(f))) return 'observation (poll)';
  return `relation updated (${fields.join(', ')})`;
}

export class OpCounter {
  readonly total: Ops = { reads: 0, writes: 0 };
  readonly overhead: Ops = { reads: 0, writes: 0 };
  readonly byRelation = new Map<string, Ops>();
  /** Of those reads, the ones made by a query: the polls' (the triggers read by document). */
  readonly pollReads = new Map<string, number>();
  /** Each relation's writes, by what they were for (writePurpose). */
  readonly writesFor = new Map<string, Record<string, number>>();
  private detach: (() => void) | undefined;

  constructor(source: OpSource) {
    this.detach = source.onOp(({ kind, path, method, shape }) =>
      this.count(path, kind, method, shape),
    );
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

  private count(
    path: string | null,
    kind: keyof Ops,
    method: string | undefined,
    shape: string | undefined,
  ): void {
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
    if (kind === 'writes' && path) {
      const purposes = this.writesFor.get(id) ?? {};
      const purpose = writePurpose(path, shape);
      purposes[purpose] = (purposes[purpose] ?? 0) + 1;
      this.writesFor.set(id, purposes);
    }
  }
}

/** Percentile by nearest rank; `values` need not be sorted. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
