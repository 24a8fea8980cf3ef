// Delivers a document event to a Firestore-triggered function the way the
// Functions runtime does: as a CloudEvent whose data is a Change of two
// DocumentSnapshots. firebase-functions-test builds exactly that shape (type,
// source, subject, id, time, params), so the same code serves the tests and
// the local stack.
import type { DocumentEvent } from './document-events';
import type { PlainData } from './firestore';

/** The part of firebase-functions-test used here (it is loaded from functions/, where it is installed). */
export interface FunctionsTestApi {
  wrap(cloudFunction: unknown): (event: unknown) => unknown;
  makeChange(before: unknown, after: unknown): unknown;
  firestore: { makeDocumentSnapshot(data: PlainData, refPath: string): unknown };
}

export function documentDeliverer(fft: FunctionsTestApi, cloudFunction: unknown): (event: DocumentEvent) => Promise<void> {
  const wrapped = fft.wrap(cloudFunction);
  return async (event) => {
    // An empty object is firebase-functions-test's way to say "no document".
    const before = fft.firestore.makeDocumentSnapshot(event.before ?? {}, event.document);
    const after = fft.firestore.makeDocumentSnapshot(event.after ?? {}, event.document);
    await wrapped({ id: event.id, time: event.time, params: event.params, data: fft.makeChange(before, after) });
  };
}
