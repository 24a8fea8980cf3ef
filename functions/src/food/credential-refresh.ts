// Looks for rotated secrets when a failure could be theirs, at most once a minute per instance: a
// rotation is picked up by the first failing call, and other failures cost one read a minute.
import * as logger from 'firebase-functions/logger';

import type { TlsMaterial } from './credentials';
import type { FoodServiceError } from './errors';
import type { SecretSource } from './secret-source';
import { describeError } from '../describe-error';

export const REFRESH_INTERVAL_MS = 60_000;

/**
 * Failures new secrets could heal; all prove nothing was sent, so even a create may go again.
 * "Failed to connect" is all a client certificate from a CA the server no longer trusts shows:
 * Node's server closes without an alert (food-service/test/grpc-faults.test.ts, f6).
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
   * The latest material if not `current`; null if unchanged, unreadable, or checked less than the
   * interval ago.
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
            error: describeError(error),
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
