// Shared test plumbing: the simulator on an ephemeral port with real TLS, and
// typed promise clients made from the same generated types as the server.
import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureCerts, type CertPaths } from '../src/certs';
import type { CreateKitchenOrderRequest } from '../src/generated/food/v1/CreateKitchenOrderRequest';
import type { CreateOrderRequest } from '../src/generated/food/v1/CreateOrderRequest';
import type { CreateShipmentRequest } from '../src/generated/food/v1/CreateShipmentRequest';
import type { DroneServiceClient } from '../src/generated/food/v1/DroneService';
import type { KitchenServiceClient } from '../src/generated/food/v1/KitchenService';
import type { OrderServiceClient } from '../src/generated/food/v1/OrderService';
import type { KitchenOrder__Output } from '../src/generated/food/v1/KitchenOrder';
import type { ListOrdersRequest } from '../src/generated/food/v1/ListOrdersRequest';
import type { ListOrdersResponse__Output } from '../src/generated/food/v1/ListOrdersResponse';
import type { Order__Output } from '../src/generated/food/v1/Order';
import type { Shipment__Output } from '../src/generated/food/v1/Shipment';
import type { UpdateOrderRequest } from '../src/generated/food/v1/UpdateOrderRequest';
import { loadFoodProto } from '../src/proto';
import { startFoodService, type FoodService, type FoodServiceOptions } from '../src/server';

const DEADLINE_MS = 5000;

let certs: CertPaths | undefined;

/** One set of certificates per test run, in a temp folder removed at exit. */
export function testCerts(): CertPaths {
  if (!certs) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'food-service-test-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    certs = ensureCerts(dir);
  }
  return certs;
}

export type UnaryOptions = { deadlineMs?: number };
type Start<Res> = (options: grpc.CallOptions, callback: grpc.requestCallback<Res>) => void;

function call<Res>(
  start: Start<Res>,
  { deadlineMs = DEADLINE_MS }: UnaryOptions = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    start({ deadline: Date.now() + deadlineMs }, (err, response) =>
      err ? reject(err) : resolve(response as Res),
    );
  });
}

export interface ClientOptions {
  /** Present the generated client certificate (mTLS). */
  clientCert?: boolean;
  credentials?: grpc.ChannelCredentials;
}

/** Promise-based calls of all eight RPCs, with a deadline on each. */
export class FoodClient {
  private readonly clients: grpc.Client[];

  constructor(address: string, options: ClientOptions = {}) {
    const paths = testCerts();
    const credentials =
      options.credentials ??
      grpc.credentials.createSsl(
        fs.readFileSync(paths.caCert),
        options.clientCert ? fs.readFileSync(paths.clientKey) : null,
        options.clientCert ? fs.readFileSync(paths.clientCert) : null,
      );
    const { food } = loadFoodProto();
    this.orders = new food.v1.OrderService(address, credentials);
    this.kitchen = new food.v1.KitchenService(address, credentials);
    this.drone = new food.v1.DroneService(address, credentials);
    this.clients = [this.orders, this.kitchen, this.drone];
  }

  readonly orders: OrderServiceClient;
  readonly kitchen: KitchenServiceClient;
  readonly drone: DroneServiceClient;

  createOrder = (req: CreateOrderRequest, o?: UnaryOptions) =>
    call<Order__Output>((opts, cb) => this.orders.createOrder(req, opts, cb), o);
  getOrder = (name: string, o?: UnaryOptions) =>
    call<Order__Output>((opts, cb) => this.orders.getOrder({ name }, opts, cb), o);
  listOrders = (req: ListOrdersRequest, o?: UnaryOptions) =>
    call<ListOrdersResponse__Output>((opts, cb) => this.orders.listOrders(req, opts, cb), o);
  updateOrder = (req: UpdateOrderRequest, o?: UnaryOptions) =>
    call<Order__Output>((opts, cb) => this.orders.updateOrder(req, opts, cb), o);
  createKitchenOrder = (req: CreateKitchenOrderRequest = { kitchenorder: {} }, o?: UnaryOptions) =>
    call<KitchenOrder__Output>((opts, cb) => this.kitchen.createKitchenOrder(req, opts, cb), o);
  getKitchenOrder = (name: string, o?: UnaryOptions) =>
    call<KitchenOrder__Output>((opts, cb) => this.kitchen.getKitchenOrder({ name }, opts, cb), o);
  createShipment = (req: CreateShipmentRequest = { shipment: {} }, o?: UnaryOptions) =>
    call<Shipment__Output>((opts, cb) => this.drone.createShipment(req, opts, cb), o);
  getShipment = (name: string, o?: UnaryOptions) =>
    call<Shipment__Output>((opts, cb) => this.drone.getShipment({ name }, opts, cb), o);

  /** Sets an order's status, as the orchestrator does. */
  setStatus = (name: string, status: Order__Output['status']) =>
    this.updateOrder({ order: { name, status }, updateMask: { paths: ['status'] } });

  close(): void {
    for (const client of this.clients) client.close();
  }
}

export interface Harness {
  service: FoodService;
  client: FoodClient;
  /** Lines the service logged. */
  logs: string[];
  close(): Promise<void>;
}

export type HarnessOptions = Partial<Omit<FoodServiceOptions, 'tls'>> & { mtls?: boolean };

/** The simulator on an ephemeral port, with no automatic ticks unless asked for. */
export async function startHarness({
  mtls = false,
  ...options
}: HarnessOptions = {}): Promise<Harness> {
  const paths = testCerts();
  const logs: string[] = [];
  const service = await startFoodService({
    port: 0,
    controllerIntervalMs: 0,
    log: (line) => logs.push(line),
    ...options,
    tls: {
      cert: fs.readFileSync(paths.serverCert),
      key: fs.readFileSync(paths.serverKey),
      clientCa: mtls ? fs.readFileSync(paths.caCert) : undefined,
    },
  });
  const client = new FoodClient(service.address, { clientCert: mtls });
  return {
    service,
    client,
    logs,
    close: async () => {
      client.close();
      await service.stop();
    },
  };
}

/** Asserts that `promise` fails with gRPC status `code` and details matching `details`. */
export async function expectStatus(
  promise: Promise<unknown>,
  code: grpc.status,
  details?: RegExp,
): Promise<grpc.ServiceError> {
  const err = await promise.then(
    (value) =>
      assert.fail(`expected ${grpc.status[code]}, got a response: ${JSON.stringify(value)}`),
    (e: unknown) => e as grpc.ServiceError,
  );
  assert.equal(grpc.status[err.code], grpc.status[code], `status (details: ${err.details})`);
  if (details) assert.match(err.details, details);
  return err;
}

/** Polls `probe` until it returns a value, at most `attempts` times and `timeoutMs` in all. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 3000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const attempts = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let i = 0; i < attempts && Date.now() <= deadline; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
