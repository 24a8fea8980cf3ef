// The relation between an order and what the orchestrator made for it: the
// only place that links an order to its kitchen order and shipment. These are
// the domain types; store/ maps them to and from Firestore documents.
import type { Stage } from './stage';
import type { KitchenOrderStatusName, OrderStatusName, ShipmentStatusName } from './statuses';

/** The steps that move a relation from one stage to the next. */
export type CreateStep = 'createKitchenOrder' | 'createShipment';

/**
 * Each create step: the stage it starts from, the stage it moves the order
 * to (its attempts are named after it, `PREPARATION-2`), and the field that
 * records what it made.
 */
export const CREATE_STEPS = {
  createKitchenOrder: { from: 'NEW', to: 'PREPARATION', field: 'kitchenOrder' },
  createShipment: { from: 'PREPARATION', to: 'IN_FLIGHT', field: 'shipment' },
} as const satisfies Record<
  CreateStep,
  { from: Stage; to: Stage; field: 'kitchenOrder' | 'shipment' }
>;

export function isCreateStep(value: unknown): value is CreateStep {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(CREATE_STEPS, value);
}
/** `close` records the end of an order a person must look at, keeping the flag. */
export type Step = CreateStep | 'finish' | 'cancel' | 'close';

/** The last failure of a step, or a problem a person must look at. */
export interface StepError {
  step: Step | 'document';
  /** A gRPC code name, or one of ours (INVALID_DOCUMENT, INCONSISTENT, LOOKUP_FAILED, ...). */
  code: string;
  message: string;
  /** Transient errors are retried at `retryAt`; others wait for a person. */
  transient: boolean;
  /** Consecutive failures, for the backoff. */
  failures: number;
  at: Date;
  retryAt: Date | null;
}

/**
 * Something an attempt at a create may have made that the relation does not
 * record: named when the attempt wrote the name down, otherwise only the
 * attempt is known. Derived from the attempt documents (model/orphans.ts).
 */
export interface PossibleOrphan {
  step: CreateStep;
  attempt: number;
  /** The created kitchen order or shipment, when known. */
  name: string | null;
  claimedAt: Date;
  eventId: string;
  reason: string;
  /** Set once a person has reconciled it with the food service (`npm run ops -- resolve-orphan`). */
  resolution: OrphanResolution | null;
}

/**
 * A person's word that a possible orphan was looked at on the food service
 * and dealt with, for the name it had then: a name learned later reopens it.
 */
export interface OrphanResolution {
  by: string;
  note: string;
  at: Date;
  /** The note's name when it was resolved (null: none was known). */
  name: string | null;
}

export interface Relation {
  /** The document id: the id part of `order`. */
  id: string;
  /** orders/<id> */
  order: string;
  stage: Stage;
  /** The food service's statuses, as the poller last recorded them. */
  orderStatus: OrderStatusName;
  kitchenOrder: string | null;
  kitchenOrderStatus: KitchenOrderStatusName | null;
  shipment: string | null;
  shipmentStatus: ShipmentStatusName | null;
  error: StepError | null;
  /** A look-up that failed for good (the kitchen order is NOT_FOUND, say), as the poller recorded it. */
  observationError: string | null;
  possibleOrphans: PossibleOrphan[];
  /** The order's update_time when the orchestrator last knew its status for sure (its own update, or the look or observation a step acted on). */
  knownUpdateTime: string | null;
  /** The order's update_time as the poller last recorded it, with orderStatus. */
  orderUpdateTime: string | null;
  /** UpdateOrders of ours whose outcome is unknown: writes that may still land. */
  lateUpdates: LateUpdate[];
}

/** An UpdateOrder that failed ambiguously: the server may apply it later, up to the late-write window. */
export interface LateUpdate {
  status: OrderStatusName;
  sentAt: Date;
  /**
   * Its deadline, plus clock skew: applied after this, the server held it
   * after its sender gave up, and what the order went through meanwhile (a
   * customer's cancel) is unknown.
   */
  heldAfter: Date;
}

/** Whether a person has yet to reconcile it: never resolved, or resolved before the name it has now was known. */
export function isOpen(orphan: PossibleOrphan): boolean {
  return orphan.resolution === null || orphan.resolution.name !== orphan.name;
}

/** The possible orphans no person has reconciled yet. */
export function openOrphans(relation: Pick<Relation, 'possibleOrphans'>): PossibleOrphan[] {
  return relation.possibleOrphans.filter(isOpen);
}

/** A flag: a problem that waits for a person, as opposed to a transient error that retries. */
export function isFlagged(relation: Pick<Relation, 'error'>): boolean {
  return relation.error !== null && !relation.error.transient;
}
