// Claims on the two create steps, kept in relations/{id}/transitions as one
// document per attempt, "<to stage>-<attempt>", which is at once the claim and
// the step's history. The API has no idempotency keys, so a create goes
// claim → call → name on the claim → record on the relation:
// - create() of the attempt's document lets exactly one caller win it;
// - the created name goes onto the claim as soon as the call returns, and a
//   later attempt that finds it adopts it instead of creating again;
// - an attempt that failed after its call may have reached the food service,
//   or that died holding its lease, is noted as a possible orphan by the next
//   one, and only a bounded number of such attempts run before a person is asked;
// - an attempt that failed before anything could have been created hands its
//   number to the next try (nothing to note), so an outage of any length
//   leaves one document, not one per retry.
// Recording on the relation is fenced against these documents (relations.ts).
// docs/ARCHITECTURE.md#the-step-protocol has the whole protocol.
import { randomUUID } from 'node:crypto';
import type { DocumentReference, DocumentSnapshot, Version } from './database';

import type { CreateStep, PossibleOrphan } from '../model/relation';
import type { Stage } from '../model/stage';
import { isAlreadyExists, isPreconditionFailure } from './errors';
import { describeValue, toDate, TRANSITIONS } from './schema';

/** How an attempt ended badly, as the attempt itself recorded it. */
export interface AttemptFailure {
  code: string;
  message: string;
  transient: boolean;
  /** The failed call may have created something (it reached, or may have reached, the food service). */
  ambiguous: boolean;
}

/** One attempt's document, read back. */
export interface Attempt {
  ref: DocumentReference;
  version: Version;
  attempt: number;
  holder: string;
  eventId: string;
  claimedAt: Date;
  leaseExpiresAt: Date;
  /** The kitchen order or shipment this attempt created (or adopted), once known. */
  created: string | null;
  failure: AttemptFailure | null;
  /** Earlier tries under this attempt number that failed before anything could have been created. */
  cleanFailures: number;
  /** An operator's retry: ambiguous attempts up to this one no longer count against the budget. */
  approved: boolean;
  /** Who approved it, why and when, once approved. */
  approval: { by: string; reason: string; at: Date } | null;
}

/** A claim this caller won. */
export interface HeldClaim {
  ref: DocumentReference;
  /** The document of the attempt after this one: its existence means this claim was taken over. */
  nextRef: DocumentReference;
  step: CreateStep;
  attempt: number;
  holder: string;
  leaseExpiresAt: Date;
  /** A name an earlier attempt created and wrote down: use it, do not create again. */
  adopt: string | null;
  /** What earlier attempts may have created that nobody recorded. */
  possibleOrphans: PossibleOrphan[];
}

export type Claim =
  | ({ kind: 'claimed' } & HeldClaim)
  | { kind: 'held'; attempt: number; leaseExpiresAt: Date }
  | { kind: 'exhausted'; attempt: number; possibleOrphans: PossibleOrphan[] }
  | { kind: 'malformed'; message: string };

export interface ClaimRequest {
  relation: DocumentReference;
  step: CreateStep;
  from: Stage;
  to: Stage;
  eventId: string;
  leaseMs: number;
  now: Date;
  /** Attempts that may have created something, beyond which a person is asked (after an operator's retry, counted afresh). */
  maxAmbiguous: number;
}

/** Far more attempt documents than the budget allows; more means the documents were tampered with. */
const MAX_ATTEMPT_DOCUMENTS = 50;
/** Claims lost to a concurrent attempt before this one says the step is held. */
const CLAIM_RACES = 3;

export function attemptRef(relation: DocumentReference, to: Stage, attempt: number): DocumentReference {
  return relation.collection(TRANSITIONS).doc(`${to}-${attempt}`);
}

/** Reads one attempt document, or says what is wrong with it. */
export function parseAttempt(snapshot: DocumentSnapshot, expected: number): Attempt | string {
  const data = snapshot.data() ?? {};
  const where = `${snapshot.ref.path} is malformed`;
  const claimedAt = toDate(data.claimedAt);
  const leaseExpiresAt = toDate(data.leaseExpiresAt);
  if (data.attempt !== expected) return `${where}: attempt is ${describeValue(data.attempt)}, expected ${expected}`;
  if (!claimedAt || !leaseExpiresAt) return `${where}: claimedAt and leaseExpiresAt must be timestamps`;
  if (data.created !== undefined && data.created !== null && typeof data.created !== 'string')
    return `${where}: created must be a name or null`;
  const failure = data.failure as Partial<AttemptFailure> | null | undefined;
  if (
    failure !== null &&
    failure !== undefined &&
    (typeof failure !== 'object' || typeof failure.transient !== 'boolean' || typeof failure.ambiguous !== 'boolean')
  ) {
    return `${where}: failure must be null or {code, message, transient, ambiguous}`;
  }
  return {
    ref: snapshot.ref,
    version: snapshot.version as Version,
    attempt: expected,
    holder: typeof data.holder === 'string' ? data.holder : '',
    eventId: typeof data.eventId === 'string' ? data.eventId : '',
    claimedAt,
    leaseExpiresAt,
    created: (data.created as string | null | undefined) ?? null,
    failure: failure
      ? {
          code: String(failure.code ?? 'UNKNOWN'),
          message: String(failure.message ?? ''),
          transient: failure.transient as boolean,
          ambiguous: failure.ambiguous as boolean,
        }
      : null,
    cleanFailures: Number.isInteger(data.cleanFailures) ? (data.cleanFailures as number) : 0,
    approved: Boolean(data.approved),
    approval: data.approved
      ? { by: String(data.approvedBy ?? ''), reason: String(data.approvedReason ?? ''), at: toDate(data.approvedAt) ?? claimedAt }
      : null,
  };
}

/** Every attempt at the step so far, oldest first, or what is wrong with one of them. */
export async function readAttempts(relation: DocumentReference, to: Stage): Promise<Attempt[] | string> {
  const attempts: Attempt[] = [];
  for (let n = 1; n <= MAX_ATTEMPT_DOCUMENTS; n++) {
    const snapshot = await attemptRef(relation, to, n).get();
    if (!snapshot.exists) return attempts;
    const parsed = parseAttempt(snapshot, n);
    if (typeof parsed === 'string') return parsed;
    attempts.push(parsed);
  }
  return `${relation.path}/${TRANSITIONS} holds more than ${MAX_ATTEMPT_DOCUMENTS} attempts at ${to}`;
}

/** Whether an attempt still holds the step: it has not failed and its lease runs. */
export function isLive(attempt: Attempt, now: Date): boolean {
  return attempt.failure === null && attempt.leaseExpiresAt > now;
}

/** What earlier attempts may have created that no relation records, given the name the next attempt adopts. */
export function orphansOf(attempts: readonly Attempt[], step: CreateStep, adopt: string | null, now: Date): PossibleOrphan[] {
  return attempts.flatMap((a): PossibleOrphan[] => {
    const note = (name: string | null, reason: string): PossibleOrphan[] => [
      { step, attempt: a.attempt, name, claimedAt: a.claimedAt, eventId: a.eventId, reason, resolution: null },
    ];
    if (a.created !== null) {
      return a.created === adopt ? [] : note(a.created, `attempt ${a.attempt} created ${a.created}, and a later attempt created another`);
    }
    if (a.failure?.ambiguous)
      return note(null, `attempt ${a.attempt} failed with ${a.failure.code} after its call may have reached the food service`);
    if (!a.failure && a.leaseExpiresAt <= now)
      return note(null, `attempt ${a.attempt} claimed the step and recorded nothing before its lease expired`);
    return [];
  });
}

/**
 * Claims the next attempt at a create step, or says why not: another attempt
 * holds it, too many attempts may have created something, or a document is
 * malformed.
 */
export async function claimStep(request: ClaimRequest): Promise<Claim> {
  const { relation, step, from, to, eventId, leaseMs, now, maxAmbiguous } = request;
  for (let race = 0; race < CLAIM_RACES; race++) {
    const attempts = await readAttempts(relation, to);
    if (typeof attempts === 'string') return { kind: 'malformed', message: attempts };
    const last = attempts.at(-1);
    if (last && isLive(last, now)) return { kind: 'held', attempt: last.attempt, leaseExpiresAt: last.leaseExpiresAt };

    const adopt = [...attempts].reverse().find((a) => a.created !== null)?.created ?? null;
    const possibleOrphans = orphansOf(attempts, step, adopt, now);
    const approvedAt = attempts.map((a) => a.approved).lastIndexOf(true);
    const unnamedSinceApproval = orphansOf(attempts.slice(approvedAt + 1), step, adopt, now).filter((o) => o.name === null).length;
    if (adopt === null && unnamedSinceApproval > maxAmbiguous) {
      return { kind: 'exhausted', attempt: last?.attempt ?? 0, possibleOrphans };
    }

    // A try that failed before anything could have been created leaves nothing to note: its number is reused.
    const reuse = last && last.failure && !last.failure.ambiguous && last.created === null ? last : undefined;
    const attempt = reuse ? reuse.attempt : (last?.attempt ?? 0) + 1;
    const holder = randomUUID();
    const leaseExpiresAt = new Date(now.getTime() + leaseMs);
    const ref = attemptRef(relation, to, attempt);
    const fields = {
      step,
      from,
      to,
      attempt,
      holder,
      eventId,
      claimedAt: now,
      leaseExpiresAt,
      created: null,
      adopted: false,
      failure: null,
      releasedAt: null,
      cleanFailures: reuse ? reuse.cleanFailures + 1 : 0,
    };
    try {
      if (reuse) await ref.update(fields, { lastUpdateTime: reuse.version });
      else await ref.create({ ...fields, approved: false });
    } catch (error) {
      // Another attempt claimed it between our read and our write: look again.
      if (isAlreadyExists(error) || isPreconditionFailure(error)) continue;
      throw error;
    }
    return {
      kind: 'claimed',
      ref,
      nextRef: attemptRef(relation, to, attempt + 1),
      step,
      attempt,
      holder,
      leaseExpiresAt,
      adopt,
      possibleOrphans,
    };
  }
  return { kind: 'held', attempt: 0, leaseExpiresAt: now };
}

/** Writes the created (or adopted) name onto the claim, before anything else, so no later attempt creates again. */
export async function nameOnClaim(claim: HeldClaim, name: string, adopted: boolean, now: Date): Promise<void> {
  await claim.ref.update({ created: name, adopted, createdAt: now });
}

/**
 * Ends an attempt that failed, so the next one need not wait out the lease,
 * keeping the name it created if that never reached the claim. Only this
 * attempt writes its document.
 */
export async function failClaim(claim: HeldClaim, failure: AttemptFailure, now: Date, created?: string): Promise<void> {
  await claim.ref.update({ failure, releasedAt: now, ...(created ? { created } : {}) });
}

/**
 * An operator's retry of a step that ran out of attempts: the latest attempt
 * is marked approved, so the attempts before it no longer count, and who and
 * why are kept on it. Refused while an attempt holds the step.
 */
export async function approveRetry(
  relation: DocumentReference,
  to: Stage,
  by: { who: string; why: string },
  now: Date,
): Promise<Attempt | null> {
  const attempts = await readAttempts(relation, to);
  if (typeof attempts === 'string') throw new Error(attempts);
  const last = attempts.at(-1);
  if (!last) return null;
  if (isLive(last, now)) {
    throw new Error(
      `attempt ${last.attempt} at ${to} holds its claim until ${last.leaseExpiresAt.toISOString()}; retrying now could create a second one`,
    );
  }
  await last.ref.update({ approved: true, approvedBy: by.who, approvedReason: by.why, approvedAt: now }, { lastUpdateTime: last.version });
  return last;
}
