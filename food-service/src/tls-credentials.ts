// Server TLS credentials that can move to a new certificate (and a new
// client CA) while the server runs, as a service does when its operators
// rotate its CA. grpc-js applies a new secure context to new handshakes;
// connections already open keep the one they started with, as a restarted
// server's clients would not (tests cut them with the fault proxy).
import * as grpc from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';

export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** Set => client certificates are required and verified against it. */
  clientCa?: Buffer;
}

function contextOptions(tls: ServerTls): SecureContextOptions {
  return { cert: [tls.cert], key: [tls.key], ...(tls.clientCa ? { ca: tls.clientCa } : {}) };
}

export class ReloadableServerCredentials extends grpc.ServerCredentials {
  private readonly requireClientCert: boolean;

  constructor(tls: ServerTls) {
    const requestCert = tls.clientCa !== undefined;
    // As grpc.ServerCredentials.createSsl sets them; the secure context is what rotates.
    super(
      {
        requestCert,
        ...(process.env.GRPC_SSL_CIPHER_SUITES
          ? { ciphers: process.env.GRPC_SSL_CIPHER_SUITES }
          : {}),
      },
      contextOptions(tls),
    );
    this.requireClientCert = requestCert;
  }

  /** New handshakes use this certificate (and client CA) from now on. mTLS cannot be switched on or off here. */
  rotate(tls: ServerTls): void {
    if ((tls.clientCa !== undefined) !== this.requireClientCert) {
      throw new Error(
        `rotate: the server was started ${this.requireClientCert ? 'with' : 'without'} mTLS; a rotation keeps that`,
      );
    }
    this.updateSecureContextOptions(contextOptions(tls));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
