// What the poller writes, decided without I/O. It skips a write whose only news is an echo: each
// write costs a Firestore write and a trigger run (docs/ARCHITECTURE.md#polling).
import { isOverwritten } from '../model/overwrite';
import type { Relation } from '../model/relation';
import { isFinish } from '../model/stage';
import type {
  KitchenOrderStatusName,
  OrderStatusName,
  ShipmentStatusName,
} from '../model/statuses';
import type { Observation } from '../store/relations';
import { decide, isStep } from '../order/decide';
import type { ObservationFaults } from './observation-faults';

export interface ListedOrder {
  status: OrderStatusName;
  /** Tells a write after ours (model/overwrite.ts); absent from an older version's task. */
  updateTime?: string;
}

/** What one poll saw for one relation: absent fields were not looked at; only known statuses. */
export interface Seen {
  orderStatus?: OrderStatusName;
  orderUpdateTime?: string;
  kitchenOrderStatus?: KitchenOrderStatusName;
  shipmentStatus?: ShipmentStatusName;
  /** Set when a look-up failed for good, null when all worked, absent on a transient failure. */
  observationError?: string | null;
  observationFaults?: ObservationFaults | null;
}

/** Null when nothing is new. Opens the finish's send window when it falls due, saving a write. */
export function observationChanges(
  relation: Relation,
  seen: Seen,
  opens?: { at: Date; sendUntil: Date },
): Observation | null {
  const changes: Observation = {};
  let news = false;
  if (seen.orderStatus !== undefined) {
    // A write after the one we last knew of, not ours: the trigger flags it.
    const overwritten =
      seen.orderUpdateTime !== undefined &&
      seen.orderUpdateTime !== relation.orderUpdateTime &&
      isOverwritten(
        relation,
        { status: seen.orderStatus, updateTime: seen.orderUpdateTime },
        'recorded',
      );
    if (overwritten || seen.orderStatus !== relation.orderStatus) {
      changes.orderStatus = seen.orderStatus;
      if (seen.orderUpdateTime !== undefined) changes.orderUpdateTime = seen.orderUpdateTime;
      // Stage names match the statuses the orchestrator sets: our own is an echo, not news.
      news ||= overwritten || seen.orderStatus !== relation.stage;
    }
  }
  if (
    seen.kitchenOrderStatus !== undefined &&
    seen.kitchenOrderStatus !== relation.kitchenOrderStatus
  ) {
    changes.kitchenOrderStatus = seen.kitchenOrderStatus;
    news = true;
  }
  if (seen.shipmentStatus !== undefined && seen.shipmentStatus !== relation.shipmentStatus) {
    changes.shipmentStatus = seen.shipmentStatus;
    news = true;
    if (
      opens &&
      relation.stage === 'IN_FLIGHT' &&
      relation.finishWindow === null &&
      isFinish(seen.shipmentStatus)
    )
      changes.finishWindow = { to: seen.shipmentStatus, ...opens };
  }
  if (seen.observationError !== undefined && seen.observationError !== relation.observationError) {
    changes.observationError = seen.observationError;
    news = true;
  }
  // Set only when the count changed; it must be written for the next poll to go on counting.
  if (seen.observationFaults !== undefined) {
    changes.observationFaults = seen.observationFaults;
    news = true;
  }
  return news ? changes : null;
}

/**
 * A due step or flag is nudged when its retry fell due, a pause dropped its event
 * (`wakeUntouchedBefore`), or nothing wrote it for `stallMs` (a lost event, a dead claimant).
 */
export function needsNudge(
  relation: Relation,
  updateTime: Date,
  now: Date,
  stallMs: number,
  wakeUntouchedBefore: Date | null = null,
): boolean {
  const decision = decide(relation, now);
  if (!isStep(decision) && decision.action !== 'flag') return false;
  const retryAt = relation.error?.transient ? relation.error.retryAt : null;
  if (retryAt && updateTime <= retryAt) return true;
  if (wakeUntouchedBefore && updateTime < wakeUntouchedBefore) return true;
  return now.getTime() - updateTime.getTime() >= stallMs;
}
