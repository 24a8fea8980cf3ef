// The supported retry of a flagged relation, through the operator's command
// (`npm run ops`) as a person runs it, against the same Firestore emulator.
import { Timestamp } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import { db } from '../src/store/db';
import { relationId } from '../src/store/schema';
import { ops } from './helpers/ops';
import { startStack, type Stack } from './helpers/stack';

async function untilRetryDue(stack: Stack, order: string): Promise<void> {
  const retryAt = ((await stack.relation(order))?.error?.retryAt as Timestamp | undefined)?.toMillis() ?? 0;
  const deadline = Date.now() + 30_000;
  while (Date.now() <= retryAt && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('npm run ops: retrying a flagged relation', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('a step whose attempts ran out is retried by a person, recorded with who and why, and the order finishes', async () => {
    stack = await startStack({ proxy: {}, env: { MAX_AMBIGUOUS_RETRIES: '1' }, service: { rejectRate: 0 } });
    const [order] = stack.service.placeOrders(1);
    // Twice the kitchen makes the order and the connection drops before the reply: two possible duplicates.
    let drops = 2;
    stack.service.onServed((method) => {
      if (method === 'CreateKitchenOrder' && drops > 0) {
        drops--;
        stack.proxy?.cutAll();
      }
    });
    await stack.cycle();
    for (let round = 0; round < 2; round++) {
      await untilRetryDue(stack, order);
      await stack.cycle();
    }
    const flagged = await stack.relation(order);
    assert.equal(flagged?.error?.code, 'ATTEMPTS_EXHAUSTED', JSON.stringify(flagged?.error));
    assert.equal(flagged?.possibleOrphans.length, 2);

    const shown = await ops(['show', order]);
    assert.equal(shown.code, 0, shown.output);
    const view = JSON.parse(shown.output) as { relation: { error: { code: string } }; history: Array<{ id: string }> };
    assert.equal(view.relation.error.code, 'ATTEMPTS_EXHAUSTED');
    assert.deepEqual(
      view.history.map((h) => h.id),
      ['PREPARATION-1', 'PREPARATION-2'],
    );

    const refused = await ops(['retry', order]);
    assert.equal(refused.code, 2, 'a retry without a reason is a usage error');
    assert.match(refused.output, /retry needs --reason/);

    const retried = await ops([
      'retry',
      order,
      '--reason',
      'checked the kitchen: both earlier orders were cancelled by hand',
      '--by',
      'alice',
    ]);
    assert.equal(retried.code, 0, retried.output);
    assert.match(retried.output, /flag cleared by alice; attempt 2 approved/);
    await stack.settle();

    let relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION', JSON.stringify(relation?.error));
    assert.equal(relation?.error, null);
    const history = await stack.transitions(order);
    const entry = history.find((h) => String(h.id).startsWith('retry-'));
    assert.equal(entry?.by, 'alice');
    assert.match(String(entry?.reason), /cancelled by hand/);
    assert.equal(entry?.cleared.code, 'ATTEMPTS_EXHAUSTED');
    assert.equal(history.find((h) => h.id === 'PREPARATION-2')?.approvedBy, 'alice');

    for (let round = 0; round < 3; round++) {
      stack.service.tick();
      stack.service.tick();
      await stack.cycle();
    }
    relation = await stack.relation(order);
    assert.equal(relation?.stage, 'DELIVERED');
    assert.equal(relation?.possibleOrphans.length, 2, 'the notes stay for the record');
  });

  it('refuses to retry a relation that is not flagged, or one whose step an attempt still holds', async () => {
    stack = await startStack({ autoDeliver: false });
    const [order] = stack.service.placeOrders(1);
    await stack.pollNow();
    const notFlagged = await ops(['retry', order, '--reason', 'just because']);
    assert.equal(notFlagged.code, 1);
    assert.match(notFlagged.output, /is not flagged; nothing to retry/);

    // Flagged, but an attempt at the step is still under its lease.
    const ref = db().collection('relations').doc(relationId(order));
    await ref
      .collection('transitions')
      .doc('PREPARATION-1')
      .create({
        step: 'createKitchenOrder',
        from: 'NEW',
        to: 'PREPARATION',
        attempt: 1,
        holder: 'live',
        eventId: 'e',
        claimedAt: Timestamp.now(),
        leaseExpiresAt: Timestamp.fromMillis(Date.now() + 60_000),
        created: null,
        failure: null,
      });
    await ref.update({
      error: {
        step: 'document',
        code: 'INCONSISTENT',
        message: 'looked odd',
        transient: false,
        failures: 1,
        at: Timestamp.now(),
        retryAt: null,
      },
    });
    const live = await ops(['retry', order, '--reason', 'try again']);
    assert.equal(live.code, 1);
    assert.match(live.output, /holds its claim until .*retrying now could create a second one/);
    assert.equal((await stack.relation(order))?.error?.code, 'INCONSISTENT', 'nothing changed');

    const unknown = await ops(['show', 'orders/no-such-order']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.output, /has no relation/);
  });
});
