// The store's contract: the same tests against Google's Firestore emulator
// (through firebase-admin and store/firestore-database.ts) and against the
// simulation's memory store, so the simulation cannot drift from Firestore's
// semantics on anything the orchestrator relies on.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { status } from '@grpc/grpc-js';

import { MemoryDatabase } from '../sim/memory-database';
import { DELETE_FIELD, DOCUMENT_ID, type Database } from '../src/store/database';
import { db } from '../src/store/db';
import { FirestoreDatabase } from '../src/store/firestore-database';

const stores: Array<[string, () => Database]> = [
  ["Google's Firestore emulator", () => new FirestoreDatabase(db())],
  ['the memory store', () => new MemoryDatabase()],
];

async function rejectsWithCode(promise: Promise<unknown>, code: status): Promise<void> {
  await assert.rejects(promise, (error: { code?: unknown }) => {
    assert.equal(
      error.code,
      code,
      `expected ${status[code]}, got ${String(error.code)}: ${String(error)}`,
    );
    return true;
  });
}

for (const [name, makeStore] of stores) {
  describe(`store contract: ${name}`, function () {
    this.timeout(30_000);
    let store: Database;
    let collection: string;
    beforeEach(() => {
      store = makeStore();
      collection = `contract-${randomUUID().slice(0, 8)}`;
    });
    const doc = (id: string) => store.doc(`${collection}/${id}`);

    it('gives back what was written: strings, numbers, booleans, null, times, maps and lists', async () => {
      const at = new Date('2026-12-03T10:00:00.123Z');
      const data = {
        s: 'x',
        n: 1.5,
        i: 7,
        b: false,
        z: null,
        t: at,
        m: { a: { b: at } },
        l: [{ k: 'v', t: at }, 'y', 3],
      };
      await doc('a').create(data);
      const snapshot = await doc('a').get();
      assert.equal(snapshot.exists, true);
      assert.equal(snapshot.id, 'a');
      assert.equal(snapshot.ref.path, `${collection}/a`);
      assert.deepEqual(snapshot.data(), data);
      assert.deepEqual(snapshot.get('m.a.b'), at);
      assert.equal(snapshot.get('m.missing'), undefined);
      assert.ok(snapshot.updateTime instanceof Date);
      assert.equal(typeof snapshot.version, 'string');
    });

    it('reads a missing document as one that does not exist', async () => {
      const snapshot = await doc('none').get();
      assert.equal(snapshot.exists, false);
      assert.equal(snapshot.data(), undefined);
      assert.equal(snapshot.version, undefined);
      assert.equal(snapshot.updateTime, undefined);
    });

    it('lets exactly one create win; the others fail with ALREADY_EXISTS', async () => {
      const results = await Promise.allSettled(
        [1, 2, 3, 4, 5].map((n) => doc('one').create({ n })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results)
        if (r.status === 'rejected')
          assert.equal((r.reason as { code?: unknown }).code, status.ALREADY_EXISTS);
    });

    it('fails an update of a missing document with NOT_FOUND', async () => {
      await rejectsWithCode(doc('missing').update({ a: 1 }), status.NOT_FOUND);
      assert.equal((await doc('missing').get()).exists, false);
    });

    it('updates by dotted field path, and DELETE_FIELD removes fields at any depth', async () => {
      await doc('u').create({ a: 1, error: { code: 'X', message: 'm' }, keep: true });
      await doc('u').update({ 'error.code': 'Y', 'n.deep': 2, a: DELETE_FIELD });
      assert.deepEqual((await doc('u').get()).data(), {
        error: { code: 'Y', message: 'm' },
        n: { deep: 2 },
        keep: true,
      });
      await doc('u').update({ 'error.message': DELETE_FIELD });
      assert.deepEqual((await doc('u').get()).data(), {
        error: { code: 'Y' },
        n: { deep: 2 },
        keep: true,
      });
    });

    it('set replaces the whole document', async () => {
      await doc('s').create({ a: 1, b: 2 });
      await doc('s').set({ c: 3 });
      assert.deepEqual((await doc('s').get()).data(), { c: 3 });
    });

    it('moves the version on every write, and a stale version fails an update with FAILED_PRECONDITION', async () => {
      await doc('p').create({ n: 1 });
      const first = await doc('p').get();
      await doc('p').update(
        { n: 2 },
        { lastUpdateTime: first.version as NonNullable<typeof first.version> },
      );
      const second = await doc('p').get();
      assert.notEqual(second.version, first.version);
      assert.ok((second.updateTime as Date) >= (first.updateTime as Date));
      await rejectsWithCode(
        doc('p').update(
          { n: 3 },
          { lastUpdateTime: first.version as NonNullable<typeof first.version> },
        ),
        status.FAILED_PRECONDITION,
      );
      assert.equal((await doc('p').get()).get('n'), 2);
    });

    it('reads several documents in the order asked, missing ones included', async () => {
      await doc('x').create({ v: 'x' });
      await doc('z').create({ v: 'z' });
      const all = await store.getAll(doc('z'), doc('y'), doc('x'));
      assert.deepEqual(
        all.map((s) => [s.id, s.exists, s.get('v')]),
        [
          ['z', true, 'z'],
          ['y', false, undefined],
          ['x', true, 'x'],
        ],
      );
    });

    it('refuses undefined values and documents over 1 MiB', async () => {
      await assert.rejects(doc('bad').create({ a: undefined }));
      await rejectsWithCode(
        doc('big').create({ id: 'x'.repeat(1_100_000) }),
        status.INVALID_ARGUMENT,
      );
      assert.equal((await doc('big').get()).exists, false);
    });

    describe('transactions', () => {
      it('apply their writes together, after their reads', async () => {
        await doc('t1').create({ n: 1 });
        const result = await store.runTransaction(async (tx) => {
          const a = await tx.get(doc('t1'));
          const b = await tx.get(doc('t2'));
          tx.update(a.ref, { n: (a.get('n') as number) + 1 });
          tx.create(b.ref, { n: 10 });
          return 'done';
        });
        assert.equal(result, 'done');
        assert.equal((await doc('t1').get()).get('n'), 2);
        assert.equal((await doc('t2').get()).get('n'), 10);
      });

      it('refuse a read after a write', async () => {
        await assert.rejects(
          store.runTransaction(async (tx) => {
            tx.set(doc('w'), { n: 1 });
            await tx.get(doc('w'));
          }),
          /reads to be executed before all writes/,
        );
      });

      it('write nothing when the function throws, or when one of their writes fails', async () => {
        await doc('e0').create({ n: 0 });
        await doc('e1').create({ n: 1 });
        await assert.rejects(
          store.runTransaction(async (tx) => {
            await tx.get(doc('e1'));
            tx.update(doc('e1'), { n: 2 });
            throw new Error('changed my mind');
          }),
          /changed my mind/,
        );
        await rejectsWithCode(
          store.runTransaction(async (tx) => {
            await tx.get(doc('e1'));
            tx.update(doc('e1'), { n: 3 });
            tx.create(doc('e0'), { n: 4 });
          }),
          status.ALREADY_EXISTS,
        );
        assert.equal((await doc('e1').get()).get('n'), 1);
        assert.equal((await doc('e0').get()).get('n'), 0);
      });

      it('are isolated: 8 concurrent increments make 8', async () => {
        await doc('c').create({ n: 0 });
        await Promise.all(
          Array.from({ length: 8 }, () =>
            store.runTransaction(async (tx) => {
              const snapshot = await tx.get(doc('c'));
              tx.update(doc('c'), { n: (snapshot.get('n') as number) + 1 });
            }),
          ),
        );
        assert.equal((await doc('c').get()).get('n'), 8);
      });

      it('never commit on a stale read: a write in between is ordered before or after, never lost', async () => {
        await doc('r').create({ n: 1 });
        let outside: Promise<void> | undefined;
        await store.runTransaction(async (tx) => {
          const snapshot = await tx.get(doc('r'));
          outside ??= doc('r').set({ n: 100 });
          tx.update(doc('r'), { n: (snapshot.get('n') as number) + 1 });
        });
        await outside;
        assert.ok(
          [100, 101].includes((await doc('r').get()).get('n') as number),
          `got ${String((await doc('r').get()).get('n'))}`,
        );
      });
    });

    describe('queries', () => {
      const at = (minute: number) => new Date(Date.UTC(2026, 11, 3, 10, minute));
      beforeEach(async () => {
        await Promise.all([
          doc('a').create({ active: true, stage: 'NEW', since: at(5) }),
          doc('b').create({ active: false, stage: 'NEW', since: at(1) }),
          doc('c').create({ active: true, stage: 'PREPARATION', since: at(3) }),
          doc('d').create({ active: true, stage: 'NEW', since: at(3) }),
          doc('e').create({ active: true, stage: 'NEW' }),
          doc('f').create({ stage: 'NEW', since: at(2) }),
          doc('a')
            .collection('sub')
            .doc('x')
            .create({ active: true, stage: 'NEW', since: at(0) }),
        ]);
      });
      const ids = async (
        query:
          | ReturnType<Database['collection']>
          | ReturnType<ReturnType<Database['collection']>['where']>,
      ) => (await query.get()).docs.map((d) => d.id);

      it('filter by equality, leave out documents without the field and those of subcollections', async () => {
        assert.deepEqual(
          await ids(store.collection(collection).where('active', '==', true).orderBy(DOCUMENT_ID)),
          ['a', 'c', 'd', 'e'],
        );
        assert.equal(await store.collection(collection).where('active', '==', true).count(), 4);
        assert.deepEqual(await ids(store.collection(`${collection}/a/sub`)), ['x']);
      });

      it('page by document id with startAfter, endAt and limit', async () => {
        const base = store.collection(collection).where('active', '==', true).orderBy(DOCUMENT_ID);
        assert.deepEqual(await ids(base.limit(2)), ['a', 'c']);
        assert.deepEqual(await ids(base.startAfter('c').limit(2)), ['d', 'e']);
        assert.deepEqual(await ids(base.startAfter('a').endAt('d')), ['c', 'd']);
        assert.deepEqual(await ids(base.endAt('c')), ['a', 'c']);
      });

      it('order by a time, then the id, leaving out documents without the time; cursors on both', async () => {
        const base = store
          .collection(collection)
          .where('stage', '==', 'NEW')
          .orderBy('since')
          .orderBy(DOCUMENT_ID);
        assert.deepEqual(await ids(base), ['b', 'f', 'd', 'a']);
        assert.deepEqual(await ids(base.startAfter(at(2), 'f')), ['d', 'a']);
        assert.deepEqual(await ids(base.startAfter(at(3), 'd').limit(5)), ['a']);
        const before = store
          .collection(collection)
          .where('since', '<', at(3))
          .orderBy('since')
          .orderBy(DOCUMENT_ID);
        assert.deepEqual(await ids(before), ['b', 'f']);
      });
    });
  });
}
