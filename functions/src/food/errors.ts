// What a failed food-service call means for whoever made it
// (docs/ARCHITECTURE.md#failures):
// - transient: waiting and trying again may help (the service is down or slow,
//   a connection or a TLS handshake was cut short);
// - a certificate failure: the TLS peer could not be verified (unknown CA,
//   self-signed, expired, a name mismatch, a rejected client certificate).
//   Waiting does not heal it, so it is permanent;
// - not sent: the failure proves the request never reached the server (no
//   connection was ever made for it). Only then may a create be sent again.
//   Everything else after sending is ambiguous: a connection that drops after
//   the server did the work reads UNAVAILABLE too;
// - refused: the server answered with a code by which it turns a request down
//   without doing it.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

import type { FoodMethod } from './types';

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
 * How a call that never got one of its instance's in-flight slots
 * (FOOD_MAX_IN_FLIGHT) within its deadline is reported: DEADLINE_EXCEEDED,
 * and provably not sent.
 */
export const NO_SLOT_DETAILS = 'Not sent: no in-flight slot came free before the deadline';

/** A call the client held back: it never reached a connection. */
export function noSlotError(limit: number, waitedMs: number): ServiceError {
  const details = `${NO_SLOT_DETAILS} (waited ${waitedMs} ms; FOOD_MAX_IN_FLIGHT ${limit})`;
  return Object.assign(new Error(details), { code: status.DEADLINE_EXCEEDED, details, metadata: new Metadata() });
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
  if (code === status.UNAVAILABLE) return details.startsWith('No connection established. Last error: ');
  if (code === status.DEADLINE_EXCEEDED) {
    if (details.startsWith(NO_SLOT_DETAILS)) return true;
    return /Waiting for LB pick$/.test(details.trim()) && !details.includes('remote_addr=') && !details.includes('previous attempts');
  }
  return false;
}

/** Codes with which a server turns a request down before doing anything. */
export function isRefusal(code: status): boolean {
  switch (code) {
    case status.INVALID_ARGUMENT:
    case status.NOT_FOUND:
    case status.ALREADY_EXISTS:
    case status.PERMISSION_DENIED:
    case status.FAILED_PRECONDITION:
    case status.OUT_OF_RANGE:
    case status.UNIMPLEMENTED:
    case status.UNAUTHENTICATED:
    case status.RESOURCE_EXHAUSTED:
      return true;
    default:
      return false;
  }
}

/**
 * A failed call to the food service, naming the method, the resource it was
 * about, the gRPC status and how many attempts were made.
 */
export class FoodServiceError extends Error {
  readonly code: status;
  readonly codeName: string;
  readonly details: string;
  /** True when waiting and trying again may help (UNAVAILABLE, DEADLINE_EXCEEDED, not a certificate failure). */
  readonly transient: boolean;
  readonly certificateFailure: boolean;
  /** The request provably never reached the server. */
  readonly notSent: boolean;
  /** The server answered and turned the request down. */
  readonly refused: boolean;

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
    this.certificateFailure = certificateFailure;
    this.transient = (cause.code === status.UNAVAILABLE || cause.code === status.DEADLINE_EXCEEDED) && !certificateFailure;
    this.notSent = isNotSent(cause.code, details);
    this.refused = isRefusal(cause.code);
  }

  /** Whether a non-idempotent call that failed this way may have done its work on the server. */
  get mayHaveHappened(): boolean {
    return !this.notSent && !this.refused;
  }
}
