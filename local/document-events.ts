// Turns Firestore writes into document-trigger events, the way Eventarc does
// in production: one event per observed change of a watched collection, with
// the document before and after, the path params and an event id, delivered
// at least once. Faults can be injected on purpose (duplicates, delays that
// reorder events) to show that the triggers survive them.
import { randomUUID } from 'node:crypto';
import type { DocumentData, Firestore } from 'firebase-admin/firestore';

export interface DocumentEvent {
  /** The same for every delivery of one change, as with a redelivered event. */
  id: string;
  /** e.g. relations/abc */
  document: string;
  params: Record<string, string>;
  before: DocumentData | null;
  after: DocumentData | null;
  time: string;
}

export interface DeliveryFaults {
  /** Share of events delivered twice, 0..1. */
  duplicateRate?: number;
  /** Each delivery waits a random 0..maxDelayMs first, so events overtake each other. */
  maxDelayMs?: number;
}

export interface DocumentEventSourceOptions {
  firestore: Firestore;
  /** The watched collection, e.g. "relations"; documents match "<collection>/{param}". */
  collection: string;
  param: string;
  deliver: (event: DocumentEvent) => Promise<void>;
  /** Deliveries in flight at once. */
  concurrency?: number;
  faults?: DeliveryFaults;
  random?: () => number;
  /** A delivery that threw, or the listener itself failing (no event then). */
  onError?: (error: unknown, event?: DocumentEvent) => void;
}

export class DocumentEventSource {
  /** Deliveries per document id, duplicates included. */
  readonly invocations = new Map<string, number>();
  delivered = 0;
  failed = 0;

  private readonly last = new Map<string, DocumentData>();
  private readonly queue: DocumentEvent[] = [];
  private inFlight = 0;
  private lastActivity = Date.now();
  private unsubscribe: (() => void) | undefined;
  private readonly random: () => number;

  constructor(private readonly options: DocumentEventSourceOptions) {
    this.random = options.random ?? Math.random;
  }

  /** Starts listening; resolves once the first snapshot (existing documents) is in. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let first = true;
      this.unsubscribe = this.options.firestore.collection(this.options.collection).onSnapshot(
        (snapshot) => {
          for (const change of snapshot.docChanges()) {
            const id = change.doc.id;
            const after = change.type === 'removed' ? null : change.doc.data();
            const before = this.last.get(id) ?? null;
            if (after) this.last.set(id, after);
            else this.last.delete(id);
            this.enqueue({
              id: randomUUID(),
              document: `${this.options.collection}/${id}`,
              params: { [this.options.param]: id },
              before,
              after,
              time: (change.doc.updateTime ?? change.doc.readTime).toDate().toISOString(),
            });
          }
          if (first) {
            first = false;
            resolve();
          }
        },
        (error) => (first ? reject(error) : this.options.onError?.(error)),
      );
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Resolves once nothing has been queued or delivered for `quietMs`; rejects after `timeoutMs`. */
  async settle(quietMs = 300, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.queue.length === 0 && this.inFlight === 0 && Date.now() - this.lastActivity >= quietMs) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`document events did not settle within ${timeoutMs} ms (${this.queue.length} queued, ${this.inFlight} in flight)`);
  }

  private enqueue(event: DocumentEvent): void {
    const copies = this.random() < (this.options.faults?.duplicateRate ?? 0) ? 2 : 1;
    for (let i = 0; i < copies; i++) this.queue.push(event);
    this.lastActivity = Date.now();
    this.pump();
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 16;
    while (this.inFlight < limit && this.queue.length > 0) {
      const event = this.queue.shift() as DocumentEvent;
      this.inFlight++;
      void this.run(event).finally(() => {
        this.inFlight--;
        this.lastActivity = Date.now();
        this.pump();
      });
    }
  }

  private async run(event: DocumentEvent): Promise<void> {
    const delay = this.options.faults?.maxDelayMs ? Math.floor(this.random() * this.options.faults.maxDelayMs) : 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const docId = event.params[this.options.param];
    this.invocations.set(docId, (this.invocations.get(docId) ?? 0) + 1);
    try {
      await this.options.deliver(event);
      this.delivered++;
    } catch (error) {
      this.failed++;
      this.options.onError?.(error, event);
    }
  }
}
