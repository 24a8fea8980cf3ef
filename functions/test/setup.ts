// Mocha root hooks: one embedded Firestore for the whole run, wired in before
// anything initialises firebase-admin (the functions do so lazily).
import { startEmbeddedFirestore, type EmbeddedFirestore } from '../../local/firestore';

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
