// Repairs a person makes, each recorded in the relation's history with who
// and why. Refused, with the reason, where they would be unsafe
// (docs/OPERATIONS.md#the-ops-cli-npm-run-ops----command).
import type { PossibleOrphan, Relation } from '../model/relation';
import type { Stage } from '../model/stage';
import { approveRetry } from '../store/claims';
import type { DocumentReference } from '../store/database';
import { store } from '../store/db';
import { historyOf, readRelation, settleExpiry } from '../store/relations';
import { errorFields, EXPIRE_AT, isNewerSchema, orphanFields, parseRelation, SCHEMA_VERSION, TRANSITIONS } from '../store/schema';
import { decide } from './decide';
import { describeError } from '../describe-error';

export interface Operator {
  /** Who asks: an e-mail or a user name, for the history. */
  who: string;
  /** Why: what the person checked or fixed. */
  why: string;
}

/** A repair that would be unsafe or makes no sense; the message says why. */
export class RepairRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepairRefused';
  }
}

/** The stage a create step would move the relation to, if its next step is a create. */
function createTarget(relation: Relation, now: Date): Stage | null {
  const unflagged = decide({ ...relation, error: null, observationError: null }, now);
  switch (unflagged.action) {
    case 'createKitchenOrder':
    case 'createShipment':
      return unflagged.to;
    default:
      return null;
  }
}

/**
 * Clears a flag so the trigger runs the step again. If the step is a create
 * whose attempts ran out, the latest attempt is approved, which gives the
 * step a fresh budget: the person has reconciled the possible orphans with
 * the food service. Refused while an attempt still holds the step.
 */
/** `retentionDays` is RETENTION_DAYS: a repair that settles a finished relation lets it expire that long after. */
export async function retryRelation(
  ref: DocumentReference,
  by: Operator,
  now: Date,
  retentionDays: number,
): Promise<{ approvedAttempt: number | null }> {
  if (!by.who.trim() || !by.why.trim()) throw new RepairRefused('a retry needs who asks and why (--by and --reason)');
  const stored = await readRelation(ref);
  if (!stored) throw new RepairRefused(`${ref.path} does not exist`);
  if (isNewerSchema(stored.parsed)) {
    throw new RepairRefused(
      `${ref.path} was written by a newer version of the orchestrator (schemaVersion ${stored.parsed.newerSchema}, this one knows ${SCHEMA_VERSION}); repair it with that version`,
    );
  }
  if (!stored.parsed.ok) {
    throw new RepairRefused(`${ref.path} is malformed (${stored.parsed.problems.join('; ')}); fix the document first, then retry`);
  }
  const relation = stored.parsed.value;
  if (!relation.error || relation.error.transient) {
    throw new RepairRefused(
      `${relation.order} is not flagged${relation.error ? ': its transient error is retried on its own' : ''}; nothing to retry`,
    );
  }
  const to = createTarget(relation, now);
  let approvedAttempt: number | null = null;
  if (to) {
    try {
      approvedAttempt = (await approveRetry(ref, to, by, now))?.attempt ?? null;
    } catch (error) {
      throw new RepairRefused(`${relation.order}: ${describeError(error)}`);
    }
  }
  const flag = relation.error;
  const listed = await historyOf(ref);
  await store().runTransaction(async (tx) => {
    const [current, ...history] = await tx.getAll(ref, ...listed);
    // Another repair or the trigger got there first: do not clear a different error.
    if (current.get('error.code') !== flag.code || current.get('error.message') !== flag.message) {
      throw new RepairRefused(`${relation.order} changed while the retry was prepared; look again`);
    }
    // A closed relation keeps its flag, and does not expire until a person clears it: this may be that.
    const { update, expireAt } = settleExpiry(tx, current, history, { ...errorFields(null), observationError: null }, now, retentionDays);
    tx.create(ref.collection(TRANSITIONS).doc(`retry-${now.getTime()}`), {
      step: 'retry',
      stage: relation.stage,
      by: by.who,
      reason: by.why,
      at: now,
      cleared: { code: flag.code, message: flag.message },
      approvedAttempt,
      ...(expireAt ? { [EXPIRE_AT]: expireAt } : {}),
    });
    tx.update(ref, update);
  });
  return { approvedAttempt };
}

/** The target stage of each create step: the attempt documents are named after it (`PREPARATION-2`). */
const STEP_TARGET = { createKitchenOrder: 'PREPARATION', createShipment: 'IN_FLIGHT' } as const;

function describeOrphan(orphan: PossibleOrphan): string {
  return `${STEP_TARGET[orphan.step]}-${orphan.attempt}${orphan.name ? ` (${orphan.name})` : ''}`;
}

/**
 * Which possible orphan a person means: the kitchen order or shipment it
 * names, its attempt as the history names it (`PREPARATION-2`, or
 * `createKitchenOrder-2`), or a bare attempt number when only one note has it.
 */
export function findOrphan(orphans: readonly PossibleOrphan[], which: string): number | string {
  const wanted = which.trim();
  const attempt = /^(?:(PREPARATION|IN_FLIGHT|createKitchenOrder|createShipment)-)?(\d+)$/.exec(wanted);
  const matches = orphans
    .map((orphan, index) => ({ orphan, index }))
    .filter(({ orphan }) =>
      attempt
        ? orphan.attempt === Number(attempt[2]) &&
          (attempt[1] === undefined || attempt[1] === orphan.step || attempt[1] === STEP_TARGET[orphan.step])
        : orphan.name === wanted,
    );
  const known = orphans.length ? orphans.map(describeOrphan).join(', ') : 'none';
  if (matches.length === 0) return `no possible orphan matches "${wanted}"; the relation notes: ${known}`;
  if (matches.length > 1)
    return `"${wanted}" matches ${matches.length} possible orphans (${known}); name the step too, e.g. PREPARATION-${wanted}`;
  return matches[0].index;
}

/**
 * Marks a possible orphan as reconciled by a person with the food service
 * (cancelled, adopted by hand, or found never made), in the same
 * transaction as its history entry `resolve-orphan-<ms>`. Refused for an
 * orphan that is not there or is resolved already.
 */
export async function resolveOrphan(
  ref: DocumentReference,
  which: string,
  by: Operator,
  now: Date,
  retentionDays: number,
): Promise<{ orphan: PossibleOrphan; open: number }> {
  if (!by.who.trim() || !by.why.trim())
    throw new RepairRefused('resolving an orphan needs who and a note on what was done (--by and --note)');
  const listed = await historyOf(ref);
  return store().runTransaction(async (tx) => {
    const [snapshot, ...history] = await tx.getAll(ref, ...listed);
    if (!snapshot.exists) throw new RepairRefused(`${ref.path} does not exist`);
    const parsed = parseRelation(snapshot.data() ?? {}, snapshot.id);
    if (!parsed.ok) throw new RepairRefused(`${ref.path} is malformed (${parsed.problems.join('; ')}); fix the document first`);
    const relation = parsed.value;
    const found = findOrphan(relation.possibleOrphans, which);
    if (typeof found === 'string') throw new RepairRefused(`${relation.order}: ${found}`);
    const orphan = relation.possibleOrphans[found];
    if (orphan.resolution) {
      throw new RepairRefused(
        `${relation.order}: ${describeOrphan(orphan)} was resolved by ${orphan.resolution.by} at ${orphan.resolution.at.toISOString()} ("${orphan.resolution.note}")`,
      );
    }
    const resolved: PossibleOrphan = { ...orphan, resolution: { by: by.who, note: by.why, at: now } };
    const orphans = relation.possibleOrphans.map((o, i) => (i === found ? resolved : o));
    // Resolving the last open orphan of a finished relation lets it expire, with its history and this entry.
    const { update, expireAt } = settleExpiry(tx, snapshot, history, orphanFields(orphans), now, retentionDays);
    tx.create(ref.collection(TRANSITIONS).doc(`resolve-orphan-${now.getTime()}`), {
      step: 'resolve-orphan',
      stage: relation.stage,
      by: by.who,
      reason: by.why,
      at: now,
      orphan: { step: orphan.step, attempt: orphan.attempt, name: orphan.name },
      ...(expireAt ? { [EXPIRE_AT]: expireAt } : {}),
    });
    tx.update(ref, update);
    return { orphan: resolved, open: orphans.filter((o) => o.resolution === null).length };
  });
}
