// Turns Firestore writes into document-trigger events, the way Eventarc does
// in production: one event per write of a watched collection, with the
// document before and after, the path params and an event id, delivered at
// least once. Faults can be injected on purpose (duplicates, delays that
// reorder events) to show that the triggers survive them.
import { randomUUID } from 'node:crypto';
import type { Firestore } from 'firebase-admin/firestore';

import type { EmbeddedFirestore, PlainData } from './firestore';

export interface DocumentEvent {
  /** The same for every delivery of one change, as with a redelivered event. */
  id: string;
  /** e.g. relations/abc */
  document: string;
  params: Record<string, string>;
  before: PlainData | null;
  after: PlainData | null;
  time: string;
}

/** A change of one document of the watched collection. */
export interface DocumentChange {
  id: string;
  before: PlainData | null;
  after: PlainData | null;
}

/** Calls `onChange` for changes of `collection`'s documents; resolves to a stop function. */
export type ChangeFeed = (collection: string, onChange: (change: DocumentChange) => void) => Promise<() => void>;

/** Remembers each document's last data, to give every change its "before". */
function withBefore(onChange: (change: DocumentChange) => void): (id: string, after: PlainData | null) => void {
  const last = new Map<string, PlainData>();
  return (id, after) => {
    const before = last.get(id) ?? null;
    if (after) last.set(id, after);
    else last.delete(id);
    onChange({ id, before, after });
  };
}

/** Every write, exactly once, straight from the embedded emulator (same process). */
export function embeddedFeed(firestore: EmbeddedFirestore): ChangeFeed {
  return async (collection, onChange) => {
    const emit = withBefore(onChange);
    return firestore.onWrite(({ path, data }) => {
      const [root, id, ...deeper] = path.split('/');
      if (root === collection && id && deeper.length === 0) emit(id, data);
    });
  };
}

/** Timestamps (any SDK copy's) become Dates, so both feeds hand out the same plain data. */
function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (typeof (value as { toDate?: unknown }).toDate === 'function') return (value as { toDate(): Date }).toDate();
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
}

/**
 * A snapshot listener, for a Firestore emulator in another process. Listeners
 * may fold quick successive writes of one document into one change; the
 * triggers act on current state, so that is harmless.
 */
export function listenerFeed(db: Firestore): ChangeFeed {
  return (collection, onChange) =>
    new Promise((resolve, reject) => {
      const emit = withBefore(onChange);
      let started = false;
      const unsubscribe = db.collection(collection).onSnapshot(
        (snapshot) => {
          for (const change of snapshot.docChanges()) {
            emit(change.doc.id, change.type === 'removed' ? null : (plain(change.doc.data()) as PlainData));
          }
          if (!started) {
            started = true;
            resolve(unsubscribe);
          }
        },
        (error) => (started ? console.error(`listener on ${collection} failed:`, error) : reject(error)),
      );
    });
}

export interface DeliveryFaults {
  /** Share of events delivered twice, 0..1. */
  duplicateRate?: number;
  /** Each delivery waits a random 0..maxDelayMs first, so events overtake each other. */
  maxDelayMs?: number;
}

export interface DocumentEventSourceOptions {
  feed: ChangeFeed;
  /** The watched collection, e.g. "relations"; documents match "<collection>/{param}". */
  collection: string;
  param: string;
  deliver: (event: DocumentEvent) => Promise<void>;
  /** Deliveries in flight at once. */
  concurrency?: number;
  faults?: DeliveryFaults;
  random?: () => number;
  /** A delivery that threw. */
  onError?: (error: unknown, event: DocumentEvent) => void;
}

export class DocumentEventSource {
  /** Deliveries per document id, duplicates included. */
  readonly invocations = new Map<string, number>();
  /** How long each delivery waited between the write and its start, in ms (injected delays included). */
  readonly waits: number[] = [];
  delivered = 0;
  failed = 0;

  private readonly queue: Array<{ event: DocumentEvent; queuedAt: number }> = [];
  private inFlight = 0;
  private lastActivity = Date.now();
  private stopFeed: (() => void) | undefined;
  private readonly random: () => number;

  constructor(private readonly options: DocumentEventSourceOptions) {
    this.random = options.random ?? Math.random;
  }

  async start(): Promise<void> {
    const { collection, param } = this.options;
    this.stopFeed = await this.options.feed(collection, ({ id, before, after }) =>
      this.enqueue({ id: randomUUID(), document: `${collection}/${id}`, params: { [param]: id }, before, after, time: new Date().toISOString() }),
    );
  }

  /** Stops taking changes, drops what is queued, and waits (bounded) for deliveries in flight. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopFeed?.();
    this.stopFeed = undefined;
    this.queue.length = 0;
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
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
    for (let i = 0; i < copies; i++) this.queue.push({ event, queuedAt: performance.now() });
    this.lastActivity = Date.now();
    this.pump();
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 16;
    while (this.inFlight < limit && this.queue.length > 0) {
      const { event, queuedAt } = this.queue.shift() as { event: DocumentEvent; queuedAt: number };
      this.inFlight++;
      void this.run(event, queuedAt).finally(() => {
        this.inFlight--;
        this.lastActivity = Date.now();
        this.pump();
      });
    }
  }

  private async run(event: DocumentEvent, queuedAt: number): Promise<void> {
    const delay = this.options.faults?.maxDelayMs ? Math.floor(this.random() * this.options.faults.maxDelayMs) : 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    this.waits.push(performance.now() - queuedAt);
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
