// Server certificates that a client must refuse, made with the openssl
// command line at test time: self-signed, expired, and naming another host.
// The expired one is signed with a negative validity (`-days -1`: notAfter a
// day before notBefore, which is now), which OpenSSL 3.0's `x509 -req`
// accepts; no faketime and no `openssl ca` database needed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CertPaths } from '../src/certs';

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export interface BadCerts {
  /** Signed by nobody: its own issuer. It names 127.0.0.1. */
  selfSigned: KeyPair;
  /** Signed by the trusted CA, names 127.0.0.1, expired a day before it was issued. */
  expired: KeyPair;
  /** Signed by the trusted CA, valid, but names only food.example, not 127.0.0.1. */
  wrongName: KeyPair;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function read(dir: string, name: string): KeyPair {
  return {
    cert: fs.readFileSync(path.join(dir, `${name}.crt`)),
    key: fs.readFileSync(path.join(dir, `${name}.key`)),
  };
}

function signed(dir: string, ca: CertPaths, name: string, san: string, days: string): KeyPair {
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
  );
  openssl(
    [
      'req',
      '-new',
      ...EC_KEY,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      ca.caCert,
      '-CAkey',
      ca.caKey,
      '-set_serial',
      `0x${Date.now().toString(16)}`,
      '-days',
      days,
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
  return read(dir, name);
}

/** Makes the bad certificates in a temp folder, removed at exit; `ca` is the CA clients trust. */
export function makeBadCerts(ca: CertPaths): BadCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'food-service-bad-certs-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      'self.key',
      '-out',
      'self.crt',
      '-days',
      '30',
      '-sha256',
      '-subj',
      '/CN=self-signed',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    dir,
  );
  return {
    selfSigned: read(dir, 'self'),
    expired: signed(dir, ca, 'expired', 'IP:127.0.0.1', '-1'),
    wrongName: signed(dir, ca, 'wrong-name', 'DNS:food.example', '30'),
  };
}
