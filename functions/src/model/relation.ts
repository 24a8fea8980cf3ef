// The relation between an order and what the orchestrator made for it: the
// only place that links an order to its kitchen order and shipment. These are
// the domain types; store/ maps them to and from Firestore documents.
import type { Stage } from './stage';
import type { KitchenOrderStatusName, OrderStatusName, ShipmentStatusName } from './statuses';

/** The steps that move a relation from one stage to the next. */
export type CreateStep = 'createKitchenOrder' | 'createShipment';
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
 * Something an earlier attempt of a create may have made that no relation
 * records: named when the attempt wrote the name down before it was lost,
 * otherwise only the attempt is known.
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

/** A person's word that a possible orphan was looked at on the food service and dealt with. */
export interface OrphanResolution {
  by: string;
  note: string;
  at: Date;
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
}

/** The possible orphans no person has reconciled yet. */
export function openOrphans(relation: Pick<Relation, 'possibleOrphans'>): PossibleOrphan[] {
  return relation.possibleOrphans.filter((orphan) => orphan.resolution === null);
}

/** A flag: a problem that waits for a person, as opposed to a transient error that retries. */
export function isFlagged(relation: Pick<Relation, 'error'>): boolean {
  return relation.error !== null && !relation.error.transient;
}
