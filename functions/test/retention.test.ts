// Retention: a finished relation gets expireAt (finished + RETENTION_DAYS),
// written in the transaction that finishes it; nothing active ever carries
// it, and nothing a person still has to act on (a kept flag, an open
// possible orphan) until the repair that settles it. Its history never
// carries expireAt: possible orphans are derived from it, so it goes only
// with its relation (forgetHistory deletes it when the relation is deleted).
// Google's Firestore emulator does not delete by TTL, so what is tested is
// the field, and forgetHistory called as the platform calls it.
import { Timestamp, type DocumentData } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import { isTerminal, isStage } from '../src/model/stage';
import { db, store } from '../src/store/db';
import { recordProgress } from '../src/engine/records';
import { EXPIRE_AT, expiryFor, relationId, RELATIONS, TRANSITIONS } from '../src/store/schema';
import firebaseFunctionsTest from 'firebase-functions-test';

import { forgetHistory } from '../src/triggers/forget-history';
import { ago, ops, orphanNote, seedRelation } from './helpers/ops';
import { captureEvent, deliver, startStack, type Stack } from './helpers/stack';
import { emulator, PROJECT_ID } from './setup';

const RETENTION_DAYS = 7;
const DAY_MS = 86_400_000;

interface Stored {
  id: string;
  data: DocumentData;
  history: Array<{ id: string; data: DocumentData }>;
}

async function everyRelation(): Promise<Stored[]> {
  const snapshot = await db().collection(RELATIONS).get();
  return Promise.all(
    snapshot.docs.map(async (doc) => ({
      id: doc.id,
      data: doc.data(),
      history: (await doc.ref.collection(TRANSITIONS).get()).docs.map((t) => ({
        id: t.id,
        data: t.data(),
      })),
    })),
  );
}

/** A finished relation names every document of its history, so forgetHistory can delete them without listing them. */
function assertNamesItsHistory(relation: Stored): void {
  // A finish's entry, written before its update, may be left unnamed by a cancel over it: forgetHistory deletes both by name.
  const named = new Set([...(relation.data.history as string[]), 'DELIVERED-1', 'REJECTED-1']);
  const unnamed = relation.history.map((entry) => entry.id).filter((id) => !named.has(id));
  assert.deepEqual(
    unnamed,
    [],
    `${relation.id}: history ${JSON.stringify(relation.data.history)} misses documents`,
  );
}

/**
 * The one rule: expireAt on a relation iff it is finished, RETENTION_DAYS
 * after it finished, or after a person settled it (`settledAtMs`); never on
 * its history.
 */
function assertRetention(relation: Stored, settledAtMs?: number): 'finished' | 'active' {
  const stage: unknown = relation.data.stage;
  assert.ok(isStage(stage), `${relation.id}: stage ${String(stage)}`);
  const expireAt: unknown = relation.data[EXPIRE_AT];
  for (const entry of relation.history)
    assert.equal(
      entry.data[EXPIRE_AT],
      undefined,
      `${relation.id}/${entry.id}: history never expires on its own`,
    );
  if (!isTerminal(stage)) {
    assert.equal(
      expireAt,
      undefined,
      `${relation.id} is ${stage}: a live relation never carries expireAt`,
    );
    return 'active';
  }
  assert.ok(expireAt instanceof Timestamp, `${relation.id} is ${stage}: it carries expireAt`);
  const finishedAt = settledAtMs ?? (relation.data.advancedAt as Timestamp).toMillis();
  assert.equal(
    expireAt.toMillis(),
    finishedAt + RETENTION_DAYS * DAY_MS,
    `${relation.id}: RETENTION_DAYS after it finished`,
  );
  assert.ok(relation.history.length >= 1);
  return 'finished';
}

/** Finished, but waiting for a person: it may not expire. */
function assertKept(relation: Stored): void {
  const stage: unknown = relation.data.stage;
  assert.ok(isStage(stage) && isTerminal(stage), `${relation.id} is finished`);
  assert.equal(
    relation.data[EXPIRE_AT],
    undefined,
    `${relation.id} waits for a person: no expireAt`,
  );
  for (const entry of relation.history)
    assert.equal(entry.data[EXPIRE_AT], undefined, `${relation.id}/${entry.id}: no expireAt`);
}

/** When a repair's history entry (`retry-…`, `resolve-orphan-…`) says it happened. */
function repairedAt(relation: Stored, prefix: string): number {
  const entry = relation.history.find((t) => t.id.startsWith(prefix));
  assert.ok(entry, `${relation.id} has a ${prefix} entry`);
  return (entry.data.at as Timestamp).toMillis();
}

describe('retention', function () {
  this.timeout(180_000);
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('computes expiry RETENTION_DAYS after the finish', () => {
    assert.equal(
      expiryFor(new Date('2030-01-31T10:00:00Z'), 30).toISOString(),
      '2030-03-02T10:00:00.000Z',
    );
  });

  it('every finished relation carries expireAt, no active one does, and no history ever does, at every point of a run', async () => {
    stack = await startStack({
      env: { RETENTION_DAYS: String(RETENTION_DAYS) },
      service: { controllerIntervalMs: 0, rejectRate: 0.3, seed: 11 },
    });
    const orders = stack.service.placeOrders(12);
    await stack.cycle();
    stack.service.cancelOrder(orders[0]); // cancelled at PREPARATION
    const seen = { finished: 0, active: 0 };
    for (let round = 0; round < 12; round++) {
      if (round === 3) stack.service.cancelOrder(orders[1]);
      stack.service.tick();
      await stack.cycle();
      // Checked after every round, while some relations are still at work.
      for (const relation of await everyRelation()) seen[assertRetention(relation)]++;
      const open = await db().collection(RELATIONS).where('active', '==', true).count().get();
      if (open.data().count === 0) break;
    }
    const final = await everyRelation();
    assert.equal(final.length, orders.length);
    const stages = new Set(final.map((r) => String(r.data.stage)));
    for (const stage of ['DELIVERED', 'REJECTED', 'CANCELLED'])
      assert.ok(stages.has(stage), `some relation ended ${stage}: ${[...stages]}`);
    for (const relation of final) {
      assert.equal(assertRetention(relation), 'finished');
      assertNamesItsHistory(relation);
    }
    assert.ok(
      seen.active > 0 && seen.finished > 0,
      `live and finished relations were both checked: ${JSON.stringify(seen)}`,
    );
  });

  it('a finished relation made active again by hand loses expireAt before anything else; finishing again sets it anew', async () => {
    stack = await startStack({
      autoDeliver: false,
      env: { RETENTION_DAYS: String(RETENTION_DAYS) },
      service: { rejectRate: 0 },
    });
    const [order] = stack.service.placeOrders(1);
    const ref = db().collection(RELATIONS).doc(relationId(order));
    const document = `${RELATIONS}/${relationId(order)}`;
    // Drive it to DELIVERED, one captured event at a time: first the events of earlier writes go by.
    const quiet = () => emulator().receiver.barrier(emulator().firestore);
    const step = async (write: () => Promise<unknown>) => {
      await quiet();
      const event = captureEvent(document);
      await event.armed;
      await write();
      await deliver(await event);
    };
    await step(() => stack.pollNow()); // created → PREPARATION
    stack.service.tick();
    stack.service.tick();
    await step(() => stack.pollNow()); // PACKAGED → IN_FLIGHT
    stack.service.tick();
    stack.service.tick();
    await step(() => stack.pollNow()); // DELIVERED → finished
    const finished = (await everyRelation())[0];
    assert.equal(finished.data.stage, 'DELIVERED');
    assert.equal(assertRetention(finished), 'finished');

    // A person puts it back in flight, say after restoring it from a backup.
    await quiet();
    const reopen = captureEvent(document);
    await reopen.armed;
    await ref.update({ stage: 'IN_FLIGHT', active: true, outcome: null });
    const reopenEvent = await reopen;
    const cleared = captureEvent(document);
    await cleared.armed;
    await deliver(reopenEvent);
    const reopened = (await everyRelation())[0];
    assert.equal(reopened.data.stage, 'IN_FLIGHT');
    assert.equal(assertRetention(reopened), 'active');

    // The trigger's own write brings the next event: the order is DELIVERED, so it finishes again, with a new expiry.
    await deliver(await cleared);
    const again = (await everyRelation())[0];
    assert.equal(again.data.stage, 'DELIVERED');
    assert.equal(assertRetention(again), 'finished');
    assert.ok(
      (again.data[EXPIRE_AT] as Timestamp).toMillis() >=
        (finished.data[EXPIRE_AT] as Timestamp).toMillis(),
    );
  });

  it('a closed, flagged relation does not expire until a person clears it; the retry then stamps it', async () => {
    stack = await startStack({ env: { RETENTION_DAYS: String(RETENTION_DAYS) } });
    const [order] = stack.service.placeOrders(1);
    await stack.cycle();
    const ref = db().collection(RELATIONS).doc(relationId(order));
    // A flag (as a malformed claim would leave), then the customer cancels: the relation is closed, keeping the flag.
    await ref.update({
      error: {
        step: 'document',
        code: 'INVALID_CLAIM',
        message: 'a hand-edited claim',
        transient: false,
        failures: 1,
        at: Timestamp.now(),
        retryAt: null,
      },
    });
    stack.service.cancelOrder(order);
    await stack.cycle();
    const closed = await stack.relation(order);
    assert.equal(closed?.stage, 'CANCELLED');
    assert.equal(closed?.error?.code, 'INVALID_CLAIM');
    assertKept((await everyRelation())[0]);

    const retried = await ops(
      ['retry', order, '--reason', 'checked: the claim was a test edit', '--by', 'dana'],
      {
        RETENTION_DAYS: String(RETENTION_DAYS),
      },
    );
    assert.equal(retried.code, 0, retried.output);
    await stack.settle();
    const [relation] = await everyRelation();
    assert.equal(assertRetention(relation, repairedAt(relation, 'retry-')), 'finished');
    assertNamesItsHistory(relation);
  });

  it('a relation that finishes with a possible orphan nobody resolved does not expire; resolving it stamps it', async () => {
    await seedRelation('kept-1', {
      stage: 'IN_FLIGHT',
      kitchenOrder: 'kitchenorders/k1',
      shipment: 'shipments/s1',
      possibleOrphans: [orphanNote(2, 'kitchenorders/k0')],
      hasOpenOrphans: true,
    });
    const ref = db().collection(RELATIONS).doc(relationId('orders/kept-1'));
    const recorded = await recordProgress(
      store().doc(ref.path),
      {
        step: 'finish',
        from: 'IN_FLIGHT',
        to: 'DELIVERED',
        eventId: 'e-finish',
        retentionDays: RETENTION_DAYS,
        lateWriteWatchMs: 60_000,
      },
      new Date(),
    );
    assert.equal(recorded, 'recorded');
    const kept = async () => (await everyRelation()).filter((r) => r.id === ref.id);
    const [finished] = await kept();
    assert.equal(finished.data.stage, 'DELIVERED');
    assertKept(finished);

    const resolved = await ops(
      [
        'resolve-orphan',
        'orders/kept-1',
        'kitchenorders/k0',
        '--note',
        'cancelled k0 in the kitchen',
      ],
      {
        RETENTION_DAYS: String(RETENTION_DAYS),
      },
    );
    assert.equal(resolved.code, 0, resolved.output);
    const [settled] = await kept();
    assert.equal(settled.history.length, 4, 'the two attempts, the finish and the resolution');
    assert.ok(
      (settled.data.history as string[]).some((id) => id.startsWith('resolve-orphan-')),
      'the resolution is named',
    );
    assert.equal(assertRetention(settled, repairedAt(settled, 'resolve-orphan-')), 'finished');
  });

  it('a deleted relation takes its history with it: forgetHistory, called as the platform calls it on the delete', async () => {
    await seedRelation('gone-1', {
      stage: 'DELIVERED',
      active: false,
      kitchenOrder: 'kitchenorders/k1',
      possibleOrphans: [
        orphanNote(1, 'kitchenorders/k0', { by: 'dana', note: 'cancelled k0', at: ago(60) }),
      ],
    });
    const ref = db().collection(RELATIONS).doc(relationId('orders/gone-1'));
    await ref.collection(TRANSITIONS).doc('DELIVERED-1').set({ step: 'finish', attempt: 1 });
    await seedRelation('kept-2');
    await db()
      .collection(RELATIONS)
      .doc(relationId('orders/kept-2'))
      .collection(TRANSITIONS)
      .doc('retry-1')
      .set({ step: 'retry' });
    assert.equal((await ref.collection(TRANSITIONS).get()).size, 2);
    await ref.delete(); // as the TTL policy would
    const fft = firebaseFunctionsTest({ projectId: PROJECT_ID });
    try {
      const forget = fft.wrap(
        forgetHistory as unknown as Parameters<typeof fft.wrap>[0],
      ) as unknown as (event: object) => Promise<unknown>;
      await forget({ params: { orderId: ref.id } });
      assert.equal(
        (await ref.collection(TRANSITIONS).get()).size,
        0,
        'the history went with the relation',
      );
      await forget({ params: { orderId: ref.id } }); // a redelivery deletes nothing more, and does not fail

      // A relation that names its history: deleted by name, the finishes' entries with it, then what is left.
      const named = db().collection(RELATIONS).doc(relationId('orders/gone-2'));
      await named
        .collection(TRANSITIONS)
        .doc('PREPARATION-1')
        .set({ step: 'createKitchenOrder', attempt: 1 });
      await named
        .collection(TRANSITIONS)
        .doc('PREPARATION-2')
        .set({ step: 'createKitchenOrder', attempt: 2 });
      await named.collection(TRANSITIONS).doc('CANCELLED-1').set({ step: 'cancel', attempt: 1 });
      await named.collection(TRANSITIONS).doc('DELIVERED-1').set({ step: 'finish', attempt: 1 }); // a finish cancelled over
      await named
        .collection(TRANSITIONS)
        .doc('PREPARATION-3')
        .set({ step: 'createKitchenOrder', attempt: 3 }); // recorded by an older instance
      const data = {
        stage: 'CANCELLED',
        history: ['PREPARATION-1', 'PREPARATION-2', 'CANCELLED-1'],
      };
      await forget({
        params: { orderId: named.id },
        data: fft.firestore.makeDocumentSnapshot(data, named.path),
      });
      assert.equal(
        (await named.collection(TRANSITIONS).get()).size,
        0,
        'the named history, the unnamed finish and what an older instance left went with it',
      );
    } finally {
      fft.cleanup();
    }
    const other = await db()
      .collection(RELATIONS)
      .doc(relationId('orders/kept-2'))
      .collection(TRANSITIONS)
      .get();
    assert.equal(other.size, 1, "another relation's history is left alone");
  });
});
