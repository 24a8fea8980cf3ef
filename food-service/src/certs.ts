// Development certificates for the simulator and its clients: a private CA, a
// server certificate with SANs for localhost and 127.0.0.1 (gRPC verifies the
// name it dials), and a client certificate for mTLS. They are made with the
// openssl command line rather than committed, so no private key ever lands in
// git, and each checkout gets its own CA.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { emulatorSecrets, writeDotenv } from './dotenv';

export interface CertPaths {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** The default folder: git-ignored, at the repository root. */
export const DEFAULT_CERTS_DIR = path.resolve(__dirname, '..', '..', '.certs');

const DAYS = '825';

export function certPaths(dir: string): CertPaths {
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    clientCert: path.join(dir, 'client.crt'),
    clientKey: path.join(dir, 'client.key'),
  };
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') {
      throw new Error(
        'generating certificates needs the `openssl` command, which was not found on PATH',
      );
    }
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}

function issue(
  paths: CertPaths,
  name: 'server' | 'client',
  subject: string,
  extensions: string,
): void {
  const csr = path.join(paths.dir, `${name}.csr`);
  const ext = path.join(paths.dir, `${name}.ext`);
  fs.writeFileSync(ext, extensions);
  try {
    openssl(
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        path.join(paths.dir, `${name}.key`),
        '-out',
        csr,
        '-subj',
        subject,
      ],
      paths.dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        paths.caCert,
        '-CAkey',
        paths.caKey,
        '-set_serial',
        `0x${Date.now().toString(16)}${name === 'server' ? '01' : '02'}`,
        '-days',
        DAYS,
        '-sha256',
        '-extfile',
        ext,
        '-out',
        path.join(paths.dir, `${name}.crt`),
      ],
      paths.dir,
    );
  } finally {
    fs.rmSync(csr, { force: true });
    fs.rmSync(ext, { force: true });
  }
}

/**
 * Creates the CA, server and client certificates in `dir`. Existing files are
 * kept unless `force` is set, so a running simulator's CA stays valid for the
 * clients that already trust it.
 */
export function ensureCerts(
  dir: string = DEFAULT_CERTS_DIR,
  options: { force?: boolean } = {},
): CertPaths {
  const paths = certPaths(path.resolve(dir));
  const all = [
    paths.caCert,
    paths.caKey,
    paths.serverCert,
    paths.serverKey,
    paths.clientCert,
    paths.clientKey,
  ];
  if (!options.force && all.every((f) => fs.existsSync(f))) return paths;

  fs.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      paths.caKey,
      '-out',
      paths.caCert,
      '-days',
      DAYS,
      '-sha256',
      '-subj',
      '/CN=food-service development CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    paths.dir,
  );
  issue(
    paths,
    'server',
    '/CN=localhost',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ].join('\n'),
  );
  issue(
    paths,
    'client',
    '/CN=food-orchestrator',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
    ].join('\n'),
  );
  for (const key of [paths.caKey, paths.serverKey, paths.clientKey]) fs.chmodSync(key, 0o600);
  return paths;
}

if (require.main === module) {
  const force = process.argv.includes('--force');
  const dirArg = process.argv.slice(2).find((a) => !a.startsWith('--'));
  const paths = ensureCerts(dirArg ?? DEFAULT_CERTS_DIR, { force });
  console.log(`certificates in ${paths.dir}:`);
  console.log(`  CA          ${paths.caCert}  (give this to clients: FOOD_SERVICE_CA)`);
  console.log(`  server      ${paths.serverCert}, ${paths.serverKey}  (SAN: localhost, 127.0.0.1)`);
  console.log(`  client      ${paths.clientCert}, ${paths.clientKey}  (for mTLS)`);
  if (!dirArg) {
    // The emulators' secrets for a plain `firebase emulators:start`: the functions then trust the simulator.
    const secretFile = path.resolve(__dirname, '..', '..', 'functions', '.secret.local');
    writeDotenv(secretFile, emulatorSecrets(fs.readFileSync(paths.caCert, 'utf8')), 0o600);
    console.log(`  emulators   ${secretFile}  (FOOD_SERVICE_CA, no mTLS)`);
  }
}
