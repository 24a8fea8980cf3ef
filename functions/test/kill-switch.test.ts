// The kill switch (controls/orchestrator), flipped as an operator flips it
// (`npm run ops -- pause` / `resume`), on Google's Firestore emulator: while
// paused, orders keep arriving and nothing calls the food service, counted
// where the calls would arrive; state is kept as it was; after the resume,
// every order finishes without a person, including relations whose events
// were dropped during the pause (woken by the poller at once, long before the
// stall nudge would have: the claim lease is 240 s here).
import type { DocumentData } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import { killSwitchCache } from '../src/engine/kill-switch';
import {
  killSwitchRef,
  parseKillSwitch,
  readKillSwitch,
  setKillSwitch,
} from '../src/store/controls';
import { db } from '../src/store/db';
import { newRelation, relationId, RELATIONS } from '../src/store/schema';
import { ops } from './helpers/ops';
import { clearFirestore, startStack, type Stack } from './helpers/stack';

const FINAL = new Set(['DELIVERED', 'REJECTED', 'CANCELLED']);

/** Every call the simulator received, of any method and outcome. */
function callsReceived(stack: Stack): number {
  return Object.values(stack.service.stats().calls).reduce(
    (sum, method) => sum + method.ok + Object.values(method.failed).reduce((a, b) => a + b, 0),
    0,
  );
}

/** Every relation, by id, without the fields a test wrote by hand. */
async function relations(): Promise<Map<string, DocumentData>> {
  const snapshot = await db().collection(RELATIONS).get();
  return new Map(snapshot.docs.map((doc) => [doc.id, doc.data()]));
}

async function pollNowStatus(stack: Stack): Promise<{ status: number; body: { paused?: string } }> {
  const response = await fetch(`${stack.functions.httpUrl}/pollFoodServiceNow`, { method: 'POST' });
  return { status: response.status, body: (await response.json()) as { paused?: string } };
}

describe('the kill switch', function () {
  this.timeout(180_000);
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('pause: orders keep arriving, nothing calls the food service, state is kept; resume: every order finishes', async () => {
    stack = await startStack({ service: { rejectRate: 0.3, seed: 7 } });
    const before = stack.service.placeOrders(6);
    await stack.cycle(); // 6 relations, each with a kitchen order
    stack.service.tick();
    stack.service.tick(); // some kitchen orders PACKAGED…
    await stack.cycle(); // …so some relations are IN_FLIGHT

    const paused = await ops([
      'pause',
      '--reason',
      'the food service is overloaded',
      '--by',
      'alice',
    ]);
    assert.equal(paused.code, 0, paused.output);
    assert.match(paused.output, /controls\/orchestrator: paused by alice/);
    const shown = await ops(['switch']);
    assert.match(shown.output, /"paused": true/);
    assert.match(shown.output, /"reason": "the food service is overloaded"/);

    const calls = callsReceived(stack);
    const kept = await relations();

    // While paused: customers order and cancel, kitchens and drones go on, the clock keeps firing,
    // and relations are still written (here a NEW one, as a poll that began before the pause would).
    const during = stack.service.placeOrders(4);
    stack.service.cancelOrder(during[0]);
    stack.service.tick();
    stack.service.tick();
    const late = during[1];
    await db()
      .collection(RELATIONS)
      .doc(relationId(late))
      .create(newRelation(late, 'customer-late', new Date()));
    for (let i = 0; i < 3; i++) {
      const answer = await pollNowStatus(stack);
      assert.equal(answer.status, 503, 'pollFoodServiceNow answers 503 while paused');
      assert.match(
        answer.body.paused ?? '',
        /paused by alice at .*: the food service is overloaded/,
      );
      await stack.settle();
    }
    // Cloud Scheduler's invocation runs, and polls nothing (due 59 s ago: only its minute's last slots are left to serve).
    assert.equal(
      await stack.functions.fireSchedule('pollFoodService', new Date(Date.now() - 59_000)),
      200,
    );
    await stack.settle();
    assert.equal(callsReceived(stack), calls, 'not one call reached the food service while paused');
    const whilePaused = await relations();
    assert.equal(whilePaused.size, kept.size + 1, 'only the relation written by hand is new');
    for (const [id, data] of kept)
      assert.deepEqual(whilePaused.get(id), data, `relation ${id} is kept exactly as it was`);
    assert.equal(
      whilePaused.get(relationId(late))?.stage,
      'NEW',
      'its event was dropped, nothing was done for it',
    );

    const resumed = await ops(['resume', '--reason', 'the food service is back', '--by', 'alice']);
    assert.equal(resumed.code, 0, resumed.output);
    assert.match(resumed.output, /resumed by alice/);

    // The first poll after the resume catches up: news is observed, and the relation whose
    // event was dropped is woken although it is far from stalled (240 s).
    const resumedAt = Date.now();
    await stack.cycle();
    const woken = await stack.relation(late);
    assert.equal(
      woken?.stage,
      'PREPARATION',
      'the relation written during the pause took its step after the first poll',
    );
    assert.ok(Date.now() - resumedAt < 60_000);

    const orders = [...before, ...during];
    for (let round = 0; round < 40; round++) {
      const open = (await Promise.all(orders.map((o) => stack.food.getOrder(o)))).filter(
        (o) => !FINAL.has(String(o.status)),
      );
      if (open.length === 0) break;
      stack.service.tick();
      await stack.cycle();
    }
    for (const order of orders) {
      const status = String((await stack.food.getOrder(order)).status);
      assert.ok(FINAL.has(status), `${order} finished on the food service (${status})`);
      const relation = await stack.relation(order);
      if (!relation) {
        assert.equal(
          order,
          during[0],
          'only the order cancelled during the pause, before any poll, has no relation',
        );
        continue;
      }
      assert.equal(relation.stage, status, `${order}: the relation ended as its order did`);
      assert.equal(relation.error, null);
      assert.deepEqual(relation.possibleOrphans, []);
    }
    const stats = stack.service.stats();
    const all = await relations();
    assert.equal(
      stats.kitchenOrdersCreated,
      [...all.values()].filter((r) => r.kitchenOrder).length,
      'no duplicate kitchen order',
    );
    assert.equal(
      stats.shipmentsCreated,
      [...all.values()].filter((r) => r.shipment).length,
      'no duplicate shipment',
    );
  });

  it('pause and resume are recorded with who and why, and flipping to the same state changes nothing', async () => {
    await clearFirestore();
    assert.deepEqual(await readKillSwitch(), {
      paused: false,
      by: null,
      reason: null,
      at: null,
      resumedAt: null,
      problem: null,
    });
    const t0 = new Date('2030-01-01T00:00:00Z');
    assert.equal(await setKillSwitch(true, { who: 'bob', why: 'incident 42' }, t0), 'changed');
    assert.equal(
      await setKillSwitch(true, { who: 'carol', why: 'me too' }, new Date(t0.getTime() + 1000)),
      'unchanged',
    );
    assert.deepEqual(await readKillSwitch(), {
      paused: true,
      by: 'bob',
      reason: 'incident 42',
      at: t0,
      resumedAt: null,
      problem: null,
    });
    const t1 = new Date(t0.getTime() + 60_000);
    assert.equal(await setKillSwitch(false, { who: 'bob', why: 'fixed' }, t1), 'changed');
    assert.deepEqual(await readKillSwitch(), {
      paused: false,
      by: 'bob',
      reason: 'fixed',
      at: t1,
      resumedAt: t1,
      problem: null,
    });

    const refused = await ops(['pause']);
    assert.equal(refused.code, 2);
    assert.match(refused.output, /pause needs --reason/);
  });

  it('a malformed switch counts as paused, and says what is wrong', async () => {
    await clearFirestore();
    await killSwitchRef().set({ paused: 'yes', at: 'yesterday' });
    const state = await readKillSwitch();
    assert.equal(state.paused, true);
    assert.match(
      state.problem ?? '',
      /controls\/orchestrator is malformed \(paused: expected true or false, got "yes"; at: expected a timestamp/,
    );
    // The supported way back writes a well-formed document.
    assert.equal(
      await setKillSwitch(false, { who: 'bob', why: 'fixed the hand edit' }, new Date()),
      'changed',
    );
    assert.equal((await readKillSwitch()).paused, false);
    assert.deepEqual(
      parseKillSwitch({
        exists: false,
        data: () => undefined,
        ref: { path: 'controls/orchestrator' },
      }).paused,
      false,
    );
  });

  it('an instance trusts its last read for PAUSE_CHECK_SECONDS, then reads again', async () => {
    await clearFirestore();
    const now = new Date();
    try {
      const minute = killSwitchCache(60_000);
      assert.equal((await minute(now)).paused, false);
      await setKillSwitch(true, { who: 'bob', why: 'test' }, now);
      assert.equal((await minute(now)).paused, false, 'within the period the cached state holds');
      assert.equal(
        (await minute(new Date(now.getTime() + 60_000))).paused,
        true,
        'after it, the switch is read again',
      );
      assert.equal(
        (await killSwitchCache(0)(now)).paused,
        true,
        'PAUSE_CHECK_SECONDS 0 reads every time',
      );
    } finally {
      await setKillSwitch(false, { who: 'bob', why: 'test' }, new Date());
    }
  });
});
