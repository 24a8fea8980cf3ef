import { credentials, type ChannelCredentials } from '@grpc/grpc-js';

/** PEM text, as it comes from Secret Manager (or a local file in development). */
export interface TlsMaterial {
  /** The CA that signed the food service's certificate. */
  caPem: string;
  /** Client certificate and key, both or neither, for mTLS. */
  certPem?: string;
  keyPem?: string;
}

function requirePem(name: string, value: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Buffer {
  // Secret Manager and .env files both tend to mangle newlines; say so plainly instead of letting
  // OpenSSL report "no start line" from deep inside grpc-js.
  const marker =
    kind === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (!marker.test(value)) {
    throw new Error(
      `${name} is not a PEM ${kind.toLowerCase()}: expected a "-----BEGIN ${kind}-----" block`,
    );
  }
  return Buffer.from(value);
}

/** Verifies the server against `caPem`; secrets are never echoed in errors. */
export function channelCredentials(tls: TlsMaterial): ChannelCredentials {
  const ca = requirePem('FOOD_SERVICE_CA', tls.caPem, 'CERTIFICATE');
  const hasCert = Boolean(tls.certPem);
  const hasKey = Boolean(tls.keyPem);
  if (hasCert !== hasKey) {
    throw new Error(
      'FOOD_SERVICE_CLIENT_CERT and FOOD_SERVICE_CLIENT_KEY go together for mTLS: set both or neither',
    );
  }
  if (tls.certPem && tls.keyPem) {
    return credentials.createSsl(
      ca,
      requirePem('FOOD_SERVICE_CLIENT_KEY', tls.keyPem, 'PRIVATE KEY'),
      requirePem('FOOD_SERVICE_CLIENT_CERT', tls.certPem, 'CERTIFICATE'),
    );
  }
  return credentials.createSsl(ca);
}
