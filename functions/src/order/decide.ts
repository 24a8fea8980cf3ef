// decide() names the one next step of a relation as it is now, or why there is none. Pure, so every
// combination of stage and statuses is tested (docs/ARCHITECTURE.md#the-lifecycle).
import {
  isFlaggedOverwritten,
  isOverwritten,
  overwriteFlag,
  type OrderSeen,
} from '../model/overwrite';
import { isFlagged, type CreateStep, type Relation } from '../model/relation';
import { isFinish, isTerminal, type ActiveStage, type Finish, type Outcome } from '../model/stage';
import { isFinalOrderStatus } from '../model/statuses';

export type Decision =
  /** A create step: what it makes and the stage it moves to are in CREATE_STEPS. */
  | { action: CreateStep }
  | { action: 'finish'; to: Finish }
  | { action: 'cancel'; to: 'CANCELLED' }
  /** A flagged relation whose order ended on the food service: record how, keep the flag. */
  | { action: 'close'; to: Outcome }
  | {
      action: 'flag';
      code: 'INCONSISTENT' | 'LOOKUP_FAILED' | 'CANCEL_OVERWRITTEN' | 'ORDER_OVERWRITTEN';
      message: string;
      /** An overwrite's: the order's update_time that shows it. */
      orderUpdateTime?: string;
    }
  | { action: 'none'; reason: 'terminal' | 'blocked' | 'waiting' | 'backoff'; retryAt?: Date };

export type StepDecision = Extract<
  Decision,
  { action: 'createKitchenOrder' | 'createShipment' | 'finish' | 'cancel' | 'close' }
>;

export function isStep(decision: Decision): decision is StepDecision {
  return decision.action !== 'flag' && decision.action !== 'none';
}

function lastSeen(relation: Relation): OrderSeen | null {
  return relation.orderUpdateTime === null
    ? null
    : { status: relation.orderStatus, updateTime: relation.orderUpdateTime };
}

/**
 * An earlier flag of another kind must not hide an overwrite: the overwrite takes its place. A
 * flagged relation runs no step to judge a landing of our next status, so it is judged here.
 */
function overwrite(relation: Relation): Decision | null {
  const { error } = relation;
  if (isFlaggedOverwritten(relation)) return null;
  const seen = lastSeen(relation);
  const windows = isFlagged(relation) ? 'every window' : 'recorded';
  if (!seen || !isOverwritten(relation, seen, windows)) return null;
  const earlier = isFlagged(relation) ? ` (it was flagged ${error?.code}: ${error?.message})` : '';
  return { action: 'flag', ...overwriteFlag(relation, seen, earlier) };
}

/** What stops the order (its end, a flag, a cancel, a back-off, ...) is judged before its stage. */
export function decide(relation: Relation, now: Date): Decision {
  const { stage } = relation;
  if (isTerminal(stage)) return overwrite(relation) ?? { action: 'none', reason: 'terminal' };
  const stop = stopped(relation, stage, now);
  if (stop) return stop;
  switch (stage) {
    case 'NEW':
      return { action: 'createKitchenOrder' };
    case 'PREPARATION':
      return relation.kitchenOrderStatus === 'PACKAGED' ? { action: 'createShipment' } : WAITING;
    case 'IN_FLIGHT': {
      const shipment = relation.shipmentStatus;
      return isFinish(shipment) ? { action: 'finish', to: shipment } : WAITING;
    }
    default:
      return unreachable(stage, 'stage');
  }
}

const WAITING: Decision = { action: 'none', reason: 'waiting' };

function unreachable(value: never, what: string): never {
  throw new Error(`unhandled ${what} ${String(value)}`);
}

/** Why the order cannot take its next step now, or null when it can. */
function stopped(relation: Relation, stage: ActiveStage, now: Date): Decision | null {
  const { orderStatus, error } = relation;
  if (isFlagged(relation)) {
    // The flag waits for a person, but an ended order is closed so the poll stops paying for it.
    const ended = isFinalOrderStatus(orderStatus) ? orderStatus : null;
    return (
      overwrite(relation) ??
      (ended ? { action: 'close', to: ended } : { action: 'none', reason: 'blocked' })
    );
  }
  if (relation.observationError !== null) {
    return {
      action: 'flag',
      code: 'LOOKUP_FAILED',
      message: `stage ${stage}: ${relation.observationError}`,
    };
  }
  const overwritten = overwrite(relation);
  if (overwritten) return overwritten;
  // A cancel wins at once, back-off or not: recording it calls nothing.
  if (orderStatus === 'CANCELLED') return { action: 'cancel', to: 'CANCELLED' };
  if (error?.retryAt && error.retryAt > now)
    return { action: 'none', reason: 'backoff', retryAt: error.retryAt };
  const problem = contradiction(relation, stage);
  return problem
    ? { action: 'flag', code: 'INCONSISTENT', message: `stage ${stage}: ${problem}` }
    : null;
}

function contradiction(relation: Relation, stage: ActiveStage): string | null {
  const { orderStatus, kitchenOrder, shipment } = relation;
  if (orderStatus === 'UNKNOWN') return 'the food service reports the order as UNKNOWN';
  // An order already final on the food service must agree with the stage's last step; NEW,
  // PREPARATION and IN_FLIGHT just lag behind our own writes.
  const finalOnService =
    orderStatus === 'DELIVERED' || orderStatus === 'REJECTED' ? orderStatus : null;
  switch (stage) {
    case 'NEW':
      // PREPARATION with stage NEW means our UpdateOrder landed but the step did not record;
      // the step's claim tells a live attempt from a dead one, and adopts what it made.
      if (kitchenOrder || shipment)
        return 'a kitchen order or shipment is recorded before any was created';
      return orderStatus === 'IN_FLIGHT' || finalOnService
        ? `the order is ${orderStatus} on the food service, but no kitchen order was created for it`
        : null;
    case 'PREPARATION':
      if (!kitchenOrder) return 'no kitchen order is recorded';
      if (shipment) return 'a shipment is recorded before the kitchen order was packaged';
      if (finalOnService)
        return `the order is ${finalOnService} on the food service, but no shipment was created for it`;
      return relation.kitchenOrderStatus === 'UNKNOWN'
        ? `the kitchen order ${kitchenOrder} is UNKNOWN on the food service`
        : null;
    case 'IN_FLIGHT':
      if (!kitchenOrder || !shipment) return 'the kitchen order or the shipment is not recorded';
      return shipmentContradiction(relation.shipmentStatus, shipment, finalOnService);
    default:
      return unreachable(stage, 'stage');
  }
}

function shipmentContradiction(
  status: Relation['shipmentStatus'],
  shipment: string,
  finalOnService: Finish | null,
): string | null {
  switch (status) {
    case null:
    case 'NEW':
    case 'COLLECTED':
      return finalOnService
        ? `the order is ${finalOnService} on the food service, but its shipment is ${status ?? 'not observed yet'}`
        : null;
    case 'DELIVERED':
    case 'REJECTED':
      return finalOnService && finalOnService !== status
        ? `the shipment is ${status} but the order is ${finalOnService} on the food service`
        : null;
    case 'UNKNOWN':
      return `the shipment ${shipment} is UNKNOWN on the food service`;
    default:
      return unreachable(status, 'shipment status');
  }
}
