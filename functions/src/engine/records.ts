// The trigger's writes of relations/{orderId}: progress (stage, names, outcome), errors and
// the windows of updates it sends. Each is fenced: a transaction checks that the relation is
// still at the stage the step started from (and, for a create, that the step's claim is still
// this attempt's) before it writes, so a late or duplicate attempt changes nothing but its own
// note. The write that ends a relation also gives it and its whole history `expireAt`, in the
// same transaction, so a TTL policy deletes them together and never anything still active.
import { z } from 'zod';

import { listOf, orNull, parseWith, timestamp } from '../model/fields';
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
import { readAttempts, readInTransaction, type Attempt, type HeldClaim } from './claims';
import { settle } from './settle';

export interface Made {
  field: 'kitchenOrder' | 'shipment';
  name: string;
  status: KitchenOrderStatusName | ShipmentStatusName | null;
}

/** A step carried out, to be recorded on the relation. */
export interface Progress {
  step: Step;
  from: Stage;
  to: Stage;
  eventId: string;
  /** For a create: the claim under which it ran; the record is refused if another attempt took over. */
  claim?: HeldClaim;
  /** The kitchen order or shipment the step made (or adopted), with the status its create returned. */
  made?: Made;
  /** The order's update_time at which the step knew its status: its update's reply, or the look it acted on. */
  knownUpdateTime?: string | null;
  /** UpdateOrders the step sent whose outcome is unknown: recorded even when the step is fenced out. */
  lateUpdates?: readonly LateUpdate[];
  /** Closing a flagged relation keeps the flag for a person to read. */
  keepError?: boolean;
  /** The step wrote its history entry before its update (a finish): it is not read again. */
  entryWritten?: boolean;
  /**
   * How long after a relation ends its order is looked at once more, for a
   * late write of ours (docs/ARCHITECTURE.md#late-writes): every path that
   * ends a relation sets `watchUntil` from it.
   */
  lateWriteWatchMs: number;
  /** RETENTION_DAYS: how long a relation this step finishes is kept. */
  retentionDays: number;
}

/** The attempts a transaction must read to settle a relation leaving `from` (and a claim's own step). */
async function attemptsFor(
  tx: Transaction,
  ref: DocumentReference,
  steps: Array<CreateStep | null | undefined>,
): Promise<Partial<Record<CreateStep, Attempt[]>>> {
  const attempts: Partial<Record<CreateStep, Attempt[]>> = {};
  for (const step of new Set(steps)) {
    if (!step) continue;
    const read = await readAttempts(readInTransaction(tx), ref, step);
    // A malformed attempt is the trigger's to flag (claims.ts): the notes are then left as they are.
    if (typeof read !== 'string') attempts[step] = read;
  }
  return attempts;
}

/**
 * Records a step, fenced: only if the relation is still at `from` and, for a
 * create, its claim is still this attempt's and the latest. The relation's
 * possible orphans and expiry are settled in the same transaction. A step
 * fenced out changes nothing but what it alone knows: its own attempt's
 * notes, and its updates that may still land.
 */
export async function recordProgress(
  ref: DocumentReference,
  progress: Progress,
  at: Date,
): Promise<'recorded' | 'fenced'> {
  const { claim } = progress;
  // A create's claim document is its history; the other steps get one entry, written once (a finish writes it before its update).
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
    // A flag raised while the step ran (by the trigger or the poller) waits for a person: the step does not clear it.
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
        // The claim says why its step stopped; what it made is recorded on the relation with the cancel.
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

/** The history entry of a step that is not a create: one per stage it leads to. */
function stepEntryRef(relation: DocumentReference, to: Stage): DocumentReference {
  return relation.collection(TRANSITIONS).doc(`${to}-1`);
}

/** A finish's window on its history entry, as a finisher reads it back (entries from older versions lack the later fields). */
const FinishEntry = z.object({
  claimedAt: timestamp,
  /** When the window on record opened: later than the entry, once a finisher took over a passed one. */
  openedAt: orNull(timestamp),
  sendUntil: orNull(timestamp),
  /** The finisher that opened or last moved it: only it may give the window up, and only unshared (null once shared). */
  holder: z.string().nullable().catch(null),
  /** Given up by its holder, which sent nothing in it. */
  released: z.boolean().catch(false),
  /** The windows of finishers before it, which may have sent an update that may still land. */
  earlier: listOf(LateUpdateField, 'earlier updates'),
});

/**
 * Opens the finishing step's window on its history entry, before its UpdateOrder and before its look. A
 * finisher that dies leaves the window behind: the next one is told what the earlier one may have sent, an
 * update that may still land, and sends in the window on record while it is open. Once it has passed, or its
 * holder gave it up, the next finisher opens one of its own (else every later one would inherit a passed
 * window and send nothing), keeping the one before as an earlier sender's.
 */
export async function announceFinish(
  ref: DocumentReference,
  step: { from: Stage; to: Finish; eventId: string },
  at: Date,
  window: { sendUntil: Date; holder: string },
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
    const { claimedAt, openedAt, sendUntil, released, earlier } = parsed.value;
    // An entry from a version without send windows: its finisher may have sent until its invocation's timeout.
    const until = sendUntil ?? new Date(claimedAt.getTime() + late.invocationMs);
    const its = {
      status: step.to,
      sentAt: openedAt ?? claimedAt,
      heldAfter: late.heldAfter(until),
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

/**
 * Moves a finish's send window on, before an UpdateOrder that would fall past it, and takes it over, so
 * the finisher that opened it can no longer give it up. Not fenced, unlike a claim's: finishers side by
 * side (a duplicate event) may move each other's window, on or back to an end they read earlier; a
 * landing outside it then reads as held, which can cost a false alarm, never a miss.
 */
export async function extendFinishWindow(
  ref: DocumentReference,
  to: Finish,
  sendUntil: Date,
  holder: string,
): Promise<void> {
  await stepEntryRef(ref, to).update({ sendUntil, holder, released: false });
}

/**
 * Gives up a finish's window its holder sent nothing in, so a landing in it is not taken for an update of
 * ours and the next finisher opens its own at once. Only while the window is still the holder's.
 */
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

/**
 * A live relation must never carry expireAt, or a TTL policy would delete it
 * mid-flight. Nothing in the orchestrator makes a finished relation active
 * again, but a hand edit or a restore can: this removes it, fenced on the stage.
 */
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
  if (!progress.keepError) Object.assign(fields, errorFields(null));
  if (progress.made) {
    // The status the create returned (null when adopted); the poller keeps it
    // current from here on, and cannot have written it before: it only
    // observes what this write names.
    fields[progress.made.field] = progress.made.name;
    fields[`${progress.made.field}Status`] = progress.made.status;
  }
  if (progress.knownUpdateTime) fields.knownUpdateTime = progress.knownUpdateTime;
  if (terminal) fields.watchUntil = new Date(at.getTime() + progress.lateWriteWatchMs);
  return fields;
}

/**
 * Records a failed step or a flag, fenced on the stage it is about (`from`,
 * as stored, even when it is not a valid stage): an error from an attempt
 * that the relation has moved past would only hold up the next step. The
 * possible orphans and expiry are settled with it (a flag keeps a finished
 * relation from expiring; no step is under way while one waits).
 */
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
    // A retry never replaces a flag: a late attempt must not unblock what waits for a person.
    const current = relation.get('error') as { transient?: unknown } | null | undefined;
    const replaces = !(error.transient && current?.transient === false);
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

/** A page of history deleted at a time; more pages than this would be a history no relation writes. */
