// A typed client for the three services of food.v1. Every call has a deadline;
// idempotent calls are retried with backoff on UNAVAILABLE and
// DEADLINE_EXCEEDED; failures surface as FoodServiceError naming the method and
// the resource.
import * as grpc from '@grpc/grpc-js';
import * as logger from 'firebase-functions/logger';

import type { CreateKitchenOrderRequest } from '../generated/food/v1/CreateKitchenOrderRequest';
import type { CreateOrderRequest } from '../generated/food/v1/CreateOrderRequest';
import type { CreateShipmentRequest } from '../generated/food/v1/CreateShipmentRequest';
import type { DroneServiceClient } from '../generated/food/v1/DroneService';
import type { KitchenServiceClient } from '../generated/food/v1/KitchenService';
import type { OrderServiceClient } from '../generated/food/v1/OrderService';
import type { UpdateOrderRequest } from '../generated/food/v1/UpdateOrderRequest';
import { channelCredentials, type TlsMaterial } from './credentials';
import { FoodServiceError } from './errors';
import { foodProto } from './proto';
import { DEFAULT_RETRY_POLICY, validateRetryPolicy, withRetry, type RetryPolicy } from './retry';
import type {
  FoodMethod,
  KitchenOrder,
  ListOrdersPage,
  Order,
  OrderStatusName,
  Shipment,
} from './types';

export interface FoodClientOptions {
  /** host:port of the food service. */
  address: string;
  tls: TlsMaterial;
  /** Deadline of each attempt, in milliseconds. */
  deadlineMs: number;
  retry?: Partial<RetryPolicy>;
}

export interface ListOrdersRequest {
  /** Omit, or UNKNOWN, for every status. */
  statusFilter?: OrderStatusName;
  pageSize?: number;
  pageToken?: string;
}

type Unary<Req, Res> = (request: Req, options: grpc.CallOptions, callback: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

/**
 * Whether a call may be sent again after a failure whose outcome is unknown.
 * A create that hit its deadline may have created the resource; sending it
 * again would cook a second meal, so only the caller, which guards creates
 * with claims, may decide to try again. UNAVAILABLE means the call was not
 * served (gRPC: "most likely a transient condition"), so it is retried for all.
 */
type Retry = 'idempotent' | 'create';

export class FoodClient {
  readonly address: string;
  private readonly orders: OrderServiceClient;
  private readonly kitchen: KitchenServiceClient;
  private readonly drones: DroneServiceClient;
  private readonly deadlineMs: number;
  private readonly retry: RetryPolicy;

  constructor(options: FoodClientOptions) {
    if (!/^[^\s:]+:\d{1,5}$/.test(options.address) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(options.address)) {
      throw new Error(`FOOD_SERVICE_ADDRESS must be host:port, got "${options.address}"`);
    }
    if (!Number.isInteger(options.deadlineMs) || options.deadlineMs <= 0) {
      throw new Error(`RPC_DEADLINE_MS must be a positive integer, got ${options.deadlineMs}`);
    }
    this.address = options.address;
    this.deadlineMs = options.deadlineMs;
    this.retry = validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry });

    const { food } = foodProto();
    // The three services share one channel: one TLS connection, one handshake.
    this.orders = new food.v1.OrderService(options.address, channelCredentials(options.tls));
    const shared = { channelOverride: this.orders.getChannel() };
    this.kitchen = new food.v1.KitchenService(options.address, grpc.credentials.createInsecure(), shared);
    this.drones = new food.v1.DroneService(options.address, grpc.credentials.createInsecure(), shared);
  }

  createOrder(customerId: string): Promise<Order> {
    return this.call<CreateOrderRequest, Order>(
      'CreateOrder', `customer ${customerId}`, 'create',
      (req, opts, cb) => this.orders.CreateOrder(req, opts, cb), { order: { customerId } });
  }

  getOrder(name: string): Promise<Order> {
    return this.call<{ name: string }, Order>(
      'GetOrder', name, 'idempotent', (req, opts, cb) => this.orders.GetOrder(req, opts, cb), { name });
  }

  listOrders(request: ListOrdersRequest): Promise<ListOrdersPage> {
    const resource = `orders?status=${request.statusFilter ?? 'ANY'}${request.pageToken ? '&page_token=…' : ''}`;
    return this.call<ListOrdersRequest, ListOrdersPage>(
      'ListOrders', resource, 'idempotent', (req, opts, cb) => this.orders.ListOrders(req, opts, cb), request);
  }

  /**
   * Every page of a listing, one page at a time. A server that hands back the
   * token it was given would make this loop forever, so that is an error.
   */
  async *listAllOrders(statusFilter: OrderStatusName | undefined, pageSize: number): AsyncGenerator<Order[]> {
    let pageToken = '';
    const seen = new Set<string>();
    do {
      const page = await this.listOrders({ statusFilter, pageSize, pageToken });
      yield page.orders;
      pageToken = page.nextPageToken;
      if (seen.has(pageToken)) {
        throw new Error(`ListOrders status=${statusFilter ?? 'ANY'}: the food service returned a page token twice; stopping to avoid a loop`);
      }
      seen.add(pageToken);
    } while (pageToken);
  }

  /** Sets only the status, with update_mask "status". */
  updateOrderStatus(name: string, status: OrderStatusName): Promise<Order> {
    return this.call<UpdateOrderRequest, Order>(
      'UpdateOrder', `${name} status=${status}`, 'idempotent',
      (req, opts, cb) => this.orders.UpdateOrder(req, opts, cb),
      { order: { name, status }, updateMask: { paths: ['status'] } });
  }

  createKitchenOrder(): Promise<KitchenOrder> {
    return this.call<CreateKitchenOrderRequest, KitchenOrder>(
      'CreateKitchenOrder', 'kitchenorders', 'create',
      (req, opts, cb) => this.kitchen.CreateKitchenOrder(req, opts, cb), { kitchenorder: {} });
  }

  getKitchenOrder(name: string): Promise<KitchenOrder> {
    return this.call<{ name: string }, KitchenOrder>(
      'GetKitchenOrder', name, 'idempotent', (req, opts, cb) => this.kitchen.GetKitchenOrder(req, opts, cb), { name });
  }

  createShipment(): Promise<Shipment> {
    return this.call<CreateShipmentRequest, Shipment>(
      'CreateShipment', 'shipments', 'create',
      (req, opts, cb) => this.drones.CreateShipment(req, opts, cb), { shipment: {} });
  }

  getShipment(name: string): Promise<Shipment> {
    return this.call<{ name: string }, Shipment>(
      'GetShipment', name, 'idempotent', (req, opts, cb) => this.drones.GetShipment(req, opts, cb), { name });
  }

  close(): void {
    // The kitchen and drone clients ride on this channel.
    this.orders.close();
  }

  private call<Req, Res>(method: FoodMethod, resource: string, retry: Retry, invoke: Unary<Req, Res>, request: Req): Promise<Res> {
    let attempts = 0;
    const once = () => new Promise<Res>((resolve, reject) => {
      attempts++;
      invoke(request, { deadline: Date.now() + this.deadlineMs }, (error, response) => {
        if (error) reject(new FoodServiceError(method, resource, this.address, error, attempts));
        else if (response === undefined) reject(new Error(`${method} ${resource}: empty response from ${this.address}`));
        else resolve(response);
      });
    });
    const shouldRetry = (error: unknown) => {
      if (!(error instanceof FoodServiceError) || !error.transient) return false;
      if (retry === 'create' && error.code !== grpc.status.UNAVAILABLE) return false;
      logger.warn('food service call failed, retrying', {
        method, resource, code: error.codeName, details: error.details, attempt: attempts,
      });
      return true;
    };
    return withRetry(once, shouldRetry, this.retry);
  }
}
