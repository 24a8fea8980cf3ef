// Whether the order changed under us. With no optimistic concurrency, a held UpdateOrder of ours
// can land over a customer's CANCELLED. No client can prevent that, but it can see it: update_time
// moved past the known one, to a status that is not our next (docs/ARCHITECTURE.md#late-writes).
import { CREATE_STEPS, isFlagged, type LateUpdate, type Relation } from './relation';
import { FINISHES, isTerminal, type Stage } from './stage';
import { CLOCK_SKEW_MS, isLater, updateTimeNanos } from './update-time';

/** Statuses our next step sets from each stage: seeing one is our progress, not someone else's. */
const NEXT: Partial<Record<Stage, readonly string[]>> = {
  ...Object.fromEntries(Object.values(CREATE_STEPS).map(({ from, to }) => [from, [to]])),
  IN_FLIGHT: FINISHES,
};

const OVERWRITE_FLAGS: ReadonlySet<string> = new Set(['CANCEL_OVERWRITTEN', 'ORDER_OVERWRITTEN']);

/** Whether a person is already asked about an overwrite: nothing more to look for. */
export function isFlaggedOverwritten(relation: Pick<Relation, 'error'>): boolean {
  return relation.error !== null && OVERWRITE_FLAGS.has(relation.error.code) && isFlagged(relation);
}

/**
 * Whether `next` may take the place of the relation's error as `stored`: a retry never replaces a
 * flag, and nothing but an overwrite replaces an overwrite flag, the one a person must see.
 */
export function replacesError(
  stored: unknown,
  next: { transient: boolean; code: string },
): boolean {
  const current = (stored ?? {}) as { transient?: unknown; code?: unknown };
  if (current.transient !== false) return true;
  return (
    !next.transient &&
    (!OVERWRITE_FLAGS.has(String(current.code)) || OVERWRITE_FLAGS.has(next.code))
  );
}

export interface OrderSeen {
  /** The status seen (a number for a status this version does not know). */
  status: string | number;
  updateTime: string;
}

/**
 * A step has read every window an update of ours to its next status could have been sent in (its
 * claim's attempts, its finish entry); the poller, only those the relation recorded. So the poller
 * leaves a landing of our next status to the step it wakes.
 */
export type Windows = 'every window' | 'recorded';

/**
 * Whether `seen` shows a write after `knownUpdateTime` that is neither a cancel nor our next step,
 * or an update of ours that landed held, after every window it could have been sent in. Nobody
 * writes an ended order, so any later write to one counts, even if it reads as ended (a late write
 * of ours that a customer then cancelled over).
 */
export function isOverwritten(
  {
    stage,
    knownUpdateTime,
    vouchedUpdateTime,
    vouchedFrom,
    lateUpdates,
  }: Pick<
    Relation,
    'stage' | 'knownUpdateTime' | 'vouchedUpdateTime' | 'vouchedFrom' | 'lateUpdates'
  >,
  seen: OrderSeen,
  windows: Windows,
): boolean {
  // What was seen when or before we last knew the order tells nothing new, whatever it says.
  if (knownUpdateTime !== null && !isLater(seen.updateTime, knownUpdateTime)) return false;
  if (isTerminal(stage) && seen.status !== stage) return true;
  // Between vouchedFrom (no update of ours could land, the person had read the flag) and their
  // retry, a write that reads as the order ended was their fix; before, it may be ours.
  const vouched =
    vouchedUpdateTime !== null &&
    !isLater(seen.updateTime, vouchedUpdateTime) &&
    (vouchedFrom === null || !isLater(vouchedFrom, seen.updateTime));
  if (vouched) return false;
  const ourNext = (NEXT[stage] ?? []).includes(String(seen.status));
  if ((windows === 'every window' || !ourNext) && landedHeld(lateUpdates, seen)) return true;
  if (knownUpdateTime === null && vouchedUpdateTime === null) return false;
  if (isTerminal(stage)) return true;
  if (seen.status === 'CANCELLED') return false;
  return !(NEXT[stage] ?? []).includes(String(seen.status));
}

/**
 * Whether `seen` is a held update of ours: its status, landed after every window's end, or before
 * it opened or its sender's look saw the order, where none could land unheld (a later sender's
 * window covers a landing an earlier one's does not, but only from then). A cancel may lie under it.
 */
function landedHeld(lateUpdates: readonly LateUpdate[], seen: OrderSeen): boolean {
  const at = updateTimeNanos(seen.updateTime);
  const nanos = (date: Date, skewMs: number) => BigInt(date.getTime() + skewMs) * 1_000_000n;
  const covers = (update: LateUpdate) =>
    at !== null &&
    at <= nanos(update.heldAfter, 0) &&
    at >= nanos(update.sentAt, -CLOCK_SKEW_MS) &&
    (update.seenUpdateTime === null || isLater(seen.updateTime, update.seenUpdateTime));
  const windows = lateUpdates.filter((update) => update.status === seen.status);
  return at !== null && windows.length > 0 && !windows.some(covers);
}

export interface OverwriteFlag {
  code: 'CANCEL_OVERWRITTEN' | 'ORDER_OVERWRITTEN';
  message: string;
  /** The overwrite's update_time: a person's retry vouches for the order up to it. */
  orderUpdateTime: string;
}

/** The flag for an order written after we last knew it; `earlier`: a flag it takes the place of. */
export function overwriteFlag(
  relation: Pick<Relation, 'stage' | 'knownUpdateTime'>,
  seen: OrderSeen,
  earlier = '',
): OverwriteFlag {
  const { stage, knownUpdateTime } = relation;
  const change =
    (knownUpdateTime === null
      ? `the order is ${seen.status} on the food service (as of ${seen.updateTime})`
      : `the order changed to ${seen.status} at ${seen.updateTime}, after we last knew it at ${knownUpdateTime}`) +
    earlier;
  const orderUpdateTime = seen.updateTime;
  if (stage === 'DELIVERED' || stage === 'REJECTED') {
    const message = `stage ${stage}: ${change}; a late UpdateOrder of ours may have landed. Set the order's status back on the food service, then retry the relation`;
    return { code: 'ORDER_OVERWRITTEN', message, orderUpdateTime };
  }
  const message =
    `stage ${stage}: ${change}; a customer's cancellation may have been overwritten by a late UpdateOrder of ours. ` +
    'Nothing more is made for this order: check with the customer, set the order on the food service, then retry the relation';
  return { code: 'CANCEL_OVERWRITTEN', message, orderUpdateTime };
}
