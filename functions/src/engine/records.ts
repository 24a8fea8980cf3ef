// The trigger's writes of relations/{orderId}: progress, errors and the windows of its updates.
// Progress and errors are fenced: a transaction checks the step's stage (and a create's claim), so
// a late attempt changes only its own note. A finish's send window is opened, shared and given up
// in transactions of its own.
import { z } from 'zod';

import { listOf, orNull, parseWith, timestamp, updateTime } from '../model/fields';
import { stepFrom } from '../model/orphans';
import {
  LateUpdateField,
  type CreateStep,
  type LateUpdate,
  type Step,
  type StepError,
} from '../model/relation';
import { isStage, isTerminal, type Finish, type Stage } from '../model/stage';
import type { KitchenOrderStatusName, ShipmentStatusName } from '../model/statuses';
import {
  DELETE_FIELD,
  type DocumentData,
  type DocumentReference,
  type Transaction,
} from '../store/database';
import { store } from '../store/db';
import {
  errorFields,
  EXPIRE_AT,
  historyFields,
  lateUpdateFields,
  TRANSITIONS,
} from '../store/schema';
import { readAttempts, type Attempt, type HeldClaim } from './claims';
import { replacesError } from '../model/overwrite';
import { settle } from './settle';

export interface Made {
  field: 'kitchenOrder' | 'shipment';
  name: string;
  status: KitchenOrderStatusName | ShipmentStatusName | null;
}

export interface Progress {
  step: Step;
  from: Stage;
  to: Stage;
  eventId: string;
  /** A create's claim: the record is refused if another attempt took over. */
  claim?: HeldClaim;
  made?: Made;
  /** When the step last knew the order's status: its update's reply, or the look it acted on. */
  knownUpdateTime?: string | null;
  /** UpdateOrders whose outcome is unknown: recorded even when the step is fenced out. */
  lateUpdates?: readonly LateUpdate[];
  /** Closing a flagged relation keeps the flag for a person to read. */
  keepError?: boolean;
  /** The flag a close leaves in its place: an overwrite flag raised anew. */
  raise?: StepError;
  /** The step wrote its history entry before its update (a finish): it is not read again. */
  entryWritten?: boolean;
  /** Sets `watchUntil` on every path that ends a relation (docs/ARCHITECTURE.md#late-writes). */
  lateWriteWatchMs: number;
  retentionDays: number;
}

/** The attempts to read to settle a relation leaving `from` (and a claim's own step). */
async function attemptsFor(
  tx: Transaction,
  ref: DocumentReference,
  steps: Array<CreateStep | null | undefined>,
): Promise<Partial<Record<CreateStep, Attempt[]>>> {
  const attempts: Partial<Record<CreateStep, Attempt[]>> = {};
  for (const step of new Set(steps)) {
    if (!step) continue;
    const read = await readAttempts(tx, ref, step);
    // A malformed attempt is the trigger's to flag (claims.ts); the notes are left as they are.
    if (typeof read !== 'string') attempts[step] = read;
  }
  return attempts;
}

/**
 * Fenced: only while the relation is at `from` and a create's claim is this attempt's and the
 * latest. Fenced out, it writes only its attempt's notes and its updates that may still land.
 */
export async function recordProgress(
  ref: DocumentReference,
  progress: Progress,
  at: Date,
): Promise<'recorded' | 'fenced'> {
  const { claim } = progress;
  // A create's claim is its history; another step gets one entry (a finish writes it first).
  const entry = stepEntryRef(ref, progress.to);
  return store().runTransaction(async (tx) => {
    const relation = await tx.get(ref);
    if (!relation.exists) return 'fenced';
    const attempts = await attemptsFor(tx, ref, [stepFrom(progress.from), claim?.step]);
    const existing = claim || progress.entryWritten ? undefined : await tx.get(entry);
    const own = claim ? attempts[claim.step]?.find((a) => a.attempt === claim.attempt) : undefined;
    const stillHeld =
      !claim ||
      (own?.holder === claim.holder &&
        own.failure === null &&
        attempts[claim.step]?.length === claim.attempt);
    const late = lateUpdateFields(relation, progress.lateUpdates);
    // A flag raised while the step ran waits for a person: the step must not clear it.
    const flaggedSince =
      !progress.keepError &&
      (relation.get('error') as { transient?: unknown } | null | undefined)?.transient === false;
    if (relation.get('stage') === progress.from && stillHeld && !flaggedSince) {
      const entries = [
        ...Object.values(attempts).flatMap((read) => read.map((a) => a.ref.id)),
        ...(claim ? [] : [entry.id]),
      ];
      const update = {
        ...progressFields(progress, at),
        ...late,
        ...historyFields(relation, entries),
      };
      if (claim && own && progress.to === 'CANCELLED') {
        // The claim says why its step stopped; what it made is recorded with the cancel.
        const failure = {
          code: 'CANCELLED',
          message: 'the customer cancelled the order; the step stopped',
          transient: false,
          ambiguous: false,
        };
        tx.update(claim.ref, { failure, releasedAt: at });
        attempts[claim.step] = attempts[claim.step]?.map((a) =>
          a === own ? { ...a, failure } : a,
        );
      }
      tx.update(
        ref,
        settle({ relation, update, attempts, at, retentionDays: progress.retentionDays }) ?? update,
      );
      if (existing && !existing.exists) {
        tx.create(entry, {
          step: progress.step,
          from: progress.from,
          to: progress.to,
          attempt: 1,
          eventId: progress.eventId,
          claimedAt: at,
        });
      }
      return 'recorded';
    }
    const fenced = settle({
      relation,
      update: late,
      attempts,
      at,
      retentionDays: progress.retentionDays,
    });
    if (fenced) tx.update(ref, fenced);
    return 'fenced';
  });
}

function stepEntryRef(relation: DocumentReference, to: Stage): DocumentReference {
  return relation.collection(TRANSITIONS).doc(`${to}-1`);
}

/** A finish's window on its history entry (entries from older versions lack the later fields). */
const FinishEntry = z.object({
  claimedAt: timestamp,
  /** When the window opened: later than the entry once a finisher took over a passed one. */
  openedAt: orNull(timestamp),
  sendUntil: orNull(timestamp),
  /** What its opener's look saw before it opened it: every update sent in it lands later. */
  seenUpdateTime: orNull(updateTime).catch(null),
  /** The finisher that opened or took it over: only it may give it up; null once shared. */
  holder: z.string().nullable().catch(null),
  released: z.boolean().catch(false),
  /** Earlier finishers' windows: they may have sent an update that may still land. */
  earlier: listOf(LateUpdateField, 'earlier updates'),
});

/**
 * Opens the finish's window on its history entry, after its look and before its update. A later
 * finisher sends in it while it is open; once passed or given up, it opens its own (else every later
 * one would inherit a passed window and send nothing), keeping the one before as an earlier sender's.
 */
export async function announceFinish(
  ref: DocumentReference,
  step: { from: Stage; to: Finish; eventId: string },
  at: Date,
  window: { sendUntil: Date; holder: string; seenUpdateTime: string },
  late: { heldAfter: (sendUntil: Date) => Date; invocationMs: number },
): Promise<{ sendUntil: Date; earlier: LateUpdate[] }> {
  const entry = stepEntryRef(ref, step.to);
  return store().runTransaction(async (tx) => {
    const snapshot = await tx.get(entry);
    const opened = { ...window, openedAt: at, released: false };
    if (!snapshot.exists) {
      tx.create(entry, {
        step: 'finish',
        ...step,
        attempt: 1,
        claimedAt: at,
        ...opened,
        earlier: [],
      });
      return { sendUntil: window.sendUntil, earlier: [] };
    }
    const parsed = parseWith(FinishEntry, snapshot.data());
    if (!parsed.ok) throw new Error(`${entry.path} is malformed: ${parsed.problems.join('; ')}`);
    const { claimedAt, openedAt, sendUntil, released, earlier, seenUpdateTime } = parsed.value;
    // From a version without send windows: its finisher may have sent until its timeout.
    const until = sendUntil ?? new Date(claimedAt.getTime() + late.invocationMs);
    const its = {
      status: step.to,
      sentAt: openedAt ?? claimedAt,
      heldAfter: late.heldAfter(until),
      seenUpdateTime,
    };
    const before = released ? earlier : [...earlier, its];
    if (!released && until > at) {
      // Shared, it is nobody's to give up: its holder cannot tell whether this finisher sent in it.
      if (parsed.value.holder !== null) tx.update(entry, { holder: null });
      return { sendUntil: until, earlier: before };
    }
    tx.update(entry, { ...opened, earlier: before });
    return { sendUntil: window.sendUntil, earlier: before };
  });
}

/** Gives up a window its holder sent nothing in, so the next finisher opens its own at once. */
export async function releaseFinishWindow(
  ref: DocumentReference,
  to: Finish,
  holder: string,
): Promise<boolean> {
  const entry = stepEntryRef(ref, to);
  return store().runTransaction(async (tx) => {
    const ours = (await tx.get(entry)).get('holder') === holder;
    if (ours) tx.update(entry, { released: true });
    return ours;
  });
}

/** A relation made live again (by hand, a restore) loses expireAt, or TTL would delete it. */
export async function clearExpiry(ref: DocumentReference, stage: Stage): Promise<boolean> {
  return store().runTransaction(async (tx) => {
    const relation = await tx.get(ref);
    if (
      !relation.exists ||
      relation.get('stage') !== stage ||
      relation.get(EXPIRE_AT) === undefined
    )
      return false;
    tx.update(ref, { [EXPIRE_AT]: DELETE_FIELD });
    return true;
  });
}

function progressFields(progress: Progress, at: Date): DocumentData {
  const terminal = isTerminal(progress.to);
  const fields: DocumentData = {
    stage: progress.to,
    active: !terminal,
    outcome: terminal ? progress.to : null,
    advancedAt: at,
    // Recorded steps always change the stage (they are fenced on `from`).
    stageSince: at,
  };
  if (progress.raise) Object.assign(fields, errorFields(progress.raise));
  else if (!progress.keepError) Object.assign(fields, errorFields(null));
  if (progress.made) {
    // The poller observes only what this write names, so it cannot have written this status yet.
    fields[progress.made.field] = progress.made.name;
    fields[`${progress.made.field}Status`] = progress.made.status;
  }
  if (progress.knownUpdateTime) fields.knownUpdateTime = progress.knownUpdateTime;
  if (terminal) fields.watchUntil = new Date(at.getTime() + progress.lateWriteWatchMs);
  return fields;
}

/** Fenced on the stage as stored (even invalid): a late error would hold up the next step. */
export async function recordError(
  ref: DocumentReference,
  from: unknown,
  error: StepError,
  retentionDays: number,
  lateUpdates?: readonly LateUpdate[],
): Promise<boolean> {
  return store().runTransaction(async (tx) => {
    const relation = await tx.get(ref);
    if (!relation.exists || relation.get('stage') !== from) return false;
    // A late attempt must not unblock what waits for a person, nor hide an overwrite.
    const replaces = replacesError(relation.get('error'), error);
    const attempts = isStage(from) ? await attemptsFor(tx, ref, [stepFrom(from)]) : {};
    const update = {
      ...(replaces ? errorFields(error) : {}),
      ...lateUpdateFields(relation, lateUpdates),
    };
    const settled = settle({ relation, update, attempts, at: error.at, retentionDays });
    if (settled) tx.update(ref, settled);
    return replaces;
  });
}
