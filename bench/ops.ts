// Firestore operations counted where the emulator serves them, attributed to
// the order whose documents they touch: relations/{id} and everything below
// it. The rest (the poll lease) is the poll's own overhead.
import type { EmbeddedFirestore } from '../local/firestore';

export interface Ops {
  reads: number;
  writes: number;
}

const RELATION = /^relations\/([^/]+)/;

export class OpCounter {
  readonly total: Ops = { reads: 0, writes: 0 };
  readonly overhead: Ops = { reads: 0, writes: 0 };
  readonly byRelation = new Map<string, Ops>();
  private readonly detach: Array<() => void>;

  constructor(firestore: EmbeddedFirestore) {
    this.detach = [
      firestore.onRead(({ path }) => this.count(path, 'reads')),
      firestore.onWrite(({ path }) => this.count(path, 'writes')),
    ];
  }

  /** A copy of the totals, to subtract later. */
  snapshot(): Ops {
    return { ...this.total };
  }

  since(before: Ops): Ops {
    return { reads: this.total.reads - before.reads, writes: this.total.writes - before.writes };
  }

  stop(): void {
    for (const detach of this.detach) detach();
  }

  private count(path: string | null, kind: keyof Ops): void {
    this.total[kind]++;
    const id = path ? RELATION.exec(path)?.[1] : undefined;
    if (!id) {
      this.overhead[kind]++;
      return;
    }
    const ops = this.byRelation.get(id) ?? { reads: 0, writes: 0 };
    ops[kind]++;
    this.byRelation.set(id, ops);
  }
}

/** Percentile by nearest rank; `values` need not be sorted. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
