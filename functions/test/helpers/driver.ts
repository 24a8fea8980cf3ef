// The exported functions driven in one process as their platform drives them,
// for the tests and the bench, with firebase-functions-test and the official
// emulators' own parts:
// - a Firestore trigger gets each CloudEvent Google's Firestore emulator
//   sends (helpers/trigger-events.ts), decoded by firebase-functions' own
//   code and handed to firebase-functions-test's wrap();
// - HTTPS and scheduled functions, which are HTTP handlers at run time, are
//   mounted on a loopback express server; a scheduled one is called with
//   Cloud Scheduler's headers;
// - task-queue functions are dispatched by firebase-tools' own Cloud Tasks
//   emulator, to which firebase-admin enqueues (CLOUD_TASKS_EMULATOR_HOST).
// Delivery faults (duplicates, delays) are the tests' own: `onEvent` hands
// each event to them, with the delivery to call.
import express from 'express';
import firebaseFunctionsTest from 'firebase-functions-test';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { describeError } from '../../src/describe-error';
import { freePort } from './firestore-emulator';
import type { FirestoreCloudEvent, FirestoreTarget, TriggerEventReceiver } from './trigger-events';

const WRITTEN = 'google.cloud.firestore.document.v1.written';
/** The region firebase-functions deploys to when none is set. */
const DEFAULT_REGION = 'us-central1';
/** Events one instance runs at once when the function sets no concurrency: Cloud Run's default for 2nd gen. */
const DEFAULT_CONCURRENCY = 80;

interface Endpoint {
  eventTrigger?: { eventType: string; eventFilterPathPatterns?: { document?: string } };
  scheduleTrigger?: { schedule: string };
  httpsTrigger?: object;
  taskQueueTrigger?: { retryConfig?: object; rateLimits?: object };
  /** A number, or a param that the CLI resolves at deploy (its value() reads the environment, as the tests set params). */
  concurrency?: number | { value(): number; options?: { default?: unknown } } | null;
}

/** How many events one instance takes at once, as Cloud Run would give them: the option, or its param's value or default. */
function concurrencyOf({ concurrency }: Endpoint): number {
  if (typeof concurrency === 'number') return concurrency;
  if (!concurrency) return DEFAULT_CONCURRENCY;
  const declared = concurrency.options?.default;
  return concurrency.value() || (typeof declared === 'number' ? declared : DEFAULT_CONCURRENCY);
}
type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;
interface CloudFunction {
  (...args: unknown[]): unknown;
  __endpoint: Endpoint;
  run?: unknown;
}

/** firebase-functions' own decoding of a Firestore CloudEvent into a Change of snapshots (what its runtime wrapper does). */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- exported at run time, left out of its type declarations
const { makeChangedFirestoreEvent } = require('firebase-functions/v2/firestore') as {
  makeChangedFirestoreEvent(
    event: FirestoreCloudEvent,
    params: Record<string, string>,
  ): Record<string, unknown>;
};

/** The params of `document` under `pattern` ("relations/{orderId}" and "relations/abc" → { orderId: "abc" }). */
export function documentParams(pattern: string, document: string): Record<string, string> {
  const names: string[] = [];
  const regex = new RegExp(
    `^${pattern.replace(/\{([^/}]+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'))}$`,
  );
  const match = regex.exec(document);
  if (!match) throw new Error(`${document} does not match ${pattern}`);
  return Object.fromEntries(names.map((name, i) => [name, match[i + 1]]));
}

export interface TriggerStats {
  /** Deliveries run at once: one instance at the function's concurrency. */
  concurrency: number;
  delivered: number;
  failed: number;
  /** Deliveries per document id. */
  invocations: Map<string, number>;
  /** How long each delivery waited for a free slot, and how long it ran, in ms. */
  waits: number[];
  durations: number[];
  /** Each stretch the instance had a delivery in flight, in ms: what Cloud Run bills as instance time. */
  busySpans: number[];
}

export interface DriverOptions {
  /** The functions' exports (the tests' src, or the bench's compiled lib). */
  module: Record<string, unknown>;
  projectId: string;
  /** Where the trigger events come from; without it, a test delivers its own. */
  events?: { receiver: TriggerEventReceiver; firestore: FirestoreTarget };
  /** Hands each event to a test's own delivery policy (twice, late…); by default it is delivered once. */
  onEvent?: (
    event: FirestoreCloudEvent,
    deliver: (event: FirestoreCloudEvent) => Promise<void>,
  ) => Promise<void>;
  log: (line: string) => void;
}

export interface Driver {
  /** Base URL of the HTTPS functions: `${httpUrl}/<name>`. */
  httpUrl: string;
  /** Delivers one event Google's emulator produced to the named Firestore trigger, through wrap(). */
  deliver(event: FirestoreCloudEvent, name?: string): Promise<void>;
  /** Runs a scheduled function as Cloud Scheduler does, for the time it was due (default now); resolves with its HTTP status. */
  fireSchedule(name: string, scheduleTime?: Date): Promise<number>;
  /** Per trigger, what its automatic deliveries did. */
  triggers: Map<string, TriggerStats>;
  /** Task dispatches the task-queue functions answered, by status class. */
  tasks: { dispatched: number; failed: number };
  /** Resolves once the emulator sent every event so far, each was delivered, and every task ran: until a round brings nothing new. */
  settle(options?: { timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** A Google ID token as Cloud Tasks attaches one (unsigned: the handler decodes it without verifying, as behind Cloud Run). */
function oidcToken(email: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ email, sub: email })}.`;
}

interface TasksEmulator {
  start(): Promise<void>;
  stop(): Promise<void>;
  controller: { queues: Record<string, { isActive(): boolean }> };
}

export interface TaskQueues {
  /** host:port, for CLOUD_TASKS_EMULATOR_HOST (firebase-admin enqueues there). */
  host: string;
  /** Whether a task is queued or being dispatched. */
  active(): boolean;
  stop(): Promise<void>;
}

/**
 * firebase-tools' own Cloud Tasks emulator, in this process, with a queue per
 * task-queue function, configured as the Functions emulator configures it
 * (the function's retry and rate options, and the URI tasks are dispatched to).
 */
export async function startTaskQueues(
  projectId: string,
  queues: Array<{ name: string; options: object; uri: string }>,
): Promise<TaskQueues> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- firebase-tools ships no type declarations
  const { TasksEmulator: Emulator } = require('firebase-tools/lib/emulator/tasksEmulator') as {
    TasksEmulator: new (args: { host: string; port: number }) => TasksEmulator;
  };
  const port = await freePort();
  const emulator = new Emulator({ host: '127.0.0.1', port });
  await emulator.start();
  for (const { name, options, uri } of queues) {
    const response = await fetch(
      `http://127.0.0.1:${port}/projects/${projectId}/locations/${DEFAULT_REGION}/queues/${name}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...options, defaultUri: uri }),
      },
    );
    if (!response.ok) {
      await emulator.stop();
      throw new Error(
        `the Cloud Tasks emulator refused the queue ${name}: ${response.status} ${await response.text()}`,
      );
    }
  }
  return {
    host: `127.0.0.1:${port}`,
    active: () => Object.values(emulator.controller.queues).some((queue) => queue.isActive()),
    stop: () => emulator.stop(),
  };
}

export async function startDriver(options: DriverOptions): Promise<Driver> {
  const functions = Object.entries(options.module).filter(
    (entry): entry is [string, CloudFunction] =>
      typeof entry[1] === 'function' &&
      typeof (entry[1] as Partial<CloudFunction>).__endpoint === 'object',
  );
  const fft = firebaseFunctionsTest({ projectId: options.projectId });
  const app = express();
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stops: Array<() => unknown> = [];

  // Firestore triggers: decode, wrap, run; at most `concurrency` at once per trigger.
  const triggers = new Map<string, TriggerStats>();
  const deliverers = new Map<string, (event: FirestoreCloudEvent) => Promise<void>>();
  let running = 0;
  let arrived = 0;
  for (const [name, fn] of functions) {
    const pattern = fn.__endpoint.eventTrigger?.eventFilterPathPatterns?.document;
    if (fn.__endpoint.eventTrigger?.eventType !== WRITTEN || !pattern) continue;
    const wrapped = fft.wrap(fn as unknown as Parameters<typeof fft.wrap>[0]) as unknown as (
      event: object,
    ) => Promise<unknown>;
    deliverers.set(name, async (event) => {
      await wrapped(makeChangedFirestoreEvent(event, documentParams(pattern, event.document)));
    });
    const limit = concurrencyOf(fn.__endpoint);
    const stats: TriggerStats = {
      concurrency: limit,
      delivered: 0,
      failed: 0,
      invocations: new Map(),
      waits: [],
      durations: [],
      busySpans: [],
    };
    triggers.set(name, stats);
    if (!options.events) continue;
    const waiting: Array<() => void> = [];
    let inFlight = 0;
    let busySince = 0;
    const counted = async (event: FirestoreCloudEvent) => {
      const queuedAt = performance.now();
      if (inFlight >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      else if (inFlight++ === 0) busySince = performance.now();
      const started = performance.now();
      stats.waits.push(started - queuedAt);
      const id = event.document.slice(event.document.lastIndexOf('/') + 1);
      stats.invocations.set(id, (stats.invocations.get(id) ?? 0) + 1);
      try {
        await (deliverers.get(name) as (e: FirestoreCloudEvent) => Promise<void>)(event);
        stats.delivered++;
      } catch (error) {
        // The platform would drop it (retry is off): say so, and count it for the test to assert on.
        stats.failed++;
        options.log(
          `${name} failed for ${event.document} (event ${event.id}): ${describeError(error)}`,
        );
      } finally {
        stats.durations.push(performance.now() - started);
        const next = waiting.shift();
        if (next) next();
        else if (--inFlight === 0) stats.busySpans.push(performance.now() - busySince);
      }
    };
    const id = `${DEFAULT_REGION}-${name}`;
    await options.events.receiver.register(
      options.events.firestore,
      { id, eventType: WRITTEN, document: pattern },
      (event) => {
        arrived++;
        running++;
        const policy = options.onEvent ? options.onEvent(event, counted) : counted(event);
        void policy
          .catch((error: unknown) => options.log(`delivery policy failed: ${describeError(error)}`))
          .finally(() => running--);
      },
    );
    stops.push(() => options.events?.receiver.unregister(id));
  }

  // Task queues: firebase-tools' Cloud Tasks emulator, dispatching to the handlers mounted below.
  const tasks = { dispatched: 0, failed: 0 };
  const queued = functions.filter(([, fn]) => fn.__endpoint.taskQueueTrigger);
  const taskQueues =
    queued.length === 0
      ? undefined
      : await startTaskQueues(
          options.projectId,
          queued.map(([name, fn]) => ({
            name,
            options: fn.__endpoint.taskQueueTrigger ?? {},
            uri: `${httpUrl}/__tasks/${name}`,
          })),
        );
  if (taskQueues) process.env.CLOUD_TASKS_EMULATOR_HOST = taskQueues.host;

  for (const [name, fn] of functions) {
    const { scheduleTrigger, httpsTrigger, taskQueueTrigger } = fn.__endpoint;
    if (scheduleTrigger) app.all(`/__scheduled/${name}`, fn as unknown as Handler);
    // Mounted, so a function sees the path below its name, as deployed (…/ops/orders/<id> reaches ops as /orders/<id>).
    else if (httpsTrigger) app.use(`/${name}`, express.json(), fn as unknown as Handler);
    else if (taskQueueTrigger) {
      app.post(`/__tasks/${name}`, express.json({ limit: '10mb' }), (req, res, next) => {
        // Cloud Tasks attaches an OIDC token of the enqueuing account; the emulator does not.
        req.headers.authorization ??= `Bearer ${oidcToken(`tasks@${options.projectId}.iam.gserviceaccount.com`)}`;
        res.on('finish', () => (res.statusCode < 300 ? tasks.dispatched++ : tasks.failed++));
        (fn as unknown as (req: unknown, res: unknown, next: unknown) => void)(req, res, next);
      });
    }
  }

  const fireSchedule = async (name: string, scheduleTime = new Date()): Promise<number> => {
    const response = await fetch(`${httpUrl}/__scheduled/${name}`, {
      method: 'POST',
      headers: {
        'X-CloudScheduler-JobName': `firebase-schedule-${name}-${DEFAULT_REGION}`,
        'X-CloudScheduler-ScheduleTime': scheduleTime.toISOString(),
      },
    });
    await response.arrayBuffer();
    if (!response.ok) options.log(`${name} answered ${response.status}; the function log says why`);
    return response.status;
  };

  const tasksActive = () => taskQueues?.active() ?? false;

  return {
    httpUrl,
    triggers,
    tasks,
    fireSchedule,
    async deliver(event, name = 'advanceRelation') {
      const deliver = deliverers.get(name);
      if (!deliver) throw new Error(`${name} is not a Firestore trigger of this module`);
      await deliver(event);
    },
    async settle({ timeoutMs = 60_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      // Deliveries and tasks write, and writes make events: settle until a round brings nothing new.
      for (;;) {
        const before = arrived;
        if (options.events)
          await options.events.receiver.barrier(
            options.events.firestore,
            Math.max(1, deadline - Date.now()),
          );
        while (running > 0 || tasksActive()) {
          if (Date.now() > deadline)
            throw new Error(
              `deliveries did not settle within ${timeoutMs} ms (${running} running)`,
            );
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        if (arrived === before) return;
        if (Date.now() > deadline)
          throw new Error(`trigger events kept coming for ${timeoutMs} ms`);
      }
    },
    async stop() {
      for (const stop of stops.reverse()) await stop();
      // Deliveries in flight finish first (bounded), so none writes after the test moved on.
      for (let waited = 0; running > 0 && waited < 10_000; waited += 20)
        await new Promise((resolve) => setTimeout(resolve, 20));
      await taskQueues?.stop();
      if (taskQueues) delete process.env.CLOUD_TASKS_EMULATOR_HOST;
      fft.cleanup();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
