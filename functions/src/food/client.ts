// A typed client for the three services of food.v1. Every call has a
// deadline, creates a longer one than reads. Reads are retried with backoff
// on UNAVAILABLE and DEADLINE_EXCEEDED; writes are sent once, because a write
// whose reply was lost may have happened: the caller, which looks before it
// updates and guards creates with claims, decides what to do next. Failures
// surface as FoodServiceError naming the method and the resource. One client
// keeps at most FOOD_MAX_IN_FLIGHT calls in flight, which protects the food
// service from a burst however many invocations an instance runs.
import * as grpc from '@grpc/grpc-js';
import * as logger from 'firebase-functions/logger';

import type { CreateKitchenOrderRequest } from '../generated/food/v1/CreateKitchenOrderRequest';
import type { CreateOrderRequest } from '../generated/food/v1/CreateOrderRequest';
import type { CreateShipmentRequest } from '../generated/food/v1/CreateShipmentRequest';
import type { DroneServiceClient } from '../generated/food/v1/DroneService';
import type { KitchenServiceClient } from '../generated/food/v1/KitchenService';
import type { OrderServiceClient } from '../generated/food/v1/OrderService';
import type { UpdateOrderRequest } from '../generated/food/v1/UpdateOrderRequest';
import { mayBeCredentials, type CredentialRefresher } from './credential-refresh';
import { channelCredentials, type TlsMaterial } from './credentials';
import { FoodServiceError, noSlotError } from './errors';
import { createSlots, type Slots } from '../concurrency';
import { foodProto } from './proto';
import type { RetryPolicy } from '../backoff';
import { READ_RETRY_POLICY } from '../config';
import { validateRetryPolicy, withRetry } from './retry';
import type { OrderStatusName } from '../model/statuses';
import type { FoodMethod, KitchenOrder, ListOrdersPage, Order, Shipment } from './types';

export interface FoodClientOptions {
  /** host:port of the food service. */
  address: string;
  tls: TlsMaterial;
  /** Deadline of each read and update attempt, in milliseconds. */
  deadlineMs: number;
  /** Deadline of a create, in milliseconds (default: deadlineMs). A slow create that succeeds must not look failed. */
  createDeadlineMs?: number;
  /** Retries of reads. */
  retry?: Partial<RetryPolicy>;
  /** Looks for rotated credentials when a call fails in a way they could heal; without it, such a call just fails. */
  refresher?: CredentialRefresher;
  /**
   * Calls in flight at once from this client, whatever its callers ask
   * (FOOD_MAX_IN_FLIGHT; default: no limit). One client serves a whole
   * process (food/connection.ts), so this is the instance's limit.
   */
  maxInFlight?: number;
}

export interface ListOrdersRequest {
  /** Omit, or UNKNOWN, for every status. */
  statusFilter?: OrderStatusName;
  pageSize?: number;
  pageToken?: string;
}

type Unary<Req, Res> = (request: Req, options: grpc.CallOptions, callback: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

/**
 * How a call is sent: reads are retried after a transient failure; writes
 * ('once') are not, since a connection that drops after the server did the
 * work reads UNAVAILABLE as well, and a second CreateKitchenOrder cooks a
 * second meal. Creates get their own, longer deadline.
 */
type CallKind = 'read' | 'once' | 'create';

/**
 * grpc-js waits longer and longer between reconnects while the server is
 * down (up to 120 s by default); a food service that is back must be reached
 * within a poll interval or two, not minutes later.
 */
const CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 500, 'grpc.max_reconnect_backoff_ms': 5_000 };

/** More pages than this in one listing means the server keeps handing out new tokens; see listAllOrders. */
export const DEFAULT_MAX_PAGES = 5_000;

/** What the orchestration asks of the food service; FoodClient is it over gRPC, the simulation has its own. */
export interface FoodApi {
  getOrder(name: string): Promise<Order>;
  /** Every page of a listing, one page at a time. */
  listAllOrders(statusFilter: OrderStatusName | undefined, pageSize: number): AsyncGenerator<Order[]>;
  updateOrderStatus(name: string, status: OrderStatusName): Promise<Order>;
  createKitchenOrder(): Promise<KitchenOrder>;
  getKitchenOrder(name: string): Promise<KitchenOrder>;
  createShipment(): Promise<Shipment>;
  getShipment(name: string): Promise<Shipment>;
}

export class FoodClient implements FoodApi {
  readonly address: string;
  private orders!: OrderServiceClient;
  private kitchen!: KitchenServiceClient;
  private drones!: DroneServiceClient;
  /** The TLS material the channel was built with: the secrets as bound, or as rotated since. */
  private tls: TlsMaterial;
  private readonly refresher: CredentialRefresher | undefined;
  private readonly deadlineMs: number;
  private readonly createDeadlineMs: number;
  private readonly retry: RetryPolicy;
  private readonly slots: Slots | undefined;

  constructor(options: FoodClientOptions) {
    if (!/^[^\s:]+:\d{1,5}$/.test(options.address) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(options.address)) {
      throw new Error(`FOOD_SERVICE_ADDRESS must be host:port, got "${options.address}"`);
    }
    if (!Number.isInteger(options.deadlineMs) || options.deadlineMs <= 0) {
      throw new Error(`RPC_DEADLINE_MS must be a positive integer, got ${options.deadlineMs}`);
    }
    const createDeadlineMs = options.createDeadlineMs ?? options.deadlineMs;
    if (!Number.isInteger(createDeadlineMs) || createDeadlineMs <= 0) {
      throw new Error(`CREATE_DEADLINE_MS must be a positive integer, got ${createDeadlineMs}`);
    }
    this.address = options.address;
    this.deadlineMs = options.deadlineMs;
    this.createDeadlineMs = createDeadlineMs;
    this.retry = validateRetryPolicy({ ...READ_RETRY_POLICY, ...options.retry });
    if (options.maxInFlight !== undefined && (!Number.isInteger(options.maxInFlight) || options.maxInFlight < 1)) {
      throw new Error(`FOOD_MAX_IN_FLIGHT must be a positive integer, got ${options.maxInFlight}`);
    }
    this.slots = options.maxInFlight === undefined ? undefined : createSlots(options.maxInFlight);
    this.refresher = options.refresher;
    this.tls = options.tls;
    this.connect(options.tls);
  }

  private connect(tls: TlsMaterial): void {
    const { food } = foodProto();
    // The three services share one channel: one TLS connection, one handshake.
    this.orders = new food.v1.OrderService(this.address, channelCredentials(tls), CHANNEL_OPTIONS);
    const shared = { channelOverride: this.orders.getChannel() };
    this.kitchen = new food.v1.KitchenService(this.address, grpc.credentials.createInsecure(), shared);
    this.drones = new food.v1.DroneService(this.address, grpc.credentials.createInsecure(), shared);
    this.tls = tls;
  }

  /**
   * A new channel with rotated credentials. The old one is closed once the
   * calls still on it have had their deadlines: closing it at once would
   * cancel calls that are doing fine on a connection made before the rotation.
   */
  private reconnect(tls: TlsMaterial): void {
    const old = this.orders;
    this.connect(tls);
    setTimeout(() => old.close(), Math.max(this.deadlineMs, this.createDeadlineMs) + 1_000).unref();
  }

  createOrder(customerId: string): Promise<Order> {
    return this.call<CreateOrderRequest, Order>(
      'CreateOrder',
      `customer ${customerId}`,
      'create',
      (req, opts, cb) => this.orders.CreateOrder(req, opts, cb),
      { order: { customerId } },
    );
  }

  getOrder(name: string): Promise<Order> {
    return this.call<{ name: string }, Order>('GetOrder', name, 'read', (req, opts, cb) => this.orders.GetOrder(req, opts, cb), { name });
  }

  listOrders(request: ListOrdersRequest): Promise<ListOrdersPage> {
    const resource = `orders?status=${request.statusFilter ?? 'ANY'}${request.pageToken ? '&page_token=…' : ''}`;
    return this.call<ListOrdersRequest, ListOrdersPage>(
      'ListOrders',
      resource,
      'read',
      (req, opts, cb) => this.orders.ListOrders(req, opts, cb),
      request,
    );
  }

  /**
   * Every page of a listing, one page at a time. A server that hands back a
   * token it gave before, or keeps handing out new ones past `maxPages`,
   * would keep a poll busy until its function times out; both are errors, so
   * the listing fails loudly instead of passing off a partial list as whole.
   */
  async *listAllOrders(statusFilter: OrderStatusName | undefined, pageSize: number, maxPages = DEFAULT_MAX_PAGES): AsyncGenerator<Order[]> {
    let pageToken = '';
    const seen = new Set<string>();
    const listing = `ListOrders status=${statusFilter ?? 'ANY'}`;
    for (let pages = 1; ; pages++) {
      const page = await this.listOrders({ statusFilter, pageSize, pageToken });
      yield page.orders;
      pageToken = page.nextPageToken;
      if (!pageToken) return;
      if (seen.has(pageToken)) throw new Error(`${listing}: the food service returned a page token twice; stopping to avoid a loop`);
      if (pages >= maxPages)
        throw new Error(
          `${listing}: still more pages after ${maxPages} of ${pageSize}; stopping (a listing this long cannot finish within a poll)`,
        );
      seen.add(pageToken);
    }
  }

  /** Sets only the status, with update_mask "status". */
  updateOrderStatus(name: string, status: OrderStatusName): Promise<Order> {
    return this.call<UpdateOrderRequest, Order>(
      'UpdateOrder',
      `${name} status=${status}`,
      'once',
      (req, opts, cb) => this.orders.UpdateOrder(req, opts, cb),
      { order: { name, status }, updateMask: { paths: ['status'] } },
    );
  }

  createKitchenOrder(): Promise<KitchenOrder> {
    return this.call<CreateKitchenOrderRequest, KitchenOrder>(
      'CreateKitchenOrder',
      'kitchenorders',
      'create',
      (req, opts, cb) => this.kitchen.CreateKitchenOrder(req, opts, cb),
      { kitchenorder: {} },
    );
  }

  getKitchenOrder(name: string): Promise<KitchenOrder> {
    return this.call<{ name: string }, KitchenOrder>(
      'GetKitchenOrder',
      name,
      'read',
      (req, opts, cb) => this.kitchen.GetKitchenOrder(req, opts, cb),
      { name },
    );
  }

  createShipment(): Promise<Shipment> {
    return this.call<CreateShipmentRequest, Shipment>(
      'CreateShipment',
      'shipments',
      'create',
      (req, opts, cb) => this.drones.CreateShipment(req, opts, cb),
      { shipment: {} },
    );
  }

  getShipment(name: string): Promise<Shipment> {
    return this.call<{ name: string }, Shipment>('GetShipment', name, 'read', (req, opts, cb) => this.drones.GetShipment(req, opts, cb), {
      name,
    });
  }

  close(): void {
    // The kitchen and drone clients ride on this channel.
    this.orders.close();
  }

  /**
   * One call, and, if it failed in a way rotated credentials could heal and
   * the secrets' latest versions differ from the channel's, once more on a
   * channel rebuilt with them (docs/OPERATIONS.md, "Rotating the food-service
   * credentials"). Such failures prove nothing was sent, so this holds for
   * creates too.
   */
  private async call<Req, Res>(method: FoodMethod, resource: string, kind: CallKind, invoke: Unary<Req, Res>, request: Req): Promise<Res> {
    const tlsAtCall = this.tls;
    try {
      return await this.send(method, resource, kind, invoke, request);
    } catch (error) {
      if (!this.refresher || !(error instanceof FoodServiceError) || !mayBeCredentials(error)) throw error;
      // Another call may have rotated the channel while this one failed on the old one.
      if (this.tls === tlsAtCall) {
        const fresh = await this.refresher.check(this.tls);
        if (!fresh) throw error;
        if (this.tls === tlsAtCall) {
          this.reconnect(fresh);
          logger.warn("food-service credentials rotated: the channel was rebuilt with the secrets' latest versions", {
            method,
            resource,
            failure: error.details,
          });
        }
      }
      return this.send(method, resource, kind, invoke, request);
    }
  }

  private send<Req, Res>(method: FoodMethod, resource: string, kind: CallKind, invoke: Unary<Req, Res>, request: Req): Promise<Res> {
    let attempts = 0;
    const deadlineMs = kind === 'create' ? this.createDeadlineMs : this.deadlineMs;
    const once = async (): Promise<Res> => {
      attempts++;
      // The deadline covers the wait for a slot too, so a create never goes
      // out later than the step planned for (steps.ts checks its lease
      // against CREATE_DEADLINE_MS before calling).
      const started = Date.now();
      const deadline = started + deadlineMs;
      const release = this.slots ? await this.slots.acquire(deadline) : () => undefined;
      if (!release) {
        const limit = this.slots?.limit ?? 0;
        throw new FoodServiceError(method, resource, this.address, noSlotError(limit, Date.now() - started), attempts);
      }
      try {
        return await new Promise<Res>((resolve, reject) => {
          invoke(request, { deadline }, (error, response) => {
            if (error) reject(new FoodServiceError(method, resource, this.address, error, attempts));
            else if (response === undefined) reject(new Error(`${method} ${resource}: empty response from ${this.address}`));
            else resolve(response);
          });
        });
      } finally {
        release();
      }
    };
    if (kind !== 'read') return once();
    const shouldRetry = (error: unknown) => {
      if (!(error instanceof FoodServiceError) || !error.transient) return false;
      logger.warn('food service call failed, retrying', {
        method,
        resource,
        code: error.codeName,
        details: error.details,
        attempt: attempts,
      });
      return true;
    };
    return withRetry(once, shouldRetry, this.retry);
  }
}
