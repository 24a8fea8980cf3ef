// What the poller writes, decided without I/O. The poller records what the
// food service says; it skips a write whose only news is the echo of a status
// the orchestrator set itself (the stage already says so), because every
// write costs a Firestore write and a trigger invocation. The echo rides
// along with the next write that carries real news.
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

/** An order as a listing showed it. */
export interface ListedOrder {
  status: OrderStatusName;
  /** Its update_time, which tells a write after ours (model/overwrite.ts); absent from a task an older version enqueued. */
  updateTime?: string;
}

/** What one poll saw for one relation: absent fields were not looked at. Only known statuses get here. */
export interface Seen {
  orderStatus?: OrderStatusName;
  /** The order's update_time, with orderStatus. */
  orderUpdateTime?: string;
  kitchenOrderStatus?: KitchenOrderStatusName;
  shipmentStatus?: ShipmentStatusName;
  /** Set when a look-up failed for good, null when every look-up worked, absent when some failed transiently. */
  observationError?: string | null;
  /** The new count of polls in a row with a fault that usually heals, when it changes (observation-faults.ts). */
  observationFaults?: ObservationFaults | null;
}

/**
 * What to write of what a poll saw, or null when it says nothing new. An
 * observation that makes the finish due opens the finish's send window
 * (`opens`: when, and until when), so the finisher sends without a write first.
 */
export function observationChanges(
  relation: Relation,
  seen: Seen,
  opens?: { at: Date; sendUntil: Date },
): Observation | null {
  const changes: Observation = {};
  let news = false;
  if (seen.orderStatus !== undefined) {
    // A write after the one we last knew of, that was not ours to make: the trigger flags it.
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
      // Stage names match the order statuses the orchestrator sets: seeing our own is an echo, not news.
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
  // Only set when the count changed: it must be written for the next poll to go on counting.
  if (seen.observationFaults !== undefined) {
    changes.observationFaults = seen.observationFaults;
    news = true;
  }
  return news ? changes : null;
}

/**
 * Whether the trigger should be woken for a relation that nothing else will
 * write: a step whose retry has fallen due, a due step or flag whose last
 * write came before `wakeUntouchedBefore` (its event was dropped while the
 * kill switch was on), or one that has seen no write for `stallMs` (a lost
 * event, or a claimant that died).
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
