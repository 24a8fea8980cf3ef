// Mocha root hooks: one embedded Firestore for the whole run, wired in before
// anything initialises firebase-admin (the functions do so lazily).
import * as path from 'node:path';

import { startEmbeddedFirestore, type EmbeddedFirestore } from '../../local/firestore';
import { routeStructuredLogs } from '../../local/logs';

// The functions' structured logs go to a file, kept as an artifact, so they
// do not bury mocha's report.
export const FUNCTIONS_LOG = path.resolve(__dirname, '..', '..', 'artifacts', 'functions-test.log');
routeStructuredLogs(FUNCTIONS_LOG);

export const PROJECT_ID = 'demo-food-orchestrator';

let firestore: EmbeddedFirestore | undefined;

export function embeddedFirestore(): EmbeddedFirestore {
  if (!firestore) throw new Error('the embedded Firestore starts in the root beforeAll hook');
  return firestore;
}

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    firestore = await startEmbeddedFirestore();
    process.env.FIRESTORE_EMULATOR_HOST = firestore.host;
    process.env.GCLOUD_PROJECT = PROJECT_ID;
  },
  afterAll(): void {
    firestore?.stop();
  },
};
