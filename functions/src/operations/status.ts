// What the status API and the ops CLI show of a relation: its fields as JSON, what needs a person,
// its history; and pages of relations with opaque, filter-bound page tokens.
import { createHash } from 'node:crypto';

import { problemsOf, type ProblemReason, type StuckThresholds } from '../model/health';
import { isOrderName } from '../model/names';
import { toDate } from '../model/fields';
import {
  ACTIVE_STAGES,
  isActiveStage,
  isFinish,
  isStage,
  STAGES,
  type Stage,
} from '../model/stage';
import {
  pageOfRelations,
  oldestFirst,
  relationHistory,
  type Cursor,
  type StoredHistoryEntry,
  type RelationFilter,
} from '../store/queries';
import { readRelation, relationRef, type StoredRelation } from '../store/relations';
import { stageSinceOf } from '../store/schema';
import { problemFilter } from './health-report';

/** Bad input from a caller; the message says what was wrong and what is accepted. */
export class BadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

export const LIST_LIMIT = { default: 25, min: 1, max: 100 } as const;

export function plainJson(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plainJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plainJson(inner)]));
  }
  return value;
}

const RELATION_FIELDS = [
  'order',
  'customerId',
  'stage',
  'active',
  'outcome',
  'orderStatus',
  'kitchenOrder',
  'kitchenOrderStatus',
  'shipment',
  'shipmentStatus',
  'error',
  'flagged',
  'observationError',
  'possibleOrphans',
  'hasOpenOrphans',
] as const;
const TIME_FIELDS = ['createdAt', 'stageSince', 'observedAt', 'nudgedAt', 'advancedAt'] as const;

export interface RelationView {
  id: string;
  /** False for a document that does not parse: `problems` says why; its fields show as stored. */
  valid: boolean;
  problems?: string[];
  /** What needs a person about it now: flagged, orphans, stuck, with when and why. */
  health: Array<{ reason: ProblemReason; since: string; detail: string }>;
  times: Record<(typeof TIME_FIELDS)[number] | 'updatedAt', string | null>;
  [field: string]: unknown;
}

export function relationView(
  stored: StoredRelation,
  now: Date,
  thresholds: StuckThresholds,
): RelationView {
  const { data } = stored;
  const fields = Object.fromEntries(
    RELATION_FIELDS.map((field) => [field, plainJson(data[field] ?? null)]),
  );
  const times = Object.fromEntries(
    TIME_FIELDS.map((field) => [field, plainJson(data[field] ?? null)]),
  ) as RelationView['times'];
  times.updatedAt = stored.updateTime.toISOString();
  const since = stageSinceOf(data);
  const health = stored.parsed.ok
    ? problemsOf(stored.parsed.value, since ?? new Date(0), now, thresholds).map((p) => ({
        reason: p.reason,
        since: p.since.toISOString(),
        detail: p.detail,
      }))
    : [
        {
          reason: 'flagged' as const,
          since: times.updatedAt,
          detail: `the document is malformed: ${stored.parsed.problems.join('; ')}`,
        },
      ];
  return {
    id: stored.ref.id,
    ...fields,
    valid: stored.parsed.ok,
    ...(stored.parsed.ok ? {} : { problems: stored.parsed.problems }),
    health,
    times,
  };
}

export interface OrderReport {
  relation: RelationView;
  /** Every attempt, finishing step and repair, oldest first. */
  history: Array<Record<string, unknown>>;
}

export async function orderReport(
  orderName: string,
  now: Date,
  thresholds: StuckThresholds,
): Promise<OrderReport | null> {
  const stored = await readRelation(relationRef(orderName));
  if (!stored) return null;
  const entries = await relationHistory(orderName);
  const history = [...entries, ...finishRecord(stored, entries)].sort(oldestFirst).map((entry) => ({
    id: entry.id,
    ...(plainJson(entry.data) as object),
  }));
  return { relation: relationView(stored, now, thresholds), history };
}

// A finish sent in the window the poller opened writes no history entry (a write saved on every
// order): its record on the relation stands in for one, in the entry's shape.
function finishRecord(
  stored: StoredRelation,
  entries: readonly StoredHistoryEntry[],
): StoredHistoryEntry[] {
  const { data } = stored;
  const id = `${String(data.stage)}-1`;
  if (!isFinish(data.stage) || entries.some((entry) => entry.id === id)) return [];
  const at = toDate(data.advancedAt);
  const window = data.finishWindow as { sendUntil?: unknown } | null | undefined;
  const entry = {
    step: 'finish',
    from: 'IN_FLIGHT',
    to: data.stage,
    attempt: 1,
    claimedAt: at,
    sendUntil: toDate(window?.sendUntil),
    recordedOn: 'the relation',
  };
  return [{ id, data: entry, at }];
}

export function parseOrderName(value: string): string {
  const name = value.startsWith('orders/') ? value : `orders/${value}`;
  if (!isOrderName(name)) {
    throw new BadRequest(
      `"${value}" is not an order id: expected orders/<id> or <id>, an id of letters, digits, "-" and "_" (at most 128), starting with a letter or digit`,
    );
  }
  return name;
}

export interface ListRequest {
  stage?: Stage;
  flagged?: boolean;
  /** Relations with possible orphans nobody has resolved. */
  orphans?: boolean;
  /** Active relations not moved for longer than their stage's threshold (and not flagged). */
  stuck?: boolean;
  limit: number;
  pageToken?: string;
}

/** A listing as the ops API's query string or the CLI's flags ask for it, before it is checked. */
export interface ListAsked {
  stage?: string;
  flagged?: boolean;
  orphans?: boolean;
  stuck?: boolean;
  limit?: string;
  pageToken?: string;
}

export function listRequestOf(asked: ListAsked): ListRequest {
  const { stage, limit, flagged, orphans, stuck, pageToken } = asked;
  if (stage !== undefined && !isStage(stage))
    throw new BadRequest(`unknown stage "${stage}"; stages: ${STAGES.join(', ')}`);
  const count =
    limit === undefined ? LIST_LIMIT.default : /^\d{1,6}$/.test(limit) ? Number(limit) : NaN;
  if (!(count >= LIST_LIMIT.min && count <= LIST_LIMIT.max))
    throw new BadRequest(
      `limit must be an integer from ${LIST_LIMIT.min} to ${LIST_LIMIT.max}, got "${limit}"`,
    );
  const request: ListRequest = { limit: count };
  if (stage !== undefined) request.stage = stage;
  if (flagged !== undefined) request.flagged = flagged;
  if (orphans !== undefined) request.orphans = orphans;
  if (stuck !== undefined) request.stuck = stuck;
  if (pageToken !== undefined) request.pageToken = pageToken;
  return request;
}

export interface ListPage {
  orders: RelationView[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/** The plan of queries: one, or for stuck orders of every stage, one per active stage. */
export function listQueries(
  request: ListRequest,
  now: Date,
  thresholds: StuckThresholds,
): RelationFilter[] {
  const shared = { ...(request.orphans !== undefined ? { openOrphans: request.orphans } : {}) };
  if (!request.stuck) {
    return [
      {
        ...shared,
        ...(request.stage ? { stage: request.stage } : {}),
        ...(request.flagged !== undefined ? { flagged: request.flagged } : {}),
      },
    ];
  }
  if (request.flagged === true)
    throw new BadRequest(
      'stuck=true and flagged=true exclude each other: a flagged order is reported as flagged, not stuck',
    );
  if (request.stage && !isActiveStage(request.stage)) {
    throw new BadRequest(
      `stuck=true applies to the active stages (${ACTIVE_STAGES.join(', ')}), not ${request.stage}`,
    );
  }
  const stages = request.stage && isActiveStage(request.stage) ? [request.stage] : ACTIVE_STAGES;
  return stages.map((stage) => ({ ...shared, ...problemFilter('stuck', stage, now, thresholds) }));
}

interface Token {
  /** Which query of the plan the next page starts in. */
  query: number;
  cursor: Cursor | null;
}

/** Binds a token to its filters: one from another listing is refused, not misread. */
function fingerprint(request: ListRequest): string {
  const { stage, flagged, orphans, stuck } = request;
  return createHash('sha256')
    .update(JSON.stringify([stage ?? null, flagged ?? null, orphans ?? null, stuck ?? null]))
    .digest('base64url')
    .slice(0, 12);
}

function encodeToken(request: ListRequest, token: Token): string {
  const ms = token.cursor?.stageSince.getTime() ?? 0;
  const cursor = token.cursor ? [Math.floor(ms / 1000), (ms % 1000) * 1e6, token.cursor.id] : null;
  return Buffer.from(
    JSON.stringify({ v: 1, f: fingerprint(request), q: token.query, c: cursor }),
  ).toString('base64url');
}

export function decodeToken(request: ListRequest, text: string, queries: number): Token {
  const malformed = new BadRequest(
    'pageToken is malformed: pass the nextPageToken of the previous page, unchanged',
  );
  let raw: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) throw malformed;
    raw = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw malformed;
  }
  const t = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (
    t.v !== 1 ||
    typeof t.f !== 'string' ||
    !Number.isInteger(t.q) ||
    (t.q as number) < 0 ||
    (t.q as number) >= queries
  )
    throw malformed;
  if (t.f !== fingerprint(request))
    throw new BadRequest(
      'pageToken belongs to a listing with other filters: keep the filters of the first page',
    );
  if (t.c === null) return { query: t.q as number, cursor: null };
  const c = t.c as unknown[];
  const valid =
    Array.isArray(c) &&
    c.length === 3 &&
    Number.isInteger(c[0]) &&
    Number.isInteger(c[1]) &&
    (c[1] as number) >= 0 &&
    (c[1] as number) < 1e9 &&
    typeof c[2] === 'string';
  if (!valid) throw malformed;
  return {
    query: t.q as number,
    cursor: {
      stageSince: new Date((c[0] as number) * 1000 + Math.floor((c[1] as number) / 1e6)),
      id: c[2] as string,
    },
  };
}

/** Oldest in their stage first. Its cost follows the page: at most one read per query beyond it. */
export async function listRelations(
  request: ListRequest,
  now: Date,
  thresholds: StuckThresholds,
): Promise<ListPage> {
  const queries = listQueries(request, now, thresholds);
  const start = request.pageToken
    ? decodeToken(request, request.pageToken, queries.length)
    : { query: 0, cursor: null };
  const orders: RelationView[] = [];
  let next: Token | null = null;
  for (let q = start.query; q < queries.length && orders.length < request.limit; q++) {
    const page = await pageOfRelations(
      queries[q],
      q === start.query ? start.cursor : null,
      request.limit - orders.length,
    );
    orders.push(...page.relations.map((stored) => relationView(stored, now, thresholds)));
    if (page.next) {
      next = { query: q, cursor: page.next };
      break;
    }
    if (orders.length === request.limit && q + 1 < queries.length)
      next = { query: q + 1, cursor: null };
  }
  return { orders, nextPageToken: next ? encodeToken(request, next) : '' };
}
