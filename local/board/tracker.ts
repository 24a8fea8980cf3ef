// What the live board knows: relation documents as they change, folded into
// cards, per-stage counts, recent transitions and a rate. No I/O, so a feed,
// a test or a replay can drive it alike, and the clock is always a parameter.
//
// Counts, errors and orphans are kept incrementally from each change's
// `before` and `after` (take out what the document was, add what it is), so
// they stay exact even for relations whose cards were dropped to bound memory.
// That relies on its feed (feed.ts) handing it each document's changes in
// order, each `before` being the previous change's `after` (null at first).
import {
  isActiveStage,
  isTerminal,
  loadStuckThresholds,
  STAGES,
  type ProblemReason,
  type Stage,
  type StuckThresholds,
} from '../../functions/src/api';
import type { PlainData } from './feed';

export { STAGES, type Stage };
/** Where a document whose `stage` is missing or unknown goes, so it is seen rather than hidden. */
export const INVALID = 'INVALID';
export type Bucket = Stage | typeof INVALID;
export const BUCKETS: readonly Bucket[] = [...STAGES, INVALID];
const TERMINAL: readonly Bucket[] = STAGES.filter(isTerminal);

export interface ErrorView {
  code: string;
  message: string;
  /** Transient errors are retried by the orchestrator; the others wait for a person. */
  transient: boolean;
}

/** A card: what the board shows of one relation document. */
export type RelationView = ReturnType<typeof toView>;

export interface HealthNote {
  reason: ProblemReason;
  /** ISO time it has been so, when known. */
  since: string | null;
  detail: string;
}

export interface TransitionView {
  at: string;
  id: string;
  order: string | null;
  /** null when the relation was created. */
  from: Bucket | null;
  to: Bucket;
}

export type Summary = ReturnType<RelationTracker['summary']>;

export type TrackerEvent =
  | { type: 'relation'; view: RelationView }
  /** The relation was deleted, or its card dropped to bound memory (it is still counted). */
  | { type: 'removed'; id: string }
  | { type: 'transition'; transition: TransitionView };

export interface TrackerOptions {
  /** Finished cards kept per terminal stage; older ones are dropped (counts stay exact). */
  finishedPerStage?: number;
  /** Recent transitions kept. */
  transitionLimit?: number;
  /** Window of transitionsPerSecond. */
  rateWindowMs?: number;
  /** Seconds per active stage after which an order is stuck (the functions' STUCK_*_SECONDS). */
  stuckThresholds?: StuckThresholds;
}

export class RelationTracker {
  private readonly views = new Map<string, RelationView>();
  /** Ids of retained finished cards per terminal stage, oldest first (Map keeps insertion order). */
  private readonly finished = new Map<Bucket, Map<string, true>>(
    TERMINAL.map((stage) => [stage, new Map()]),
  );
  private readonly counts = Object.fromEntries(BUCKETS.map((bucket) => [bucket, 0])) as Record<
    Bucket,
    number
  >;
  private readonly errorCounts = { transient: 0, flagged: 0 };
  private orphans = 0;
  /** Recent transitions, oldest first. */
  private readonly recent: TransitionView[] = [];
  /** Times (ms) of the transitions inside the rate window, oldest first. */
  private readonly recentTimes: number[] = [];
  private readonly listeners = new Set<(event: TrackerEvent) => void>();
  private readonly options: Required<TrackerOptions>;

  constructor(options: TrackerOptions = {}) {
    // Without thresholds, the functions' defaults.
    this.options = {
      finishedPerStage: 300,
      transitionLimit: 200,
      rateWindowMs: 10_000,
      stuckThresholds: loadStuckThresholds({}),
      ...options,
    };
  }

  /** One change of relations/{id}: `before`/`after` are null for a creation/deletion. Never throws on bad data. */
  apply(id: string, before: PlainData | null, after: PlainData | null, at: Date): void {
    if (before) this.count(contribution(before), -1);
    if (after) this.count(contribution(after), +1);

    const previous = this.views.get(id);
    if (previous) this.finished.get(previous.stage)?.delete(id);
    if (!after) {
      this.views.delete(id);
      this.emit({ type: 'removed', id });
      return;
    }

    const view = toView(id, after, at, previous);
    this.views.set(id, view);
    this.emit({ type: 'relation', view });
    this.retainFinished(view);

    const from = before ? bucketOf(before.stage) : null;
    if (from !== view.stage)
      this.recordTransition({ at: at.toISOString(), id, order: view.order, from, to: view.stage });
  }

  /** Cards: every active or invalid relation and the most recent finished ones; with `now`, stuck ones say so. */
  relations(now?: Date): RelationView[] {
    const views = [...this.views.values()];
    return now ? views.map((view) => withStuck(view, now, this.options.stuckThresholds)) : views;
  }

  /** Recent transitions, oldest first. */
  transitions(): TransitionView[] {
    return [...this.recent];
  }

  summary(now: Date) {
    this.pruneRate(now.getTime());
    const finished = TERMINAL.reduce((sum, stage) => sum + this.counts[stage], 0);
    const relations = BUCKETS.reduce((sum, bucket) => sum + this.counts[bucket], 0);
    return {
      stages: { ...this.counts },
      active: relations - finished,
      finished,
      transitionsPerSecond:
        this.recentTimes.filter(
          (t) => t > now.getTime() - this.options.rateWindowMs && t <= now.getTime(),
        ).length /
        (this.options.rateWindowMs / 1000),
      // Relations with an error the orchestrator retries (transient), or one that waits for a person (flagged).
      errors: { ...this.errorCounts },
      // Active relations that wait for a person: nothing moves them until someone retries or repairs them.
      waitingForPerson: [...this.views.values()].filter(
        (v) => !TERMINAL.includes(v.stage) && errorKind(v.error, v.observationError) === 'flagged',
      ).length,
      possibleOrphans: this.orphans,
      // Relations that need a person, by reason, as the stuck-order report counts them.
      health: this.health(now),
      // The page marks cards stuck with these as time passes.
      stuckThresholds: { ...this.options.stuckThresholds },
      relations,
    };
  }

  /**
   * Flagged and open orphans over every card (finished ones too: a closed
   * flag or an orphan nobody resolved still needs a person), stuck over the
   * active ones; the cards of active relations are never dropped.
   */
  private health(now: Date): Record<ProblemReason, number> {
    const counts: Record<ProblemReason, number> = { flagged: 0, orphans: 0, stuck: 0 };
    for (const view of this.views.values()) {
      for (const note of withStuck(view, now, this.options.stuckThresholds).health)
        counts[note.reason]++;
    }
    return counts;
  }

  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: (event: TrackerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private count({ bucket, error, orphans }: ReturnType<typeof contribution>, sign: 1 | -1): void {
    this.counts[bucket] += sign;
    if (error) this.errorCounts[error] += sign;
    this.orphans += sign * orphans;
  }

  private retainFinished(view: RelationView): void {
    const kept = this.finished.get(view.stage);
    if (!kept) return;
    kept.set(view.id, true);
    for (const [oldest] of kept) {
      if (kept.size <= this.options.finishedPerStage) break;
      kept.delete(oldest);
      this.views.delete(oldest);
      this.emit({ type: 'removed', id: oldest });
    }
  }

  private recordTransition(transition: TransitionView): void {
    this.recent.push(transition);
    if (this.recent.length > this.options.transitionLimit) this.recent.shift();
    const at = Date.parse(transition.at);
    this.recentTimes.push(at);
    this.pruneRate(at);
    this.emit({ type: 'transition', transition });
  }

  /** Drops times that fell out of the window ending at `now` (memory only: summary() filters by time itself). */
  private pruneRate(now: number): void {
    while (this.recentTimes.length > 0 && this.recentTimes[0] <= now - this.options.rateWindowMs)
      this.recentTimes.shift();
  }

  private emit(event: TrackerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        // A broken listener (e.g. a closed socket) must not stop the feed or the other listeners.
        console.error('board listener failed:', error);
      }
    }
  }
}

/** The view with a stuck note added if it has stayed in its active stage past the threshold and is not flagged. */
function withStuck(view: RelationView, now: Date, thresholds: StuckThresholds): RelationView {
  const since = Date.parse(view.stageSince);
  const flagged = view.health.some((note) => note.reason === 'flagged');
  if (!isActiveStage(view.stage) || flagged || Number.isNaN(since)) return view;
  const limitSeconds = thresholds[view.stage];
  const seconds = Math.floor((now.getTime() - since) / 1000);
  if (seconds <= limitSeconds) return view;
  const detail = `in ${view.stage} for ${seconds} s, longer than its ${limitSeconds} s threshold`;
  return { ...view, health: [...view.health, { reason: 'stuck', since: view.stageSince, detail }] };
}

function bucketOf(stage: unknown): Bucket {
  return typeof stage === 'string' && (STAGES as readonly string[]).includes(stage)
    ? (stage as Stage)
    : INVALID;
}

/** What one document adds to the totals. */
function contribution(data: PlainData) {
  return {
    bucket: bucketOf(data.stage),
    error: errorKind(errorOf(data), textOf(data.observationError)),
    orphans: orphansOf(data.possibleOrphans),
  };
}

/** Flagged: something waits for a person (a permanent error or look-up failure); transient: the orchestrator retries. */
function errorKind(
  error: ErrorView | null,
  observationError: string | null,
): 'transient' | 'flagged' | null {
  if ((error && !error.transient) || observationError) return 'flagged';
  return error ? 'transient' : null;
}

function toView(
  id: string,
  data: PlainData,
  at: Date,
  previous: { stage: Bucket; stageSince: string } | undefined,
) {
  const stage = bucketOf(data.stage);
  // advancedAt is written with every stage the trigger records; a NEW relation has only createdAt.
  const entered =
    stage === 'NEW' || stage === INVALID
      ? dateOf(data.createdAt)
      : (dateOf(data.advancedAt) ?? dateOf(data.createdAt));
  const sameStage = previous?.stage === stage;
  return {
    id,
    order: textOf(data.order),
    stage,
    orderStatus: textOf(data.orderStatus),
    kitchenOrder: textOf(data.kitchenOrder),
    kitchenOrderStatus: textOf(data.kitchenOrderStatus),
    shipment: textOf(data.shipment),
    shipmentStatus: textOf(data.shipmentStatus),
    error: errorOf(data),
    // The poller's permanent look-up failure, if any.
    observationError: textOf(data.observationError),
    possibleOrphans: orphansOf(data.possibleOrphans),
    openOrphans: openOrphansOf(data.possibleOrphans),
    // What needs a person about it; views read with relations(now), or sent to the page, also say whether it is stuck.
    health: healthOf(data),
    // ISO times: when the relation entered its stage, and of the last change the tracker applied.
    stageSince:
      entered?.toISOString() ?? (sameStage && previous ? previous.stageSince : at.toISOString()),
    updatedAt: at.toISOString(),
  };
}

/**
 * The document's error as the board shows it. An unknown stage counts as a
 * permanent error too: the orchestrator flags such a document and waits for a person.
 */
function errorOf(data: PlainData): ErrorView | null {
  const { error } = data;
  if (error !== null && error !== undefined) {
    if (typeof error === 'object' && !Array.isArray(error)) {
      const fields = error as Record<string, unknown>;
      return {
        code: textOf(fields.code) ?? 'UNKNOWN',
        message: textOf(fields.message) ?? '(no message)',
        transient: fields.transient === true,
      };
    }
    return { code: 'UNKNOWN', message: textOf(error) ?? '', transient: false };
  }
  if (bucketOf(data.stage) === INVALID) {
    const message =
      data.stage === undefined
        ? 'the document has no stage'
        : `unknown stage ${JSON.stringify(data.stage)}`;
    return { code: 'INVALID_STAGE', message, transient: false };
  }
  return null;
}

function orphansOf(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

/** Notes without a person's resolution (notes from before resolutions existed count as open). */
function openOrphansOf(value: unknown): number {
  return Array.isArray(value)
    ? value.filter(
        (note) => !(typeof note === 'object' && note !== null && (note as PlainData).resolution),
      ).length
    : 0;
}

/** A flag (an error that waits for a person) and open orphans, as the functions judge them (model/health.ts). */
function healthOf(data: PlainData): HealthNote[] {
  const notes: HealthNote[] = [];
  const error = errorOf(data);
  if (error && !error.transient) {
    const at =
      typeof data.error === 'object' && data.error !== null
        ? dateOf((data.error as PlainData).at)
        : null;
    notes.push({
      reason: 'flagged',
      since: at?.toISOString() ?? null,
      detail: `${error.code}: ${error.message}`,
    });
  }
  const open = openOrphansOf(data.possibleOrphans);
  if (open > 0)
    notes.push({
      reason: 'orphans',
      since: null,
      detail: `${open} possible orphan(s) to reconcile with the food service`,
    });
  return notes;
}

/** Strings as they are, other values as text (hand-edited documents), absent as null. */
function textOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A JS Date (the feed hands them out), a Firestore Timestamp or an ISO string. */
function dateOf(value: unknown): Date | null {
  let date: Date | null = null;
  if (value instanceof Date) date = value;
  else if (typeof value === 'string') date = new Date(value);
  else if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toDate?: unknown }).toDate === 'function'
  ) {
    date = (value as { toDate(): unknown }).toDate() as Date;
  }
  return date instanceof Date && !Number.isNaN(date.getTime()) ? date : null;
}
