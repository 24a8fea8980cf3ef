// When a call fails in a way new credentials could heal, look at the secrets'
// latest versions, at most once a minute per instance: a CA rotation is then
// picked up by the first failing call after `firebase functions:secrets:set`,
// and a failure that new secrets do not explain costs one Secret Manager
// read a minute, not one per call.
import * as logger from 'firebase-functions/logger';

import type { TlsMaterial } from './credentials';
import type { FoodServiceError } from './errors';
import type { SecretSource } from './secret-source';

export const REFRESH_INTERVAL_MS = 60_000;

/**
 * Failures new credentials could heal, all of which prove nothing was sent
 * (so even a create may be tried again): the server's certificate failed
 * verification or refused ours (`certificateFailure`), or the connection
 * failed during the handshake, which is all a client certificate from a CA
 * the server no longer trusts shows: Node's server closes without an alert,
 * and grpc-js reports "Failed to connect" (food-service/test/grpc-faults.test.ts, f6).
 */
export function mayBeCredentials(error: FoodServiceError): boolean {
  return (
    error.notSent &&
    (error.certificateFailure || /Last error: Failed to connect\b/.test(error.details))
  );
}

export function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return (
    a.caPem === b.caPem &&
    (a.certPem ?? '') === (b.certPem ?? '') &&
    (a.keyPem ?? '') === (b.keyPem ?? '')
  );
}

export class CredentialRefresher {
  private lastCheckAt: number | null = null;
  private inFlight: Promise<TlsMaterial | null> | null = null;
  /** Looks made so far (each reads every secret once). */
  checks = 0;

  constructor(
    private readonly source: SecretSource,
    private readonly intervalMs = REFRESH_INTERVAL_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * The secrets' latest material if it differs from `current`; null if it is
   * the same, if it could not be read, or if the last look was less than the
   * interval ago. Concurrent callers share one look.
   */
  check(current: TlsMaterial): Promise<TlsMaterial | null> {
    if (this.inFlight) return this.inFlight;
    const now = this.clock();
    if (this.lastCheckAt !== null && now - this.lastCheckAt < this.intervalMs)
      return Promise.resolve(null);
    this.lastCheckAt = now;
    this.checks++;
    this.inFlight = this.source
      .latest()
      .then(
        (latest) => (sameTls(latest, current) ? null : latest),
        (error: unknown) => {
          logger.warn('could not read the food-service secrets to look for a rotation', {
            error: error instanceof Error ? error.message : String(error),
          });
          return null;
        },
      )
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }
}
