// One food-service client per process, made on first use: a warm instance reuses its TLS
// connection, and module load (the Firebase CLI's, at deploy) never touches secrets.
import { FoodClient, type FoodClientOptions } from './client';
import { CredentialRefresher } from './credential-refresh';
import type { SecretSource } from './secret-source';

let cached: { key: string; client: FoodClient } | undefined;

export function foodClient(
  options: Omit<FoodClientOptions, 'refresher'> & { secrets?: SecretSource },
): FoodClient {
  // Tests and the local stack may switch services in one process. The key holds the secrets as
  // bound, not as rotated: a client that picked up rotated secrets keeps them.
  const { secrets, ...clientOptions } = options;
  const { address, deadlineMs, createDeadlineMs, maxInFlight, tls } = clientOptions;
  const key = JSON.stringify([
    address,
    deadlineMs,
    createDeadlineMs,
    maxInFlight,
    tls.caPem,
    tls.certPem ?? '',
    Boolean(secrets),
  ]);
  if (cached?.key !== key) {
    cached?.client.close();
    const refresher = secrets ? new CredentialRefresher(secrets) : undefined;
    cached = {
      key,
      client: new FoodClient({ ...clientOptions, ...(refresher ? { refresher } : {}) }),
    };
  }
  return cached.client;
}
