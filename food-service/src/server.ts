// The simulator as a library: one gRPC server over TLS hosting OrderService,
// KitchenService and DroneService on one address, like the real binary, plus
// the knobs tests and the CLI turn (ticks, customers, faults, stats).
import * as grpc from '@grpc/grpc-js';
import { Controller } from './controller';
import { Customer } from './customer';
import { Faults, type FaultTiming, type InjectedFault } from './faults';
import { createDroneService, createKitchenService } from './fulfilment-services';
import type { DroneServiceHandlers } from './generated/food/v1/DroneService';
import type { KitchenServiceHandlers } from './generated/food/v1/KitchenService';
import type { OrderServiceHandlers } from './generated/food/v1/OrderService';
import { hostPort } from './host-port';
import type { FoodMethod } from './methods';
import { resolveOptions } from './options';
import { createOrderService, type FinalOrderUpdates } from './order-service';
import { loadFoodProto } from './proto';
import { createRandom } from './random';
import { unary, type CallContext, type CallHook, type ServedHook } from './rpc';
import { CallStats, formatStatsLine, type FoodServiceStats } from './stats';
import { startStatsServer, type StatsServer } from './stats-server';
import { createStore } from './store';
import { ReloadableServerCredentials, type ServerTls } from './tls-credentials';

export type { FoodMethod } from './methods';
export type { FinalOrderUpdates } from './order-service';
export type { CallHook, ServedHook } from './rpc';
export type { FaultTiming, InjectedFault } from './faults';
export type { FoodServiceStats, MethodStats } from './stats';

export interface FoodServiceOptions {
  host?: string; // default '127.0.0.1'
  port?: number; // default 9000; 0 = ephemeral
  tls: { cert: Buffer; key: Buffer; clientCa?: Buffer }; // clientCa set => mTLS required and verified
  controllerIntervalMs?: number; // default 10000; 0 = no automatic ticks (call tick())
  seed?: number; // default 1
  rejectRate?: number; // default 0.1
  advanceRate?: number; // default 1
  ordersPerSecond?: number; // default 0
  cancelRate?: number; // default 0
  failRate?: number; // default 0
  latencyMs?: number; // default 0
  defaultPageSize?: number; // default 50
  maxPageSize?: number; // default 1000
  /**
   * UpdateOrder on a DELIVERED, REJECTED or CANCELLED order. 'accept' (the
   * default) overwrites it, as the real service does: it has no optimistic
   * concurrency. 'refuse' answers FAILED_PRECONDITION.
   */
  finalOrderUpdates?: FinalOrderUpdates;
  statsPort?: number; // undefined = no HTTP stats server; 0 = ephemeral
  statsIntervalMs?: number; // default 0 (off)
  debug?: boolean;
  log?: (line: string) => void; // default console.log
}

export interface FoodService {
  readonly address: string; // '127.0.0.1:<port>'
  readonly port: number;
  readonly statsUrl: string | undefined; // 'http://127.0.0.1:<port>/stats'
  stats(): FoodServiceStats;
  tick(): void; // one controller step (also used by the timer)
  placeOrders(count: number, customerId?: string): string[]; // customer side, returns order names; customerId: all from this customer
  cancelOrder(name: string): void; // customer side; throws if not cancellable
  stopCustomers(): void; // no more new orders (cancellations already decided still happen)
  setFaults(faults: { failRate?: number; latencyMs?: number }): void;
  /** Moves to a new certificate (and client CA, under mTLS) for new connections, keeping every order: a CA rotation. */
  rotateTls(tls: ServerTls): void;
  /** The next `count` calls of `method` answer `code`: instead of their work ('before', the default), or after it ('after'). */
  failNext(method: FoodMethod, code: grpc.status, count?: number, when?: FaultTiming): void;
  /** Every call of `method` answers the fault's code until cleared with undefined. */
  failAll(method: FoodMethod, fault: InjectedFault | undefined): void;
  onCall(hook: CallHook | undefined): void; // runs before a call is handled
  onServed(hook: ServedHook | undefined): void; // runs after a call was handled, before its response is sent
  stop(): Promise<void>;
}

/** How long stop() lets in-flight calls finish before cutting them off. */
const SHUTDOWN_GRACE_MS = 2000;

function bind(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) =>
      err
        ? reject(new Error(`food service cannot listen on ${address}: ${err.message}`))
        : resolve(port),
    );
  });
}

function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SHUTDOWN_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

export async function startFoodService(options: FoodServiceOptions): Promise<FoodService> {
  const config = resolveOptions(options);
  const store = createStore();
  const controller = new Controller(store, createRandom(config.seed, 'controller'), config);
  const customer = new Customer(store.orders, createRandom(config.seed, 'customer'), config);
  const faults = new Faults(createRandom(config.seed, 'faults'), config);
  const callStats = new CallStats();
  let hook: CallHook | undefined;
  let servedHook: ServedHook | undefined;

  const context: CallContext = {
    faults,
    stats: callStats,
    hook: () => hook,
    servedHook: () => servedHook,
    debug: config.debug,
    log: config.log,
  };
  const orderService = createOrderService(store.orders, config);
  const kitchenService = createKitchenService(store.kitchenOrders);
  const droneService = createDroneService(store.shipments);
  const orderHandlers: OrderServiceHandlers = {
    CreateOrder: unary('CreateOrder', orderService.CreateOrder, context),
    GetOrder: unary('GetOrder', orderService.GetOrder, context),
    ListOrders: unary('ListOrders', orderService.ListOrders, context),
    UpdateOrder: unary('UpdateOrder', orderService.UpdateOrder, context),
  };
  const kitchenHandlers: KitchenServiceHandlers = {
    CreateKitchenOrder: unary('CreateKitchenOrder', kitchenService.CreateKitchenOrder, context),
    GetKitchenOrder: unary('GetKitchenOrder', kitchenService.GetKitchenOrder, context),
  };
  const droneHandlers: DroneServiceHandlers = {
    CreateShipment: unary('CreateShipment', droneService.CreateShipment, context),
    GetShipment: unary('GetShipment', droneService.GetShipment, context),
  };

  const { food } = loadFoodProto();
  const server = new grpc.Server();
  server.addService(food.v1.OrderService.service, orderHandlers);
  server.addService(food.v1.KitchenService.service, kitchenHandlers);
  server.addService(food.v1.DroneService.service, droneHandlers);

  const credentials = new ReloadableServerCredentials(config.tls);
  const port = await bind(server, hostPort(config.host, config.port), credentials);

  const stats = (): FoodServiceStats => callStats.snapshot(store, customer.cancelled);
  let statsServer: StatsServer | undefined;
  if (config.statsPort !== undefined) {
    try {
      statsServer = await startStatsServer(config.host, config.statsPort, stats);
    } catch (err) {
      server.forceShutdown();
      throw err;
    }
  }

  const tick = (): void => {
    controller.tick();
    customer.tick();
  };
  const timers: NodeJS.Timeout[] = [];
  if (config.controllerIntervalMs > 0) timers.push(setInterval(tick, config.controllerIntervalMs));
  if (config.statsIntervalMs > 0)
    timers.push(setInterval(() => config.log(formatStatsLine(stats())), config.statsIntervalMs));
  customer.start(config.ordersPerSecond);

  let stopping: Promise<void> | undefined;
  return {
    address: hostPort(config.host, port),
    port,
    statsUrl: statsServer?.url,
    stats,
    tick,
    placeOrders: (count, customerId) => customer.place(count, customerId),
    cancelOrder: (name) => customer.cancel(name),
    stopCustomers: () => customer.stop(),
    setFaults: (settings) => faults.set(settings),
    rotateTls: (tls) => credentials.rotate(tls),
    failNext: (method, code, count, when) => faults.failNext(method, code, count, when),
    failAll: (method, fault) => faults.failAll(method, fault),
    onCall: (next) => {
      hook = next;
    },
    onServed: (next) => {
      servedHook = next;
    },
    stop: () => {
      stopping ??= (async () => {
        for (const timer of timers) clearInterval(timer);
        customer.stop();
        await Promise.all([shutdown(server), statsServer?.close()]);
      })();
      return stopping;
    },
  };
}
