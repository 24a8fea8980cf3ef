// Mocha root hooks: Google's Firestore emulator for the whole run, with the
// receiver of its trigger events, wired in before anything initialises
// firebase-admin (the functions do so lazily). Without Java 21+ or the
// emulator the run fails here, naming what is missing: these tests never fall
// back to something that does not behave like Firestore.
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';

import { startGoogleFirestore, type GoogleFirestore } from './helpers/firestore-emulator';
import { routeStructuredLogs } from './helpers/logs';
import { startTriggerEventReceiver, type TriggerEventReceiver } from './helpers/trigger-events';

// The functions' structured logs go to a file, kept as an artifact, so they
// do not bury mocha's report.
export const FUNCTIONS_LOG = path.resolve(__dirname, '..', '..', 'artifacts', 'functions-test.log');
routeStructuredLogs(FUNCTIONS_LOG);

// A demo project of this run's own: emulators of other runs on this machine never see its events or tasks.
export const PROJECT_ID = `demo-test-${randomUUID().slice(0, 8)}`;

let firestore: GoogleFirestore | undefined;
let receiver: TriggerEventReceiver | undefined;

/** The run's Firestore emulator and the receiver its trigger events go to. */
export function emulator(): { firestore: GoogleFirestore; receiver: TriggerEventReceiver } {
  if (!firestore || !receiver)
    throw new Error('the Firestore emulator starts in the root beforeAll hook');
  return { firestore, receiver };
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(90_000);
    process.env.METADATA_SERVER_DETECTION = 'none';
    receiver = await startTriggerEventReceiver();
    firestore = await startGoogleFirestore({
      projectId: PROJECT_ID,
      functionsEmulator: receiver.address,
    });
    process.env.FIRESTORE_EMULATOR_HOST = firestore.host;
    process.env.GCLOUD_PROJECT = PROJECT_ID;
  },
  async afterAll(): Promise<void> {
    await receiver?.stop();
    await firestore?.stop();
  },
};
