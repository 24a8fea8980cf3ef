// The state machine. decide() looks at a relation as it is now and names the
// one next step, or why there is none. It is pure: no I/O and no clock of its
// own, so every combination of stage and statuses is tested exhaustively
// (docs/ARCHITECTURE.md#the-lifecycle).
import { isOverwritten, type OrderSeen } from '../model/overwrite';
import type { Relation } from '../model/relation';
import { CREATE_STEPS, isFlagged, type CreateStep } from '../model/relation';
import { isTerminal, type Finish, type Outcome } from '../model/stage';
import { isFinalOrderStatus } from '../model/statuses';

export type Decision =
  | { action: 'createKitchenOrder'; to: 'PREPARATION' }
  | { action: 'createShipment'; to: 'IN_FLIGHT' }
  | { action: 'finish'; to: Finish }
  | { action: 'cancel'; to: 'CANCELLED' }
  /** A flagged relation whose order is final on the food service: record how it ended, keep the flag. */
  | { action: 'close'; to: Outcome }
  /** Something a person must look at. */
  | {
      action: 'flag';
      code: 'INCONSISTENT' | 'LOOKUP_FAILED' | 'CANCEL_OVERWRITTEN' | 'ORDER_OVERWRITTEN';
      message: string;
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

/** A contradiction in the relation, or between it and the food service: a person must look. */
const inconsistent = (relation: Relation, problem: string): Decision => ({
  action: 'flag',
  code: 'INCONSISTENT',
  message: `stage ${relation.stage}: ${problem}`,
});

/** What the poller last saw of the order, with its update_time, when it recorded one. */
function lastSeen(relation: Relation): OrderSeen | null {
  return relation.orderUpdateTime === null
    ? null
    : { status: relation.orderStatus, updateTime: relation.orderUpdateTime };
}

const OVERWRITE_FLAGS: ReadonlySet<string> = new Set(['CANCEL_OVERWRITTEN', 'ORDER_OVERWRITTEN']);

/**
 * A person must look at an order that changed under us after we last knew its status. An
 * earlier flag of another kind does not hide it: the overwrite takes its place, and says what
 * it was.
 */
function overwrite(relation: Relation): Decision | null {
  const { error } = relation;
  if (error && OVERWRITE_FLAGS.has(error.code) && isFlagged(relation)) return null;
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
    };
  }
  return {
    action: 'flag',
    code: 'CANCEL_OVERWRITTEN',
    message:
      `stage ${relation.stage}: ${change}; a customer's cancellation may have been overwritten by a late UpdateOrder of ours. ` +
      'Nothing more is made for this order: check with the customer, set the order on the food service, then retry the relation',
  };
}

export function decide(relation: Relation, now: Date): Decision {
  const { stage, orderStatus, error } = relation;
  if (isTerminal(stage)) return overwrite(relation) ?? { action: 'none', reason: 'terminal' };
  if (isFlagged(relation)) {
    const overwritten = overwrite(relation);
    if (overwritten) return overwritten;
    // The flag waits for a person, but an order that ended (the customer
    // cancelled it, say) is recorded, so the poll stops paying for it.
    return isFinalOrderStatus(orderStatus)
      ? { action: 'close', to: orderStatus }
      : { action: 'none', reason: 'blocked' };
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

  if (orderStatus === 'UNKNOWN')
    return inconsistent(relation, 'the food service reports the order as UNKNOWN');

  switch (stage) {
    case 'NEW':
      return decideNew(relation);
    case 'PREPARATION':
      return decidePreparation(relation);
    case 'IN_FLIGHT':
      return decideInFlight(relation);
    default: {
      const unreachable: never = stage;
      throw new Error(`unhandled stage ${String(unreachable)}`);
    }
  }
}

function decideNew(relation: Relation): Decision {
  if (relation.kitchenOrder || relation.shipment) {
    return inconsistent(relation, 'a kitchen order or shipment is recorded before any was created');
  }
  // PREPARATION with stage NEW means our UpdateOrder landed but the step did
  // not record; the step's claim tells a live attempt from a dead one, and
  // adopts a kitchen order it already made.
  switch (relation.orderStatus) {
    case 'NEW':
    case 'PREPARATION':
      return { action: 'createKitchenOrder', to: 'PREPARATION' };
    case 'IN_FLIGHT':
    case 'DELIVERED':
    case 'REJECTED':
      return inconsistent(
        relation,
        `the order is ${relation.orderStatus} on the food service, but no kitchen order was created for it`,
      );
    case 'CANCELLED':
    case 'UNKNOWN':
      throw new Error(`decide() handles order status ${relation.orderStatus} before the stage`);
    default: {
      const unreachable: never = relation.orderStatus;
      throw new Error(`unhandled order status ${String(unreachable)}`);
    }
  }
}

function decidePreparation(relation: Relation): Decision {
  if (!relation.kitchenOrder) return inconsistent(relation, 'no kitchen order is recorded');
  if (relation.shipment)
    return inconsistent(relation, 'a shipment is recorded before the kitchen order was packaged');
  if (relation.orderStatus === 'DELIVERED' || relation.orderStatus === 'REJECTED') {
    return inconsistent(
      relation,
      `the order is ${relation.orderStatus} on the food service, but no shipment was created for it`,
    );
  }
  const status = relation.kitchenOrderStatus;
  switch (status) {
    case null:
    case 'NEW':
    case 'PREPARATION':
      return { action: 'none', reason: 'waiting' };
    case 'PACKAGED':
      return { action: 'createShipment', to: 'IN_FLIGHT' };
    case 'UNKNOWN':
      return inconsistent(
        relation,
        `the kitchen order ${relation.kitchenOrder} is UNKNOWN on the food service`,
      );
    default: {
      const unreachable: never = status;
      throw new Error(`unhandled kitchen order status ${String(unreachable)}`);
    }
  }
}

function decideInFlight(relation: Relation): Decision {
  if (!relation.kitchenOrder || !relation.shipment)
    return inconsistent(relation, 'the kitchen order or the shipment is not recorded');
  const status = relation.shipmentStatus;
  // An order already final on the food service must agree with its shipment;
  // PREPARATION and IN_FLIGHT just lag behind our own writes.
  const finalOnService =
    relation.orderStatus === 'DELIVERED' || relation.orderStatus === 'REJECTED'
      ? relation.orderStatus
      : null;
  switch (status) {
    case null:
    case 'NEW':
    case 'COLLECTED':
      return finalOnService
        ? inconsistent(
            relation,
            `the order is ${finalOnService} on the food service, but its shipment is ${status ?? 'not observed yet'}`,
          )
        : { action: 'none', reason: 'waiting' };
    case 'DELIVERED':
    case 'REJECTED':
      return finalOnService && finalOnService !== status
        ? inconsistent(
            relation,
            `the shipment is ${status} but the order is ${finalOnService} on the food service`,
          )
        : { action: 'finish', to: status };
    case 'UNKNOWN':
      return inconsistent(
        relation,
        `the shipment ${relation.shipment} is UNKNOWN on the food service`,
      );
    default: {
      const unreachable: never = status;
      throw new Error(`unhandled shipment status ${String(unreachable)}`);
    }
  }
}

/** What a create step's look at the order allows. */
export type Look =
  | { action: 'go' }
  | { action: 'cancelled' }
  | { action: 'flag'; code: 'CANCEL_OVERWRITTEN' | 'UNEXPECTED_STATUS'; message: string };

/**
 * A step's look, judged with every window the claim inherited. A create is
 * sent only when the order is exactly where the step expects it
 * (NEW for the kitchen order, PREPARATION for the shipment), or already
 * moved on by the attempt whose creation this one adopts. Anything else (a
 * status this version does not know, a later or final one, a write after
 * ours) makes nothing.
 */
export function judgeLook(
  relation: Relation,
  step: CreateStep,
  seen: OrderSeen,
  adopting: boolean,
): Look {
  const { from, to } = CREATE_STEPS[step];
  if (seen.status === 'CANCELLED') return { action: 'cancelled' };
  if (isOverwritten(relation, seen, 'every window')) {
    return {
      action: 'flag',
      code: 'CANCEL_OVERWRITTEN',
      message:
        `stage ${relation.stage}: the order changed at ${seen.updateTime}, after we last knew it at ${relation.knownUpdateTime}, and is ${seen.status}: ` +
        "a customer's cancellation may have been overwritten by a late UpdateOrder of ours; nothing was made. Check with the customer, then retry the relation",
    };
  }
  if (seen.status === from || (adopting && seen.status === to)) return { action: 'go' };
  return {
    action: 'flag',
    code: 'UNEXPECTED_STATUS',
    message: `stage ${relation.stage}: the order is ${String(seen.status)} on the food service, where ${step} expects ${from}${adopting ? ` or ${to}` : ''}; nothing was made`,
  };
}
