// The food system's side: on every tick, kitchens cook and drones fly. This
// is what the real binary's background controller does once per
// --controller-interval.
import type { Random } from './random';
import type { KitchenOrderStatus, ShipmentStatus } from './statuses';
import type { Store } from './store';

export interface ControllerSettings {
  /** Probability that a delivery attempt ends REJECTED rather than DELIVERED. */
  rejectRate: number;
  /** Probability that an item moves on a given tick; below 1 spreads progress out. */
  advanceRate: number;
}

function nextKitchenOrderStatus(status: KitchenOrderStatus): KitchenOrderStatus | undefined {
  switch (status) {
    case 'NEW':
      return 'PREPARATION';
    case 'PREPARATION':
      return 'PACKAGED';
    case 'PACKAGED':
      return undefined;
    default: {
      const unreachable: never = status;
      throw new Error(`unhandled kitchen order status ${String(unreachable)}`);
    }
  }
}

function nextShipmentStatus(
  status: ShipmentStatus,
  rejected: () => boolean,
): ShipmentStatus | undefined {
  switch (status) {
    case 'NEW':
      return 'COLLECTED';
    case 'COLLECTED':
      return rejected() ? 'REJECTED' : 'DELIVERED';
    case 'DELIVERED':
    case 'REJECTED':
      return undefined;
    default: {
      const unreachable: never = status;
      throw new Error(`unhandled shipment status ${String(unreachable)}`);
    }
  }
}

export class Controller {
  constructor(
    private readonly store: Store,
    private readonly random: Random,
    private readonly settings: ControllerSettings,
  ) {}

  /** Moves every active kitchen order and shipment at most one step. */
  tick(): void {
    for (const item of this.store.kitchenOrders.activeItems()) {
      if (!this.random.chance(this.settings.advanceRate)) continue;
      const next = nextKitchenOrderStatus(item.status);
      if (next) this.store.kitchenOrders.setStatus(item, next);
    }
    for (const item of this.store.shipments.activeItems()) {
      if (!this.random.chance(this.settings.advanceRate)) continue;
      const next = nextShipmentStatus(item.status, () =>
        this.random.chance(this.settings.rejectRate),
      );
      if (next) this.store.shipments.setStatus(item, next);
    }
  }
}
