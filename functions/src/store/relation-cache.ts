// The active relations, kept by a snapshot listener while one invocation polls: instead of every
// poll reading them all, it reads them once, then one per change (docs/ARCHITECTURE.md#polling).
// It holds them all in memory, so the poller uses it only below SHARD_SIZE.
import type { Query } from './database';
import { store } from './db';
import { storedRelation, type IdRange, type StoredRelation } from './relations';
import { RELATIONS } from './schema';

/** How long to wait for the listener's first snapshot before polling without it. */
const FIRST_SNAPSHOT_MS = 30_000;

export interface RelationCache {
  /** The active relations in `range`, in id order, a page at a time, as last seen. */
  pages(pageSize: number, range?: IdRange): AsyncGenerator<StoredRelation[]>;
  close(): void;
}

/** Opens a listener on the active relations and resolves once its first snapshot is in. */
export function openRelationCache(
  query: Query = store().collection(RELATIONS).where('active', '==', true),
): Promise<RelationCache> {
  return new Promise((resolve, reject) => {
    const relations = new Map<string, StoredRelation>();
    let first = true;
    const timer = setTimeout(() => {
      unsubscribe();
      reject(
        new Error(
          `the relation listener gave no first snapshot within ${FIRST_SNAPSHOT_MS / 1000} s`,
        ),
      );
    }, FIRST_SNAPSHOT_MS);
    const unsubscribe = query.onSnapshot(
      (changes) => {
        for (const change of changes) {
          if (change.type === 'removed') relations.delete(change.doc.id);
          else {
            const relation = storedRelation(change.doc);
            if (relation) relations.set(change.doc.id, relation);
          }
        }
        if (!first) return;
        first = false;
        clearTimeout(timer);
        resolve({
          async *pages(pageSize, range = {}) {
            const ids = [...relations.keys()]
              .filter(
                (id) =>
                  (range.after === undefined || id > range.after) &&
                  (range.upTo === undefined || id <= range.upTo),
              )
              .sort();
            for (let start = 0; start < ids.length; start += pageSize) {
              yield ids.slice(start, start + pageSize).flatMap((id) => relations.get(id) ?? []);
            }
          },
          close: unsubscribe,
        });
      },
      (error) => {
        clearTimeout(timer);
        if (first) reject(error);
      },
    );
  });
}
