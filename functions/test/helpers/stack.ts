// The orchestrator under test, assembled from the exported functions: the
// simulator over TLS, Google's Firestore emulator, advanceRelation fed the
// emulator's own trigger events through firebase-functions-test
// (helpers/driver.ts), and the poller driven through its exported HTTPS
// clock, pollFoodServiceNow.
import * as fs from 'node:fs';

import {
  startFaultProxy,
  type FaultProxy,
  type ProxyFaults,
} from '../../../food-service/src/fault-proxy';
import type { FoodService, FoodServiceOptions } from '../../../food-service/src/server';
import * as functions from '../../src';
import type { FoodClient } from '../../src/food/client';
import type { PollRun } from '../../src/poller/schedule';
import { db, store } from '../../src/store/db';
import { readHistory, type HistoryEntry } from './history';
import { parseRelationDocument, relationId, type RelationDocument } from '../../src/store/schema';
import { emulator, PROJECT_ID } from '../setup';
import { startDriver, type Driver, type DriverOptions } from './driver';
import { clientFor, startTestFoodService, testCerts } from './food-service';
import type { FirestoreCloudEvent } from './trigger-events';

/** The params a deployment sets, here for a fast, small test world. */
/** OPS_INVOKER as a deployment sets it: the operators' account, whose own token the ops API never takes as an operator's. */
export const TEST_OPS_INVOKER =
  'food-orchestrator-ops@demo-food-orchestrator.iam.gserviceaccount.com';

export function testEnv(
  service: FoodService,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    FOOD_SERVICE_ADDRESS: service.address,
    FOOD_SERVICE_CA: fs.readFileSync(testCerts().caCert, 'utf8'),
    FOOD_SERVICE_CLIENT_CERT: 'none',
    FOOD_SERVICE_CLIENT_KEY: 'none',
    POLL_INTERVAL_SECONDS: '1',
    PAGE_SIZE: '25',
    RPC_DEADLINE_MS: '2000',
    CREATE_DEADLINE_MS: '5000',
    MAX_CONCURRENCY: '16',
    // Every instance reads the kill switch on every event, so a test sees a flip at once and no
    // switch state outlives the test that set it (the cache is per process).
    PAUSE_CHECK_SECONDS: '0',
    OPS_INVOKER: TEST_OPS_INVOKER,
    ...overrides,
  };
}

export interface StackOptions {
  /** The simulator's options; `mtls` makes it require client certificates of the test CA. */
  service?: Partial<FoodServiceOptions> & { mtls?: boolean };
  env?: Record<string, string>;
  /** Deliver every relation write to the trigger (the default), or leave delivery to the test. */
  autoDeliver?: boolean;
  /** A test's own delivery policy for the automatic deliveries (duplicates, delays). */
  onEvent?: DriverOptions['onEvent'];
  /** Put a fault proxy between the functions and the food service (faults off until set). */
  proxy?: Partial<ProxyFaults>;
}

export interface Stack {
  service: FoodService;
  /** The fault proxy the functions dial, when asked for. */
  proxy: FaultProxy | undefined;
  /** A client of the same service, for looking at it as a test: it dials the service directly, never through the proxy. */
  food: FoodClient;
  functions: Driver;
  /** Base URL of the HTTPS functions, e.g. `${httpUrl}/ops/orders`. */
  httpUrl: string;
  /** Runs a scheduled function once, as Cloud Scheduler would; resolves with its HTTP status. */
  fireSchedule(name: string): Promise<number>;
  /** One poll through the exported HTTPS function. */
  pollNow(): Promise<PollRun>;
  /** Polls and lets the triggers settle, `times` times. */
  cycle(times?: number): Promise<void>;
  /** Lets every trigger delivery so far, and the ones its writes caused, finish. */
  settle(): Promise<void>;
  /** The order's relation, read and checked as the schema says (a malformed one fails the test, naming its problems). */
  relation(orderName: string): Promise<RelationDocument | undefined>;
  /** The relation's history, oldest first, typed by kind of entry. */
  transitions(orderName: string): Promise<HistoryEntry[]>;
  stop(): Promise<void>;
}

/** Empties the emulator and waits until the delete events that makes have gone by. */
export async function clearFirestore(): Promise<void> {
  const { firestore, receiver } = emulator();
  await firestore.clear();
  await receiver.barrier(firestore);
}

/** The running stack's driver, for deliver(). */
let current: Driver | undefined;

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  await clearFirestore();
  const service = await startTestFoodService(options.service);
  const proxy = options.proxy
    ? await startFaultProxy({ target: service.address, ...options.proxy })
    : undefined;
  const env = testEnv(service, {
    ...(proxy ? { FOOD_SERVICE_ADDRESS: proxy.address } : {}),
    ...options.env,
  });
  // What the stack sets is put back when it stops, so one test's params never reach the next.
  const before = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  const { firestore, receiver } = emulator();
  // Without automatic delivery the trigger gets no event but the ones a test captures and delivers.
  const hosted = await startDriver({
    module: functions as unknown as Record<string, unknown>,
    projectId: PROJECT_ID,
    ...(options.autoDeliver === false ? {} : { events: { receiver, firestore } }),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    log: (line) => console.error(line),
  });
  current = hosted;

  const pollNow = async (): Promise<PollRun> => {
    const response = await fetch(`${hosted.httpUrl}/pollFoodServiceNow`, { method: 'POST' });
    const text = await response.text();
    let body: PollRun;
    try {
      body = JSON.parse(text) as PollRun;
    } catch {
      throw new Error(`pollFoodServiceNow answered ${response.status} with ${text.slice(0, 500)}`);
    }
    if (response.status !== 200)
      throw new Error(`pollFoodServiceNow answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  };
  const settle = () => hosted.settle();
  const food = clientFor(service);

  return {
    service,
    proxy,
    food,
    functions: hosted,
    httpUrl: hosted.httpUrl,
    fireSchedule: (name) => hosted.fireSchedule(name),
    pollNow,
    settle,
    async cycle(times = 1) {
      for (let i = 0; i < times; i++) {
        await pollNow();
        await settle();
      }
    },
    async relation(orderName) {
      const snapshot = await db().collection('relations').doc(relationId(orderName)).get();
      if (!snapshot.exists) return undefined;
      const parsed = parseRelationDocument(snapshot.data() ?? {}, snapshot.id);
      if (!parsed.ok)
        throw new Error(`${snapshot.ref.path} is malformed: ${parsed.problems.join('; ')}`);
      return parsed.value;
    },
    async transitions(orderName) {
      const { entries, problems } = await readHistory(
        store().doc(`relations/${relationId(orderName)}`),
      );
      if (problems.length) throw new Error(`malformed history: ${problems.join('; ')}`);
      return entries;
    },
    async stop() {
      food.close();
      if (current === hosted) current = undefined;
      await hosted.stop();
      await proxy?.stop();
      await service.stop();
      for (const [key, value] of Object.entries(before)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    },
  };
}

/** The history entry of an attempt at a create, by its id ("PREPARATION-1"); fails the test if there is none. */
export function attemptEntry(
  entries: HistoryEntry[],
  id: string,
): Extract<HistoryEntry, { kind: 'attempt' }> {
  const entry = entries.find((e) => e.id === id);
  if (entry?.kind !== 'attempt')
    throw new Error(`no attempt ${id} in the history: ${entries.map((e) => e.id).join(', ')}`);
  return entry;
}

/** An operator's retry in the history; fails the test if there is none. */
export function retryEntry(entries: HistoryEntry[]): Extract<HistoryEntry, { kind: 'retry' }> {
  const entry = entries.find((e) => e.kind === 'retry');
  if (entry?.kind !== 'retry')
    throw new Error(`no retry in the history: ${entries.map((e) => e.id).join(', ')}`);
  return entry;
}

/**
 * The next event the emulator sends for `document`, captured as production
 * would receive it, so a test can deliver it late, twice, or at once.
 * `armed` resolves once the emulator knows to send it: a write made before
 * that may go unseen.
 */
export function captureEvent(
  document: string,
  timeoutMs = 10_000,
): Promise<FirestoreCloudEvent> & { armed: Promise<void> } {
  const { firestore, receiver } = emulator();
  const id = `capture-${Math.random().toString(36).slice(2)}`;
  let armed: Promise<void> = Promise.resolve();
  const captured = new Promise<FirestoreCloudEvent>((resolve, reject) => {
    const timer = setTimeout(() => {
      receiver.unregister(id);
      reject(new Error(`no event for ${document} within ${timeoutMs} ms`));
    }, timeoutMs);
    armed = receiver.register(
      firestore,
      { id, eventType: 'google.cloud.firestore.document.v1.written', document },
      (event) => {
        clearTimeout(timer);
        receiver.unregister(id);
        resolve(event);
      },
    );
    armed.catch(reject);
  });
  return Object.assign(captured, { armed });
}

/**
 * Delivers a captured event to advanceRelation through the running stack's
 * driver (firebase-functions-test's wrap(), the event decoded as the runtime
 * decodes it): one delivery, as often and as late as the test says.
 */
export async function deliver(event: FirestoreCloudEvent): Promise<void> {
  if (!current) throw new Error('deliver() needs a running stack (startStack)');
  await current.deliver(event);
}
