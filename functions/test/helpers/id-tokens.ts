// Google-style ID tokens for the tests, signed with RSA keys made here: the
// ops API verifies them with google-auth-library against the certificates a
// test installs (useIdTokenCerts), exactly as it verifies Google's.
import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';

import { useIdTokenCerts } from '../../src/triggers/ops-auth';
import { PROJECT_ID } from '../setup';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicPem: string;
}

export function signingKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    kid,
    privateKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The ops function's own URL in the run's project (setup.ts): an audience it accepts. */
export const OPS_AUDIENCE = `https://us-central1-${PROJECT_ID}.cloudfunctions.net/ops`;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An RS256 ID token signed with `key` (under `kid`, its own unless given), with Google's claims unless overridden. */
export function idToken(
  key: SigningKey,
  claims: Record<string, unknown> = {},
  kid = key.kid,
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ alg: 'RS256', kid, typ: 'JWT' });
  const payload = b64({
    iss: 'https://accounts.google.com',
    aud: OPS_AUDIENCE,
    sub: '1234567890',
    email: 'carol@example.com',
    email_verified: true,
    iat: now,
    exp: now + 3600,
    ...claims,
  });
  const signature = createSign('RSA-SHA256')
    .update(`${header}.${payload}`)
    .sign(key.privateKey)
    .toString('base64url');
  return `${header}.${payload}.${signature}`;
}

/** Makes the ops API trust `keys` as Google's signing keys; returns the undo. */
export function trustKeys(...keys: SigningKey[]): () => void {
  useIdTokenCerts(async () => Object.fromEntries(keys.map((k) => [k.kid, k.publicPem])));
  return () => useIdTokenCerts(undefined);
}
