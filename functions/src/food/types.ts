// Names for the generated types, as the server sends them (`__Output`): every field present, enums
// as their names, but a value the proto does not name arrives as a number.
export type { Order__Output as Order } from '../generated/food/v1/Order';
export type { KitchenOrder__Output as KitchenOrder } from '../generated/food/v1/KitchenOrder';
export type { Shipment__Output as Shipment } from '../generated/food/v1/Shipment';
export type { ListOrdersResponse__Output as ListOrdersPage } from '../generated/food/v1/ListOrdersResponse';
export type FoodMethod =
  | 'CreateOrder'
  | 'GetOrder'
  | 'ListOrders'
  | 'UpdateOrder'
  | 'CreateKitchenOrder'
  | 'GetKitchenOrder'
  | 'CreateShipment'
  | 'GetShipment';
