// The eight RPCs the simulator serves, named as in the proto.

export const FOOD_METHODS = [
  'CreateOrder',
  'GetOrder',
  'ListOrders',
  'UpdateOrder',
  'CreateKitchenOrder',
  'GetKitchenOrder',
  'CreateShipment',
  'GetShipment',
] as const;

export type FoodMethod = (typeof FOOD_METHODS)[number];
