// The embedded Firestore (npm start's fallback without Java) ignores query
// cursors and cannot order by document id. A poll pages through the active
// relations with both, so there it must fail loudly past one page, never
// hand the same page back forever; within one page it works.
import { strict as assert } from 'node:assert';

import { activeRelationPages } from '../../functions/src/store/relations';
import { newRelation } from '../../functions/src/store/schema';
import { db, standaloneFirestore, useFirestore } from '../../functions/src/store/db';
import { startEmbeddedFirestore, type EmbeddedFirestore } from '../firestore';

describe('the embedded Firestore and the poll’s relation pages', function () {
  this.timeout(60_000);
  let embedded: EmbeddedFirestore;
  let saved: string | undefined;

  before(async () => {
    embedded = await startEmbeddedFirestore();
    saved = process.env.FIRESTORE_EMULATOR_HOST;
    // The client reads the emulator's address when it is made.
    process.env.FIRESTORE_EMULATOR_HOST = embedded.host;
    useFirestore(standaloneFirestore('demo-embedded-paging'));
  });

  after(() => {
    if (saved === undefined) delete process.env.FIRESTORE_EMULATOR_HOST;
    else process.env.FIRESTORE_EMULATOR_HOST = saved;
    embedded.stop();
  });

  async function seed(ids: string[]): Promise<void> {
    const batch = db().batch();
    for (const id of ids) batch.set(db().collection('relations').doc(id), newRelation(`orders/${id}`, 'c', new Date()));
    await batch.commit();
  }

  async function readAll(pageSize: number): Promise<string[]> {
    const ids: string[] = [];
    for await (const page of activeRelationPages(pageSize)) ids.push(...page.map((r) => r.ref.id));
    return ids;
  }

  it('reads one page, in whatever order it comes', async () => {
    embedded.clear();
    await seed(['c3', 'a1', 'b2']);
    assert.deepEqual((await readAll(5)).sort(), ['a1', 'b2', 'c3']);
  });

  it('refuses to page where the cursor is ignored, with what is wrong', async () => {
    embedded.clear();
    // Written out of id order: the emulator returns them as written, whatever the cursor says.
    await seed(['e5', 'a1', 'd4', 'b2', 'c3', 'f6', 'g7']);
    await assert.rejects(
      readAll(3),
      /out of id order .*does not honour orderBy\(documentId\(\)\) and startAfter \(the embedded emulator does not\)/,
    );
  });
});
