// Repairs a person makes, each recorded in the relation's history with who and why, and refused
// with the reason where unsafe (docs/OPERATIONS.md#the-ops-cli-npm-run-ops----command).
import { INT_PARAMS, lateWriteWatchMs } from '../config';
import { CLOCK_SKEW_MS } from '../model/update-time';
import { describeError } from '../describe-error';
import { orphansOf, stepFrom } from '../model/orphans';
import { isFinish, isTerminal } from '../model/stage';
import { isFlaggedOverwritten } from '../model/overwrite';
import { latestUpdateTime } from '../model/update-time';
import {
  CREATE_STEPS,
  isFlagged,
  isOpen,
  type CreateStep,
  type PossibleOrphan,
  type Relation,
} from '../model/relation';
import { approveRetry, readAttempts, resolveAttempt, type Attempt } from '../engine/claims';
import type { DocumentReference, Transaction } from '../store/database';
import { store } from '../store/db';
import {
  errorFields,
  historyFields,
  isNewerSchema,
  parseRelation,
  SCHEMA_VERSION,
  stageSinceOf,
  TRANSITIONS,
} from '../store/schema';
import { settle } from '../engine/settle';

export interface Operator {
  /** Who asks: an e-mail or a user name, for the history. */
  who: string;
  /** Why: what the person checked or fixed. */
  why: string;
}

/** A repair that would be unsafe or makes no sense; the message says why. */
export class RepairRefused extends Error {
  /** The flag a refused retry raised anew, for the person to name once they have checked again. */
  readonly raisedAgain?: HandledFlag;
  constructor(message: string, raisedAgain?: HandledFlag) {
    super(message);
    this.name = 'RepairRefused';
    if (raisedAgain) this.raisedAgain = raisedAgain;
  }
}

// How long after a relation ended an update of ours, or after its claim an unnamed create, may
// land: a repair does not know the functions' timeout, so it waits out the longest one allowed.
const OURS_MAY_LAND_MS = lateWriteWatchMs({
  advanceTimeoutSeconds: INT_PARAMS.ADVANCE_TIMEOUT_SECONDS.max,
});

/** The flag a person handled, as `--flag` names it: its code and when it was raised (error.at). */
export interface HandledFlag {
  code: string;
  at?: Date;
}

/** `CODE` or `CODE@<error.at as ISO>`, as `ops show` prints it; a string says what is wrong. */
export function parseHandledFlag(text: string): HandledFlag | string {
  const [code, at, ...rest] = text.trim().split('@');
  const when = at === undefined ? undefined : new Date(at);
  if (!/^[A-Z][A-Z_]*$/.test(code) || rest.length > 0 || (when && Number.isNaN(when.getTime())))
    return `the flag you handled is CODE or CODE@<when it was raised, as an ISO time>, got "${text}"`;
  return when ? { code, at: when } : { code };
}

/** A flag as `--flag` names it. */
export function describeHandled(handled: HandledFlag): string {
  return handled.at ? `${handled.code}@${handled.at.toISOString()}` : handled.code;
}

/**
 * Clears a flag so the trigger runs the step again, approving its latest attempt for a fresh
 * budget: the person has reconciled the possible orphans. For an overwrite they vouch only up to
 * the flagged write (not for the order as it is now), so must name that very flag (`handled`): a
 * newer one would otherwise be cleared unseen; for a relation that ended DELIVERED or REJECTED,
 * a flag raised once no update of ours could land (an older one is raised anew). A finished
 * relation this settles expires after `retentionDays`.
 */
export async function retryRelation(
  ref: DocumentReference,
  by: Operator,
  now: Date,
  retentionDays: number,
  handled?: HandledFlag,
): Promise<{ approvedAttempt: number | null }> {
  if (!by.who.trim() || !by.why.trim())
    throw new RepairRefused('a retry needs who asks and why (--by and --reason)');
  type Retried = { approvedAttempt: number | null } | { refused: string; raisedAgain: HandledFlag };
  const retried = await store().runTransaction(async (tx): Promise<Retried> => {
    const relation = await readForRepair(tx, ref);
    const flag = relation.error;
    if (!flag || flag.transient) {
      throw new RepairRefused(
        `${relation.order} is not flagged${flag ? ': its transient error is retried on its own' : ''}; nothing to retry`,
      );
    }
    const overwrite = isFlaggedOverwritten(relation);
    const named = describeHandled(flag);
    const other =
      handled !== undefined &&
      (handled.code !== flag.code ||
        (handled.at !== undefined && handled.at.getTime() !== flag.at.getTime()));
    if (other || (overwrite && handled?.at === undefined)) {
      throw new RepairRefused(
        `${relation.order} is flagged ${named}${other ? `, not the flag you handled (${describeHandled(handled)})` : ''}: ${flag.message}. ` +
          `${overwrite ? 'Set the order right on the food service as it asks, then retry' : 'Read it, then retry'} with --flag ${named}`,
      );
    }
    const step = stepFrom(relation.stage);
    const attempts = step ? await readAttempts(tx, ref, step) : [];
    if (typeof attempts === 'string') throw new RepairRefused(`${relation.order}: ${attempts}`);
    // Every read of a transaction comes before its first write.
    const snapshot = await tx.get(ref);
    const ended = isTerminal(relation.stage);
    // An update of ours sent before the order ended may land until then. A held finish reads as
    // the order ended: landed over a customer's cancel, it would pass for the person's fix. So the
    // person vouches only with what they learned from a flag raised once none could land.
    const endedAt = stageSinceOf(snapshot.data() ?? {}) ?? flag.at;
    const oursLandUntil = new Date(endedAt.getTime() + OURS_MAY_LAND_MS + CLOCK_SKEW_MS);
    const quiet = oursLandUntil.toISOString();
    const finished = isFinish(relation.stage);
    if (overwrite && finished && now < oursLandUntil) {
      throw new RepairRefused(
        `${relation.order} ended ${relation.stage}; an update of ours may still land on the food service until ${quiet}, ` +
          `over what the customer tells you before then. Retry after that: it raises the flag anew, for you to check with the customer again`,
      );
    }
    if (overwrite && finished && flag.at < oursLandUntil) {
      const again = {
        ...flag,
        at: now,
        message: `${flag.message}; first raised at ${flag.at.toISOString()}, raised again once no update of ours could land (${quiet}): check with the customer again`,
      };
      const entry = ref.collection(TRANSITIONS).doc(`raise-again-${now.getTime()}`);
      tx.update(ref, { ...errorFields(again), ...historyFields(snapshot, [entry.id]) });
      tx.create(entry, {
        step: 'raise-again',
        stage: relation.stage,
        by: by.who,
        reason: by.why,
        at: now,
        flag: { code: flag.code, at: flag.at },
      });
      const renamed = describeHandled(again);
      return {
        raisedAgain: { code: again.code, at: again.at },
        refused:
          `${relation.order}: ${named} was raised while an update of ours could still land, so what the customer said may be overtaken. ` +
          `It is raised again as ${renamed}: check with the customer again, set the order right (again, even if it reads so), then retry with --flag ${renamed}`,
      };
    }
    let approved: number | null = null;
    try {
      approved = approveRetry(tx, attempts, by, now)?.attempt ?? null;
    } catch (error) {
      throw new RepairRefused(`${relation.order}: ${describeError(error)}`);
    }
    // The person vouches for writes up to the flagged overwrite; later ones are judged as usual,
    // so a held update of ours landing after their fix is told. A live relation keeps its late
    // updates. An ended one takes a write that reads as it ended, up to the retry (for DELIVERED or
    // REJECTED, only from when no finish of ours could land and the flag was raised), for the fix,
    // and is looked at once no update of ours can land.
    // A fix within the clock skew of either end may be flagged again, never missed. A flag without
    // orderUpdateTime (an older one) counts from its time, less the skew.
    const known = latestUpdateTime(
      relation.knownUpdateTime,
      flag.orderUpdateTime ?? new Date(flag.at.getTime() - CLOCK_SKEW_MS).toISOString(),
    );
    const vouched = !overwrite
      ? {}
      : ended
        ? {
            knownUpdateTime: known,
            vouchedUpdateTime: now.toISOString(),
            // Only what was written after the person read the flag is their fix.
            vouchedFrom: finished
              ? new Date(
                  Math.max(oursLandUntil.getTime(), flag.at.getTime() - CLOCK_SKEW_MS),
                ).toISOString()
              : null,
            lateUpdates: [],
            orderStatus: relation.stage,
            orderUpdateTime: null,
            watchUntil: new Date(Math.max(now.getTime(), oursLandUntil.getTime())),
          }
        : { knownUpdateTime: known };
    const entry = ref.collection(TRANSITIONS).doc(`retry-${now.getTime()}`);
    const update = {
      ...errorFields(null),
      observationError: null,
      ...vouched,
      ...historyFields(snapshot, [entry.id]),
    };
    tx.update(
      ref,
      settle({
        relation: snapshot,
        update,
        attempts: step ? { [step]: attempts } : {},
        at: now,
        retentionDays,
      }) ?? update,
    );
    tx.create(entry, {
      step: 'retry',
      stage: relation.stage,
      by: by.who,
      reason: by.why,
      at: now,
      cleared: { code: flag.code, message: flag.message },
      approvedAttempt: approved,
    });
    return { approvedAttempt: approved };
  });
  if ('refused' in retried) throw new RepairRefused(retried.refused, retried.raisedAgain);
  return retried;
}

/** A repair of a missing, newer or malformed relation is refused. */
async function readForRepair(tx: Transaction, ref: DocumentReference): Promise<Relation> {
  const snapshot = await tx.get(ref);
  if (!snapshot.exists) throw new RepairRefused(`${ref.path} does not exist`);
  const parsed = parseRelation(snapshot.data() ?? {}, snapshot.id);
  if (isNewerSchema(parsed)) {
    throw new RepairRefused(
      `${ref.path} was written by a newer version of the orchestrator (schemaVersion ${parsed.newerSchema}, this one knows ${SCHEMA_VERSION}); repair it with that version`,
    );
  }
  if (!parsed.ok)
    throw new RepairRefused(
      `${ref.path} is malformed (${parsed.problems.join('; ')}); fix the document first, then retry`,
    );
  return parsed.value;
}

function describeOrphan(orphan: PossibleOrphan): string {
  return `${CREATE_STEPS[orphan.step].to}-${orphan.attempt}${orphan.name ? ` (${orphan.name})` : ''}`;
}

/**
 * The notes a person means: every one naming the kitchen order or shipment (adopters name it too),
 * or one attempt as the history names it (`PREPARATION-2`, `createKitchenOrder-2`, or `2` alone).
 */
export function findOrphan(orphans: readonly PossibleOrphan[], which: string): number[] | string {
  const wanted = which.trim();
  const attempt = /^(?:(PREPARATION|IN_FLIGHT|createKitchenOrder|createShipment)-)?(\d+)$/.exec(
    wanted,
  );
  const matches = orphans
    .map((orphan, index) => ({ orphan, index }))
    .filter(({ orphan }) =>
      attempt
        ? orphan.attempt === Number(attempt[2]) &&
          (attempt[1] === undefined ||
            attempt[1] === orphan.step ||
            attempt[1] === CREATE_STEPS[orphan.step].to)
        : orphan.name === wanted,
    );
  const known = orphans.length ? orphans.map(describeOrphan).join(', ') : 'none';
  if (matches.length === 0)
    return `no possible orphan matches "${wanted}"; the relation notes: ${known}`;
  if (attempt && matches.length > 1)
    return `"${wanted}" matches ${matches.length} possible orphans (${known}); name the step too, e.g. PREPARATION-${wanted}`;
  return matches.map(({ index }) => index);
}

/**
 * Marks a possible orphan reconciled by a person (cancelled, adopted by hand, or never made), for
 * the name it has now, on its attempts, the relation and the history in one transaction.
 */
export async function resolveOrphan(
  ref: DocumentReference,
  which: string,
  by: Operator,
  now: Date,
  retentionDays: number,
): Promise<{ orphan: PossibleOrphan; open: number }> {
  if (!by.who.trim() || !by.why.trim())
    throw new RepairRefused(
      'resolving an orphan needs who and a note on what was done (--by and --note)',
    );
  return store().runTransaction(async (tx) => {
    const relation = await readForRepair(tx, ref);
    const attempts: Partial<Record<CreateStep, Attempt[]>> = {};
    for (const step of Object.keys(CREATE_STEPS) as CreateStep[]) {
      const read = await readAttempts(tx, ref, step);
      if (typeof read === 'string') throw new RepairRefused(`${relation.order}: ${read}`);
      attempts[step] = read;
    }
    // The notes as the attempts say now, not as the relation last stored them.
    const notes = (Object.keys(CREATE_STEPS) as CreateStep[]).flatMap((step) =>
      orphansOf({ ...relation, flagged: isFlagged(relation) }, step, attempts[step] ?? []),
    );
    const found = findOrphan(notes, which);
    if (typeof found === 'string') throw new RepairRefused(`${relation.order}: ${found}`);
    // One thing reconciled settles every note that names it.
    const open = found.map((index) => notes[index]).filter(isOpen);
    const orphan = open[0] ?? notes[found[0]];
    if (!isOpen(orphan) && orphan.resolution) {
      throw new RepairRefused(
        `${relation.order}: ${describeOrphan(orphan)} was resolved by ${orphan.resolution.by} at ${orphan.resolution.at.toISOString()} ("${orphan.resolution.note}")`,
      );
    }
    // A person resolves what they looked up: by attempt means they knew no name, so a name learned
    // since (even while they looked) must be looked up first.
    if (orphan.name !== null && which.trim() !== orphan.name) {
      throw new RepairRefused(
        `${relation.order}: ${describeOrphan(orphan)} is named ${orphan.name}: look it up on the food service, then resolve it by that name`,
      );
    }
    // A create whose reply was lost may still be applied: nobody reconciles what may not exist yet.
    const settledAt = new Date(orphan.claimedAt.getTime() + OURS_MAY_LAND_MS);
    if (orphan.name === null && now < settledAt) {
      throw new RepairRefused(
        `${relation.order}: ${describeOrphan(orphan)} sent its create at ${orphan.claimedAt.toISOString()} or later, ` +
          `and the food service may still apply it until ${settledAt.toISOString()}; resolve it after that ` +
          '(a name learned meanwhile shows on the note)',
      );
    }
    const resolution = { by: by.who, note: by.why, at: now, name: orphan.name };
    const resolved = open.map((note) => {
      const attempt = attempts[note.step]?.find((a) => a.attempt === note.attempt);
      if (!attempt)
        throw new RepairRefused(
          `${relation.order}: the attempt of ${describeOrphan(note)} is gone`,
        );
      return attempt;
    });
    const snapshot = await tx.get(ref);
    const after = {
      ...attempts,
      [orphan.step]: attempts[orphan.step]?.map((a) =>
        resolved.includes(a) ? { ...a, resolution } : a,
      ),
    };
    const entry = ref.collection(TRANSITIONS).doc(`resolve-orphan-${now.getTime()}`);
    const update = settle({
      relation: snapshot,
      update: historyFields(snapshot, [entry.id]),
      attempts: after,
      at: now,
      retentionDays,
    });
    for (const attempt of resolved) resolveAttempt(tx, attempt, resolution);
    if (update) tx.update(ref, update);
    tx.create(entry, {
      step: 'resolve-orphan',
      stage: relation.stage,
      by: by.who,
      reason: by.why,
      at: now,
      orphan: { step: orphan.step, attempt: orphan.attempt, name: orphan.name },
      attempts: open.map((note) => note.attempt),
    });
    return {
      orphan: { ...orphan, resolution },
      open: notes.filter((note) => !open.includes(note) && isOpen(note)).length,
    };
  });
}
