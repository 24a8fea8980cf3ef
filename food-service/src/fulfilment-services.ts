// KitchenService and DroneService: the food system's side. Callers can only
// create and look; the controller moves the statuses.
import type { DroneServiceHandlers } from './generated/food/v1/DroneService';
import type { KitchenServiceHandlers } from './generated/food/v1/KitchenService';
import type { Collection } from './names';
import { resolveName } from './names';
import type { Implementation } from './rpc';
import type { StatusTrack, TrackedRecord } from './status-track';
import type { KitchenOrderStatus, ShipmentStatus } from './statuses';

/** Create and Get for one tracked collection. The create requests carry no settable fields. */
function trackHandlers<S extends string>(collection: Collection, track: StatusTrack<S>) {
  const toMessage = ({ name, createTime, updateTime, status }: TrackedRecord<S>) => ({
    name,
    createTime,
    updateTime,
    status,
  });
  return {
    create: () => toMessage(track.create()),
    get: ({ name }: { name: string }) =>
      toMessage(resolveName(collection, 'name', name, (n) => track.get(n))),
  };
}

export function createKitchenService(
  kitchenOrders: StatusTrack<KitchenOrderStatus>,
): Implementation<KitchenServiceHandlers> {
  const { create, get } = trackHandlers('kitchenorders', kitchenOrders);
  return { CreateKitchenOrder: create, GetKitchenOrder: get };
}

export function createDroneService(
  shipments: StatusTrack<ShipmentStatus>,
): Implementation<DroneServiceHandlers> {
  const { create, get } = trackHandlers('shipments', shipments);
  return { CreateShipment: create, GetShipment: get };
}
