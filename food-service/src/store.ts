// The simulator's whole state, in memory, gone when the process exits.
import { OrderBook } from './order-book';
import { StatusTrack } from './status-track';
import {
  KITCHEN_ORDER_STATUSES,
  SHIPMENT_STATUSES,
  isFinalKitchenOrderStatus,
  isFinalShipmentStatus,
  type KitchenOrderStatus,
  type ShipmentStatus,
} from './statuses';

export interface Store {
  readonly orders: OrderBook;
  readonly kitchenOrders: StatusTrack<KitchenOrderStatus>;
  readonly shipments: StatusTrack<ShipmentStatus>;
}

/** RFC 3339 timestamps, as the real service writes them. */
const rfc3339Now = (): string => new Date().toISOString();

export function createStore(now: () => string = rfc3339Now): Store {
  return {
    orders: new OrderBook(now),
    kitchenOrders: new StatusTrack(
      'kitchenorders',
      KITCHEN_ORDER_STATUSES,
      'NEW',
      isFinalKitchenOrderStatus,
      now,
    ),
    shipments: new StatusTrack('shipments', SHIPMENT_STATUSES, 'NEW', isFinalShipmentStatus, now),
  };
}
