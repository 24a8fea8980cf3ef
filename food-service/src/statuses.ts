// The status enums as the loader produces them (enums: String), without
// UNKNOWN: stored resources always have a real status.
import {
  _food_v1_KitchenOrder_Status,
  type _food_v1_KitchenOrder_Status__Output,
} from './generated/food/v1/KitchenOrder';
import {
  _food_v1_Order_Status,
  type _food_v1_Order_Status__Output,
} from './generated/food/v1/Order';
import {
  _food_v1_Shipment_Status,
  type _food_v1_Shipment_Status__Output,
} from './generated/food/v1/Shipment';

export type OrderStatus = Exclude<_food_v1_Order_Status__Output, 'UNKNOWN'>;
export type KitchenOrderStatus = Exclude<_food_v1_KitchenOrder_Status__Output, 'UNKNOWN'>;
export type ShipmentStatus = Exclude<_food_v1_Shipment_Status__Output, 'UNKNOWN'>;

function known<S extends string>(values: Record<string, S | 'UNKNOWN'>): readonly S[] {
  return Object.values(values).filter((s): s is S => s !== 'UNKNOWN');
}

export const ORDER_STATUSES = known<OrderStatus>(_food_v1_Order_Status);
export const KITCHEN_ORDER_STATUSES = known<KitchenOrderStatus>(_food_v1_KitchenOrder_Status);
export const SHIPMENT_STATUSES = known<ShipmentStatus>(_food_v1_Shipment_Status);

/**
 * The request's status as a known enum name. A client can send a number the
 * proto does not define; the loader then passes the bare number through, which
 * the generated types do not admit, hence `unknown`.
 */
export function parseOrderStatus(value: unknown): _food_v1_Order_Status__Output | undefined {
  return typeof value === 'string' && Object.hasOwn(_food_v1_Order_Status, value)
    ? (value as _food_v1_Order_Status__Output)
    : undefined;
}

/** Final statuses: the order is done and can no longer be moved. */
export function isFinalOrderStatus(status: OrderStatus): boolean {
  switch (status) {
    case 'NEW':
    case 'PREPARATION':
    case 'IN_FLIGHT':
      return false;
    case 'DELIVERED':
    case 'REJECTED':
    case 'CANCELLED':
      return true;
    default: {
      const unreachable: never = status;
      throw new Error(`unhandled order status ${String(unreachable)}`);
    }
  }
}

export function isFinalKitchenOrderStatus(status: KitchenOrderStatus): boolean {
  switch (status) {
    case 'NEW':
    case 'PREPARATION':
      return false;
    case 'PACKAGED':
      return true;
    default: {
      const unreachable: never = status;
      throw new Error(`unhandled kitchen order status ${String(unreachable)}`);
    }
  }
}

export function isFinalShipmentStatus(status: ShipmentStatus): boolean {
  switch (status) {
    case 'NEW':
    case 'COLLECTED':
      return false;
    case 'DELIVERED':
    case 'REJECTED':
      return true;
    default: {
      const unreachable: never = status;
      throw new Error(`unhandled shipment status ${String(unreachable)}`);
    }
  }
}

export function emptyCounts<S extends string>(statuses: readonly S[]): Record<S, number> {
  return Object.fromEntries(statuses.map((s) => [s, 0])) as Record<S, number>;
}
