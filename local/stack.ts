// Assembles the local stack behind `npm start`: Firestore (Google's emulator,
// an external one, or the embedded fallback), the food service (simulator or
// external), the deployable functions, the relation tracker and the live board.
import { getApps, initializeApp } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ensureCerts } from '../food-service/src/certs';
import { startFaultProxy, type FaultProxy } from '../food-service/src/fault-proxy';
import { startFoodService, type FoodService } from '../food-service/src/server';
import type { FoodClient } from '../functions/src/food/client';
import type { StuckThresholds } from '../functions/src/model/health';
import { RelationTracker } from './board/tracker';
import { startBoard } from './board/server';
import { embeddedFeed, listenerFeed, type ChangeFeed } from './document-events';
import { startEmbeddedFirestore, type EmbeddedFirestore } from './firestore';
import { FUNCTIONS_DIR, hostFunctions, triggerFeed, type EventSource, type HostedFunctions } from './functions-host';
import { startGoogleFirestore } from './google/firestore-emulator';
import { MissingTool } from './google/tools';
import { startTriggerEventReceiver } from './google/trigger-events';
import { usesFaultProxy, type LocalOptions } from './options';

export const PROJECT_ID = (
  JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '.firebaserc'), 'utf8')) as { projects: { default: string } }
).projects.default;

/** Which Firestore the stack runs on, and how the triggers get their events from it. */
export interface LocalFirestore {
  kind: 'google' | 'external' | 'embedded';
  host: string;
  /** One line for the banner and the board. */
  description: string;
  /** Set for the embedded fallback, whose reads and writes the bench counts. */
  embedded?: EmbeddedFirestore;
}

export interface LocalStack {
  firestore: LocalFirestore;
  /** Relations that were there before this run started: an earlier run's, picked up where it stopped. */
  resumedRelations: number;
  foodAddress: string;
  simulator: FoodService | undefined;
  /** Between the functions and the food service when proxy faults are on; the runner's own client goes around it. */
  proxy: FaultProxy | undefined;
  food: FoodClient;
  db: Firestore;
  functions: HostedFunctions;
  tracker: RelationTracker;
  boardUrl: string;
  stop(): Promise<void>;
}

/** What the embedded fallback lacks, said wherever it runs. */
export const EMBEDDED_CAVEAT =
  'the embedded Node Firestore does not isolate transactions or honour preconditions, so concurrent claims and fenced records are not proven on it';

interface StartedFirestore {
  firestore: LocalFirestore;
  events: EventSource;
  /** Feeds the tracker: from trigger events where they come from Google's emulator, else every write (embedded) or a listener. */
  feed: (db: Firestore) => ChangeFeed;
}

/**
 * Google's emulator when Java 21+ and the emulator are here; the embedded one
 * when they are not (saying what is missing) or when asked for; or the
 * external one named by --firestore, whose events come from a listener
 * because its trigger target was fixed when it started.
 */
async function startFirestore(
  options: LocalOptions,
  stops: Array<() => Promise<void> | void>,
  log: (line: string) => void,
): Promise<StartedFirestore> {
  if (options.firestore) {
    return {
      firestore: { kind: 'external', host: options.firestore, description: `external emulator at ${options.firestore}` },
      events: { kind: 'feed', feed: (collection, onChange) => listenerFeed(getFirestore())(collection, onChange) },
      feed: (db) => listenerFeed(db),
    };
  }
  let missing: string | undefined;
  if (!options.embeddedFirestore) {
    try {
      const receiver = await startTriggerEventReceiver((error) => log(`trigger event not understood: ${String(error)}`));
      stops.push(() => receiver.stop());
      const google = await startGoogleFirestore({ projectId: PROJECT_ID, functionsEmulator: receiver.address });
      stops.push(() => google.stop());
      const target = { host: google.host, projectId: PROJECT_ID };
      return {
        firestore: { kind: 'google', host: google.host, description: google.description },
        events: { kind: 'google', receiver, firestore: target },
        feed: () => triggerFeed(receiver, target, 'board'),
      };
    } catch (error) {
      if (!(error instanceof MissingTool)) throw error;
      missing = error.message;
    }
  }
  const embedded = await startEmbeddedFirestore();
  stops.push(() => embedded.stop());
  const why = missing ? `${missing}; ` : '';
  log(`warning: ${why}running on the embedded Node Firestore instead: ${EMBEDDED_CAVEAT}`);
  return {
    firestore: { kind: 'embedded', host: embedded.host, description: 'embedded Node Firestore (no transaction isolation)', embedded },
    events: { kind: 'feed', feed: embeddedFeed(embedded) },
    feed: () => embeddedFeed(embedded),
  };
}

/** The params and secrets the functions read at run time, as a deployment would set them. */
function functionsEnv(options: LocalOptions, foodAddress: string, caPem: string): Record<string, string> {
  // Only what this stack decides; every other param keeps its default
  // (functions/src/config.ts), or the value set in the environment.
  return {
    GCLOUD_PROJECT: PROJECT_ID,
    FOOD_SERVICE_ADDRESS: foodAddress,
    FOOD_SERVICE_CA: caPem,
    FOOD_SERVICE_CLIENT_CERT: 'none',
    FOOD_SERVICE_CLIENT_KEY: 'none',
    POLL_INTERVAL_SECONDS: String(options.pollIntervalSeconds),
    // Google's Firestore emulator slows every write to a collection while a
    // listener on it is open (about 15 commits/s at 1,000 documents against
    // 400 without), which production Firestore does not; polls query instead.
    LISTENER_MAX_RELATIONS: '0',
  };
}

/**
 * Checks the params as the functions will read them, so a bad value stops
 * the start with its name instead of failing every invocation; returns the
 * stuck thresholds, which the board judges cards by as the report does.
 */
function checkFunctionsConfig(): StuckThresholds {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- compiled module of the functions package
  const { loadConfig, loadStuckThresholds } = require(
    path.join(FUNCTIONS_DIR, 'lib', 'config.js'),
  ) as typeof import('../functions/src/config');
  loadConfig();
  return loadStuckThresholds();
}

export async function startLocalStack(options: LocalOptions, log: (line: string) => void): Promise<LocalStack> {
  const stops: Array<() => Promise<void> | void> = [];
  try {
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    const started = await startFirestore(options, stops, log);
    process.env.FIRESTORE_EMULATOR_HOST = started.firestore.host;

    let simulator: FoodService | undefined;
    let caPem: string;
    if (options.foodService) {
      caPem = readCa(options.foodService.caFile);
    } else {
      const certs = ensureCerts();
      caPem = fs.readFileSync(certs.caCert, 'utf8');
      simulator = await startFoodService({
        port: 0,
        tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
        controllerIntervalMs: options.controllerIntervalMs,
        ordersPerSecond: options.ordersPerSecond,
        cancelRate: options.cancelRate,
        rejectRate: options.rejectRate,
        failRate: options.faults.failRate,
        seed: options.seed,
        log,
      });
      const running = simulator;
      stops.push(() => running.stop());
    }
    const foodAddress = options.foodService?.address ?? (simulator as FoodService).address;
    // The fault proxy (--drop-rate, --handshake-cut-rate, --proxy-latency): only the functions dial it.
    // Other engineers may edit nearby lines; this block stands alone.
    let proxy: FaultProxy | undefined;
    if (usesFaultProxy(options.faults)) {
      const { dropRate, handshakeCutRate, proxyLatencyMs } = options.faults;
      proxy = await startFaultProxy({ target: foodAddress, dropRate, handshakeCutRate, latencyMs: proxyLatencyMs, seed: options.seed });
      const running = proxy;
      stops.push(() => running.stop());
    }
    Object.assign(process.env, functionsEnv(options, proxy?.address ?? foodAddress, caPem));
    const stuckThresholds = checkFunctionsConfig();

    if (getApps().length === 0) initializeApp({ projectId: PROJECT_ID });
    const db = getFirestore();
    const resumedRelations = (await db.collection('relations').count().get()).data().count;

    const tracker = new RelationTracker({ stuckThresholds });
    const stopTracking = await started.feed(db)('relations', ({ id, before, after }) => tracker.apply(id, before, after, new Date()));
    stops.push(stopTracking);

    const functions = await hostFunctions({
      projectId: PROJECT_ID,
      events: started.events,
      faults: { duplicateRate: options.faults.duplicateRate, maxDelayMs: options.faults.reorderMs },
      log,
    });
    stops.push(() => functions.stop());

    const board = await startBoard({
      port: options.boardPort,
      tracker,
      // A click on a card shows the order's history from the ops function, as an operator's API call would.
      ...(functions.https.includes('ops') ? { statusApi: `${functions.httpUrl}/ops` } : {}),
      extra: () => ({ firestore: started.firestore.description, ...(simulator ? { food: simulator.stats() } : {}) }),
    });
    stops.push(() => board.stop());

    // The orchestrator's own client, compiled with the functions: the runner
    // looks at the food service through the same code the functions use.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- compiled module of the functions package
    const { FoodClient: Client } = require(
      path.join(FUNCTIONS_DIR, 'lib', 'food', 'client.js'),
    ) as typeof import('../functions/src/food/client');
    const food = new Client({ address: foodAddress, tls: { caPem }, deadlineMs: 5_000 });
    stops.push(() => food.close());

    return {
      firestore: started.firestore,
      resumedRelations,
      foodAddress,
      simulator,
      proxy,
      food,
      db,
      functions,
      tracker,
      boardUrl: board.url,
      async stop() {
        for (const stop of stops.reverse()) await stop();
      },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
    throw error;
  }
}

function readCa(file: string): string {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`--food-ca ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--food-ca ${file} is not a PEM certificate`);
  return pem;
}
