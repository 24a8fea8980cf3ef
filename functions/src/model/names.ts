// The food service's resource names: orders/<id>, kitchenorders/<id>, shipments/<id>. The id must
// also be a valid Firestore document id, because an order's relation is stored under it.
const PREFIX = {
  order: 'orders/',
  kitchenOrder: 'kitchenorders/',
  shipment: 'shipments/',
} as const;
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export type ResourceKind = keyof typeof PREFIX;

export function isResourceName(kind: ResourceKind, value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.startsWith(PREFIX[kind]) &&
    ID.test(value.slice(PREFIX[kind].length))
  );
}

export const isOrderName = (value: unknown): value is string => isResourceName('order', value);

export function nameFormat(kind: ResourceKind): string {
  return `${PREFIX[kind]}<id>`;
}

/** The id part of an order's name: its relation's document id. */
export function orderId(orderName: string): string {
  if (!isOrderName(orderName)) throw new Error(`malformed order name "${orderName}"`);
  return orderName.slice(PREFIX.order.length);
}
