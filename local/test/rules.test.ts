// firestore.rules, as the Firestore emulator enforces it: no client, signed in
// or not, may read or write any collection. The orchestrator itself uses the
// Admin SDK, which bypasses rules, so a rule that let a client in would only
// ever be a hole. The rules run in Google's own emulator (the rules engine is
// in its Java code), loaded by @firebase/rules-unit-testing as the Firebase
// CLI loads them.
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
  type RulesTestContext,
  type RulesTestEnvironment,
} from '@firebase/rules-unit-testing';
import { setLogLevel } from 'firebase/firestore';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  startGoogleFirestore,
  type GoogleFirestore,
} from '../../functions/test/helpers/firestore-emulator';

const ROOT = path.resolve(__dirname, '..', '..');
const RULES = fs.readFileSync(path.join(ROOT, 'firestore.rules'), 'utf8');
const PROJECT_ID = 'demo-rules';
/** A second project on the same emulator whose rules let everyone in: the control that the calls below can succeed at all. */
const OPEN_PROJECT_ID = 'demo-rules-open';
const OPEN_RULES =
  "rules_version = '2';\nservice cloud.firestore { match /databases/{database}/documents { match /{document=**} { allow read, write: if true; } } }";

/**
 * One existing document in every collection the project uses (relations, a
 * relation's transitions, the poll lease under its old and current names) and
 * in one nobody uses, which the catch-all rule must cover too.
 */
const DOCUMENTS = [
  'relations/order-1',
  'relations/order-1/transitions/PREPARATION-1',
  'pollLeases/poll',
  'leases/poll',
  'madeUpCollection/anything',
];
const SEED = { stage: 'NEW', active: true, order: 'orders/order-1' };

interface Client {
  who: string;
  context: (env: RulesTestEnvironment) => RulesTestContext;
}

const CLIENTS: Client[] = [
  { who: 'an unauthenticated client', context: (env) => env.unauthenticatedContext() },
  {
    who: 'a signed-in client',
    context: (env) =>
      env.authenticatedContext('alice', { email: 'alice@example.com', email_verified: true }),
  },
];

/** The client SDK a test context hands out (the namespaced API, which rules-unit-testing types). */
type ClientFirestore = ReturnType<RulesTestContext['firestore']>;

/** Every kind of read and write a client SDK can send for one document path. */
function operations(
  db: ClientFirestore,
  documentPath: string,
): Array<[string, () => Promise<unknown>]> {
  const ref = db.doc(documentPath);
  const parent = ref.parent;
  return [
    ['get', () => ref.get()],
    ['list its collection', () => parent.get()],
    ['create a new document', () => parent.doc().set(SEED)],
    ['overwrite it', () => ref.set({ ...SEED, stage: 'DELIVERED' })],
    ['update it', () => ref.update({ active: false })],
    ['delete it', () => ref.delete()],
  ];
}

async function seed(env: RulesTestEnvironment): Promise<void> {
  await env.withSecurityRulesDisabled(async (admin) => {
    for (const documentPath of DOCUMENTS) await admin.firestore().doc(documentPath).set(SEED);
  });
}

describe("firestore.rules on Google's Firestore emulator", function () {
  this.timeout(120_000);
  let firestore: GoogleFirestore;
  let env: RulesTestEnvironment;
  let open: RulesTestEnvironment;

  before(async () => {
    // The SDK warns about every refused write stream; the refusals are what this suite expects.
    setLogLevel('error');
    // Fails with the one-line MissingTool message when Java 21+ or the emulator is missing: never skipped.
    firestore = await startGoogleFirestore({ projectId: PROJECT_ID });
    const [host, port] = firestore.host.split(':');
    env = await initializeTestEnvironment({
      projectId: PROJECT_ID,
      firestore: { host, port: Number(port), rules: RULES },
    });
    open = await initializeTestEnvironment({
      projectId: OPEN_PROJECT_ID,
      firestore: { host, port: Number(port), rules: OPEN_RULES },
    });
  });

  beforeEach(async () => {
    await env.clearFirestore();
    await seed(env);
  });

  after(async () => {
    await env?.cleanup();
    await open?.cleanup();
    await firestore?.stop();
  });

  it('refuses every read and write of every collection, signed in or not', async () => {
    let refused = 0;
    for (const client of CLIENTS) {
      const db = client.context(env).firestore();
      for (const documentPath of DOCUMENTS) {
        for (const [what, run] of operations(db, documentPath)) {
          await assertFails(run()).catch((error: unknown) => {
            throw new Error(`${client.who} could ${what} ${documentPath}: ${String(error)}`);
          });
          refused++;
        }
      }
      // The history of every relation at once, as a collection-group query would read it.
      await assertFails(db.collectionGroup('transitions').get());
      refused++;
    }
    assert.equal(refused, CLIENTS.length * (DOCUMENTS.length * 6 + 1));
  });

  it('left every seeded document as it was: the refused writes changed nothing', async () => {
    for (const client of CLIENTS) {
      const db = client.context(env).firestore();
      for (const documentPath of DOCUMENTS) {
        await assertFails(db.doc(documentPath).set({ stage: 'CANCELLED' }));
        await assertFails(db.doc(documentPath).delete());
      }
    }
    await env.withSecurityRulesDisabled(async (admin) => {
      for (const documentPath of DOCUMENTS) {
        const snapshot = await admin.firestore().doc(documentPath).get();
        assert.deepEqual(snapshot.data(), SEED, documentPath);
      }
    });
  });

  it("lets the same calls through under rules that allow them, so the refusals above are the rules' doing", async () => {
    await open.clearFirestore();
    await seed(open);
    for (const client of CLIENTS) {
      const db = client.context(open).firestore();
      const snapshot = await assertSucceeds(db.doc('relations/order-1').get());
      assert.deepEqual(snapshot.data(), SEED);
      await assertSucceeds(db.doc('pollLeases/poll').set({ holder: client.who }));
      await assertSucceeds(db.doc('relations/order-1/transitions/PREPARATION-1').delete());
    }
  });
});
