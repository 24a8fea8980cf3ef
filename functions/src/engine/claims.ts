// Attempts at the two create steps, one document each (relations/{id}/transitions/{to}-{n}): at
// once the claim, the record of what was sent and the step's history. The API has no idempotency
// keys, hence the protocol (docs/ARCHITECTURE.md#the-step-protocol).
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
import { replacesError } from '../model/overwrite';
import { settle } from './settle';

export type { AttemptFailure } from '../model/orphans';

export type Attempt = z.output<typeof AttemptFields> & {
  ref: DocumentReference;
  version: Version;
};

export interface HeldClaim {
  ref: DocumentReference;
  relation: DocumentReference;
  step: CreateStep;
  attempt: number;
  holder: string;
  leaseExpiresAt: Date;
  /** A name an earlier attempt created and wrote down: use it, do not create again. */
  adopt: string | null;
  /** For the looks: read in the claim, not when the step was decided, maybe long before. */
  known: { knownUpdateTime: string | null; lateUpdates: LateUpdate[] };
}

export type Claim =
  | ({ kind: 'claimed' } & HeldClaim)
  | { kind: 'taken'; attempt: number; leaseExpiresAt: Date }
  /** Too many attempts may have made something: a person must look (the caller flags it). */
  | { kind: 'exhausted'; attempt: number; possibleOrphans: number }
  /** The relation left the step's stage, or was flagged since the step was decided. */
  | { kind: 'moved' }
  | { kind: 'malformed'; message: string };

export interface ClaimRequest {
  relation: DocumentReference;
  step: CreateStep;
  eventId: string;
  leaseMs: number;
  now: Date;
  /** Unnamed possible orphans allowed before a person is asked (since the last approval). */
  maxAmbiguous: number;
  retentionDays: number;
  /** When an UpdateOrder a dead attempt sent before `sendUntil` can only have been held. */
  heldAfter: (sendUntil: Date) => Date;
  /** How long after its claim an attempt without a send window (an older version) may have sent. */
  invocationMs: number;
}

/** Far above the budget: more means the documents were tampered with. */
const MAX_ATTEMPT_DOCUMENTS = 50;

export function attemptRef(
  relation: DocumentReference,
  step: CreateStep,
  attempt: number,
): DocumentReference {
  return relation.collection(TRANSITIONS).doc(`${CREATE_STEPS[step].to}-${attempt}`);
}

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

export async function readAttempts(
  tx: Transaction,
  relation: DocumentReference,
  step: CreateStep,
): Promise<Attempt[] | string> {
  const attempts: Attempt[] = [];
  for (let n = 1; n <= MAX_ATTEMPT_DOCUMENTS; n++) {
    const snapshot = await tx.get(attemptRef(relation, step, n));
    if (!snapshot.exists) return attempts;
    const parsed = parseAttempt(snapshot, n);
    if (typeof parsed === 'string') return parsed;
    attempts.push(parsed);
  }
  return `${relation.path}/${TRANSITIONS} holds more than ${MAX_ATTEMPT_DOCUMENTS} attempts at ${CREATE_STEPS[step].to}`;
}

export function isLive(attempt: Attempt, now: Date): boolean {
  return attempt.failure === null && attempt.leaseExpiresAt > now;
}

export function adoptable(attempts: readonly Attempt[]): string | null {
  return [...attempts].reverse().find((a) => a.created !== null)?.created ?? null;
}

/** One transaction: exactly one caller wins, and what it supersedes is noted in the same write. */
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
    const attempts = await readAttempts(tx, relation, step);
    if (typeof attempts === 'string') return { kind: 'malformed', message: attempts };
    const last = attempts.at(-1);
    if (last && isLive(last, now))
      return { kind: 'taken', attempt: last.attempt, leaseExpiresAt: last.leaseExpiresAt };

    const adopt = adoptable(attempts);
    // As if the relation had ended flagged: none is in progress, so each unnamed attempt counts.
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

    // A try that provably sent nothing leaves nothing to note: its number is reused.
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
    // An attempt that died after naming what it made may have sent an UpdateOrder still to land,
    // from when it was named: one frozen between its claim and its name sent nothing before.
    const inherited = attempts
      .filter((a) => a.failure === null && a.created !== null)
      .map((a) => ({
        status: CREATE_STEPS[step].to,
        sentAt: a.createdAt ?? a.claimedAt,
        heldAfter: heldAfter(a.sendUntil ?? new Date(a.claimedAt.getTime() + invocationMs)),
        seenUpdateTime: a.seenUpdateTime,
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
 * Names the claim before anything else, so no later attempt creates again, and opens its update's
 * send window. A claim resolved or failed meanwhile is re-derived on the relation: a name learned
 * after a resolution reopens it.
 */
export async function nameOnClaim(
  claim: HeldClaim,
  name: string,
  adopted: boolean,
  now: Date,
  retentionDays: number,
  window: { sendUntil: Date; seenUpdateTime: string },
): Promise<void> {
  await store().runTransaction(async (tx) => {
    const own = parseAttempt(await tx.get(claim.ref), claim.attempt);
    if (typeof own === 'string') throw new Error(own);
    const fields = { created: name, adopted, createdAt: now, ...window };
    if (own.resolution !== null || own.failure !== null) {
      const [relation, attempts] = await Promise.all([
        tx.get(claim.relation),
        readAttempts(tx, claim.relation, claim.step),
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

/**
 * Ends a failed attempt so the next need not wait out the lease. Its failure becomes the relation's
 * error only while the relation waits for this very attempt, and never replaces a flag with a
 * retry, nor an overwrite flag with another: a late attempt must not hold up, or unblock, what came
 * after it. Updates that may still land are kept whatever happened since.
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
      readAttempts(tx, claim.relation, claim.step),
    ]);
    if (typeof attempts === 'string') throw new Error(attempts);
    const created = outcome.created ?? null;
    const after = attempts.map((a) =>
      a.attempt === claim.attempt ? { ...a, failure, ...(created ? { created } : {}) } : a,
    );
    tx.update(claim.ref, { failure, releasedAt: now, ...(created ? { created } : {}) });
    if (!relation.exists) return;
    const waitsForThis =
      relation.get('stage') === CREATE_STEPS[claim.step].from &&
      attempts.at(-1)?.attempt === claim.attempt;
    const mayReplace =
      outcome.error !== undefined && replacesError(relation.get('error'), outcome.error);
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

/** In the retry's transaction, after its reads: approving the latest resets the count. */
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

/** Resolves one attempt's possible orphan for the name it has now (a later name reopens it). */
export function resolveAttempt(
  tx: Transaction,
  attempt: Attempt,
  resolution: OrphanResolution,
): void {
  tx.update(attempt.ref, { resolution });
}
