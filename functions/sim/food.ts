// The simulated food service: the contract's rules (FOOD_API.md) over a
// ledger of everything it made, and faults where they happen on a real
// network: a call refused before it reached the server, served and then its
// reply lost, served and answered after the deadline, an UpdateOrder held
// and applied later, RESOURCE_EXHAUSTED and INTERNAL (after doing the work,
// for a create); and a slow server, which answers within the deadline. Each
// create is booked to the order and the attempt of the invocation that sent
// it, which is how the checks tell a named duplicate from a silent one.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

import { LATE_WRITE_WINDOW_MS, READ_RETRY_POLICY } from '../src/config';
import type { FoodApi } from '../src/food/client';
import { FoodServiceError } from '../src/food/errors';
import { retriesRead, withRetry } from '../src/food/retry';
import type { FoodMethod, KitchenOrder, Order, Shipment } from '../src/food/types';
import type {
  KitchenOrderStatusName,
  OrderStatusName,
  ShipmentStatusName,
} from '../src/model/statuses';
import { currentInvocation, type Invocation, type World } from './world';

export interface FoodFaults {
  /** Refused before the server saw it: provably not sent. */
  refused: number;
  /** A create or update the server did, whose reply was lost. */
  replyLost: number;
  /** Answered after the deadline (the work done before or after it). */
  late: number;
  /** An UpdateOrder the server holds past the deadline and applies minutes later. */
  held: number;
  resourceExhausted: number;
  /** INTERNAL; a create answers it after doing the work. */
  internal: number;
}

export const NO_FAULTS: FoodFaults = {
  refused: 0,
  replyLost: 0,
  late: 0,
  held: 0,
  resourceExhausted: 0,
  internal: 0,
};

export interface OrderRecord {
  name: string;
  customerId: string;
  status: OrderStatusName;
  createTime: string;
  updateTime: string;
  /** Every status it had, and who set it. */
  history: Array<{
    status: OrderStatusName;
    by: 'customer' | 'orchestrator' | 'operator' | 'created';
    at: number;
    /** For an update of ours: when its sender last looked at the order, when it sent the update, and the end of its send window. */
    lookAt?: number;
    sentAt?: number;
    sendBefore?: number;
  }>;
  /** How its shipment ends, when it flies. */
  rejects: boolean;
  /** The send windows the orchestrator put on record for it (`sendUntil`): when, for which status, until when. */
  windows: Array<{ status: string; at: number; until: number }>;
  /** When a person checked it against what it should be, setting it right or finding it so. */
  checked: Array<{ status: OrderStatusName; at: number }>;
  /** Its relation as written over time (recorded by the run): whether active, whether flagged for an overwrite. */
  relationStates: Array<{ at: number; active: boolean; overwriteFlagged: boolean }>;
}

/** What the food service made for the orchestrator, booked to who sent the create. */
export interface Made {
  name: string;
  kind: 'kitchenOrder' | 'shipment';
  order: string | undefined;
  /** The attempt document (`relations/x/transitions/PREPARATION-2`) the sending invocation last claimed. */
  attempt: string | undefined;
  at: number;
  /** What the sender heard back: 'answered', or the fault that hid the answer. */
  reply: string;
  /** The invocation that sent it, to tell afterwards whether it died. */
  sender: Invocation | undefined;
  /** A person reconciled it with the food service (resolve-orphan while it was named). */
  reconciled: boolean;
}

interface Progressing<S> {
  name: string;
  status: S;
  createTime: string;
  updateTime: string;
  stalled: boolean;
  order: string | undefined;
}

const ADDRESS = 'food.sim:9000';
const DEADLINE_MS = { read: 5_000, create: 30_000 } as const;

export class FoodLedger {
  readonly orders = new Map<string, OrderRecord>();
  readonly kitchenOrders = new Map<string, Progressing<KitchenOrderStatusName>>();
  readonly shipments = new Map<string, Progressing<ShipmentStatusName>>();
  readonly made: Made[] = [];
  private counter = 0;
  /** The fault of the call whose effect runs now ('answered' when none). */
  private reply = 'answered';
  readonly stats = { calls: 0, faults: 0 };

  constructor(
    private readonly world: World,
    readonly faults: FoodFaults,
    /** Chance that a kitchen order or shipment never moves on. */
    private readonly stallRate: number,
    /** A customer who sees their cancelled order in progress again cancels it again within this long. */
    private readonly recancelWithinMs: number | null = null,
    /** The share of calls the server answers slowly, yet within their deadline. */
    private readonly slowShare: number | null = null,
  ) {}

  private time(): string {
    // RFC 3339 with a counter in the nanoseconds, so every write has its own update_time.
    const iso = new Date(this.world.now).toISOString();
    return `${iso.slice(0, 23)}${String(++this.counter % 1_000_000).padStart(6, '0')}Z`;
  }

  placeOrder(id: string, customerId: string, rejects: boolean): OrderRecord {
    const time = this.time();
    const order: OrderRecord = {
      name: `orders/${id}`,
      customerId,
      status: 'NEW',
      createTime: time,
      updateTime: time,
      history: [{ status: 'NEW', by: 'created', at: this.world.now }],
      windows: [],
      checked: [],
      relationStates: [],
      rejects,
    };
    this.orders.set(order.name, order);
    this.world.log(`customer places ${order.name}`, order.name);
    return order;
  }

  /** The customer changes their mind: possible until the order is final. */
  cancel(name: string): void {
    const order = this.orders.get(name);
    if (!order || ['DELIVERED', 'REJECTED', 'CANCELLED'].includes(order.status)) return;
    this.setStatus(order, 'CANCELLED', 'customer');
    this.world.log(`customer cancels ${name}`, name);
  }

  /**
   * A person sets the order's status by hand, as a flag's message asks (in the console, say); with
   * `rewrites`, even when it already reads so, which moves its update_time.
   */
  setByOperator(name: string, status: OrderStatusName, rewrites = false): void {
    const order = this.orders.get(name);
    if (!order) return;
    order.checked.push({ status, at: this.world.now });
    if (order.status === status && !rewrites) return;
    this.setStatus(order, status, 'operator');
    this.world.log(`operator sets ${name} to ${status} on the food service`, name);
  }

  /** Our update landed over a cancel: a customer who sees it in progress may cancel again. */
  private recancels(order: OrderRecord): void {
    const customerCancelled = order.history.some(
      (h) => h.by === 'customer' && h.status === 'CANCELLED',
    );
    if (!this.recancelWithinMs || !customerCancelled) return;
    const delay = this.world.random.int(1_000, this.recancelWithinMs);
    this.world.log(`the customer sees ${order.name} in progress again`, order.name);
    this.world.at(this.world.now + delay, () => this.cancel(order.name));
  }

  private setStatus(
    order: OrderRecord,
    next: OrderStatusName,
    by: OrderRecord['history'][number]['by'],
    sent?: { lookAt: number | undefined; sentAt: number; sendBefore: number | undefined },
  ): void {
    order.status = next;
    order.updateTime = this.time();
    order.history.push({
      status: next,
      by,
      at: this.world.now,
      ...(sent?.lookAt !== undefined ? { lookAt: sent.lookAt } : {}),
      ...(sent ? { sentAt: sent.sentAt } : {}),
      ...(sent?.sendBefore !== undefined ? { sendBefore: sent.sendBefore } : {}),
    });
  }

  /** One controller tick: kitchen orders and shipments move one status on, unless stalled. */
  tick(): void {
    for (const k of this.kitchenOrders.values()) {
      if (k.stalled && this.world.chaos) continue;
      const next = ({ NEW: 'PREPARATION', PREPARATION: 'PACKAGED' } as const)[
        k.status as 'NEW' | 'PREPARATION'
      ];
      if (next) {
        k.status = next;
        k.updateTime = this.time();
      }
    }
    for (const s of this.shipments.values()) {
      if (s.stalled && this.world.chaos) continue;
      const rejects = s.order ? this.orders.get(s.order)?.rejects : false;
      const next = ({ NEW: 'COLLECTED', COLLECTED: rejects ? 'REJECTED' : 'DELIVERED' } as const)[
        s.status as 'NEW' | 'COLLECTED'
      ];
      if (next) {
        s.status = next;
        s.updateTime = this.time();
      }
    }
  }

  /** The orchestrator's view of the service: FoodApi over this ledger, with the faults. */
  api(): FoodApi {
    return {
      getOrder: (name) => {
        const sender = currentInvocation();
        return this.call('GetOrder', name, 'read', () => {
          const view = this.orderView(name);
          sender?.looks.set(name, this.world.now);
          return view;
        });
      },
      listAllOrders: (statusFilter, pageSize) => this.listAll(statusFilter, pageSize),
      updateOrderStatus: (name, next, sendBefore) => {
        const sender = currentInvocation();
        const sent = {
          lookAt: undefined as number | undefined,
          sentAt: 0,
          sendBefore: sendBefore?.getTime(),
        };
        return this.call(
          'UpdateOrder',
          `${name} status=${next}`,
          'update',
          () => {
            const order = this.orders.get(name);
            if (!order)
              throw this.error('UpdateOrder', name, status.NOT_FOUND, `${name} not found`);
            const overwritesCancel = order.status === 'CANCELLED' && next !== 'CANCELLED';
            this.setStatus(order, next, 'orchestrator', sent);
            if (overwritesCancel) this.recancels(order);
            return this.orderView(name);
          },
          sendBefore,
          () => {
            sent.lookAt = sender?.looks.get(name);
            sent.sentAt = this.world.now;
          },
        );
      },
      createKitchenOrder: (sendBefore) => {
        const sender = currentInvocation();
        return this.call(
          'CreateKitchenOrder',
          'kitchenorders',
          'create',
          () => this.create('kitchenOrder', sender),
          sendBefore,
        );
      },
      getKitchenOrder: (name) =>
        this.call('GetKitchenOrder', name, 'read', () =>
          this.progressView(this.kitchenOrders, name),
        ),
      createShipment: (sendBefore) => {
        const sender = currentInvocation();
        return this.call(
          'CreateShipment',
          'shipments',
          'create',
          () => this.create('shipment', sender),
          sendBefore,
        );
      },
      getShipment: (name) =>
        this.call('GetShipment', name, 'read', () => this.progressView(this.shipments, name)),
    };
  }

  private orderView(name: string): Order {
    const order = this.orders.get(name);
    if (!order) throw this.error('GetOrder', name, status.NOT_FOUND, `${name} not found`);
    const { customerId, createTime, updateTime, status: orderStatus } = order;
    return { name, customerId, createTime, updateTime, status: orderStatus };
  }

  private progressView<S extends string>(
    book: Map<string, Progressing<S>>,
    name: string,
  ): { name: string; createTime: string; updateTime: string; status: S } {
    const item = book.get(name);
    if (!item)
      throw this.error(
        name.startsWith('kitchen') ? 'GetKitchenOrder' : 'GetShipment',
        name,
        status.NOT_FOUND,
        `${name} not found`,
      );
    return { name, createTime: item.createTime, updateTime: item.updateTime, status: item.status };
  }

  /** Makes one, booked to `invocation`, captured when the call was sent (a late effect runs outside it). */
  private create(kind: Made['kind'], invocation: Invocation | undefined): KitchenOrder & Shipment {
    const time = this.time();
    const name =
      kind === 'kitchenOrder'
        ? `kitchenorders/k${this.made.length + 1}`
        : `shipments/s${this.made.length + 1}`;
    const item = {
      name,
      status: 'NEW' as const,
      createTime: time,
      updateTime: time,
      stalled: this.world.random.chance(this.stallRate),
      order: invocation?.order,
    };
    if (kind === 'kitchenOrder') this.kitchenOrders.set(name, item);
    else this.shipments.set(name, item);
    this.made.push({
      name,
      kind,
      order: invocation?.order,
      attempt: invocation?.claim,
      at: this.world.now,
      reply: this.reply,
      sender: invocation,
      reconciled: false,
    });
    this.world.log(
      `food service makes ${name} for ${invocation?.order ?? '?'} (${invocation?.claim?.split('/').at(-1) ?? 'no claim'})`,
      invocation?.order,
    );
    return { name, createTime: time, updateTime: time, status: 'NEW' } as KitchenOrder & Shipment;
  }

  private async *listAll(
    statusFilter: OrderStatusName | undefined,
    pageSize: number,
  ): AsyncGenerator<Order[]> {
    let after = '';
    for (let page = 0; page < 10_000; page++) {
      const { orders, next } = await this.call(
        'ListOrders',
        `orders?status=${statusFilter ?? 'ANY'}`,
        'read',
        () => {
          const matching = [...this.orders.values()]
            .filter((o) => statusFilter === undefined || o.status === statusFilter)
            .map((o) => o.name)
            .sort()
            .filter((name) => name > after);
          const names = matching.slice(0, pageSize);
          return {
            orders: names.map((name) => this.orderView(name)),
            next: matching.length > pageSize ? (names.at(-1) ?? '') : '',
          };
        },
      );
      yield orders;
      if (!next) return;
      after = next;
    }
    throw new Error('the simulated listing did not end');
  }

  private error(
    method: FoodMethod,
    resource: string,
    code: status,
    details: string,
  ): FoodServiceError {
    const cause: ServiceError = Object.assign(new Error(`${code} ${status[code]}: ${details}`), {
      code,
      details,
      metadata: new Metadata(),
    });
    return new FoodServiceError(method, resource, ADDRESS, cause, 1);
  }

  /**
   * A call as the client makes it: a read is tried again after a transient failure, as FoodClient
   * does (READ_RETRY_POLICY), in the slow worlds only, so the seeds found before them replay.
   */
  private call<T>(
    method: FoodMethod,
    resource: string,
    kind: 'read' | 'create' | 'update',
    effect: () => T,
    sendBefore?: Date,
    onSend?: () => void,
  ): Promise<T> {
    const once = () => this.callOnce(method, resource, kind, effect, sendBefore, onSend);
    if (kind !== 'read' || this.slowShare === null) return once();
    const retries = (error: unknown) => {
      if (!retriesRead(error)) return false;
      this.world.log(
        `${method} ${resource}: retried after ${error.codeName}`,
        currentInvocation()?.order,
      );
      return true;
    };
    return withRetry(once, retries, READ_RETRY_POLICY, (ms) => this.world.sleep(ms));
  }

  /**
   * One call as the network and the server treat it: the client may freeze
   * or die before it sends (and sends nothing past `sendBefore`), the server
   * applies the effect when the request arrives (or later, or never, as the
   * fault says), and the caller may die before it hears the reply.
   */
  private async callOnce<T>(
    method: FoodMethod,
    resource: string,
    kind: 'read' | 'create' | 'update',
    effect: () => T,
    sendBefore?: Date,
    onSend?: () => void,
  ): Promise<T> {
    const { world } = this;
    this.stats.calls++;
    const order = currentInvocation()?.order;
    const deadline = kind === 'create' ? DEADLINE_MS.create : DEADLINE_MS.read;
    const label = `${method} ${resource}`;
    await world.sleep(world.random.int(1, 20));
    await world.call(`send ${label}`, () => {
      if (sendBefore && world.now >= sendBefore.getTime()) {
        throw this.error(
          method,
          resource,
          status.DEADLINE_EXCEEDED,
          `Not sent: its deadline to be sent (${sendBefore.toISOString()}) has passed`,
        );
      }
      onSend?.();
    });
    const fault = world.chaos ? this.pickFault(kind) : 'none';
    if (fault !== 'none') {
      this.stats.faults++;
      world.log(`${label}: fault ${fault}`, order);
    }
    // A slow server takes most of the deadline over whatever it answers, the work done at some
    // point in it: a look's read may be seconds older than its reply, and a caller's windows pass.
    const slowMs =
      world.chaos && this.slowShare !== null && world.random.chance(this.slowShare)
        ? world.random.int(1, deadline - 50)
        : 0;
    const workedAfter = slowMs > 0 ? world.random.int(0, slowMs) : 0;
    if (slowMs > 0) world.log(`${label}: answered in ${slowMs} ms`, order);
    const reply = (answer: () => T) =>
      world
        .sleep(slowMs > 0 ? slowMs - workedAfter : world.random.int(1, 20))
        .then(() => world.call(`reply ${label}`, answer));
    if (workedAfter > 0 && fault !== 'refused' && fault !== 'late' && fault !== 'held')
      await world.sleep(workedAfter);
    switch (fault) {
      case 'none': {
        const result = capture(effect);
        return reply(result);
      }
      case 'refused':
        return world.call(label, () => {
          throw this.error(
            method,
            resource,
            status.UNAVAILABLE,
            `No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:9000. Resolution note: `,
          );
        });
      case 'replyLost':
        this.withReply('reply lost', effect);
        return reply(() => {
          throw this.error(
            method,
            resource,
            status.UNAVAILABLE,
            world.random.chance(0.5) ? 'Connection dropped' : 'read ECONNRESET',
          );
        });
      case 'late':
      case 'held': {
        // The server works slowly, or holds the request: its effect lands before or after the caller gives up, within the late-write window.
        const workMs =
          fault === 'late'
            ? world.random.int(1, 2 * deadline)
            : deadline + world.random.int(1, LATE_WRITE_WINDOW_MS - deadline);
        world.at(world.now + workMs, () =>
          runDetached(() =>
            this.withReply(
              fault === 'late' ? 'answered after the deadline' : 'held and applied late',
              effect,
            ),
          ),
        );
        await world.sleep(deadline);
        return world.call(`reply ${label}`, () => {
          throw this.error(
            method,
            resource,
            status.DEADLINE_EXCEEDED,
            `Deadline exceeded after ${(deadline / 1000).toFixed(3)}s,LB pick: 0.000s,remote_addr=127.0.0.1:9000`,
          );
        });
      }
      case 'resourceExhausted':
        return reply(() => {
          throw this.error(
            method,
            resource,
            status.RESOURCE_EXHAUSTED,
            'the food service is overloaded; try again later',
          );
        });
      case 'internal':
        if (kind === 'create') this.withReply('INTERNAL after the work', effect);
        return reply(() => {
          throw this.error(method, resource, status.INTERNAL, 'internal error');
        });
      default: {
        const unreachable: never = fault;
        throw new Error(`unknown fault ${String(unreachable)}`);
      }
    }
  }

  private withReply<T>(reply: string, effect: () => T): T {
    this.reply = reply;
    try {
      return effect();
    } finally {
      this.reply = 'answered';
    }
  }

  private pickFault(kind: 'read' | 'create' | 'update'): keyof FoodFaults | 'none' {
    const { random } = this.world;
    const f = this.faults;
    if (random.chance(f.refused)) return 'refused';
    if (kind !== 'read' && random.chance(f.replyLost)) return 'replyLost';
    if (random.chance(f.late)) return 'late';
    if (kind === 'update' && random.chance(f.held)) return 'held';
    if (random.chance(f.resourceExhausted)) return 'resourceExhausted';
    if (random.chance(f.internal)) return 'internal';
    return 'none';
  }
}

/** An effect run now, as a reply to give later: its result, or its failure. */
function capture<T>(effect: () => T): () => T {
  try {
    const result = effect();
    return () => result;
  } catch (error) {
    return () => {
      throw error;
    };
  }
}

/** A server-side effect that lands on its own, after its caller stopped waiting. */
function runDetached(effect: () => unknown): void {
  try {
    effect();
  } catch {
    // The caller already heard its deadline; a late failure reaches nobody.
  }
}
