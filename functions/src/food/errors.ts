// What a failed food-service call means for its caller: FAILURE_TABLE by gRPC status and kind of
// call, and the few failures told apart by grpc-js's words (docs/ARCHITECTURE.md#failures).
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

import type { FoodMethod } from './types';

/** How a call is made: reads are retried, creates guarded by claims, updates preceded by a look. */
export type CallKind = 'read' | 'create' | 'update';

export const CALL_KINDS: Record<FoodMethod, CallKind> = {
  CreateOrder: 'create',
  GetOrder: 'read',
  ListOrders: 'read',
  UpdateOrder: 'update',
  CreateKitchenOrder: 'create',
  GetKitchenOrder: 'read',
  CreateShipment: 'create',
  GetShipment: 'read',
};

/** retry-bounded: flagged after FAULT_RETRY_LIMIT in a row; ambiguous: a create that may exist. */
export type Disposition = 'retry' | 'retry-bounded' | 'ambiguous' | 'flag';

export type FailureCode = Exclude<status, status.OK>;
type Row = Readonly<Record<CallKind, Disposition>>;

const REFUSED: Row = { read: 'flag', create: 'flag', update: 'flag' };
/** Sent, and maybe done by the server: a read or an update is simply looked at again. */
const MAY_HAVE_HAPPENED: Row = {
  read: 'retry-bounded',
  create: 'ambiguous',
  update: 'retry-bounded',
};

/**
 * docs/ARCHITECTURE.md#failures prints this table; functions/test/failure-table.test.ts keeps the
 * two equal. The rows grpc-js's words decide are in dispositionOf.
 */
export const FAILURE_TABLE: Readonly<Record<FailureCode, Row>> = {
  // We never cancel a call, so CANCELLED came from the server or a proxy, after sending.
  [status.CANCELLED]: MAY_HAVE_HAPPENED,
  // A server's handler that threw, or a reply grpc-js could not read.
  [status.UNKNOWN]: MAY_HAVE_HAPPENED,
  [status.INVALID_ARGUMENT]: REFUSED,
  [status.DEADLINE_EXCEEDED]: { read: 'retry', create: 'ambiguous', update: 'retry' },
  [status.NOT_FOUND]: REFUSED,
  [status.ALREADY_EXISTS]: REFUSED,
  [status.PERMISSION_DENIED]: REFUSED,
  // A server shedding load (or out of quota) answers instead of the work: a create may go again.
  [status.RESOURCE_EXHAUSTED]: {
    read: 'retry-bounded',
    create: 'retry-bounded',
    update: 'retry-bounded',
  },
  // The step looks again before it gives up on an update (engine/steps.ts, moveOrder).
  [status.FAILED_PRECONDITION]: REFUSED,
  [status.ABORTED]: MAY_HAVE_HAPPENED,
  [status.OUT_OF_RANGE]: REFUSED,
  [status.UNIMPLEMENTED]: REFUSED,
  [status.INTERNAL]: MAY_HAVE_HAPPENED,
  // A connection that drops after the server did the work reads UNAVAILABLE too.
  [status.UNAVAILABLE]: { read: 'retry', create: 'ambiguous', update: 'retry' },
  [status.DATA_LOSS]: { read: 'flag', create: 'ambiguous', update: 'flag' },
  [status.UNAUTHENTICATED]: REFUSED,
};

// Certificate failures as OpenSSL and Node word them, in UNAVAILABLE's details; waiting does not
// heal them. Not a handshake cut short ("…before secure TLS…"): a restarting server gives that.
const CERTIFICATE_FAILURE =
  /self[- ]signed certificate|unable to (get local issuer certificate|verify the first certificate|get issuer certificate)|certificate has expired|certificate is not yet valid|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames|certificate signature failure|alert (bad certificate|unknown ca|certificate required|certificate unknown|certificate expired|decrypt error|access denied)|certificate required|peer did not return a certificate|no certificate returned/i;

export function isCertificateFailure(code: status, details: string): boolean {
  return code === status.UNAVAILABLE && CERTIFICATE_FAILURE.test(details);
}

/**
 * A reply over the receive limit, refused by grpc-js 1.14 itself: the server did the work, and
 * would send the same reply again, so the client does not retry.
 */
export function isOverReceiveLimit(code: status, details: string): boolean {
  return (
    code === status.RESOURCE_EXHAUSTED &&
    /^Received message (larger than max \(\d+ vs \d+\)|that decompresses to a size larger than \d+)$/.test(
      details,
    )
  );
}

/** How the client says it held a call back: DEADLINE_EXCEEDED, and provably not sent. */
export const NOT_SENT = 'Not sent: ';

export function notSentError(reason: string): ServiceError {
  const details = `${NOT_SENT}${reason}`;
  return Object.assign(new Error(details), {
    code: status.DEADLINE_EXCEEDED,
    details,
    metadata: new Metadata(),
  });
}

export function noSlotError(limit: number, waitedMs: number): ServiceError {
  return notSentError(
    `no in-flight slot came free before the deadline (waited ${waitedMs} ms; FOOD_MAX_IN_FLIGHT ${limit})`,
  );
}

// Past its invocation's timeout (its code may still run) or its send window, a write could land
// where no watch expects it (docs/ARCHITECTURE.md#late-writes).
export function pastDeadlineError(deadline: Date): ServiceError {
  return notSentError(`its deadline to be sent (${deadline.toISOString()}) has passed`);
}

/**
 * Proof the call never reached a connection: the client held it back, the channel had none, or
 * the deadline ran out "Waiting for LB pick". Whole shapes only: "read ECONNRESET" alone means a
 * call dropped mid-way (food-service/test/grpc-faults.test.ts pins the words).
 */
export function isNotSent(code: status, details: string): boolean {
  if (code === status.UNAVAILABLE)
    return details.startsWith('No connection established. Last error: ');
  if (code === status.DEADLINE_EXCEEDED) {
    if (details.startsWith(NOT_SENT)) return true;
    return (
      /Waiting for LB pick$/.test(details.trim()) &&
      !details.includes('remote_addr=') &&
      !details.includes('previous attempts')
    );
  }
  return false;
}

/** The table's answer, after the rows grpc-js's own words decide. */
export function dispositionOf(kind: CallKind, code: status, details: string): Disposition {
  if (code === status.OK)
    throw new Error(`status OK is not a failure (${kind} call, details "${details}")`);
  if (isCertificateFailure(code, details)) return 'flag';
  if (isNotSent(code, details)) return 'retry';
  if (isOverReceiveLimit(code, details)) return kind === 'create' ? 'ambiguous' : 'retry-bounded';
  const row = FAILURE_TABLE[code as FailureCode] as Row | undefined;
  // A code grpc-js does not define (a newer server?): treated like UNKNOWN.
  return (row ?? FAILURE_TABLE[status.UNKNOWN])[kind];
}

/** Code names retried only FAULT_RETRY_LIMIT times in a row (Firestore's of that name too). */
export const BOUNDED_FAULT_CODES: ReadonlySet<string> = new Set(
  Object.keys(FAILURE_TABLE)
    .map(Number)
    .filter((code) => Object.values(FAILURE_TABLE[code as FailureCode]).includes('retry-bounded'))
    .map((code) => status[code]),
);

export class FoodServiceError extends Error {
  readonly code: status;
  readonly codeName: string;
  readonly details: string;
  readonly kind: CallKind;
  readonly disposition: Disposition;
  readonly transient: boolean;
  readonly bounded: boolean;
  readonly certificateFailure: boolean;
  /** The request provably never reached the server. */
  readonly notSent: boolean;
  /** The server did the work; its reply was over the receive limit. */
  readonly overReceiveLimit: boolean;

  constructor(
    readonly method: FoodMethod,
    readonly resource: string,
    readonly address: string,
    cause: ServiceError,
    readonly attempts: number,
  ) {
    const codeName = status[cause.code] ?? `code ${cause.code}`;
    const details = cause.details || cause.message;
    const certificateFailure = isCertificateFailure(cause.code, details);
    const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
    const message = certificateFailure
      ? `${method} ${resource}: the food service at ${address} failed TLS verification: ${details}. ` +
        'Check that FOOD_SERVICE_CA holds the CA that signed the server certificate, that the certificate names ' +
        'the host being dialled (SAN) and has not expired, and, for mTLS, the client certificate and key.'
      : `${method} ${resource}: ${codeName}: ${details} (${tries}, ${address})`;
    super(message, { cause });
    this.name = 'FoodServiceError';
    this.code = cause.code;
    this.codeName = codeName;
    this.details = details;
    this.kind = CALL_KINDS[method];
    this.disposition = dispositionOf(this.kind, cause.code, details);
    this.transient = this.disposition !== 'flag';
    this.bounded = this.disposition === 'retry-bounded';
    this.certificateFailure = certificateFailure;
    this.notSent = isNotSent(cause.code, details);
    this.overReceiveLimit = isOverReceiveLimit(cause.code, details);
  }

  /** Whether a create that failed this way may have done its work on the server. */
  get mayHaveHappened(): boolean {
    return this.disposition === 'ambiguous';
  }

  /** Whether the server may have applied (or may yet apply) this call, of any kind. */
  get mayHaveBeenApplied(): boolean {
    return dispositionOf('create', this.code, this.details) === 'ambiguous';
  }
}
