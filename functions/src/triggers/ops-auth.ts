// Who calls the ops API. Cloud Run checks only OPS_INVOKER's token (X-Serverless-Authorization)
// and passes Authorization on unchecked, so the function itself verifies the caller's own token
// there before it writes a name into the history (docs/OPERATIONS.md#the-ops-https-api).
import { OAuth2Client } from 'google-auth-library';
import * as logger from 'firebase-functions/logger';

import { isLocalRun, loadOpsInvoker } from '../config';
import { describeError } from '../describe-error';
import { BadRequest } from '../operations/status';

/** A caller whose identity could not be verified: answered 401. */
export class Unauthorized extends Error {
  constructor(
    message: string,
    /** What the token claimed, unverified, for the log. */
    readonly claimed?: string,
  ) {
    super(message);
    this.name = 'Unauthorized';
  }
}

/** Google's ID-token issuers, as google-auth-library checks them. */
export const GOOGLE_ISSUERS = ['accounts.google.com', 'https://accounts.google.com'];

/** The public certificates that sign ID tokens, by key id (PEM). */
export type CertSource = () => Promise<Record<string, string>>;

let google: OAuth2Client | undefined;
const client = (): OAuth2Client => (google ??= new OAuth2Client());

/** Fetched by google-auth-library and cached as long as their Cache-Control says. */
const googleCerts: CertSource = async () =>
  (await client().getFederatedSignonCertsAsync()).certs as Record<string, string>;

let certSource: CertSource = googleCerts;

/** Tests verify tokens signed by a key they made; undefined goes back to Google's certificates. */
export function useIdTokenCerts(source: CertSource | undefined): void {
  certSource = source ?? googleCerts;
}

/** google-auth-library's reason, without the token it quotes (a token is a credential). */
function reasonOf(error: unknown): string {
  return describeError(error).split(':')[0].trim();
}

/** The payload's e-mail, unverified: only to say in the log whom a refused token claimed to be. */
function claimedEmail(token: string): string | undefined {
  try {
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { email?: unknown };
    return typeof payload.email === 'string' ? payload.email : undefined;
  } catch {
    return undefined;
  }
}

/** The e-mail of a Google-signed ID token for one of `audiences`, else Unauthorized saying why. */
export async function verifiedEmail(token: string, audiences: readonly string[]): Promise<string> {
  if (audiences.length === 0) throw new Error('no audience to check ID tokens against');
  // Fetching the certificates can fail (the network): that is a 500, not the caller's fault.
  const certs = await certSource();
  let payload: { email?: unknown; email_verified?: unknown } | undefined;
  try {
    payload = (
      await client().verifySignedJwtWithCertsAsync(token, certs, [...audiences], GOOGLE_ISSUERS)
    ).getPayload();
  } catch (error) {
    throw new Unauthorized(`the ID token was refused: ${reasonOf(error)}`, claimedEmail(token));
  }
  if (typeof payload?.email !== 'string' || !payload.email || payload.email_verified !== true) {
    throw new Unauthorized('the ID token carries no verified e-mail', claimedEmail(token));
  }
  return payload.email;
}

export interface Caller {
  header(name: string): string | undefined;
}

/**
 * Who asks, for the history; OPS_INVOKER's own token names no person. Without a token, the body's
 * `by`, only where no platform stands in front (the emulators, the local stack).
 */
export async function operatorName(
  caller: Caller,
  body: Record<string, unknown>,
  audiences: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const presented = caller.header('authorization');
  if (presented !== undefined) {
    const token = /^Bearer\s+(\S+)$/i.exec(presented.trim())?.[1];
    if (!token) throw new Unauthorized('the authorization header is not "Bearer <ID token>"');
    const email = await verifiedEmail(token, audiences);
    if (email.toLowerCase() === loadOpsInvoker(env)) {
      throw new Unauthorized(
        "the ID token in Authorization is the operators' account's (OPS_INVOKER), which names no person: send it in X-Serverless-Authorization and your own in Authorization",
        email,
      );
    }
    return email;
  }
  if (!isLocalRun(env)) {
    throw new Unauthorized(
      'no ID token of yours: call with "Authorization: Bearer $(gcloud auth print-identity-token)" (docs/OPERATIONS.md)',
    );
  }
  if (typeof body.by === 'string' && body.by.trim()) return body.by.trim();
  throw new BadRequest(
    'say who asks: "by" in the JSON body (only in the emulators; deployed, your ID token says it)',
  );
}

/** The log entry of a refused caller: never the token, only why and whom it claimed. */
export function logRefused(error: Unauthorized, request: { method: string; url: string }): void {
  logger.warn('ops API: caller refused, identity not verified', {
    method: request.method,
    url: request.url,
    reason: error.message,
    claimed: error.claimed,
  });
}
