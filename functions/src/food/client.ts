// A typed client for the three services of food.v1. Every call has a
// deadline, creates a longer one than reads. Reads are retried with backoff
// when FAILURE_TABLE says waiting may help (food/errors.ts); writes are sent
// once, because a write whose reply was lost may have happened: the caller,
// which looks before it updates and guards creates with claims, decides what
// to do next. Failures surface as FoodServiceError naming the method and the
// resource. One client keeps at most FOOD_MAX_IN_FLIGHT calls in flight,
// which protects the food service from a burst however many invocations an
// instance runs. Replies are taken up to RECEIVE_LIMIT_BYTES; a listing page
// over it is asked for again smaller (listAllOrders).
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
import { validateRetryPolicy, withRetry } from './retry';
import { describeError } from '../describe-error';
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
  /** The largest reply taken (default RECEIVE_LIMIT_BYTES); a test lowers it to reach it with small orders. */
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

/**
 * The largest reply the client takes, chosen rather than left to grpc-js's
 * default (4 MiB): half of it bounds what the replies in flight cost the
 * poller's memory (three listing pages and MAX_CONCURRENCY look-ups at once:
 * at most 70 MiB of its 512), and it is ten times a page of 1,000 ordinary
 * orders (about 200 bytes each). A page over it is asked for again smaller;
 * an order that alone is over it (megabytes of customer data) is stepped
 * over and reported, never received (listAllOrders;
 * docs/ARCHITECTURE.md#polling).
 */
export const RECEIVE_LIMIT_BYTES = 2 * 1024 * 1024;

/**
 * The limit of the one channel that fetches a single order too large for
 * RECEIVE_LIMIT_BYTES, only to learn the page token after it. Bounded, not
 * unlimited: the poller runs in 512 MiB, and an order larger than this fails
 * the listing loudly (the poller-down alert) instead of the instance.
 */
export const ONE_ORDER_RECEIVE_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * grpc-js waits longer and longer between reconnects while the server is
 * down (up to 120 s by default); a food service that is back must be reached
 * within a poll interval or two, not minutes later.
 */
const RECONNECT_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

/** More pages than this in one listing means the server keeps handing out new tokens; see listAllOrders. */
export const DEFAULT_MAX_PAGES = 5_000;

/**
 * What the orchestration asks of the food service; FoodClient is it over
 * gRPC, the simulation has its own. A write given `sendBefore` is not sent
 * after that time: checked at the moment it would go on the wire, and
 * failed as provably not sent.
 */
export interface FoodApi {
  getOrder(name: string): Promise<Order>;
  /** Every page of a listing, one page at a time; an order too large to take is handed to `onSkipped` instead. */
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

/** The food service as one invocation may use it: none of its writes is sent after the invocation's deadline, nor after its own. */
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
  /** The channel for one-order pages over the receive limit, made when first needed. */
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

  /** A channel of its own (a different receive limit is a different channel in grpc-js), used only for one-order pages. */
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

  /**
   * A new channel with rotated credentials. The old one is closed once the
   * calls still on it have had their deadlines: closing it at once would
   * cancel calls that are doing fine on a connection made before the rotation.
   */
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
   * Every page of a listing, one page at a time. A server that hands back a
   * token it gave before, or keeps handing out new ones past `maxPages`,
   * would keep a poll busy until its function times out; both are errors, so
   * the listing fails loudly instead of passing off a partial list as whole.
   *
   * A page larger than the receive limit (a few customers' huge data) is
   * asked for again with half as many orders, down to one; once a page is
   * taken, the next one doubles again up to `pageSize`. An order that alone
   * is over the limit is stepped over: page tokens are opaque, so its
   * one-order page is fetched once more on a channel with a larger limit
   * (ONE_ORDER_RECEIVE_LIMIT_BYTES) for the token after it, and the order is
   * handed to `onSkipped` instead of being listed.
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
    // Each page takes at most log2(pageSize) + 2 requests: halvings, then the one-order page on the wide channel.
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

  /** The page after one order too large to take: its one-order page on the wide channel, without the order. */
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

  /** Sets only the status, with update_mask "status". */
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
   * One call, and, if it failed in a way rotated credentials could heal and
   * the secrets' latest versions differ from the channel's, once more on a
   * channel rebuilt with them (docs/OPERATIONS.md, "Rotating the food-service
   * credentials"). Such failures prove nothing was sent, so this holds for
   * creates too.
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
      // The deadline covers the wait for a slot too, and sendBefore is checked
      // after it, so a write never goes out past its invocation's deadline.
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
      // A reply over the receive limit comes back the same every time.
      if (!(error instanceof FoodServiceError) || !error.transient || error.overReceiveLimit)
        return false;
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
