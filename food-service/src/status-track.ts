// Kitchen orders or shipments: resources that the food system moves through a
// fixed lifecycle. The active ones are kept apart, so each controller tick
// costs O(active), not O(everything ever created).
import { newName, type Collection } from './names';
import { emptyCounts } from './statuses';

export interface TrackedRecord<S extends string> {
  readonly name: string;
  readonly createTime: string;
  updateTime: string;
  status: S;
}

export class StatusTrack<S extends string> {
  private readonly byName = new Map<string, TrackedRecord<S>>();
  /** Insertion-ordered, so ticks visit items in a repeatable order. */
  private readonly active = new Map<string, TrackedRecord<S>>();
  private readonly counts: Record<S, number>;

  constructor(
    private readonly collection: Collection,
    statuses: readonly S[],
    private readonly initial: S,
    private readonly isFinal: (status: S) => boolean,
    private readonly now: () => string,
  ) {
    this.counts = emptyCounts(statuses);
  }

  get created(): number {
    return this.byName.size;
  }

  create(): TrackedRecord<S> {
    const time = this.now();
    const item: TrackedRecord<S> = {
      name: newName(this.collection),
      createTime: time,
      updateTime: time,
      status: this.initial,
    };
    this.byName.set(item.name, item);
    this.active.set(item.name, item);
    this.counts[item.status]++;
    return item;
  }

  get(name: string): TrackedRecord<S> | undefined {
    return this.byName.get(name);
  }

  /** The items not yet in a final status. Safe to iterate while calling setStatus. */
  activeItems(): IterableIterator<TrackedRecord<S>> {
    return this.active.values();
  }

  setStatus(item: TrackedRecord<S>, status: S): void {
    this.counts[item.status]--;
    this.counts[status]++;
    item.status = status;
    item.updateTime = this.now();
    if (this.isFinal(status)) this.active.delete(item.name);
  }

  countsByStatus(): Record<S, number> {
    return { ...this.counts };
  }
}
