// One food-service client per process, made on first use: a warm function
// instance reuses its TLS connection across invocations, and module load
// (which the Firebase CLI does at deploy) never touches secrets.
import type { Config } from '../config';
import { FoodClient } from './client';

let cached: { key: string; client: FoodClient } | undefined;

export function foodClient(config: Config): FoodClient {
  // Tests and the local stack may point the same process at another service.
  const key = `${config.address}|${config.rpcDeadlineMs}|${config.tls.caPem}|${config.tls.certPem ?? ''}`;
  if (cached?.key !== key) {
    cached?.client.close();
    cached = { key, client: new FoodClient({ address: config.address, tls: config.tls, deadlineMs: config.rpcDeadlineMs }) };
  }
  return cached.client;
}
