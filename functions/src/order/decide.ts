// The state machine. decide() looks at a relation as it is now and names the one next step, or
// why there is none. Pure, so every combination of stage and statuses is tested
// (docs/ARCHITECTURE.md#the-lifecycle).
import { isFlaggedOverwritten, isOverwritten, type OrderSeen } from '../model/overwrite';
import { isFlagged, type CreateStep, type Relation } from '../model/relation';
import { isFinish, isTerminal, type ActiveStage, type Finish, type Outcome } from '../model/stage';
import { isFinalOrderStatus } from '../model/statuses';

export type Decision =
  /** A create step: what it makes and the stage it moves to are in CREATE_STEPS. */
  | { action: CreateStep }
  | { action: 'finish'; to: Finish }
  | { action: 'cancel'; to: 'CANCELLED' }
  /** A flagged relation whose order is final on the food service: record how it ended, keep the flag. */
  | { action: 'close'; to: Outcome }
  /** Something a person must look at. */
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

/** Whether the decision is a step that changes the stage (as opposed to a flag or nothing). */
export function isStep(decision: Decision): decision is StepDecision {
  return decision.action !== 'flag' && decision.action !== 'none';
}

/** What the poller last saw of the order, with its update_time, when it recorded one. */
function lastSeen(relation: Relation): OrderSeen | null {
  return relation.orderUpdateTime === null
    ? null
    : { status: relation.orderStatus, updateTime: relation.orderUpdateTime };
}

/**
 * A person must look at an order that changed under us after we last knew its status. An
 * earlier flag of another kind does not hide it: the overwrite takes its place, and says what
 * it was.
 */
function overwrite(relation: Relation): Decision | null {
  const { error } = relation;
  if (isFlaggedOverwritten(relation)) return null;
  const seen = lastSeen(relation);
  if (!seen || !isOverwritten(relation, seen, 'recorded')) return null;
  const earlier = isFlagged(relation) ? ` (it was flagged ${error?.code}: ${error?.message})` : '';
  const change =
    (relation.knownUpdateTime === null
      ? `the order is ${relation.orderStatus} on the food service (as of ${seen.updateTime})`
      : `the order changed to ${relation.orderStatus} at ${seen.updateTime}, after we last knew it at ${relation.knownUpdateTime}`) +
    earlier;
  if (relation.stage === 'DELIVERED' || relation.stage === 'REJECTED') {
    return {
      action: 'flag',
      code: 'ORDER_OVERWRITTEN',
      message: `stage ${relation.stage}: ${change}; a late UpdateOrder of ours may have landed. Set the order's status back on the food service, then retry the relation`,
      orderUpdateTime: seen.updateTime,
    };
  }
  return {
    action: 'flag',
    code: 'CANCEL_OVERWRITTEN',
    message:
      `stage ${relation.stage}: ${change}; a customer's cancellation may have been overwritten by a late UpdateOrder of ours. ` +
      'Nothing more is made for this order: check with the customer, set the order on the food service, then retry the relation',
    orderUpdateTime: seen.updateTime,
  };
}

/**
 * The order's life, one stage at a time: a NEW order gets a kitchen order, a packaged one a
 * shipment, a delivered or rejected shipment ends it. What stops it first (an end, a flag, an
 * overwrite, the customer's cancel, a back-off, a contradiction) is judged before the stage.
 */
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
    // The flag waits for a person, but an order that ended (the customer
    // cancelled it, say) is recorded, so the poll stops paying for it.
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
  // The customer's cancellation wins over any step still to come, at once: recording it calls nothing, so no back-off applies.
  if (orderStatus === 'CANCELLED') return { action: 'cancel', to: 'CANCELLED' };
  if (error?.retryAt && error.retryAt > now)
    return { action: 'none', reason: 'backoff', retryAt: error.retryAt };
  const problem = contradiction(relation, stage);
  return problem
    ? { action: 'flag', code: 'INCONSISTENT', message: `stage ${stage}: ${problem}` }
    : null;
}

/** A contradiction in the relation, or between it and the food service: a person must look. */
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
