// The statuses the food service reports, by name, as the proto defines them, with guards for values
// read back from Firestore or sent by a newer server.
import { ACTIVE_STAGES } from './stage';
import {
  _food_v1_KitchenOrder_Status as KitchenOrderStatus,
  type _food_v1_KitchenOrder_Status__Output as KitchenOrderStatusName,
} from '../generated/food/v1/KitchenOrder';
import {
  _food_v1_Order_Status as OrderStatus,
  type _food_v1_Order_Status__Output as OrderStatusName,
} from '../generated/food/v1/Order';
import {
  _food_v1_Shipment_Status as ShipmentStatus,
  type _food_v1_Shipment_Status__Output as ShipmentStatusName,
} from '../generated/food/v1/Shipment';

export { KitchenOrderStatus, OrderStatus, ShipmentStatus };
export type { KitchenOrderStatusName, OrderStatusName, ShipmentStatusName };

function isNameOf<T extends string>(values: Record<string, unknown>, value: unknown): value is T {
  return (
    typeof value === 'string' &&
    Object.prototype.hasOwnProperty.call(values, value) &&
    typeof values[value] === 'string'
  );
}

export const isOrderStatus = (value: unknown): value is OrderStatusName =>
  isNameOf(OrderStatus, value);
export const isKitchenOrderStatus = (value: unknown): value is KitchenOrderStatusName =>
  isNameOf(KitchenOrderStatus, value);
export const isShipmentStatus = (value: unknown): value is ShipmentStatusName =>
  isNameOf(ShipmentStatus, value);

/** The statuses in which an order still needs the orchestrator: its active stages' names. */
export const ACTIVE_ORDER_STATUSES = ACTIVE_STAGES satisfies readonly OrderStatusName[];

/** Final on the food service: nothing more happens to the order. */
export function isFinalOrderStatus(
  status: OrderStatusName,
): status is 'DELIVERED' | 'REJECTED' | 'CANCELLED' {
  return orderStatusRank(status) === 4;
}

/**
 * We only set a status further along than the one we see: with no optimistic concurrency, an
 * update that went backwards would undo someone's progress.
 */
export function orderStatusRank(status: OrderStatusName): number {
  switch (status) {
    case 'UNKNOWN':
      return 0;
    case 'NEW':
      return 1;
    case 'PREPARATION':
      return 2;
    case 'IN_FLIGHT':
      return 3;
    case 'DELIVERED':
    case 'REJECTED':
    case 'CANCELLED':
      return 4;
    default: {
      const unreachable: never = status;
      throw new Error(`unknown order status ${String(unreachable)}`);
    }
  }
}
