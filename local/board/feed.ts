// Feeds the board's tracker from Firestore, each change with the document's
// data before and after. Google's emulator resends a listener's whole result
// on every change, and slows every commit while a large one is open (562 ms
// against 47 ms per commit, docs/BENCHMARKS.md), so the listener watches the
// active relations only: the collection is read once at the start, and a
// relation that leaves the active ones (finished, or deleted) is read once
// more for its final state. A listener may fold quick successive writes of
// one document into one change; the board only loses an intermediate frame.
import type { Firestore } from 'firebase-admin/firestore';

/** A document's fields, with Timestamps as Dates. */
export type PlainData = Record<string, unknown>;

/** Timestamps (any SDK copy's) become Dates, so every reader hands out the same plain data. */
export function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (typeof (value as { toDate?: unknown }).toDate === 'function')
    return (value as { toDate(): Date }).toDate();
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
}

type OnChange = (id: string, before: PlainData | null, after: PlainData | null) => void;

/** Calls `onChange` for the relations as they are, then for every change, until the returned stop is called. */
export async function watchRelations(
  db: Firestore,
  onChange: OnChange,
  onError: (error: Error) => void,
): Promise<() => void> {
  const relations = db.collection('relations');
  const last = new Map<string, PlainData>();
  /** Changes seen per document, so a read that an active change overtook is dropped. */
  const seen = new Map<string, number>();
  const emit = (id: string, after: PlainData | null) => {
    seen.set(id, (seen.get(id) ?? 0) + 1);
    const before = last.get(id) ?? null;
    if (after) last.set(id, after);
    else last.delete(id);
    onChange(id, before, after);
  };
  for (const doc of (await relations.get()).docs) emit(doc.id, plain(doc.data()) as PlainData);
  return new Promise((resolve, reject) => {
    let started = false;
    const unsubscribe = relations.where('active', '==', true).onSnapshot(
      (snapshot) => {
        for (const change of snapshot.docChanges()) {
          if (change.type !== 'removed') emit(change.doc.id, plain(change.doc.data()) as PlainData);
          else {
            // Finished (or deleted): its final state, which the active ones no longer carry.
            const at = seen.get(change.doc.id);
            void relations
              .doc(change.doc.id)
              .get()
              .then(
                (doc) =>
                  seen.get(doc.id) === at &&
                  emit(doc.id, doc.exists ? (plain(doc.data()) as PlainData) : null),
                onError,
              );
          }
        }
        if (!started) {
          started = true;
          resolve(unsubscribe);
        }
      },
      (error) => (started ? onError(error) : reject(error)),
    );
  });
}
