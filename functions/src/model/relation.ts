// The relation: the only link from an order to the kitchen order and shipment made for it. These
// are the domain types; store/ maps them to and from Firestore documents.
import { z } from 'zod';

import {
  describeValue,
  expected,
  kitchenOrderStatus,
  listOf,
  orderStatus,
  orNull,
  resourceName,
  shipmentStatus,
  shown,
  text,
  timestamp,
  updateTime,
} from './fields';
import { FINISHES, STAGES, type Stage } from './stage';

export type CreateStep = 'createKitchenOrder' | 'createShipment';

/** Per create step: from, to (which names its attempts, `PREPARATION-2`) and the field it fills. */
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

export const createStep = z.custom<CreateStep>(
  isCreateStep,
  expected('createKitchenOrder or createShipment'),
);

/** The last failure of a step, or a problem a person must look at. */
export const StepErrorField = z.object(
  {
    /** Older versions' step names read as they were written. */
    step: text('a step')
      .default('document')
      .transform((step) => step as Step | 'document'),
    /** A gRPC code name, or one of ours (INVALID_DOCUMENT, INCONSISTENT, LOOKUP_FAILED, ...). */
    code: text('a code').default('UNKNOWN'),
    message: text('a message'),
    /** Transient errors are retried at `retryAt`; others wait for a person. */
    transient: z.boolean(expected('true or false')),
    /** Consecutive failures, for the backoff. */
    failures: z.int(expected('a count from 1')).min(1, expected('a count from 1')).default(1),
    at: timestamp,
    retryAt: orNull(timestamp),
    /** An overwrite flag's: the update_time it was raised for, for a person's retry to use. */
    orderUpdateTime: updateTime.optional(),
  },
  expected('null or {step, code, message, transient, failures, at, retryAt, orderUpdateTime?}'),
);
export type StepError = z.output<typeof StepErrorField>;

/** A person's resolution of a possible orphan, for its name then: a later name reopens it. */
export const OrphanResolutionField = z.object(
  {
    by: text('a name'),
    note: text('a note'),
    at: timestamp,
    /** The note's name when it was resolved (null: none was known, or it predates names). */
    name: orNull(text('null or a name')),
  },
  expected('null or {by, note, at, name}'),
);
export type OrphanResolution = z.output<typeof OrphanResolutionField>;

/** Derived from the attempt documents (model/orphans.ts); unnamed when the attempt wrote none. */
export const PossibleOrphanField = z.object(
  {
    step: createStep,
    attempt: z.int(expected('an attempt number')),
    /** The created kitchen order or shipment, when known. */
    name: orNull(text('null or a name')),
    claimedAt: timestamp,
    eventId: shown,
    reason: text('a reason'),
    /** Set once a person reconciled it with the food service (`npm run ops -- resolve-orphan`). */
    resolution: orNull(OrphanResolutionField),
  },
  expected('{step, attempt, name, claimedAt, eventId, reason, resolution}'),
);
export type PossibleOrphan = z.output<typeof PossibleOrphanField>;

/** An UpdateOrder that failed ambiguously: the server may still apply it (LATE_WRITE_WINDOW_MS). */
export const LateUpdateField = z.object(
  {
    status: orderStatus,
    sentAt: timestamp,
    /** Its deadline plus clock skew: applied later, it was held, and may land over a cancel. */
    heldAfter: timestamp,
    /** The order's update_time its sender saw before its window opened: it lands after that. */
    seenUpdateTime: orNull(updateTime),
  },
  expected('{status, sentAt, heldAfter, seenUpdateTime}'),
);
export type LateUpdate = z.output<typeof LateUpdateField>;

/**
 * A finish's send window, opened by the poller's observation that makes the finish due, so the
 * finish needs no write before its update (one with too little left opens its own, in its history).
 */
export const FinishWindowField = z.object(
  {
    to: z.enum(FINISHES, { error: (issue) => `unknown finish ${describeValue(issue.input)}` }),
    at: timestamp,
    sendUntil: timestamp,
  },
  expected('null or {to, at, sendUntil}'),
);
export type FinishWindow = z.output<typeof FinishWindowField>;

/** The stored fields a relation is read from (store/schema.ts adds the ones only people read). */
export const RelationFields = z.object({
  /** orders/<id>; the document id is its <id>. */
  order: resourceName('order'),
  stage: z.enum(STAGES, {
    error: (issue) => `unknown stage ${describeValue(issue.input)}`,
  }),
  /** The food service's statuses, as the poller last recorded them. */
  orderStatus,
  kitchenOrder: orNull(resourceName('kitchenOrder', true)),
  kitchenOrderStatus: orNull(kitchenOrderStatus),
  shipment: orNull(resourceName('shipment', true)),
  shipmentStatus: orNull(shipmentStatus),
  error: orNull(StepErrorField),
  /** A look-up that failed for good (a kitchen order NOT_FOUND, say), as the poller recorded it. */
  observationError: orNull(text('null or a message')),
  possibleOrphans: listOf(PossibleOrphanField, 'possible orphans'),
  /** The update_time at which we last knew the order's status for sure: ours, or one a step saw. */
  knownUpdateTime: orNull(updateTime),
  /**
   * A retry of an ended relation's overwrite flag: up to then, and from `vouchedFrom`, a write
   * reading as it ended was the person's fix; one reading otherwise, or any other, is flagged.
   */
  vouchedUpdateTime: orNull(updateTime),
  /** Once no update of ours could land, and the flag the person handled was raised (less skew). */
  vouchedFrom: orNull(updateTime),
  /** The order's update_time as the poller last recorded it, with orderStatus. */
  orderUpdateTime: orNull(updateTime),
  /** UpdateOrders of ours whose outcome is unknown: writes that may still land. */
  lateUpdates: listOf(LateUpdateField, 'late updates'),
  finishWindow: orNull(FinishWindowField),
});

export type Relation = z.output<typeof RelationFields> & {
  id: string;
};

/** Not yet reconciled: never resolved, or resolved before the name it has now was known. */
export function isOpen(orphan: PossibleOrphan): boolean {
  return orphan.resolution === null || orphan.resolution.name !== orphan.name;
}

export function openOrphans(relation: Pick<Relation, 'possibleOrphans'>): PossibleOrphan[] {
  return relation.possibleOrphans.filter(isOpen);
}

/** A flag: a problem that waits for a person, as opposed to a transient error that retries. */
export function isFlagged(relation: Pick<Relation, 'error'>): boolean {
  return relation.error !== null && !relation.error.transient;
}
