// A typed client for food.v1. Writes are sent once: one whose reply was lost may have happened, so
// the caller decides (docs/ARCHITECTURE.md#failures). It bounds its calls in flight
// (docs/ARCHITECTURE.md#protecting-the-food-service).
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
import { CALL_KINDS, FoodServiceError, noSlotError, pastDeadlineError } from './errors';
import { createSlots, type Slots } from '../concurrency';
import { foodProto } from './proto';
import type { RetryPolicy } from '../backoff';
import { READ_RETRY_POLICY } from '../config';
import { retriesRead, validateRetryPolicy, withRetry } from './retry';
import { describeError } from '../describe-error';
import type { OrderStatusName } from '../model/statuses';
import type { FoodMethod, KitchenOrder, ListOrdersPage, Order, Shipment } from './types';

export interface FoodClientOptions {
  address: string;
  tls: TlsMaterial;
  /** Per attempt of a read or an update. */
  deadlineMs: number;
  /** Default deadlineMs; a slow create that succeeds must not look failed. */
  createDeadlineMs?: number;
  /** For reads only: writes are sent once. */
  retry?: Partial<RetryPolicy>;
  /** Looks for rotated credentials when a failure could be theirs; without it, a call fails. */
  refresher?: CredentialRefresher;
  /** FOOD_MAX_IN_FLIGHT (default: no limit): the instance's, as one client serves a process. */
  maxInFlight?: number;
  /** Default RECEIVE_LIMIT_BYTES; a test lowers it to reach it with small orders. */
  maxReceiveBytes?: number;
}

/** An order a listing stepped over: alone, it is larger than the client takes. */
export interface SkippedOrder {
  name: string;
  status: string;
  /** The size of its one-order page on the wire. */
  bytes: number;
  reason: string;
}

export interface ListOrdersRequest {
  /** Omit, or UNKNOWN, for every status. */
  statusFilter?: OrderStatusName;
  pageSize?: number;
  pageToken?: string;
}

type Unary<Req, Res> = (
  request: Req,
  options: grpc.CallOptions,
  callback: grpc.requestCallback<Res>,
) => grpc.ClientUnaryCall;

/** 10× a 1,000-order page, yet the poller's replies in flight stay within 70 of its 512 MiB. */
export const RECEIVE_LIMIT_BYTES = 2 * 1024 * 1024;

/** Bounded, as the poller has 512 MiB: a larger order fails the listing, not the instance. */
export const ONE_ORDER_RECEIVE_LIMIT_BYTES = 64 * 1024 * 1024;

// grpc-js backs off up to 120 s between reconnects; a food service that is back must be reached
// within a poll interval or two.
const RECONNECT_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

/** More pages than this in one listing means the server keeps handing out new tokens. */
export const DEFAULT_MAX_PAGES = 5_000;

/**
 * What the orchestration asks of the food service (the simulation has its own). A write is never
 * sent after `sendBefore`: checked as it would go on the wire, and failed as not sent.
 */
export interface FoodApi {
  getOrder(name: string): Promise<Order>;
  /** Page by page; an order too large to take goes to `onSkipped` instead. */
  listAllOrders(
    statusFilter: OrderStatusName | undefined,
    pageSize: number,
    maxPages?: number,
    onSkipped?: (skipped: SkippedOrder) => void,
  ): AsyncGenerator<Order[]>;
  updateOrderStatus(name: string, status: OrderStatusName, sendBefore?: Date): Promise<Order>;
  createKitchenOrder(sendBefore?: Date): Promise<KitchenOrder>;
  getKitchenOrder(name: string): Promise<KitchenOrder>;
  createShipment(sendBefore?: Date): Promise<Shipment>;
  getShipment(name: string): Promise<Shipment>;
}

/** For one invocation: no write is sent after the invocation's deadline, nor after its own. */
export function sendingUntil(food: FoodApi, deadline: Date): FoodApi {
  const earlier = (sendBefore?: Date) =>
    sendBefore && sendBefore < deadline ? sendBefore : deadline;
  return {
    getOrder: (name) => food.getOrder(name),
    listAllOrders: (...args) => food.listAllOrders(...args),
    updateOrderStatus: (name, status, sendBefore) =>
      food.updateOrderStatus(name, status, earlier(sendBefore)),
    createKitchenOrder: () => food.createKitchenOrder(deadline),
    getKitchenOrder: (name) => food.getKitchenOrder(name),
    createShipment: () => food.createShipment(deadline),
    getShipment: (name) => food.getShipment(name),
  };
}

export class FoodClient implements FoodApi {
  readonly address: string;
  private orders!: OrderServiceClient;
  private kitchen!: KitchenServiceClient;
  private drones!: DroneServiceClient;
  private wideOrders: OrderServiceClient | undefined;
  private readonly maxReceiveBytes: number;
  /** The TLS material the channel was built with: the secrets as bound, or as rotated since. */
  private tls: TlsMaterial;
  private readonly refresher: CredentialRefresher | undefined;
  private readonly deadlineMs: number;
  private readonly createDeadlineMs: number;
  private readonly retry: RetryPolicy;
  private readonly slots: Slots | undefined;

  constructor(options: FoodClientOptions) {
    if (
      !/^[^\s:]+:\d{1,5}$/.test(options.address) &&
      !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(options.address)
    ) {
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
    if (
      options.maxInFlight !== undefined &&
      (!Number.isInteger(options.maxInFlight) || options.maxInFlight < 1)
    ) {
      throw new Error(`FOOD_MAX_IN_FLIGHT must be a positive integer, got ${options.maxInFlight}`);
    }
    this.slots = options.maxInFlight === undefined ? undefined : createSlots(options.maxInFlight);
    this.maxReceiveBytes = options.maxReceiveBytes ?? RECEIVE_LIMIT_BYTES;
    if (
      !Number.isInteger(this.maxReceiveBytes) ||
      this.maxReceiveBytes < 1 ||
      this.maxReceiveBytes >= ONE_ORDER_RECEIVE_LIMIT_BYTES
    ) {
      throw new Error(
        `the receive limit must be an integer from 1 to ${ONE_ORDER_RECEIVE_LIMIT_BYTES - 1} bytes, got ${this.maxReceiveBytes}`,
      );
    }
    this.refresher = options.refresher;
    this.tls = options.tls;
    this.connect(options.tls);
  }

  private connect(tls: TlsMaterial): void {
    const { food } = foodProto();
    // The three services share one channel: one TLS connection, one handshake.
    this.orders = new food.v1.OrderService(this.address, channelCredentials(tls), {
      ...RECONNECT_OPTIONS,
      'grpc.max_receive_message_length': this.maxReceiveBytes,
    });
    const shared = { channelOverride: this.orders.getChannel() };
    this.kitchen = new food.v1.KitchenService(
      this.address,
      grpc.credentials.createInsecure(),
      shared,
    );
    this.drones = new food.v1.DroneService(this.address, grpc.credentials.createInsecure(), shared);
    this.wideOrders?.close();
    this.wideOrders = undefined;
    this.tls = tls;
  }

  /** Its own channel, for one-order pages: in grpc-js the receive limit is set per channel. */
  private wide(): OrderServiceClient {
    this.wideOrders ??= new (foodProto().food.v1.OrderService)(
      this.address,
      channelCredentials(this.tls),
      {
        ...RECONNECT_OPTIONS,
        'grpc.max_receive_message_length': ONE_ORDER_RECEIVE_LIMIT_BYTES,
      },
    );
    return this.wideOrders;
  }

  /** The old channel closes after its calls' deadlines: closing it now cancels healthy calls. */
  private reconnect(tls: TlsMaterial): void {
    const old = [this.orders, this.wideOrders];
    this.wideOrders = undefined;
    this.connect(tls);
    setTimeout(
      () => old.forEach((client) => client?.close()),
      Math.max(this.deadlineMs, this.createDeadlineMs) + 1_000,
    ).unref();
  }

  createOrder(customerId: string): Promise<Order> {
    return this.call<CreateOrderRequest, Order>(
      'CreateOrder',
      `customer ${customerId.length > 80 ? `${customerId.slice(0, 80)}… (${customerId.length} characters)` : customerId}`,
      (req, opts, cb) => this.orders.CreateOrder(req, opts, cb),
      { order: { customerId } },
    );
  }

  getOrder(name: string): Promise<Order> {
    return this.call<{ name: string }, Order>(
      'GetOrder',
      name,
      (req, opts, cb) => this.orders.GetOrder(req, opts, cb),
      { name },
    );
  }

  listOrders(request: ListOrdersRequest): Promise<ListOrdersPage> {
    return this.listOn(() => this.orders, request);
  }

  private listOn(
    channel: () => OrderServiceClient,
    request: ListOrdersRequest,
  ): Promise<ListOrdersPage> {
    const size = request.pageSize ? `&page_size=${request.pageSize}` : '';
    const resource = `orders?status=${request.statusFilter ?? 'ANY'}${size}${request.pageToken ? '&page_token=…' : ''}`;
    return this.call<ListOrdersRequest, ListOrdersPage>(
      'ListOrders',
      resource,
      (req, opts, cb) => channel().ListOrders(req, opts, cb),
      request,
    );
  }

  /**
   * A token seen twice, or pages past `maxPages`, would keep the poll busy until it times out: the
   * listing fails loudly rather than pass off a partial list as whole. A page over the receive
   * limit is asked for again with half as many orders; an order alone over it is stepped over
   * (docs/ARCHITECTURE.md#polling).
   */
  async *listAllOrders(
    statusFilter: OrderStatusName | undefined,
    pageSize: number,
    maxPages = DEFAULT_MAX_PAGES,
    onSkipped: (skipped: SkippedOrder) => void = (skipped) =>
      logger.error('order skipped by the listing', { ...skipped }),
  ): AsyncGenerator<Order[]> {
    let pageToken = '';
    let size = pageSize;
    const seen = new Set<string>();
    const listing = `ListOrders status=${statusFilter ?? 'ANY'}`;
    // At most log2(pageSize) + 2 requests a page: the halvings, then the one-order page.
    for (let pages = 1; ; pages++) {
      let page: ListOrdersPage | undefined;
      while (!page) {
        try {
          page = await this.listOrders({ statusFilter, pageSize: size, pageToken });
          size = Math.min(pageSize, size * 2);
        } catch (error) {
          if (!(error instanceof FoodServiceError) || !error.overReceiveLimit) throw error;
          if (size > 1) {
            size = Math.floor(size / 2);
            continue;
          }
          page = await this.stepOver(listing, statusFilter, pageToken, error, onSkipped);
          size = pageSize;
        }
      }
      yield page.orders;
      pageToken = page.nextPageToken;
      if (!pageToken) return;
      if (seen.has(pageToken))
        throw new Error(
          `${listing}: the food service returned a page token twice; stopping to avoid a loop`,
        );
      if (pages >= maxPages)
        throw new Error(
          `${listing}: still more pages after ${maxPages} of ${pageSize}; stopping (a listing this long cannot finish within a poll)`,
        );
      seen.add(pageToken);
    }
  }

  /** Page tokens are opaque: the token after an order too large to take comes from its own page. */
  private async stepOver(
    listing: string,
    statusFilter: OrderStatusName | undefined,
    pageToken: string,
    tooLarge: FoodServiceError,
    onSkipped: (skipped: SkippedOrder) => void,
  ): Promise<ListOrdersPage> {
    let page: ListOrdersPage;
    try {
      page = await this.listOn(() => this.wide(), { statusFilter, pageSize: 1, pageToken });
    } catch (error) {
      const why =
        error instanceof FoodServiceError && error.overReceiveLimit
          ? `it is over ${ONE_ORDER_RECEIVE_LIMIT_BYTES} bytes too`
          : describeError(error);
      throw new Error(
        `${listing}: one order alone is over the receive limit (${tooLarge.details}) and cannot be stepped over: ${why}`,
        {
          cause: error,
        },
      );
    }
    const bytes = Number(/\((\d+) vs \d+\)/.exec(tooLarge.details)?.[1] ?? NaN);
    for (const order of page.orders) {
      onSkipped({
        name: order.name,
        status: String(order.status),
        bytes,
        reason: `ListOrders: the order alone is ${Number.isNaN(bytes) ? 'larger than' : `${bytes} bytes, over`} the client's receive limit of ${this.maxReceiveBytes} bytes (customer_id of ${Buffer.byteLength(order.customerId)} bytes)`,
      });
    }
    return { orders: [], nextPageToken: page.nextPageToken };
  }

  updateOrderStatus(name: string, status: OrderStatusName, sendBefore?: Date): Promise<Order> {
    return this.call<UpdateOrderRequest, Order>(
      'UpdateOrder',
      `${name} status=${status}`,
      (req, opts, cb) => this.orders.UpdateOrder(req, opts, cb),
      { order: { name, status }, updateMask: { paths: ['status'] } },
      sendBefore,
    );
  }

  createKitchenOrder(sendBefore?: Date): Promise<KitchenOrder> {
    return this.call<CreateKitchenOrderRequest, KitchenOrder>(
      'CreateKitchenOrder',
      'kitchenorders',
      (req, opts, cb) => this.kitchen.CreateKitchenOrder(req, opts, cb),
      { kitchenorder: {} },
      sendBefore,
    );
  }

  getKitchenOrder(name: string): Promise<KitchenOrder> {
    return this.call<{ name: string }, KitchenOrder>(
      'GetKitchenOrder',
      name,
      (req, opts, cb) => this.kitchen.GetKitchenOrder(req, opts, cb),
      { name },
    );
  }

  createShipment(sendBefore?: Date): Promise<Shipment> {
    return this.call<CreateShipmentRequest, Shipment>(
      'CreateShipment',
      'shipments',
      (req, opts, cb) => this.drones.CreateShipment(req, opts, cb),
      { shipment: {} },
      sendBefore,
    );
  }

  getShipment(name: string): Promise<Shipment> {
    return this.call<{ name: string }, Shipment>(
      'GetShipment',
      name,
      (req, opts, cb) => this.drones.GetShipment(req, opts, cb),
      {
        name,
      },
    );
  }

  close(): void {
    // The kitchen and drone clients ride on this channel.
    this.orders.close();
    this.wideOrders?.close();
  }

  /**
   * A failure rotated secrets could heal is tried once more on a channel rebuilt with them. It
   * proves nothing was sent, so creates too
   * (docs/OPERATIONS.md#rotating-the-food-service-credentials).
   */
  private async call<Req, Res>(
    method: FoodMethod,
    resource: string,
    invoke: Unary<Req, Res>,
    request: Req,
    sendBefore?: Date,
  ): Promise<Res> {
    const tlsAtCall = this.tls;
    try {
      return await this.send(method, resource, invoke, request, sendBefore);
    } catch (error) {
      if (!this.refresher || !(error instanceof FoodServiceError) || !mayBeCredentials(error))
        throw error;
      // Another call may have rotated the channel while this one failed on the old one.
      if (this.tls === tlsAtCall) {
        const fresh = await this.refresher.check(this.tls);
        if (!fresh) throw error;
        if (this.tls === tlsAtCall) {
          this.reconnect(fresh);
          logger.warn(
            "food-service credentials rotated: the channel was rebuilt with the secrets' latest versions",
            {
              method,
              resource,
              failure: error.details,
            },
          );
        }
      }
      return this.send(method, resource, invoke, request, sendBefore);
    }
  }

  private send<Req, Res>(
    method: FoodMethod,
    resource: string,
    invoke: Unary<Req, Res>,
    request: Req,
    sendBefore?: Date,
  ): Promise<Res> {
    const kind = CALL_KINDS[method];
    let attempts = 0;
    const deadlineMs = kind === 'create' ? this.createDeadlineMs : this.deadlineMs;
    const once = async (): Promise<Res> => {
      attempts++;
      // The deadline covers the wait for a slot, and sendBefore is checked after it, so a write
      // never goes out past its invocation's deadline.
      const started = Date.now();
      const deadline = started + deadlineMs;
      const release = this.slots ? await this.slots.acquire(deadline) : () => undefined;
      if (!release) {
        const limit = this.slots?.limit ?? 0;
        throw new FoodServiceError(
          method,
          resource,
          this.address,
          noSlotError(limit, Date.now() - started),
          attempts,
        );
      }
      try {
        if (sendBefore && Date.now() >= sendBefore.getTime()) {
          throw new FoodServiceError(
            method,
            resource,
            this.address,
            pastDeadlineError(sendBefore),
            attempts,
          );
        }
        return await new Promise<Res>((resolve, reject) => {
          invoke(request, { deadline }, (error, response) => {
            if (error)
              reject(new FoodServiceError(method, resource, this.address, error, attempts));
            else if (response === undefined)
              reject(new Error(`${method} ${resource}: empty response from ${this.address}`));
            else resolve(response);
          });
        });
      } finally {
        release();
      }
    };
    // A write whose reply was lost may have happened: the step looks, or notes it, instead.
    if (kind !== 'read') return once();
    const shouldRetry = (error: unknown) => {
      if (!retriesRead(error)) return false;
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
