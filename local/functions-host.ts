// Runs the deployable functions (functions/lib, what `firebase deploy`
// ships) the way their platform would, driven by each export's own
// __endpoint: document triggers get one event per write, scheduled functions
// a clock on their schedule, HTTPS functions a local URL.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { documentDeliverer, type FunctionsTestApi } from './deliver';
import { DocumentEventSource, type ChangeFeed, type DeliveryFaults } from './document-events';

export const FUNCTIONS_DIR = path.resolve(__dirname, '..', 'functions');
const ENTRY_POINT = path.join(FUNCTIONS_DIR, 'lib', 'index.js');
/** Modules installed in functions/ (firebase-functions-test, express), loaded from there. */
export const requireFromFunctions = createRequire(path.join(FUNCTIONS_DIR, 'package.json'));

const DOCUMENT_WRITTEN = 'google.cloud.firestore.document.v1.written';

interface Endpoint {
  eventTrigger?: { eventType: string; eventFilterPathPatterns?: { document?: string } };
  scheduleTrigger?: { schedule: string };
  httpsTrigger?: object;
  maxInstances?: number | null;
}

interface CloudFunction {
  __endpoint: Endpoint;
  run(event: unknown): unknown;
}

type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

export interface HostedFunctions {
  /** Base URL of the HTTPS functions: `${httpUrl}/<name>`. */
  httpUrl: string;
  https: string[];
  schedules: Array<{ name: string; schedule: string; everyMs: number }>;
  triggers: Array<{ name: string; document: string; events: DocumentEventSource }>;
  /** Scheduled invocations started, and the ones that failed. */
  scheduledRuns: { started: number; failed: number };
  stop(): Promise<void>;
}

export interface HostOptions {
  projectId: string;
  feed: ChangeFeed;
  faults: DeliveryFaults;
  log: (line: string) => void;
}

function isCloudFunction(value: unknown): value is CloudFunction {
  return typeof value === 'function' && typeof (value as Partial<CloudFunction>).run === 'function' && typeof (value as Partial<CloudFunction>).__endpoint === 'object';
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

export async function hostFunctions(options: HostOptions): Promise<HostedFunctions> {
  if (!fs.existsSync(ENTRY_POINT)) throw new Error(`${ENTRY_POINT} is missing: build the functions first (npm run build)`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled entry point is loaded as the platform loads it
  const exported = require(ENTRY_POINT) as Record<string, unknown>;
  const functions = Object.entries(exported).filter((entry): entry is [string, CloudFunction] => isCloudFunction(entry[1]));
  if (functions.length === 0) throw new Error(`${ENTRY_POINT} exports no Cloud Functions`);

  const fft = (requireFromFunctions('firebase-functions-test') as (config: object) => FunctionsTestApi)({ projectId: options.projectId });
  const express = requireFromFunctions('express') as () => { all(route: string, handler: HttpHandler): void } & HttpHandler;
  const app = express();
  const hosted: Omit<HostedFunctions, 'httpUrl' | 'stop'> = { https: [], schedules: [], triggers: [], scheduledRuns: { started: 0, failed: 0 } };
  const timers: NodeJS.Timeout[] = [];

  for (const [name, fn] of functions) {
    const { eventTrigger, scheduleTrigger, httpsTrigger } = fn.__endpoint;
    if (eventTrigger) {
      const document = eventTrigger.eventFilterPathPatterns?.document;
      if (eventTrigger.eventType !== DOCUMENT_WRITTEN || !document) {
        options.log(`${name}: ${eventTrigger.eventType} triggers are not run locally; skipped`);
        continue;
      }
      const { collection, param } = documentPattern(document);
      const events = new DocumentEventSource({
        feed: options.feed,
        collection,
        param,
        deliver: documentDeliverer(fft, fn),
        faults: options.faults,
        onError: (error, event) => options.log(`${name} failed for ${event.document}: ${error instanceof Error ? error.message : String(error)}`),
      });
      await events.start();
      hosted.triggers.push({ name, document, events });
    } else if (scheduleTrigger) {
      const everyMs = scheduleEveryMs(scheduleTrigger.schedule);
      const exclusive = fn.__endpoint.maxInstances === 1;
      let running = false;
      const fire = () => {
        // One instance at most: Cloud Run would not start a second one either.
        if (exclusive && running) return;
        running = true;
        hosted.scheduledRuns.started++;
        Promise.resolve(fn.run({ scheduleTime: new Date().toISOString(), jobName: `firebase-schedule-${name}` }))
          .catch((error: unknown) => {
            hosted.scheduledRuns.failed++;
            options.log(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
          })
          .finally(() => {
            running = false;
          });
      };
      fire();
      timers.push(setInterval(fire, everyMs));
      hosted.schedules.push({ name, schedule: scheduleTrigger.schedule, everyMs });
    } else if (httpsTrigger) {
      app.all(`/${name}`, fn as unknown as HttpHandler);
      hosted.https.push(name);
    }
  }

  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    ...hosted,
    httpUrl,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(hosted.triggers.map((t) => t.events.stop()));
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
