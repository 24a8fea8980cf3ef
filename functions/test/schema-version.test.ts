// Relations carry schemaVersion. This code writes SCHEMA_VERSION and reads
// anything up to it (a document without the field predates it: version 1).
// A document a newer version wrote is left alone, as a rollback would meet
// it: the trigger neither flags nor touches it, the poller neither observes
// nor nudges it, and a person's retry is refused with the reason.
import type { DocumentData } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import { db } from '../src/store/db';
import {
  isNewerSchema,
  newRelation,
  parseRelation,
  relationId,
  RELATIONS,
  SCHEMA_VERSION,
} from '../src/store/schema';
import { ORDER, ORDER_ID } from './helpers/relations';
import { ops } from './helpers/ops';
import { captureEvent, deliver, startStack, type Stack } from './helpers/stack';

const AT = new Date('2030-06-01T12:00:00.000Z');

describe('schemaVersion', () => {
  describe('parseRelation', () => {
    it('writes the current version on new relations', () => {
      assert.equal(SCHEMA_VERSION, 1);
      assert.equal(newRelation(ORDER, 'c', AT).schemaVersion, SCHEMA_VERSION);
      assert.ok(parseRelation(newRelation(ORDER, 'c', AT), ORDER_ID).ok);
    });

    it('reads a document without the field as version 1 (written before there were versions)', () => {
      const { schemaVersion: _dropped, ...unversioned } = newRelation(ORDER, 'c', AT);
      assert.equal(_dropped, 1);
      assert.ok(parseRelation(unversioned, ORDER_ID).ok);
    });

    it('leaves a newer document unread: only its version is reported, whatever else it holds', () => {
      const newer = {
        ...newRelation(ORDER, 'c', AT),
        schemaVersion: SCHEMA_VERSION + 1,
        stage: 'PACKING',
        orderStatus: 42,
      };
      const parsed = parseRelation(newer, ORDER_ID);
      assert.ok(isNewerSchema(parsed));
      assert.equal(parsed.newerSchema, SCHEMA_VERSION + 1);
      assert.deepEqual(parsed.problems, [
        `schemaVersion: 2 is newer than this code's 1; left alone for the version that wrote it`,
      ]);
    });

    it('flags a version that is no version at all, with its value', () => {
      for (const bad of [0, -1, 1.5, '2', true]) {
        const parsed = parseRelation(
          { ...newRelation(ORDER, 'c', AT), schemaVersion: bad },
          ORDER_ID,
        );
        assert.ok(!parsed.ok && !isNewerSchema(parsed), String(bad));
        assert.ok(
          parsed.problems.some((p) => p.startsWith('schemaVersion: expected an integer from 1')),
          JSON.stringify(parsed.problems),
        );
      }
    });
  });

  describe('a relation written by a newer version', function () {
    this.timeout(60_000);
    let stack: Stack;
    afterEach(async () => stack?.stop());

    /** A document this version cannot read: a stage and a status it does not know, a field it never heard of. */
    const fromTheFuture = (order: string): DocumentData => ({
      ...newRelation(order, 'customer-1', new Date()),
      schemaVersion: SCHEMA_VERSION + 1,
      stage: 'PACKING',
      orderStatus: 'NEW',
      packingSlot: { bay: 7 },
      error: { code: 'SOMETHING_NEW', transient: 'maybe' },
    });

    it('is left alone by the trigger, the poller and the repair: no flag, no write, no call', async () => {
      stack = await startStack({ autoDeliver: false });
      const [order] = stack.service.placeOrders(1);
      const ref = db().collection(RELATIONS).doc(relationId(order));
      const created = captureEvent(`${RELATIONS}/${relationId(order)}`);
      await created.armed;
      await ref.create(fromTheFuture(order));
      const event = await created;
      const before = await ref.get();
      const calls = () => JSON.stringify(stack.service.stats().calls);
      const callsBefore = calls();

      // The trigger: the event is delivered, twice, and nothing happens.
      await deliver(event);
      await deliver(event);
      const afterTrigger = await ref.get();
      assert.equal(
        afterTrigger.updateTime?.toMillis(),
        before.updateTime?.toMillis(),
        'the trigger wrote nothing (no flag)',
      );
      assert.equal(calls(), callsBefore, 'the trigger called nothing');

      // The poller: its order is listed as NEW, and the relation is counted but not observed or nudged.
      const run = await stack.pollNow();
      assert.equal(run.polls[0].newerSchema, 1);
      assert.equal(run.polls[0].malformed, 0);
      assert.equal(run.polls[0].created, 0, 'the order has a relation: none is made for it');
      assert.equal(run.polls[0].observed + run.polls[0].nudged, 0);
      assert.equal(
        (await ref.get()).updateTime?.toMillis(),
        before.updateTime?.toMillis(),
        'the poller wrote nothing',
      );

      // A person's retry is refused, saying why.
      const retry = await ops(['retry', order, '--reason', 'looks stuck']);
      assert.equal(retry.code, 1);
      assert.match(
        retry.output,
        /written by a newer version of the orchestrator \(schemaVersion 2, this one knows 1\); repair it with that version/,
      );
      assert.deepEqual(
        (await ref.get()).data(),
        before.data(),
        'the document is exactly as the newer version left it',
      );
    });
  });
});
