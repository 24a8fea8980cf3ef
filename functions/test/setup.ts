// Mocha root hooks: one embedded Firestore for the whole run, wired in before
// anything initialises firebase-admin (the functions do so lazily).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { startEmbeddedFirestore, type EmbeddedFirestore } from '../../local/firestore';

// The functions log structured JSON lines (firebase-functions/logger), which
// would bury mocha's report. They go to a file instead, kept as an artifact;
// the logger captures the console methods when it loads, so this runs first.
export const FUNCTIONS_LOG = path.resolve(__dirname, '..', '..', 'artifacts', 'functions-test.log');
fs.mkdirSync(path.dirname(FUNCTIONS_LOG), { recursive: true });
fs.writeFileSync(FUNCTIONS_LOG, '');
for (const method of ['debug', 'info', 'log', 'warn', 'error'] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    if (args.length === 1 && typeof args[0] === 'string' && args[0].startsWith('{') && args[0].includes('"severity"')) {
      fs.appendFileSync(FUNCTIONS_LOG, `${args[0]}\n`);
    } else {
      original(...args);
    }
  };
}

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
