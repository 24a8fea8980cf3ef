// Reads the food-service secrets' latest versions, so a rotation reaches a running instance without
// a redeploy; binding the secrets already lets the function read them. Secret Manager has no
// emulator: tests point the real client at a loopback gRPC server (SECRET_MANAGER_EMULATOR_HOST).
import { credentials } from '@grpc/grpc-js';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';

import type { TlsMaterial } from './credentials';
import { describeError } from '../describe-error';

export interface SecretSource {
  latest(): Promise<TlsMaterial>;
}

export interface SecretManagerOptions {
  projectId: string;
  /** The secrets' names, as defineSecret() names them. */
  names: { ca: string; clientCert: string; clientKey: string };
  /** Turns the three secret values into TLS material (the "none" convention for no mTLS). */
  toTls: (values: { ca: string; clientCert: string; clientKey: string }) => TlsMaterial;
  /** host:port of a local stand-in, spoken to without TLS: so loopback only. */
  emulatorHost?: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):(\d{1,5})$/;

let client: SecretManagerServiceClient | undefined;
let clientFor: string | undefined;

function secretManager(emulatorHost: string | undefined): SecretManagerServiceClient {
  const key = emulatorHost ?? '';
  if (client && clientFor === key) return client;
  void client?.close();
  if (emulatorHost) {
    const match = LOOPBACK.exec(emulatorHost);
    if (!match)
      throw new Error(
        `SECRET_MANAGER_EMULATOR_HOST must be a loopback host:port, got "${emulatorHost}"`,
      );
    const host = match[1].replace(/^\[|\]$/g, '');
    // google-gax uses the same @grpc/grpc-js as this package: these credentials are its own kind.
    client = new SecretManagerServiceClient({
      apiEndpoint: host,
      port: Number(match[2]),
      sslCreds: credentials.createInsecure(),
    });
  } else {
    client = new SecretManagerServiceClient();
  }
  clientFor = key;
  return client;
}

export function secretManagerSource(options: SecretManagerOptions): SecretSource {
  const { projectId, names, toTls, emulatorHost } = options;
  const read = async (name: string): Promise<string> => {
    const version = `projects/${projectId}/secrets/${name}/versions/latest`;
    try {
      const [response] = await secretManager(emulatorHost).accessSecretVersion({ name: version });
      const data = response.payload?.data;
      if (data === null || data === undefined) throw new Error('the version has no payload');
      return typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    } catch (error) {
      // The value never appears in a message; the name and the cause do.
      throw new Error(`could not read ${version} from Secret Manager: ${describeError(error)}`, {
        cause: error,
      });
    }
  };
  return {
    async latest() {
      const [ca, clientCert, clientKey] = await Promise.all([
        read(names.ca),
        read(names.clientCert),
        read(names.clientKey),
      ]);
      return toTls({ ca, clientCert, clientKey });
    },
  };
}
