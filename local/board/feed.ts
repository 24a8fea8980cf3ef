// Feeds the board's tracker from Firestore: a snapshot listener on the
// relations, each change with the document's data before and after. A
// listener may fold quick successive writes of one document into one change;
// the board only loses an intermediate frame. (Google's emulator slows every
// write to a collection while a listener on it is open, from about a thousand
// documents: fine for a local run's scale.)
import type { Firestore } from 'firebase-admin/firestore';

/** A document's fields, with Timestamps as Dates. */
export type PlainData = Record<string, unknown>;

/** Timestamps (any SDK copy's) become Dates, so every reader hands out the same plain data. */
export function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (typeof (value as { toDate?: unknown }).toDate === 'function') return (value as { toDate(): Date }).toDate();
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
}

/** Calls `onChange` for every change of `collection`'s documents until the returned stop is called. */
export function watchCollection(
  db: Firestore,
  collection: string,
  onChange: (id: string, before: PlainData | null, after: PlainData | null) => void,
  onError: (error: Error) => void,
): Promise<() => void> {
  const last = new Map<string, PlainData>();
  return new Promise((resolve, reject) => {
    let started = false;
    const unsubscribe = db.collection(collection).onSnapshot(
      (snapshot) => {
        for (const change of snapshot.docChanges()) {
          const after = change.type === 'removed' ? null : (plain(change.doc.data()) as PlainData);
          const before = last.get(change.doc.id) ?? null;
          if (after) last.set(change.doc.id, after);
          else last.delete(change.doc.id);
          onChange(change.doc.id, before, after);
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
