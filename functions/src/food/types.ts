// Friendly names for the generated message types. What the server sends is
// the `__Output` shape: every field present, enums as their names.
export type { Order__Output as Order } from '../generated/food/v1/Order';
export type { KitchenOrder__Output as KitchenOrder } from '../generated/food/v1/KitchenOrder';
export type { Shipment__Output as Shipment } from '../generated/food/v1/Shipment';
export type { ListOrdersResponse__Output as ListOrdersPage } from '../generated/food/v1/ListOrdersResponse';
export {
  _food_v1_Order_Status as OrderStatus,
  type _food_v1_Order_Status__Output as OrderStatusName,
} from '../generated/food/v1/Order';
export {
  _food_v1_KitchenOrder_Status as KitchenOrderStatus,
  type _food_v1_KitchenOrder_Status__Output as KitchenOrderStatusName,
} from '../generated/food/v1/KitchenOrder';
export {
  _food_v1_Shipment_Status as ShipmentStatus,
  type _food_v1_Shipment_Status__Output as ShipmentStatusName,
} from '../generated/food/v1/Shipment';

/** Every RPC of the contract, by its proto name. */
export type FoodMethod =
  | 'CreateOrder'
  | 'GetOrder'
  | 'ListOrders'
  | 'UpdateOrder'
  | 'CreateKitchenOrder'
  | 'GetKitchenOrder'
  | 'CreateShipment'
  | 'GetShipment';
