// The operators' queries on relations: pages, counts and one relation's history. Each filters by
// equalities and at most one range (stageSince), ordered by stageSince then id, so a page costs
// what it returns; each combination of filters has its index (docs/ARCHITECTURE.md#indexes).
import { DOCUMENT_ID, type DocumentData, type Query } from './database';

import type { Stage } from '../model/stage';
import { store } from './db';
import { relationRef, storedRelation, type StoredRelation } from './relations';
import { RELATIONS, TRANSITIONS } from './schema';

export interface RelationFilter {
  stage?: Stage;
  /** Relations whose error waits for a person (true), or not (false). */
  flagged?: boolean;
  /** Relations with a possible orphan no person has resolved (true), or without (false). */
  openOrphans?: boolean;
  stageBefore?: Date;
}

export interface Cursor {
  stageSince: Date;
  id: string;
}

export interface Page {
  relations: StoredRelation[];
  /** The cursor after the last relation, when more may follow. */
  next: Cursor | null;
}

/** The equality fields a filter uses, in the order indexes name them. */
export function equalityFields(filter: RelationFilter): string[] {
  return [
    ...(filter.stage !== undefined ? ['stage'] : []),
    ...(filter.flagged !== undefined ? ['flagged'] : []),
    ...(filter.openOrphans !== undefined ? ['hasOpenOrphans'] : []),
  ];
}

function query(filter: RelationFilter): Query {
  let q: Query = store().collection(RELATIONS);
  if (filter.stage !== undefined) q = q.where('stage', '==', filter.stage);
  if (filter.flagged !== undefined) q = q.where('flagged', '==', filter.flagged);
  if (filter.openOrphans !== undefined) q = q.where('hasOpenOrphans', '==', filter.openOrphans);
  if (filter.stageBefore !== undefined) q = q.where('stageSince', '<', filter.stageBefore);
  return q;
}

/** `limit` relations after `after`, reading one more to know whether the page is the last. */
export async function pageOfRelations(
  filter: RelationFilter,
  after: Cursor | null,
  limit: number,
): Promise<Page> {
  let q = query(filter).orderBy('stageSince').orderBy(DOCUMENT_ID);
  if (after) q = q.startAfter(after.stageSince, after.id);
  const snapshot = await q.limit(limit + 1).get();
  const docs = snapshot.docs.slice(0, limit);
  const last = docs.at(-1);
  const next =
    snapshot.docs.length > limit && last
      ? { stageSince: last.get('stageSince') as Date, id: last.id }
      : null;
  return { relations: docs.flatMap((doc) => storedRelation(doc) ?? []), next };
}

/** Counted by the index (one read per thousand), never by reading the relations. */
export async function countRelations(filter: RelationFilter): Promise<number> {
  return query(filter).count();
}

/** A history entry as people see it, malformed ones too. */
export interface StoredHistoryEntry {
  id: string;
  data: DocumentData;
  /** When it happened: the claim for an attempt, the time of a finishing step or a repair. */
  at: Date | null;
}

export async function relationHistory(orderName: string): Promise<StoredHistoryEntry[]> {
  const snapshot = await relationRef(orderName).collection(TRANSITIONS).get();
  const entries = snapshot.docs.map((doc): StoredHistoryEntry => {
    const data = doc.data() ?? {};
    const at = data.claimedAt ?? data.at;
    return { id: doc.id, data, at: at instanceof Date ? at : null };
  });
  return entries.sort(oldestFirst);
}

/** History entries in the order they happened (by name, at the same time). */
export function oldestFirst(a: StoredHistoryEntry, b: StoredHistoryEntry): number {
  return (a.at?.getTime() ?? 0) - (b.at?.getTime() ?? 0) || a.id.localeCompare(b.id);
}
