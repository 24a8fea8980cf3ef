// Delivers document-trigger events to a function the way Eventarc does in
// production: concurrently, at least once, in no guaranteed order. The events
// come from Google's Firestore emulator (real CloudEvents, one per write: see
// google/trigger-events.ts) or, for the no-Java fallback and an emulator this
// process did not start, from a change feed turned into events with
// firebase-functions-test (local/deliver.ts). Faults can be injected on purpose
// (duplicates, delays that reorder events) to show that the triggers survive them.
import type { Firestore } from 'firebase-admin/firestore';

import type { EmbeddedFirestore, PlainData } from './firestore';

/** One event for a document trigger, as firebase-functions-test builds it from a feed's change. */
export interface DocumentEvent {
  id: string;
  /** e.g. relations/abc */
  document: string;
  params: Record<string, string>;
  before: PlainData | null;
  after: PlainData | null;
  time: string;
}

/** A change of one document of the watched collection, from a feed. */
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

/** Timestamps (any SDK copy's) become Dates, so every feed hands out the same plain data. */
export function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (typeof (value as { toDate?: unknown }).toDate === 'function') return (value as { toDate(): Date }).toDate();
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
}

/**
 * A snapshot listener. Listeners may fold quick successive writes of one
 * document into one change; the triggers act on current state, so that is
 * harmless, and the board only loses an intermediate frame.
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

const DEFAULT_DELIVERY_CONCURRENCY = 16;

export interface DeliveryQueueOptions {
  /** Deliveries in flight at once. */
  concurrency?: number;
  faults?: DeliveryFaults;
  random?: () => number;
  /** A delivery that threw; `label` names the event. */
  onError?: (error: unknown, label: string) => void;
}

interface Queued {
  /** The document id, for per-document counts. */
  key: string;
  label: string;
  run: () => Promise<unknown>;
  queuedAt: number;
}

/** Runs deliveries concurrently, with injected duplicates and delays, and counts them. */
export class DeliveryQueue {
  /** Deliveries per document id, duplicates included. */
  readonly invocations = new Map<string, number>();
  /** How long each delivery waited between its arrival and its start, in ms (injected delays included). */
  readonly waits: number[] = [];
  /** How long each delivery ran, in ms: the function's time, which Cloud Run bills. */
  readonly durations: number[] = [];
  delivered = 0;
  failed = 0;
  /** Events pushed so far, duplicates included: settle() uses it to see that nothing new came. */
  pushed = 0;

  private readonly queue: Queued[] = [];
  private inFlight = 0;
  private stopped = false;
  private lastActivity = Date.now();
  private readonly random: () => number;

  constructor(private readonly options: DeliveryQueueOptions = {}) {
    this.random = options.random ?? Math.random;
  }

  /** Deliveries in flight at once, at most. */
  get concurrency(): number {
    return this.options.concurrency ?? DEFAULT_DELIVERY_CONCURRENCY;
  }

  /** One event for document `key`; `run` delivers it (and may be called twice under the duplicate fault). */
  push(key: string, label: string, run: () => Promise<unknown>): void {
    if (this.stopped) return;
    const copies = this.random() < (this.options.faults?.duplicateRate ?? 0) ? 2 : 1;
    for (let i = 0; i < copies; i++) this.queue.push({ key, label, run, queuedAt: performance.now() });
    this.pushed += copies;
    this.lastActivity = Date.now();
    this.pump();
  }

  /** Drops what is queued, takes nothing more, and waits (bounded) for deliveries in flight. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  /**
   * Resolves once every event has been delivered and no new one came: after
   * `barrier` (which resolves once the source has handed over everything it
   * had), nothing is queued or in flight for `quietMs`, and nothing arrived
   * meanwhile. Rejects after `timeoutMs`.
   */
  async settle(options: { quietMs?: number; timeoutMs?: number; barrier?: () => Promise<void> } = {}): Promise<void> {
    const quietMs = options.quietMs ?? 100;
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      const pushedBefore = this.pushed;
      await options.barrier?.();
      while (Date.now() < deadline && !(this.queue.length === 0 && this.inFlight === 0 && Date.now() - this.lastActivity >= quietMs)) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (this.pushed === pushedBefore && this.queue.length === 0 && this.inFlight === 0) return;
    }
    throw new Error(`deliveries did not settle (${this.queue.length} queued, ${this.inFlight} in flight)`);
  }

  private pump(): void {
    const limit = this.concurrency;
    while (this.inFlight < limit && this.queue.length > 0) {
      const next = this.queue.shift() as Queued;
      this.inFlight++;
      void this.run(next).finally(() => {
        this.inFlight--;
        this.lastActivity = Date.now();
        this.pump();
      });
    }
  }

  private async run({ key, label, run, queuedAt }: Queued): Promise<void> {
    const delay = this.options.faults?.maxDelayMs ? Math.floor(this.random() * this.options.faults.maxDelayMs) : 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    this.waits.push(performance.now() - queuedAt);
    this.invocations.set(key, (this.invocations.get(key) ?? 0) + 1);
    const started = performance.now();
    try {
      await run();
      this.delivered++;
    } catch (error) {
      this.failed++;
      this.options.onError?.(error, label);
    } finally {
      this.durations.push(performance.now() - started);
    }
  }
}
