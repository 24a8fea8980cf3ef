// One food-service client per process, made on first use: a warm function
// instance reuses its TLS connection across invocations, and module load
// (which the Firebase CLI does at deploy) never touches secrets.
import { FoodClient, type FoodClientOptions } from './client';

let cached: { key: string; client: FoodClient } | undefined;

export function foodClient(options: FoodClientOptions): FoodClient {
  // Tests and the local stack may point the same process at another service.
  const { address, deadlineMs, createDeadlineMs, tls, maxInFlight } = options;
  const key = JSON.stringify([address, deadlineMs, createDeadlineMs, maxInFlight, tls.caPem, tls.certPem ?? '']);
  if (cached?.key !== key) {
    cached?.client.close();
    cached = { key, client: new FoodClient(options) };
  }
  return cached.client;
}
