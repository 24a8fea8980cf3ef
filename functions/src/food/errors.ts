import { status, type ServiceError } from '@grpc/grpc-js';

import type { FoodMethod } from './types';

// grpc-js reports a failed TLS handshake as UNAVAILABLE, the code it also uses
// for a server that is down. A bad certificate does not heal by waiting, so
// these are told apart by the handshake error grpc-js puts in the details.
const TLS_FAILURE = /certificate|self[- ]signed|SSL|TLS|handshake|unable to verify|ERR_TLS|alert/i;

export function isTlsFailure(code: status, details: string): boolean {
  return code === status.UNAVAILABLE && TLS_FAILURE.test(details);
}

/** Codes after which the same call may succeed if tried again later. */
export function isTransientCode(code: status): boolean {
  return code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED;
}

/**
 * A failed call to the food service, naming the method, the resource it was
 * about, the gRPC status and how many attempts were made.
 */
export class FoodServiceError extends Error {
  readonly code: status;
  readonly codeName: string;
  readonly details: string;
  /** True when waiting and trying again may help (UNAVAILABLE, DEADLINE_EXCEEDED, not TLS). */
  readonly transient: boolean;
  readonly tlsFailure: boolean;

  constructor(
    readonly method: FoodMethod,
    readonly resource: string,
    readonly address: string,
    cause: ServiceError,
    readonly attempts: number,
  ) {
    const codeName = status[cause.code] ?? `code ${cause.code}`;
    const details = cause.details || cause.message;
    const tlsFailure = isTlsFailure(cause.code, details);
    const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
    const message = tlsFailure
      ? `${method} ${resource}: TLS handshake with the food service at ${address} failed: ${details}. ` +
        'Check that FOOD_SERVICE_CA holds the CA that signed the server certificate, that the certificate names ' +
        'the host being dialled (SAN), and, for mTLS, the client certificate and key.'
      : `${method} ${resource}: ${codeName}: ${details} (${tries}, ${address})`;
    super(message, { cause });
    this.name = 'FoodServiceError';
    this.code = cause.code;
    this.codeName = codeName;
    this.details = details;
    this.tlsFailure = tlsFailure;
    this.transient = isTransientCode(cause.code) && !tlsFailure;
  }
}
