// Runs the deployable functions the way their platform would, driven by each
// export's own __endpoint:
// - document triggers get the events of their documents: from Google's
//   Firestore emulator, the CloudEvents production sends, handed to the
//   function itself (so firebase-functions decodes them and runs its onInit,
//   as in production); or, from a change feed, events built with
//   firebase-functions-test;
// - scheduled functions are called over HTTP with Cloud Scheduler's headers,
//   on their schedule (or only when asked, in tests);
// - HTTPS functions are served on a local URL.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { documentDeliverer, type FunctionsTestApi } from './deliver';
import { DeliveryQueue, plain, type ChangeFeed, type DeliveryFaults, type DocumentEvent } from './document-events';
import type { PlainData } from './firestore';
import type { FirestoreTarget, TriggerEventReceiver } from './google/trigger-events';
import { startTaskQueues, type QueueOptions, type TaskQueues } from './tasks';
import { describeError } from '../functions/src/describe-error';

export const FUNCTIONS_DIR = path.resolve(__dirname, '..', 'functions');
const ENTRY_POINT = path.join(FUNCTIONS_DIR, 'lib', 'index.js');
/** Modules installed in functions/ (firebase-functions-test, express), loaded from there. */
export const requireFromFunctions = createRequire(path.join(FUNCTIONS_DIR, 'package.json'));

const DOCUMENT_WRITTEN = 'google.cloud.firestore.document.v1.written';
/** The region firebase-functions deploys to when none is set; it names triggers as the Functions emulator does. */
const DEFAULT_REGION = 'us-central1';

/** A param-valued option, as firebase-functions keeps it on __endpoint until the CLI resolves it. */
interface ParamExpression<T> {
  value(): T;
  options?: { default?: unknown };
}

/**
 * A param's value as the CLI would resolve it: from the environment (where
 * the local stack and the tests set params), else the param's own default.
 * firebase-functions' value() reads an unset param as 0 or "".
 */
function paramValue<T extends string | number>(param: ParamExpression<T>, fallback: T): T {
  const value = param.value();
  if (value) return value;
  const declared = param.options?.default;
  return typeof declared === typeof fallback ? (declared as T) : fallback;
}

interface Endpoint {
  eventTrigger?: { eventType: string; eventFilterPathPatterns?: { document?: string } };
  scheduleTrigger?: { schedule: string };
  httpsTrigger?: object;
  taskQueueTrigger?: QueueOptions;
  /** A list of regions, or one param (FUNCTIONS_REGION) that the CLI resolves at deploy. */
  region?: string[] | string | ParamExpression<string>;
  concurrency?: number | ParamExpression<number> | null;
}

type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

interface CloudFunction {
  (...args: unknown[]): unknown;
  __endpoint: Endpoint;
}

/** Where document-trigger events come from. */
export type EventSource =
  { kind: 'google'; receiver: TriggerEventReceiver; firestore: FirestoreTarget } | { kind: 'feed'; feed: ChangeFeed };

export interface HostedTrigger {
  name: string;
  /** `<region>-<name>`, as the Functions emulator registers it. */
  id: string;
  document: string;
  queue: DeliveryQueue;
}

export interface HostedFunctions {
  /** Base URL of the HTTPS functions: `${httpUrl}/<name>`. */
  httpUrl: string;
  https: string[];
  schedules: Array<{ name: string; region: string; schedule: string; everyMs: number }>;
  triggers: HostedTrigger[];
  /** Scheduled invocations started, and the ones that failed. */
  scheduledRuns: { started: number; failed: number };
  /** The Cloud Tasks stand-in behind the task-queue functions, if any is exported. */
  tasks: TaskQueues | undefined;
  /** Runs a scheduled function once, as Cloud Scheduler would for the time it was due (default now); resolves with its HTTP status. */
  fireSchedule(name: string, scheduleTime?: Date): Promise<number>;
  /** Resolves once every trigger event so far has been delivered, and the writes they made too. */
  settle(options?: { quietMs?: number; timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export interface HostOptions {
  /** The functions' exports; by default the build `firebase deploy` ships (functions/lib). */
  module?: Record<string, unknown>;
  projectId: string;
  events: EventSource;
  faults?: DeliveryFaults;
  /** Fire scheduled functions on their schedule (default true); tests fire them themselves. */
  clock?: boolean;
  log: (line: string) => void;
}

/** Every v2 function carries __endpoint, the manifest entry the CLI deploys (HTTPS ones have no .run). */
function isCloudFunction(value: unknown): value is CloudFunction {
  return typeof value === 'function' && typeof (value as Partial<CloudFunction>).__endpoint === 'object';
}

/**
 * The region a function is deployed to, as the Functions emulator names it
 * (`<region>-<name>`): a param is read as the CLI would resolve it, from the
 * environment, where the local stack and the tests set params.
 */
export function endpointRegion(endpoint: Pick<Endpoint, 'region'>): string {
  const { region } = endpoint;
  if (region === undefined) return DEFAULT_REGION;
  if (Array.isArray(region)) return region[0] ?? DEFAULT_REGION;
  if (typeof region === 'string') return region;
  return paramValue(region, DEFAULT_REGION);
}

/** How many events one instance of a trigger takes at once, as Cloud Run would give them; a param is read from the environment. */
export function endpointConcurrency(endpoint: Pick<Endpoint, 'concurrency'>): number | undefined {
  const { concurrency } = endpoint;
  if (concurrency === undefined || concurrency === null) return undefined;
  if (typeof concurrency === 'number') return concurrency;
  const value = paramValue(concurrency, 0);
  return value > 0 ? value : undefined;
}

/** App Engine cron's "every N minutes|hours", which is what onSchedule strings use here. */
export function scheduleEveryMs(schedule: string): number {
  const match = /^every (\d+) (minute|minutes|hour|hours)$/.exec(schedule.trim());
  if (!match) throw new Error(`schedule "${schedule}" is not supported by the local clock (only "every N minutes|hours")`);
  return Number(match[1]) * (match[2].startsWith('minute') ? 60_000 : 3_600_000);
}

/** "relations/{orderId}" → the collection and the param; deeper patterns are not needed here. */
export function documentPattern(pattern: string): { collection: string; param: string } {
  const match = /^([^/{}]+)\/\{([^/{}]+)\}$/.exec(pattern);
  if (!match) throw new Error(`document pattern "${pattern}" is not supported locally (only "collection/{param}")`);
  return { collection: match[1], param: match[2] };
}

interface WrittenEvent {
  params: Record<string, string>;
  data?: { before: { data(): unknown }; after: { data(): unknown } };
}

/**
 * A change feed made of the emulator's own trigger events: a document
 * trigger of the runner's, decoded by firebase-functions as the functions'
 * events are. Unlike a snapshot listener it costs Firestore nothing (a
 * listener on a busy collection slows every write to it in the emulator),
 * and it sees every write, in order.
 */
export function triggerFeed(receiver: TriggerEventReceiver, firestore: FirestoreTarget, name: string): ChangeFeed {
  const { onDocumentWritten } = requireFromFunctions('firebase-functions/v2/firestore') as {
    onDocumentWritten(document: string, handler: (event: WrittenEvent) => void): (event: unknown) => Promise<unknown>;
  };
  return async (collection, onChange) => {
    const param = 'id';
    const watch = onDocumentWritten(`${collection}/{${param}}`, (event) => {
      const data = (snapshot: { data(): unknown } | undefined) => (plain(snapshot?.data()) as PlainData | undefined) ?? null;
      onChange({ id: event.params[param], before: data(event.data?.before), after: data(event.data?.after) });
    });
    const id = `local-${name}`;
    await receiver.register(
      firestore,
      { id, eventType: DOCUMENT_WRITTEN, document: `${collection}/{${param}}` },
      (event) => void watch(event),
    );
    return () => receiver.unregister(id);
  };
}

/** The build, loaded as the platform loads it. */
export function loadBuiltFunctions(): Record<string, unknown> {
  if (!fs.existsSync(ENTRY_POINT)) throw new Error(`${ENTRY_POINT} is missing: build the functions first (npm run build)`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled entry point is loaded as the platform loads it
  return require(ENTRY_POINT) as Record<string, unknown>;
}

export async function hostFunctions(options: HostOptions): Promise<HostedFunctions> {
  const exported = options.module ?? loadBuiltFunctions();
  const functions = Object.entries(exported).filter((entry): entry is [string, CloudFunction] => isCloudFunction(entry[1]));
  if (functions.length === 0) throw new Error('the functions module exports no Cloud Functions');
  // The URL is known before the routes are added: task dispatch needs it.
  const server = http.createServer((request, response) => app(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const express = requireFromFunctions('express') as (() => {
    all(route: string, ...handlers: HttpHandler[]): void;
    use(route: string, ...handlers: HttpHandler[]): void;
  } & HttpHandler) & { json(options?: { limit: string }): HttpHandler };
  const app = express();
  // Task-queue functions enqueue through firebase-admin, which sends the
  // CreateTask call wherever CLOUD_TASKS_EMULATOR_HOST points.
  const taskQueues = functions.some(([, fn]) => fn.__endpoint.taskQueueTrigger) ? await startTaskQueues(options.log) : undefined;
  if (taskQueues) process.env.CLOUD_TASKS_EMULATOR_HOST = taskQueues.address;
  const triggers: HostedTrigger[] = [];
  const schedules: HostedFunctions['schedules'] = [];
  const https: string[] = [];
  const scheduledRuns = { started: 0, failed: 0 };
  const timers: NodeJS.Timeout[] = [];
  const stops: Array<() => void | Promise<void>> = [];
  const onError = (name: string) => (error: unknown, label: string) => options.log(`${name} failed for ${label}: ${describeError(error)}`);

  for (const [name, fn] of functions) {
    const { eventTrigger, scheduleTrigger, httpsTrigger } = fn.__endpoint;
    if (eventTrigger) {
      const document = eventTrigger.eventFilterPathPatterns?.document;
      if (eventTrigger.eventType !== DOCUMENT_WRITTEN || !document) {
        options.log(`${name}: ${eventTrigger.eventType} triggers are not run locally; skipped`);
        continue;
      }
      // One process is one instance: it runs as many events at once as an instance would.
      const concurrency = endpointConcurrency(fn.__endpoint);
      const queue = new DeliveryQueue({ faults: options.faults, onError: onError(name), ...(concurrency ? { concurrency } : {}) });
      const id = `${endpointRegion(fn.__endpoint)}-${name}`;
      stops.push(() => queue.stop());
      const { collection, param } = documentPattern(document);
      if (options.events.kind === 'google') {
        const { receiver, firestore } = options.events;
        await receiver.register(firestore, { id, eventType: DOCUMENT_WRITTEN, document }, (event) =>
          queue.push(event.document.slice(collection.length + 1), `${event.document} (event ${event.id})`, () =>
            Promise.resolve(fn(event)),
          ),
        );
        stops.push(() => receiver.unregister(id));
      } else {
        const fft = (requireFromFunctions('firebase-functions-test') as (config: object) => FunctionsTestApi)({
          projectId: options.projectId,
        });
        const deliver = documentDeliverer(fft, fn);
        const stopFeed = await options.events.feed(collection, ({ id, before, after }) => {
          const event: DocumentEvent = {
            id: randomUUID(),
            document: `${collection}/${id}`,
            params: { [param]: id },
            before,
            after,
            time: new Date().toISOString(),
          };
          queue.push(id, `${event.document} (event ${event.id})`, () => deliver(event));
        });
        stops.push(stopFeed);
      }
      triggers.push({ name, id, document, queue });
    } else if (scheduleTrigger) {
      app.all(`/__scheduled/${name}`, fn as unknown as HttpHandler);
      schedules.push({
        name,
        region: endpointRegion(fn.__endpoint),
        schedule: scheduleTrigger.schedule,
        everyMs: scheduleEveryMs(scheduleTrigger.schedule),
      });
    } else if (httpsTrigger) {
      // Mounted, so a function sees the path below its own name, as it does
      // deployed (…/ops/orders/<id> reaches ops as /orders/<id>), with the
      // JSON body parsed as the Functions Framework parses it.
      app.use(`/${name}`, express.json(), fn as unknown as HttpHandler);
      https.push(name);
    } else if (fn.__endpoint.taskQueueTrigger && taskQueues) {
      // Cloud Tasks posts the task's JSON body; the runtime parses it before the handler sees it.
      app.all(`/__tasks/${name}`, express.json({ limit: '10mb' }), fn as unknown as HttpHandler);
      taskQueues.register(name, fn.__endpoint.taskQueueTrigger, async (body, headers) => {
        const response = await fetch(`${httpUrl}/__tasks/${name}`, { method: 'POST', headers, body });
        await response.arrayBuffer();
        return response.status;
      });
    }
  }

  let stopping = false;
  /** What Cloud Scheduler does: an HTTP call with its job name and the time the job was due. */
  const fireSchedule = async (name: string, scheduleTime = new Date()): Promise<number> => {
    scheduledRuns.started++;
    try {
      const response = await fetch(`${httpUrl}/__scheduled/${name}`, {
        method: 'POST',
        headers: {
          'X-CloudScheduler-JobName': `firebase-schedule-${name}-${schedules.find((s) => s.name === name)?.region ?? DEFAULT_REGION}`,
          'X-CloudScheduler-ScheduleTime': scheduleTime.toISOString(),
        },
      });
      if (!response.ok) {
        scheduledRuns.failed++;
        options.log(`${name} answered ${response.status}; the function log says why`);
      }
      return response.status;
    } catch (error) {
      // Stopping abandons an invocation in flight, as a platform shutting down would.
      if (stopping) return 0;
      scheduledRuns.failed++;
      options.log(`${name} failed: ${describeError(error)}`);
      return 0;
    }
  };
  if (options.clock ?? true) {
    for (const { name, everyMs } of schedules) {
      // On the cron's marks, as Cloud Scheduler fires; an invocation that
      // starts while the previous one still runs runs beside it, as on an
      // instance that takes concurrent requests.
      const fire = (due: Date) => void fireSchedule(name, due);
      // The first invocation now, as if the job had just been created.
      fire(new Date(Math.floor(Date.now() / everyMs) * everyMs));
      const firstDue = Math.ceil(Date.now() / everyMs) * everyMs;
      const startTimer = setTimeout(() => {
        fire(new Date(firstDue));
        timers.push(setInterval(() => fire(new Date(Math.round(Date.now() / everyMs) * everyMs)), everyMs));
      }, firstDue - Date.now());
      timers.push(startTimer);
    }
  }

  const barrier = options.events.kind === 'google' ? options.events : undefined;
  return {
    httpUrl,
    https,
    schedules,
    triggers,
    scheduledRuns,
    tasks: taskQueues,
    fireSchedule: (name, scheduleTime) => fireSchedule(name, scheduleTime),
    async settle(settleOptions = {}) {
      // Deliveries write, and writes make events: settle until a round brings nothing new.
      for (let round = 0; round < 50; round++) {
        const before = triggers.reduce((n, t) => n + t.queue.pushed, 0) + (taskQueues?.counts().enqueued ?? 0);
        await taskQueues?.settle(settleOptions.timeoutMs);
        for (const trigger of triggers) {
          await trigger.queue.settle({
            ...settleOptions,
            ...(barrier ? { barrier: () => barrier.receiver.barrier(barrier.firestore, settleOptions.timeoutMs) } : {}),
          });
        }
        if (triggers.reduce((n, t) => n + t.queue.pushed, 0) + (taskQueues?.counts().enqueued ?? 0) === before) return;
      }
      throw new Error('trigger deliveries kept coming after 50 rounds of settling');
    },
    async stop() {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      for (const stop of stops.reverse()) await stop();
      await taskQueues?.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
