// The relation document, relations/{orderId}: the only place that links an
// order to its kitchen order and shipment. This module turns the stored data
// into a checked Relation and back; it does no I/O.
import {
  KitchenOrderStatus,
  OrderStatus,
  ShipmentStatus,
  type KitchenOrderStatusName,
  type OrderStatusName,
  type ShipmentStatusName,
} from '../food/types';
import { isStage, type Stage } from './stage';

export const RELATIONS = 'relations';
export const TRANSITIONS = 'transitions';

/** The steps that move a relation from one stage to the next. */
export type Step = 'createKitchenOrder' | 'createShipment' | 'finish' | 'cancel';

/** The last failure of a step, as the trigger recorded it. */
export interface StepError {
  step: Step | 'document';
  /** gRPC code name, or INVALID_DOCUMENT / INCONSISTENT for problems with the relation itself. */
  code: string;
  message: string;
  /** Transient errors are retried at `retryAt`; others wait for a person. */
  transient: boolean;
  /** Consecutive failures, for the backoff. */
  failures: number;
  at: Date;
  retryAt: Date | null;
}

export interface Relation {
  /** orders/<uuid> */
  order: string;
  stage: Stage;
  orderStatus: OrderStatusName;
  kitchenOrder: string | null;
  kitchenOrderStatus: KitchenOrderStatusName | null;
  shipment: string | null;
  shipmentStatus: ShipmentStatusName | null;
  error: StepError | null;
}

const PREFIX = { order: 'orders/', kitchenOrder: 'kitchenorders/', shipment: 'shipments/' } as const;
// The id part must be usable as a Firestore document id, as the order's is.
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function isName(kind: keyof typeof PREFIX, value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PREFIX[kind]) && ID.test(value.slice(PREFIX[kind].length));
}

export function isOrderName(value: unknown): value is string {
  return isName('order', value);
}

/** The document id of an order's relation: the id part of its name. */
export function relationId(orderName: string): string {
  if (!isOrderName(orderName)) throw new Error(`malformed order name "${orderName}"`);
  return orderName.slice(PREFIX.order.length);
}

function enumValue<T extends string>(values: Record<string, T>, value: unknown): T | undefined {
  return typeof value === 'string' && Object.values(values).includes(value as T) ? (value as T) : undefined;
}

export function isOrderStatus(value: unknown): value is OrderStatusName {
  return enumValue(OrderStatus, value) !== undefined;
}
export function isKitchenOrderStatus(value: unknown): value is KitchenOrderStatusName {
  return enumValue(KitchenOrderStatus, value) !== undefined;
}
export function isShipmentStatus(value: unknown): value is ShipmentStatusName {
  return enumValue(ShipmentStatus, value) !== undefined;
}

/**
 * A new relation document, as the poller creates it for a NEW order: nothing
 * created yet, the poller's first observation, the trigger's fields empty.
 */
export function newRelation(order: string, customerId: string, at: Date): Record<string, unknown> {
  return {
    order,
    customerId,
    stage: 'NEW',
    active: true,
    outcome: null,
    orderStatus: 'NEW',
    kitchenOrder: null,
    kitchenOrderStatus: null,
    shipment: null,
    shipmentStatus: null,
    error: null,
    observationError: null,
    possibleOrphans: [],
    createdAt: at,
    observedAt: at,
    advancedAt: null,
  };
}

/** Anything with toDate(): a Firestore Timestamp, without importing the SDK here. */
function toDate(value: unknown): Date | null {
  if (value instanceof Date) return value;
  if (value && typeof value === 'object' && typeof (value as { toDate?: unknown }).toDate === 'function') {
    return (value as { toDate(): Date }).toDate();
  }
  return null;
}

export type Parsed = { ok: true; relation: Relation } | { ok: false; problems: string[] };

/**
 * Checks stored data field by field. A hand-edited document, an unknown enum
 * value or a malformed name is reported with every problem found, so the
 * flag on the document says what to fix.
 */
export function parseRelation(data: Record<string, unknown>): Parsed {
  const problems: string[] = [];
  const describe = (v: unknown) => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v) ?? String(v));

  const name = (field: keyof typeof PREFIX, optional: boolean): string | null => {
    const value = data[field];
    if ((value === null || value === undefined) && optional) return null;
    if (isName(field, value)) return value;
    problems.push(`${field}: expected ${optional ? 'null or ' : ''}"${PREFIX[field]}<id>", got ${describe(value)}`);
    return null;
  };
  const status = <T extends string>(field: string, check: (v: unknown) => v is T, optional: boolean): T | null => {
    const value = data[field];
    if ((value === null || value === undefined) && optional) return null;
    if (check(value)) return value;
    problems.push(`${field}: unknown status ${describe(value)}`);
    return null;
  };

  const order = name('order', false);
  const stage = isStage(data.stage) ? data.stage : (problems.push(`stage: unknown stage ${describe(data.stage)}`), null);
  const orderStatus = status('orderStatus', isOrderStatus, false);
  const kitchenOrder = name('kitchenOrder', true);
  const kitchenOrderStatus = status('kitchenOrderStatus', isKitchenOrderStatus, true);
  const shipment = name('shipment', true);
  const shipmentStatus = status('shipmentStatus', isShipmentStatus, true);
  const error = parseStepError(data.error, problems);

  if (problems.length > 0 || order === null || stage === null || orderStatus === null) {
    return { ok: false, problems };
  }
  return { ok: true, relation: { order, stage, orderStatus, kitchenOrder, kitchenOrderStatus, shipment, shipmentStatus, error } };
}

function parseStepError(value: unknown, problems: string[]): StepError | null {
  if (value === null || value === undefined) return null;
  const e = (typeof value === 'object' ? value : {}) as Partial<Record<keyof StepError, unknown>>;
  const at = toDate(e.at);
  const retryAt = e.retryAt === null || e.retryAt === undefined ? null : toDate(e.retryAt);
  const valid =
    typeof value === 'object' &&
    typeof e.message === 'string' &&
    typeof e.transient === 'boolean' &&
    isValidDate(at) &&
    (e.retryAt === null || e.retryAt === undefined || isValidDate(retryAt)) &&
    (e.failures === undefined || (Number.isInteger(e.failures) && (e.failures as number) >= 1)) &&
    (e.step === undefined || typeof e.step === 'string') &&
    (e.code === undefined || typeof e.code === 'string');
  if (!valid) {
    problems.push('error: expected null or {step, code, message, transient, failures >= 1, at: timestamp, retryAt: timestamp or null}');
    return null;
  }
  return {
    step: (e.step ?? 'document') as StepError['step'],
    code: (e.code as string | undefined) ?? 'UNKNOWN',
    message: e.message as string,
    transient: e.transient as boolean,
    failures: (e.failures as number | undefined) ?? 1,
    at: at as Date,
    retryAt,
  };
}

function isValidDate(value: Date | null): value is Date {
  return value !== null && !Number.isNaN(value.getTime());
}
