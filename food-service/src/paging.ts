// ListOrders paging. A page token is an opaque cursor: the creation sequence
// number of the last order served and the filter it was issued for. Listing
// resumes after that number, so orders that change status between pages never
// break a listing; they may be skipped or seen, as with any cursor.
import { invalidArgument } from './errors';
import type { OrderStatus } from './statuses';

export interface PageSizes {
  defaultPageSize: number;
  maxPageSize: number;
}

const TOKEN_VERSION = 1;

interface TokenBody {
  v: number;
  /** The status filter, or '' for none. */
  f: string;
  /** Sequence number of the last order on the previous page. */
  a: number;
}

export function resolvePageSize(requested: number, sizes: PageSizes): number {
  if (requested < 0) throw invalidArgument(`page_size: must not be negative, got ${requested}`);
  if (requested === 0) return sizes.defaultPageSize;
  return Math.min(requested, sizes.maxPageSize);
}

export function encodePageToken(filter: OrderStatus | undefined, afterSeq: number): string {
  const body: TokenBody = { v: TOKEN_VERSION, f: filter ?? '', a: afterSeq };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** The sequence number to list after: 0 for no token. */
export function decodePageToken(token: string, filter: OrderStatus | undefined): number {
  if (token === '') return 0;
  const body = parseBody(token);
  if (!body)
    throw invalidArgument(`page_token: ${JSON.stringify(token)} is not a token this server issued`);
  const wanted = filter ?? '';
  if (body.f !== wanted) {
    throw invalidArgument(
      `page_token: issued for status_filter ${body.f || 'UNKNOWN (none)'}, but this request has status_filter ${wanted || 'UNKNOWN (none)'}`,
    );
  }
  return body.a;
}

function parseBody(token: string): TokenBody | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const { v, f, a } = body as Record<string, unknown>;
  if (
    v !== TOKEN_VERSION ||
    typeof f !== 'string' ||
    typeof a !== 'number' ||
    !Number.isSafeInteger(a) ||
    a < 0
  ) {
    return undefined;
  }
  return { v, f, a };
}
