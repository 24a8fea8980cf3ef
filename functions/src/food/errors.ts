// What a failed food-service call means for whoever made it
// (docs/ARCHITECTURE.md#failures). One table (FAILURE_TABLE) says, for every
// gRPC status and every kind of call (a read, a create, an update), whether
// the caller retries, notes an ambiguous create, or flags the relation for a
// person; a few failures are told apart by what grpc-js says beside the code:
// - a certificate failure: the TLS peer could not be verified (unknown CA,
//   self-signed, expired, a name mismatch, a rejected client certificate).
//   Waiting does not heal it, so it is flagged;
// - not sent: the failure proves the request never reached the server (no
//   connection was ever made for it). Only then may a create be sent again
//   without a note. Everything else after sending is ambiguous: a connection
//   that drops after the server did the work reads UNAVAILABLE too;
// - over the receive limit: the server did the work and sent a reply larger
//   than the client takes (RESOURCE_EXHAUSTED from grpc-js itself).
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

/**
 * What a failure means:
 * - retry: waiting helps (the service is down, slow or restarting); retried
 *   for as long as it lasts;
 * - retry-bounded: a fault that usually heals (an overloaded or briefly
 *   broken server); retried like `retry`, but FAULT_RETRY_LIMIT polls or
 *   tries in a row flag the relation, since it may be for good;
 * - ambiguous: a create that may have been made: the attempt is noted as a
 *   possible orphan and the step tries again within MAX_AMBIGUOUS_RETRIES;
 * - flag: the server turned the request down, or cannot be trusted; a person
 *   must look.
 */
export type Disposition = 'retry' | 'retry-bounded' | 'ambiguous' | 'flag';

export type FailureCode = Exclude<status, status.OK>;
type Row = Readonly<Record<CallKind, Disposition>>;

const REFUSED: Row = { read: 'flag', create: 'flag', update: 'flag' };
/** Sent, and the server may or may not have done it: a read or an update is simply looked at again. */
const MAY_HAVE_HAPPENED: Row = {
  read: 'retry-bounded',
  create: 'ambiguous',
  update: 'retry-bounded',
};

/**
 * Every gRPC status a call can fail with, for each kind of call. The rows
 * below the table's code (certificate failures, calls not sent, replies over
 * the receive limit) are in dispositionOf. docs/ARCHITECTURE.md#failures
 * prints this table, and functions/test/failure-table.test.ts keeps the two
 * equal; food-service/test/grpc-codes.test.ts checks every row against the
 * simulator over TLS.
 */
export const FAILURE_TABLE: Readonly<Record<FailureCode, Row>> = {
  // We never cancel a call, so a CANCELLED comes from the server or a proxy, after sending.
  [status.CANCELLED]: MAY_HAVE_HAPPENED,
  // A server's handler that threw, or a reply grpc-js could not read.
  [status.UNKNOWN]: MAY_HAVE_HAPPENED,
  [status.INVALID_ARGUMENT]: REFUSED,
  [status.DEADLINE_EXCEEDED]: { read: 'retry', create: 'ambiguous', update: 'retry' },
  [status.NOT_FOUND]: REFUSED,
  [status.ALREADY_EXISTS]: REFUSED,
  [status.PERMISSION_DENIED]: REFUSED,
  // A server shedding load (or out of quota) answers before doing the work: a create may be sent again.
  [status.RESOURCE_EXHAUSTED]: {
    read: 'retry-bounded',
    create: 'retry-bounded',
    update: 'retry-bounded',
  },
  // The step looks at the order again before it gives up on an update (engine/steps.ts, moveOrder).
  [status.FAILED_PRECONDITION]: REFUSED,
  [status.ABORTED]: MAY_HAVE_HAPPENED,
  [status.OUT_OF_RANGE]: REFUSED,
  [status.UNIMPLEMENTED]: REFUSED,
  [status.INTERNAL]: MAY_HAVE_HAPPENED,
  [status.UNAVAILABLE]: { read: 'retry', create: 'ambiguous', update: 'retry' },
  [status.DATA_LOSS]: { read: 'flag', create: 'ambiguous', update: 'flag' },
  [status.UNAUTHENTICATED]: REFUSED,
};

/**
 * Certificate verification failures, as OpenSSL and Node name them. grpc-js
 * reports them as UNAVAILABLE with the handshake error in the details. A
 * handshake cut short ("Client network socket disconnected before secure TLS
 * connection was established") is not among them: it is what a restarting
 * server gives.
 */
const CERTIFICATE_FAILURE =
  /self[- ]signed certificate|unable to (get local issuer certificate|verify the first certificate|get issuer certificate)|certificate has expired|certificate is not yet valid|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames|certificate signature failure|alert (bad certificate|unknown ca|certificate required|certificate unknown|certificate expired|decrypt error|access denied)|certificate required|peer did not return a certificate|no certificate returned/i;

export function isCertificateFailure(code: status, details: string): boolean {
  return code === status.UNAVAILABLE && CERTIFICATE_FAILURE.test(details);
}

/**
 * A reply larger than the channel's receive limit, refused by grpc-js itself
 * (subchannel-call.js, stream-decoder.js, compression-filter.js in 1.14): the
 * server did the work and sent the whole reply. Retrying the same request
 * gets the same reply, so the client does not.
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

/** A call the client held back: it never reached a connection. */
export function notSentError(reason: string): ServiceError {
  const details = `${NOT_SENT}${reason}`;
  return Object.assign(new Error(details), {
    code: status.DEADLINE_EXCEEDED,
    details,
    metadata: new Metadata(),
  });
}

/** A call that got none of its instance's in-flight slots (FOOD_MAX_IN_FLIGHT) within its deadline. */
export function noSlotError(limit: number, waitedMs: number): ServiceError {
  return notSentError(
    `no in-flight slot came free before the deadline (waited ${waitedMs} ms; FOOD_MAX_IN_FLIGHT ${limit})`,
  );
}

/**
 * A call that may no longer be sent: past its invocation's own timeout, the
 * request is over (its code may still run), and a write sent then could land
 * after every watch for late writes has ended; past its send window, it
 * would land where nobody expects a write of ours
 * (docs/ARCHITECTURE.md#late-writes).
 */
export function pastDeadlineError(deadline: Date): ServiceError {
  return notSentError(`its deadline to be sent (${deadline.toISOString()}) has passed`);
}

/**
 * Failures that prove the call was never written to a connection: the client
 * held it back for want of a slot (above); the channel
 * had none to give it ("No connection established. Last error: …", from the
 * picker, whatever the last error was), or the deadline ran out while the call
 * still waited for one ("…Waiting for LB pick", with no remote address and no
 * earlier attempt). Matched on the whole shape, never on fragments: "read
 * ECONNRESET" after that prefix proves nothing was sent, and on its own it
 * means a connection dropped mid-call. food-service/test/grpc-faults.test.ts
 * pins what grpc-js reports for each fault.
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

/** The table's answer for this failure, with the rows grpc-js's own words decide (see the file's head). */
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

/**
 * Codes whose failures are retried only up to FAULT_RETRY_LIMIT in a row,
 * by name, as steps and look-ups record them (a Firestore failure of the
 * same name is bounded the same way).
 */
export const BOUNDED_FAULT_CODES: ReadonlySet<string> = new Set(
  Object.keys(FAILURE_TABLE)
    .map(Number)
    .filter((code) => Object.values(FAILURE_TABLE[code as FailureCode]).includes('retry-bounded'))
    .map((code) => status[code]),
);

/**
 * A failed call to the food service, naming the method, the resource it was
 * about, the gRPC status and how many attempts were made.
 */
export class FoodServiceError extends Error {
  readonly code: status;
  readonly codeName: string;
  readonly details: string;
  readonly kind: CallKind;
  /** FAILURE_TABLE's answer for this call and this failure. */
  readonly disposition: Disposition;
  /** True when waiting and trying again may help: every disposition but `flag`. */
  readonly transient: boolean;
  /** Retried only up to FAULT_RETRY_LIMIT in a row (`retry-bounded`). */
  readonly bounded: boolean;
  readonly certificateFailure: boolean;
  /** The request provably never reached the server. */
  readonly notSent: boolean;
  /** The reply was larger than the client's receive limit: the server did the work. */
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

  /** Whether the server may have applied (or may still apply) this call, whatever its kind: what would make a create ambiguous. */
  get mayHaveBeenApplied(): boolean {
    return dispositionOf('create', this.code, this.details) === 'ambiguous';
  }
}
