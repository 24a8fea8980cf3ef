// Starts the food-service simulator over real TLS on an ephemeral loopback
// port, with certificates made for this test run.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ensureCerts, type CertPaths } from '../../../food-service/src/certs';
import {
  startFoodService,
  type FoodService,
  type FoodServiceOptions,
} from '../../../food-service/src/server';
import { FoodClient, type FoodClientOptions } from '../../src/food/client';
import type { TlsMaterial } from '../../src/food/credentials';

let shared: CertPaths | undefined;

/** One CA per test process is enough; a test that needs another asks for `freshCerts`. */
export function testCerts(): CertPaths {
  shared ??= freshCerts();
  return shared;
}

export function freshCerts(): CertPaths {
  return ensureCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'food-certs-')));
}

export function tlsMaterial(certs: CertPaths, withClientCert = false): TlsMaterial {
  const read = (file: string) => fs.readFileSync(file, 'utf8');
  return withClientCert
    ? { caPem: read(certs.caCert), certPem: read(certs.clientCert), keyPem: read(certs.clientKey) }
    : { caPem: read(certs.caCert) };
}

export async function startTestFoodService(
  options: Partial<FoodServiceOptions> & { mtls?: boolean } = {},
): Promise<FoodService> {
  const certs = testCerts();
  const { mtls, ...rest } = options;
  return startFoodService({
    port: 0,
    controllerIntervalMs: 0,
    log: () => undefined,
    ...rest,
    tls: {
      cert: fs.readFileSync(certs.serverCert),
      key: fs.readFileSync(certs.serverKey),
      ...(mtls ? { clientCa: fs.readFileSync(certs.caCert) } : {}),
    },
  });
}

export function clientFor(
  service: FoodService,
  options: Partial<FoodClientOptions> = {},
): FoodClient {
  return new FoodClient({
    address: service.address,
    tls: tlsMaterial(testCerts()),
    deadlineMs: 2_000,
    retry: { initialBackoffMs: 5, maxBackoffMs: 20 },
    ...options,
  });
}
