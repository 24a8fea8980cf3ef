// Friendly names for the generated message types. What the server sends is
// the `__Output` shape: every field present, enums as their names (a value
// the proto does not name arrives as a number). The statuses live in model/.
export type { Order__Output as Order } from '../generated/food/v1/Order';
export type { KitchenOrder__Output as KitchenOrder } from '../generated/food/v1/KitchenOrder';
export type { Shipment__Output as Shipment } from '../generated/food/v1/Shipment';
export type { ListOrdersResponse__Output as ListOrdersPage } from '../generated/food/v1/ListOrdersResponse';
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
