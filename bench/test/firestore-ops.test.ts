// The bench's Firestore counts, proved on known operations: the wire counter
// on the functions' Firestore client counts what Firestore bills, on Google's
// emulator.
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import type { DocumentData, Firestore, Settings } from 'firebase-admin/firestore';

import {
  startGoogleFirestore,
  type GoogleFirestore,
} from '../../functions/test/helpers/firestore-emulator';
import { BILLING, documentPath, installWireCounter, type WireCounter } from '../firestore-wire';
import { OpCounter, writePurpose, type Ops, type OpSource } from '../ops';
import { FUNCTIONS_DIR } from '../world';

const PROJECT_ID = `demo-bench-ops-${process.pid}`;

interface Counts {
  total: Ops;
  overhead: Ops;
  byRelation: Record<string, Ops>;
}

const ops = (reads: number, writes: number): Ops => ({ reads, writes });

/** A client made from the functions' own copy of @google-cloud/firestore, the one the wire counter watches. */
function functionsFirestore(host: string): Firestore {
  const fromAdmin = createRequire(
    require.resolve('firebase-admin/firestore', { paths: [FUNCTIONS_DIR] }),
  );
  const { Firestore: Client } = fromAdmin('@google-cloud/firestore') as {
    Firestore: new (settings: Settings) => Firestore;
  };
  // The client reads the emulator's address from the environment when it is made, as the functions' does.
  const saved = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = host;
  try {
    return new Client({ projectId: PROJECT_ID });
  } finally {
    if (saved === undefined) delete process.env.FIRESTORE_EMULATOR_HOST;
    else process.env.FIRESTORE_EMULATOR_HOST = saved;
  }
}

/** What each source counted while `operation` ran. */
async function counted(sources: OpSource[], operation: () => Promise<unknown>): Promise<Counts[]> {
  const counters = sources.map((source) => new OpCounter(source));
  try {
    await operation();
  } finally {
    for (const counter of counters) counter.stop();
  }
  return counters.map((c) => ({
    total: c.snapshot(),
    overhead: { ...c.overhead },
    byRelation: Object.fromEntries(c.byRelation),
  }));
}

async function seed(db: Firestore, docs: Record<string, DocumentData>): Promise<void> {
  const batch = db.batch();
  for (const [path, data] of Object.entries(docs)) batch.set(db.doc(path), data);
  await batch.commit();
}

interface Scenario {
  name: string;
  docs: Record<string, DocumentData>;
  run(db: Firestore): Promise<unknown>;
  expected: Counts;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'a get: one read',
    docs: { 'relations/g1': { n: 1 } },
    run: (db) => db.doc('relations/g1').get(),
    expected: { total: ops(1, 0), overhead: ops(0, 0), byRelation: { g1: ops(1, 0) } },
  },
  {
    name: 'a get of a missing document: one read',
    docs: {},
    run: (db) => db.doc('relations/m1').get(),
    expected: { total: ops(1, 0), overhead: ops(0, 0), byRelation: { m1: ops(1, 0) } },
  },
  {
    name: 'a getAll of 3: three reads, one per order',
    docs: { 'relations/a1': { n: 1 }, 'relations/a2': { n: 2 }, 'relations/a3': { n: 3 } },
    run: (db) => db.getAll(db.doc('relations/a1'), db.doc('relations/a2'), db.doc('relations/a3')),
    expected: {
      total: ops(3, 0),
      overhead: ops(0, 0),
      byRelation: { a1: ops(1, 0), a2: ops(1, 0), a3: ops(1, 0) },
    },
  },
  {
    name: 'a query returning 5 of 8: five reads, to the order whose subcollection it reads',
    docs: Object.fromEntries(
      Array.from({ length: 8 }, (_, n) => [`relations/q1/transitions/t${n}`, { n }]),
    ),
    run: async (db) =>
      assert.equal(
        (await db.collection('relations/q1/transitions').where('n', '<', 5).get()).size,
        5,
      ),
    expected: { total: ops(5, 0), overhead: ops(0, 0), byRelation: { q1: ops(5, 0) } },
  },
  {
    name: 'a query returning nothing: no read counted (Firestore bills one; see emptyQueries)',
    docs: { 'relations/e1': { n: 1 } },
    run: (db) => db.collection('relations').where('n', '==', -1).get(),
    expected: { total: ops(0, 0), overhead: ops(0, 0), byRelation: {} },
  },
  {
    name: 'a transaction with 2 reads and 2 writes, one of them shared',
    docs: { 'relations/x1': { n: 1 }, 'relations/x2': { n: 2 }, 'leases/x': { n: 0 } },
    run: (db) =>
      db.runTransaction(async (tx) => {
        const [one, two] = [
          await tx.get(db.doc('relations/x1')),
          await tx.get(db.doc('relations/x2')),
        ];
        tx.update(db.doc('relations/x1'), { n: Number(one.get('n')) + Number(two.get('n')) });
        tx.set(db.doc('leases/x'), { n: 1 });
      }),
    expected: {
      total: ops(2, 2),
      overhead: ops(0, 1),
      byRelation: { x1: ops(1, 1), x2: ops(1, 0) },
    },
  },
  {
    name: 'a batch of 4 writes: set, update, create, delete',
    docs: { 'relations/b2': { n: 2 }, 'relations/b4': { n: 4 } },
    run: async (db) => {
      const batch = db.batch();
      batch.set(db.doc('relations/b1'), { n: 1 });
      batch.update(db.doc('relations/b2'), { n: 3 });
      batch.create(db.doc('relations/b3/transitions/t1'), { n: 1 });
      batch.delete(db.doc('relations/b4'));
      await batch.commit();
    },
    expected: {
      total: ops(0, 4),
      overhead: ops(0, 0),
      byRelation: { b1: ops(0, 1), b2: ops(0, 1), b3: ops(0, 1), b4: ops(0, 1) },
    },
  },
  {
    name: 'a create that fails ALREADY_EXISTS: nothing',
    docs: { 'relations/c1': { n: 1 } },
    run: (db) =>
      assert.rejects(
        db.doc('relations/c1').create({ n: 2 }),
        (error: { code?: number }) => error.code === 6,
      ),
    expected: { total: ops(0, 0), overhead: ops(0, 0), byRelation: {} },
  },
  {
    name: 'a count() aggregation: one read',
    docs: { 'relations/n1/transitions/t1': { n: 1 }, 'relations/n1/transitions/t2': { n: 2 } },
    run: async (db) =>
      assert.equal((await db.collection('relations/n1/transitions').count().get()).data().count, 2),
    expected: { total: ops(1, 0), overhead: ops(0, 0), byRelation: { n1: ops(1, 0) } },
  },
  {
    name: 'a listener on a query: one read per document added to, changed in or changed out of its results',
    docs: {
      'relations/l1': { on: true },
      'relations/l2': { on: true },
      'relations/l3': { on: true },
      'relations/l4': { on: false },
    },
    run: async (db) => {
      const sizes: number[] = [];
      let snapshotArrived: () => void = () => undefined;
      const stop = db
        .collection('relations')
        .where('on', '==', true)
        .onSnapshot((snapshot) => {
          sizes.push(snapshot.size);
          snapshotArrived();
        });
      // The write and the snapshot it causes, both done before the next step.
      const step = (write: () => Promise<unknown>) =>
        Promise.all([new Promise<void>((resolve) => (snapshotArrived = resolve)), write()]);
      try {
        await step(async () => undefined);
        await step(() => db.doc('relations/l1').update({ n: 1 }));
        await step(() => db.doc('relations/l2').update({ on: false }));
      } finally {
        stop();
      }
      assert.deepEqual(sizes, [3, 3, 2]);
    },
    // Google's emulator resends l3 (and l1) unchanged with every change: not billed.
    expected: {
      total: ops(5, 2),
      overhead: ops(0, 0),
      byRelation: { l1: ops(2, 1), l2: ops(2, 1), l3: ops(1, 0) },
    },
  },
  {
    name: 'a BulkWriter of 2 writes, one failing ALREADY_EXISTS: one write (each write has its own status)',
    docs: { 'relations/w2': { n: 2 } },
    run: async (db) => {
      const writer = db.bulkWriter();
      writer.onWriteError(() => false);
      const results = [
        writer.set(db.doc('relations/w1'), { n: 1 }),
        writer
          .create(db.doc('relations/w2'), { n: 3 })
          .catch((error: { code?: number }) => error.code),
      ];
      await writer.close();
      assert.equal(await results[1], 6);
    },
    expected: { total: ops(0, 1), overhead: ops(0, 0), byRelation: { w1: ops(0, 1) } },
  },
];

describe('bench: counting Firestore operations', function () {
  this.timeout(120_000);
  // Installed for this suite only: the other suites of a mocha run load the functions' client too.
  let wire: WireCounter;
  let google: GoogleFirestore | undefined;
  const clients: Firestore[] = [];

  before(async () => {
    wire = installWireCounter();
    google = await startGoogleFirestore({ projectId: PROJECT_ID });
  });

  after(async () => {
    wire.uninstall();
    await Promise.all(clients.map((c) => c.terminate()));
    await google?.stop();
  });

  it('watches the copy of @google-cloud/firestore that the functions load', () => {
    assert.match(wire.module, /functions[/\\]node_modules[/\\]@google-cloud[/\\]firestore[/\\]/);
    assert.equal(installWireCounter(), wire, 'installed once');
    assert.equal(
      documentPath('projects/p/databases/(default)/documents/relations/x/transitions/y'),
      'relations/x/transitions/y',
    );
    assert.equal(documentPath('projects/p/databases/(default)/documents'), '');
  });

  describe("on Google's emulator", () => {
    let db: Firestore;
    before(() => {
      assert.ok(google, 'the emulator started');
      db = functionsFirestore(google.host);
      clients.push(db);
    });

    it("reads each write's shape off the wire: create, the top-level fields of an update, set, delete", async () => {
      const shapes: string[] = [];
      const stop = wire.onOp((op) => op.kind === 'writes' && shapes.push(String(op.shape)));
      try {
        const ref = db.collection('relations').doc('shaped');
        await ref.create({ stage: 'NEW' });
        await ref.update({ stage: 'PREPARATION', error: null, 'observationFaults.count': 1 });
        await db.runTransaction(async (tx) => {
          tx.update(ref, { watchUntil: null });
        });
        await ref.set({ stage: 'NEW' });
        await ref.delete();
      } finally {
        stop();
      }
      assert.deepEqual(shapes, [
        'create',
        'update:error,observationFaults,stage',
        'update:watchUntil',
        'set',
        'delete',
      ]);
    });

    for (const scenario of SCENARIOS) {
      it(scenario.name, async () => {
        await seed(db, scenario.docs);
        const emptyBefore = wire.emptyQueries;
        const [byWire] = await counted([wire], () => scenario.run(db));
        assert.deepEqual(byWire, scenario.expected, 'the wire counter');
        if (scenario.name.startsWith('a query returning nothing'))
          assert.equal(wire.emptyQueries - emptyBefore, 1);
        assert.deepEqual(wire.uncounted, {}, 'every call was one the counter knows how to bill');
      });
    }
  });

  it("bills a listener's stream as Firestore would: a deletion is free, a resend unchanged too", () => {
    const listen = BILLING.Listen.message;
    assert.ok(listen);
    const billed: string[] = [];
    const emit = (_kind: string, path: string | null) => billed.push(String(path));
    const state = {};
    const name = (id: string) => `projects/p/databases/(default)/documents/relations/${id}`;
    const doc = (id: string, seconds: number) => ({
      documentChange: { targetIds: [1], document: { name: name(id), updateTime: { seconds } } },
    });
    for (const message of [
      doc('a', 1),
      doc('b', 1),
      doc('c', 1),
      { documentDelete: { document: name('a') } },
      { documentChange: { targetIds: [], removedTargetIds: [1], document: { name: name('b') } } },
      doc('c', 1),
      doc('c', 2),
      { documentRemove: { document: name('c') } },
      { documentRemove: { document: name('x') } },
    ]) {
      listen(emit, {}, message, state);
    }
    assert.deepEqual(billed, [
      'relations/a',
      'relations/b',
      'relations/c',
      'relations/b',
      'relations/c',
      'relations/c',
    ]);
  });

  it("names what each of an order's writes is for", () => {
    const relation = 'relations/x';
    const cases: Array<[string, string | undefined, string]> = [
      [relation, 'create', 'relation created (poll)'],
      [relation, 'update:advancedAt,error,kitchenOrder,stage', 'step recorded'],
      [relation, 'update:error,flagged', 'error recorded'],
      [relation, 'update:kitchenOrderStatus,observedAt', 'observation (poll)'],
      [relation, 'update:nudgedAt', 'nudged (poll)'],
      [relation, 'update:watchUntil', 'watch ended (poll)'],
      [relation, 'update:lateUpdates', 'relation updated (lateUpdates)'],
      [`${relation}/transitions/PREPARATION-1`, 'create', 'claim: an attempt created'],
      [
        `${relation}/transitions/IN_FLIGHT-2`,
        'update:created,sendUntil',
        'attempt updated (name, send window, end)',
      ],
      [`${relation}/transitions/DELIVERED-1`, 'create', 'history entry created'],
      [`${relation}/transitions/DELIVERED-1`, 'update:sendUntil', 'history entry updated'],
      [`${relation}/transitions/CANCELLED-1`, 'delete', 'history deleted'],
      ['leases/poll', 'set', 'other (leases/poll)'],
    ];
    for (const [path, shape, purpose] of cases)
      assert.equal(writePurpose(path, shape), purpose, `${path} ${shape}`);
    const counter = new OpCounter({
      onOp(listener) {
        listener({ kind: 'writes', path: relation, shape: 'create' });
        listener({
          kind: 'writes',
          path: `${relation}/transitions/PREPARATION-1`,
          shape: 'create',
        });
        listener({ kind: 'writes', path: `${relation}/transitions/IN_FLIGHT-1`, shape: 'create' });
        listener({ kind: 'reads', path: relation });
        return () => undefined;
      },
    });
    assert.deepEqual(counter.writesFor.get('x'), {
      'relation created (poll)': 1,
      'claim: an attempt created': 2,
    });
  });

  it('attributes each operation to its relation, the rest to the shared overhead', () => {
    const source: OpSource = {
      onOp(listener) {
        for (const path of [
          'relations/x',
          'relations/x/transitions/PREPARATION-1',
          'leases/poll',
          null,
        ])
          listener({ kind: 'reads', path });
        listener({ kind: 'reads', path: 'relations/y', method: 'RunQuery' });
        return () => undefined;
      },
    };
    const counter = new OpCounter(source);
    assert.deepEqual(Object.fromEntries(counter.byRelation), { x: ops(2, 0), y: ops(1, 0) });
    assert.deepEqual(counter.overhead, ops(2, 0));
    assert.deepEqual(Object.fromEntries(counter.pollReads), { y: 1 });
  });
});
