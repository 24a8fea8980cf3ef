// Relation documents for the board's tests, and a feed that applies writes to
// a tracker with the right `before`, the way local/board/feed.ts does.
import type { PlainData } from '../../board/feed';
import type { RelationTracker } from '../../board/tracker';
import { newRelation } from '../../../functions/src/api';

/** A relation as the poller creates it, with overrides. */
export function relationDoc(id: string, fields: PlainData = {}): PlainData {
  return { ...newRelation(`orders/${id}`, 'customers/c1', new Date()), ...fields };
}

export class RelationFeed {
  private readonly docs = new Map<string, PlainData>();

  constructor(private readonly tracker: RelationTracker) {}

  /** Creates the document with `fields`, or updates its fields like Firestore's update(). */
  write(id: string, fields: PlainData, at: Date): void {
    const before = this.docs.get(id) ?? null;
    const after = { ...(before ?? {}), ...fields };
    this.docs.set(id, after);
    this.tracker.apply(id, before, after, at);
  }

  delete(id: string, at: Date): void {
    const before = this.docs.get(id) ?? null;
    this.docs.delete(id);
    this.tracker.apply(id, before, null, at);
  }
}
