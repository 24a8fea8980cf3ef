// Attempts at the two create steps, kept in relations/{id}/transitions as one
// document per attempt, "<to stage>-<attempt>": at once the claim, the
// record of what was sent, and the step's history. The API has no
// idempotency keys, so a create goes claim → call → name on the claim →
// record on the relation (docs/ARCHITECTURE.md#the-step-protocol):
// - the claim is won in a transaction, so exactly one caller holds the step;
// - the created name goes onto the claim as soon as the call returns, and a
//   later attempt that finds it adopts it instead of creating again;
// - what an attempt may have made that the relation does not record is
//   derived from these documents (model/orphans.ts), in the same transaction
//   as every write that could change it (settle.ts);
// - an attempt that failed before anything could have been sent hands its
//   number to the next try, so an outage of any length leaves one document.
import { randomUUID } from 'node:crypto';

import {
  CREATE_STEPS,
  isFlagged,
  type CreateStep,
  type LateUpdate,
  type OrphanResolution,
  type StepError,
} from '../model/relation';
import { AttemptFields, type AttemptFailure, type AttemptRecord } from '../model/orphans';
import { orphansOf } from '../model/orphans';
import type {
  DocumentData,
  DocumentReference,
  DocumentSnapshot,
  Transaction,
  Version,
} from '../store/database';
import { store } from '../store/db';
import { errorFields, lateUpdateFields, parseRelation, TRANSITIONS } from '../store/schema';
import { describeValue, parseWith } from '../model/fields';
import { z } from 'zod';
import { settle } from './settle';

export type { AttemptFailure } from '../model/orphans';

/** One attempt's document, read back. */
export type Attempt = z.output<typeof AttemptFields> & {
  ref: DocumentReference;
  version: Version;
};

/** A claim this caller won. */
export interface HeldClaim {
  ref: DocumentReference;
  relation: DocumentReference;
  step: CreateStep;
  attempt: number;
  holder: string;
  leaseExpiresAt: Date;
  /** A name an earlier attempt created and wrote down: use it, do not create again. */
  adopt: string | null;
  /**
   * What the step's looks are judged by, as the claim read it: the order's
   * update_time we last knew, and our updates that may still land, with those
   * earlier attempts that died may have sent (they died with a name, before
   * any record). Read in the claim, not when the step was decided, which may
   * be long before.
   */
  known: { knownUpdateTime: string | null; lateUpdates: LateUpdate[] };
}

export type Claim =
  | ({ kind: 'claimed' } & HeldClaim)
  | { kind: 'held'; attempt: number; leaseExpiresAt: Date }
  /** Too many attempts may have made something: a person must look (the caller flags it). */
  | { kind: 'exhausted'; attempt: number; possibleOrphans: number }
  /** The relation is no longer at the step's stage, or was flagged since the step was decided: nothing to claim. */
  | { kind: 'moved' }
  | { kind: 'malformed'; message: string };

export interface ClaimRequest {
  relation: DocumentReference;
  step: CreateStep;
  eventId: string;
  leaseMs: number;
  now: Date;
  /** Attempts that may have created something, beyond which a person is asked (after an operator's retry, counted afresh). */
  maxAmbiguous: number;
  /** RETENTION_DAYS, for a relation the claim settles. */
  retentionDays: number;
  /**
   * When an UpdateOrder sent before `sendUntil` has landed too late to be
   * anything but held (config.ts, heldAfter): an earlier attempt that died
   * may have sent one. An attempt from a version without send windows may
   * have sent until its invocation's timeout, `invocationMs` after its claim.
   */
  heldAfter: (sendUntil: Date) => Date;
  invocationMs: number;
}

/** Far more attempt documents than the budget allows; more means the documents were tampered with. */
const MAX_ATTEMPT_DOCUMENTS = 50;

export function attemptRef(
  relation: DocumentReference,
  step: CreateStep,
  attempt: number,
): DocumentReference {
  return relation.collection(TRANSITIONS).doc(`${CREATE_STEPS[step].to}-${attempt}`);
}

/** Reads one attempt document, or says what is wrong with it. */
export function parseAttempt(snapshot: DocumentSnapshot, expected: number): Attempt | string {
  const data = snapshot.data() ?? {};
  const parsed = parseWith(AttemptFields, data);
  const problems = parsed.ok ? [] : parsed.problems;
  if (data.attempt !== expected)
    problems.unshift(`attempt: expected ${expected}, got ${describeValue(data.attempt)}`);
  if (!parsed.ok || problems.length > 0)
    return `${snapshot.ref.path} is malformed: ${problems.join('; ')}`;
  return { ...parsed.value, ref: snapshot.ref, version: snapshot.version as Version };
}

/** How a function reads a document: plainly, or inside its transaction. */
export type Read = (ref: DocumentReference) => Promise<DocumentSnapshot>;

export const readInTransaction =
  (tx: Transaction): Read =>
  (ref) =>
    tx.get(ref);

/** Every attempt at the step so far, oldest first, or what is wrong with one of them. */
export async function readAttempts(
  read: Read,
  relation: DocumentReference,
  step: CreateStep,
): Promise<Attempt[] | string> {
  const attempts: Attempt[] = [];
  for (let n = 1; n <= MAX_ATTEMPT_DOCUMENTS; n++) {
    const snapshot = await read(attemptRef(relation, step, n));
    if (!snapshot.exists) return attempts;
    const parsed = parseAttempt(snapshot, n);
    if (typeof parsed === 'string') return parsed;
    attempts.push(parsed);
  }
  return `${relation.path}/${TRANSITIONS} holds more than ${MAX_ATTEMPT_DOCUMENTS} attempts at ${CREATE_STEPS[step].to}`;
}

/** Whether an attempt still holds the step: it has not failed and its lease runs. */
export function isLive(attempt: Attempt, now: Date): boolean {
  return attempt.failure === null && attempt.leaseExpiresAt > now;
}

/** The name the next attempt adopts: the latest an attempt created and wrote down. */
export function adoptable(attempts: readonly Attempt[]): string | null {
  return [...attempts].reverse().find((a) => a.created !== null)?.created ?? null;
}

/**
 * Claims the next attempt at a create step, or says why not: the relation
 * moved on, another attempt holds it, too many attempts may have created
 * something, or a document is malformed. One transaction: the attempt it
 * supersedes becomes a possible orphan on the relation in the same write.
 */
export async function claimStep(request: ClaimRequest): Promise<Claim> {
  const {
    relation,
    step,
    eventId,
    leaseMs,
    now,
    maxAmbiguous,
    retentionDays,
    heldAfter,
    invocationMs,
  } = request;
  return store().runTransaction(async (tx): Promise<Claim> => {
    const current = await tx.get(relation);
    if (!current.exists || current.get('stage') !== CREATE_STEPS[step].from)
      return { kind: 'moved' };
    const stored = parseRelation(current.data() ?? {}, current.id);
    if (!stored.ok || isFlagged(stored.value)) return { kind: 'moved' };
    const attempts = await readAttempts(readInTransaction(tx), relation, step);
    if (typeof attempts === 'string') return { kind: 'malformed', message: attempts };
    const last = attempts.at(-1);
    if (last && isLive(last, now))
      return { kind: 'held', attempt: last.attempt, leaseExpiresAt: last.leaseExpiresAt };

    const adopt = adoptable(attempts);
    const names = {
      stage: 'CANCELLED' as const,
      kitchenOrder: null,
      shipment: null,
      flagged: true,
    };
    const approvedAt = attempts.map((a) => a.approved).lastIndexOf(true);
    const unnamedSinceApproval = orphansOf(names, step, attempts.slice(approvedAt + 1)).filter(
      (o) => o.name === null,
    ).length;
    if (adopt === null && unnamedSinceApproval > maxAmbiguous) {
      return {
        kind: 'exhausted',
        attempt: last?.attempt ?? 0,
        possibleOrphans: unnamedSinceApproval,
      };
    }

    // A try that failed before anything could have been sent leaves nothing to note: its number is reused.
    const reuse =
      last && last.failure && !last.failure.ambiguous && last.created === null ? last : undefined;
    const attempt = reuse ? reuse.attempt : (last?.attempt ?? 0) + 1;
    const holder = randomUUID();
    const leaseExpiresAt = new Date(now.getTime() + leaseMs);
    const ref = attemptRef(relation, step, attempt);
    const fields: DocumentData = {
      step,
      from: CREATE_STEPS[step].from,
      to: CREATE_STEPS[step].to,
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
      resolution: null,
    };
    const claimed: AttemptRecord = {
      attempt,
      claimedAt: now,
      eventId,
      created: null,
      failure: null,
      resolution: null,
    };
    const after = [...attempts.filter((a) => a.attempt !== attempt), claimed];
    // An attempt that died after naming what it made may have sent its UpdateOrder, which the server may hold.
    const inherited = attempts
      .filter((a) => a.failure === null && a.created !== null)
      .map((a) => ({
        status: CREATE_STEPS[step].to,
        sentAt: a.claimedAt,
        heldAfter: heldAfter(a.sendUntil ?? new Date(a.claimedAt.getTime() + invocationMs)),
      }));
    const late = lateUpdateFields(current, inherited);
    const relationUpdate = settle({
      relation: current,
      update: late,
      attempts: { [step]: after },
      at: now,
      retentionDays,
    });
    if (reuse) tx.update(ref, fields);
    else tx.create(ref, { ...fields, approved: false });
    if (relationUpdate) tx.update(relation, relationUpdate);
    const known = {
      knownUpdateTime: stored.value.knownUpdateTime,
      lateUpdates: [...stored.value.lateUpdates, ...inherited],
    };
    return { kind: 'claimed', ref, relation, step, attempt, holder, leaseExpiresAt, adopt, known };
  });
}

/**
 * Writes the created (or adopted) name onto the claim, before anything else,
 * so no later attempt creates again, with the end of the window in which the
 * attempt may send its UpdateOrder. A claim a person has meanwhile resolved
 * (or that failed) is re-derived on the relation in the same transaction: a
 * name learned after a resolution reopens the note.
 */
export async function nameOnClaim(
  claim: HeldClaim,
  name: string,
  adopted: boolean,
  now: Date,
  retentionDays: number,
  sendUntil: Date,
): Promise<void> {
  await store().runTransaction(async (tx) => {
    const own = parseAttempt(await tx.get(claim.ref), claim.attempt);
    if (typeof own === 'string') throw new Error(own);
    const fields = { created: name, adopted, createdAt: now, sendUntil };
    if (own.resolution !== null || own.failure !== null) {
      const [relation, attempts] = await Promise.all([
        tx.get(claim.relation),
        readAttempts(readInTransaction(tx), claim.relation, claim.step),
      ]);
      if (typeof attempts === 'string') throw new Error(attempts);
      const after = attempts.map((a) =>
        a.attempt === claim.attempt ? { ...a, created: name } : a,
      );
      const relationUpdate = settle({
        relation,
        update: {},
        attempts: { [claim.step]: after },
        at: now,
        retentionDays,
      });
      if (relationUpdate) tx.update(claim.relation, relationUpdate);
    }
    tx.update(claim.ref, fields);
  });
}

/** Moves the attempt's send window on, before an UpdateOrder that would fall past it; refused once the claim is not this attempt's. */
export async function extendSendWindow(claim: HeldClaim, sendUntil: Date): Promise<void> {
  await store().runTransaction(async (tx) => {
    const own = parseAttempt(await tx.get(claim.ref), claim.attempt);
    if (typeof own === 'string') throw new Error(own);
    if (own.holder !== claim.holder || own.failure !== null)
      throw new Error(`${claim.ref.path} is no longer this attempt's claim`);
    tx.update(claim.ref, { sendUntil });
  });
}

/**
 * Ends an attempt that failed, so the next one need not wait out the lease,
 * keeping the name it created if that never reached the claim, with the
 * possible orphans as they now are, in one transaction. The failure becomes
 * the relation's error only while the relation waits at the step's stage
 * for this very attempt, and never replaces a flag with a retry: a late
 * attempt must not hold up, or unblock, what came after it. Updates whose
 * outcome is unknown are kept on the relation whatever happened since.
 */
export async function failClaim(
  claim: HeldClaim,
  failure: AttemptFailure,
  now: Date,
  retentionDays: number,
  outcome: { created?: string | null; error?: StepError; lateUpdates?: readonly LateUpdate[] } = {},
): Promise<void> {
  await store().runTransaction(async (tx) => {
    const [relation, attempts] = await Promise.all([
      tx.get(claim.relation),
      readAttempts(readInTransaction(tx), claim.relation, claim.step),
    ]);
    if (typeof attempts === 'string') throw new Error(attempts);
    const created = outcome.created ?? null;
    const after = attempts.map((a) =>
      a.attempt === claim.attempt ? { ...a, failure, ...(created ? { created } : {}) } : a,
    );
    tx.update(claim.ref, { failure, releasedAt: now, ...(created ? { created } : {}) });
    if (!relation.exists) return;
    const current = relation.get('error') as { transient?: unknown } | null | undefined;
    const waitsForThis =
      relation.get('stage') === CREATE_STEPS[claim.step].from &&
      attempts.at(-1)?.attempt === claim.attempt;
    const mayReplace =
      outcome.error !== undefined &&
      (outcome.error.transient === false || current?.transient !== false);
    const update = {
      ...(waitsForThis && mayReplace && outcome.error ? errorFields(outcome.error) : {}),
      ...lateUpdateFields(relation, outcome.lateUpdates),
    };
    const relationUpdate = settle({
      relation,
      update,
      attempts: { [claim.step]: after },
      at: now,
      retentionDays,
    });
    if (relationUpdate) tx.update(claim.relation, relationUpdate);
  });
}

/**
 * An operator's retry of a step that ran out of attempts, inside the
 * retry's transaction (after its reads): the latest attempt is marked
 * approved, so the attempts before it no longer count, and who and why are
 * kept on it. Refused while an attempt holds the step.
 */
export function approveRetry(
  tx: Transaction,
  attempts: readonly Attempt[],
  by: { who: string; why: string },
  now: Date,
): Attempt | null {
  const last = attempts.at(-1);
  if (!last) return null;
  if (isLive(last, now)) {
    throw new Error(
      `attempt ${last.attempt} at ${CREATE_STEPS[last.step].to} holds its claim until ${last.leaseExpiresAt.toISOString()}; retrying now could create a second one`,
    );
  }
  tx.update(last.ref, {
    approved: true,
    approvedBy: by.who,
    approvedReason: by.why,
    approvedAt: now,
  });
  return last;
}

/** A person's resolution of one attempt's possible orphan, for the name it has now, inside the resolving transaction. */
export function resolveAttempt(
  tx: Transaction,
  attempt: Attempt,
  resolution: OrphanResolution,
): void {
  tx.update(attempt.ref, { resolution });
}
