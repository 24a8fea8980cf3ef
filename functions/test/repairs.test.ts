// The supported retry of a flagged relation, through the operator's command
// (`npm run ops`) as a person runs it, against the same Firestore emulator.
import { Timestamp } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { db } from '../src/store/db';
import { relationId } from '../src/store/schema';
import { attemptEntry, retryEntry, startStack, type Stack } from './helpers/stack';
import { ago, flagFields, ops, orphanNote, seedAttempt, seedRelation } from './helpers/ops';

async function untilRetryDue(stack: Stack, order: string): Promise<void> {
  const retryAt = (await stack.relation(order))?.error?.retryAt?.getTime() ?? 0;
  const deadline = Date.now() + 30_000;
  while (Date.now() <= retryAt && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Moves an order's create attempts back in time: the food service can no longer apply their creates. */
async function afterLateCreates(order: string): Promise<void> {
  const transitions = db().collection('relations').doc(relationId(order)).collection('transitions');
  for (const doc of (await transitions.get()).docs) {
    const claimedAt = doc.get('claimedAt') as Timestamp | undefined;
    if (typeof doc.get('attempt') === 'number' && claimedAt)
      await doc.ref.update({ claimedAt: Timestamp.fromMillis(claimedAt.toMillis() - 15 * 60_000) });
  }
}

describe('npm run ops: listing, retrying and resolving', function () {
  // Each command is a process of its own (ts-node and a Firestore client), a few seconds apiece on a busy machine.
  this.timeout(180_000);
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('resolving a kitchen order by name settles every note that names it (attempts that adopted it name it too)', async () => {
    stack = await startStack({ autoDeliver: false });
    const id = randomUUID();
    await seedRelation(id, {
      stage: 'IN_FLIGHT',
      kitchenOrder: 'kitchenorders/k1',
      shipment: 'shipments/s1',
      possibleOrphans: [1, 2, 3].map((attempt) => orphanNote(attempt, 'kitchenorders/k7')),
      hasOpenOrphans: true,
    });
    const order = `orders/${id}`;
    const resolved = await ops([
      'resolve-orphan',
      order,
      'kitchenorders/k7',
      '--note',
      'cancelled k7 in the kitchen',
      '--by',
      'alice',
    ]);
    assert.equal(resolved.code, 0, resolved.output);
    assert.match(resolved.output, /resolved by alice; 0 still open/);
    const relation = await stack.relation(order);
    assert.equal(relation?.hasOpenOrphans, false);
    assert.deepEqual(
      relation?.possibleOrphans.map((note) => [note.attempt, note.resolution?.by]),
      [
        [1, 'alice'],
        [2, 'alice'],
        [3, 'alice'],
      ],
    );
  });

  it('a step whose attempts ran out is retried by a person, recorded with who and why, and the order finishes', async () => {
    stack = await startStack({
      proxy: {},
      env: { MAX_AMBIGUOUS_RETRIES: '1' },
      service: { rejectRate: 0 },
    });
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

    const listed = await ops(['list', '--flagged']);
    assert.equal(listed.code, 0, listed.output);
    assert.match(
      listed.output,
      new RegExp(
        `^${order}  NEW +since \\S+  flagged: ATTEMPTS_EXHAUSTED: createKitchenOrder was attempted 2 times`,
        'm',
      ),
    );
    const orphansListed = await ops(['list', '--orphans']);
    assert.match(
      orphansListed.output,
      new RegExp(`^${order}  NEW +since \\S+  orphans: 2 possible orphan\\(s\\)`, 'm'),
    );

    const shown = await ops(['show', order]);
    assert.equal(shown.code, 0, shown.output);
    const view = JSON.parse(shown.output) as {
      relation: { error: { code: string }; health: Array<{ reason: string }> };
      history: Array<{ id: string }>;
    };
    assert.equal(view.relation.error.code, 'ATTEMPTS_EXHAUSTED');
    assert.deepEqual(
      view.relation.health.map((h) => h.reason),
      ['flagged', 'orphans'],
    );
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
    const entry = retryEntry(history);
    assert.equal(entry.by, 'alice');
    assert.match(entry.reason, /cancelled by hand/);
    assert.equal(entry.cleared.code, 'ATTEMPTS_EXHAUSTED');
    assert.equal(entry.approvedAttempt, 2);
    assert.equal(attemptEntry(history, 'PREPARATION-2').claim.approval?.by, 'alice');

    for (let round = 0; round < 3; round++) {
      stack.service.tick();
      stack.service.tick();
      await stack.cycle();
    }
    relation = await stack.relation(order);
    assert.equal(relation?.stage, 'DELIVERED');
    assert.equal(relation?.possibleOrphans.length, 2, 'the notes stay for the record');
    assert.equal(relation?.hasOpenOrphans, true, 'nobody has reconciled them yet');

    // The kitchen may still apply a create whose reply was lost: nobody can reconcile it yet.
    const early = await ops([
      'resolve-orphan',
      order,
      'PREPARATION-1',
      '--note',
      'x',
      '--by',
      'bob',
    ]);
    assert.equal(early.code, 1, early.output);
    assert.match(
      early.output,
      /refused: .*PREPARATION-1 sent its create .* may still apply it until/,
    );
    await afterLateCreates(order);

    // A person reconciles both possible orphans with the kitchen.
    const resolved = await ops([
      'resolve-orphan',
      order,
      'PREPARATION-1',
      '--note',
      'kitchen cancelled it',
      '--by',
      'alice',
    ]);
    assert.equal(resolved.code, 0, resolved.output);
    assert.match(resolved.output, /createKitchenOrder attempt 1 resolved by alice; 1 still open/);
    const twice = await ops(['resolve-orphan', order, '1', '--note', 'again', '--by', 'bob']);
    assert.equal(twice.code, 1);
    assert.match(
      twice.output,
      /refused: .*PREPARATION-1 was resolved by alice at .* \("kitchen cancelled it"\)/,
    );
    const absent = await ops(['resolve-orphan', order, 'IN_FLIGHT-1', '--note', 'x']);
    assert.equal(absent.code, 1);
    assert.match(
      absent.output,
      /refused: .*no possible orphan matches "IN_FLIGHT-1"; the relation notes: PREPARATION-1, PREPARATION-2/,
    );
    const noNote = await ops(['resolve-orphan', order, '2']);
    assert.equal(noNote.code, 2);
    assert.match(noNote.output, /needs --note/);
    assert.equal(
      (await ops(['resolve-orphan', order, '2', '--note', 'never made', '--by', 'alice'])).code,
      0,
    );

    relation = await stack.relation(order);
    assert.equal(relation?.hasOpenOrphans, false);
    assert.deepEqual(
      relation?.possibleOrphans.map((o) => [o.resolution?.by, o.resolution?.note]),
      [
        ['alice', 'kitchen cancelled it'],
        ['alice', 'never made'],
      ],
    );
    const entries = (await stack.transitions(order)).flatMap((h) =>
      h.kind === 'resolve-orphan' ? [[h.by, h.orphan.attempt, h.reason]] : [],
    );
    assert.deepEqual(entries.sort(), [
      ['alice', 1, 'kitchen cancelled it'],
      ['alice', 2, 'never made'],
    ]);
    assert.match((await ops(['list', '--orphans'])).output, /^no relation matches$/m);
  });

  it('lists stuck relations, oldest first, with pages, and refuses bad flags', async () => {
    stack = await startStack({ autoDeliver: false, env: { STUCK_NEW_SECONDS: '60' } });
    const old = randomUUID();
    const older = randomUUID();
    await Promise.all([
      seedRelation(old, { stageSince: ago(120) }),
      seedRelation(older, { stageSince: ago(240) }),
      seedRelation(randomUUID(), { stageSince: ago(10) }),
    ]);
    const env = { STUCK_NEW_SECONDS: '60' };
    const first = await ops(['list', '--stuck', '--limit', '1'], env);
    assert.equal(first.code, 0, first.output);
    assert.match(
      first.output,
      new RegExp(
        `^orders/${older}  NEW +since \\S+  stuck: in NEW for 4 min, longer than its 60 s threshold$`,
        'm',
      ),
    );
    const token = /more: add --page-token (\S+)/.exec(first.output)?.[1];
    assert.ok(token, first.output);
    const second = await ops(['list', '--stuck', '--limit', '1', '--page-token', token], env);
    assert.match(second.output, new RegExp(`^orders/${old}  NEW`, 'm'));
    const json = JSON.parse((await ops(['list', '--stuck', '--json'], env)).output) as {
      orders: Array<{ id: string }>;
    };
    assert.deepEqual(
      json.orders.map((o) => o.id),
      [older, old],
    );
    const bad = await ops(['list', '--stage', 'COOKING']);
    assert.equal(bad.code, 2);
    assert.match(bad.output, /unknown stage "COOKING"/);
    const badLimit = await ops(['list', '--limit', '500']);
    assert.equal(badLimit.code, 2);
    assert.match(badLimit.output, /limit must be an integer from 1 to 100, got "500"/);
  });

  it('clears an overwrite flag only when named with when it was raised: not one that took the place of, or came after, the one handled', async () => {
    stack = await startStack({ autoDeliver: false });
    const id = randomUUID();
    const order = `orders/${id}`;
    // The person read ATTEMPTS_EXHAUSTED; an overwrite flag took its place before they ran retry.
    const raised = ago(1);
    const at = raised.toDate().toISOString();
    await seedRelation(id, {
      stage: 'REJECTED',
      orderStatus: 'IN_FLIGHT',
      ...flagFields('ORDER_OVERWRITTEN', 'the order changed to IN_FLIGHT', raised),
    });
    const retry = (...flag: string[]) =>
      ops(['retry', order, '--reason', 'set it back to REJECTED', ...flag]);
    const refusals = [
      [
        [],
        `is flagged ORDER_OVERWRITTEN@${at}: the order changed to IN_FLIGHT\\. Set the order right`,
      ],
      [['--flag', 'ATTEMPTS_EXHAUSTED'], 'not the flag you handled \\(ATTEMPTS_EXHAUSTED\\)'],
      [['--flag', 'ORDER_OVERWRITTEN'], `then retry with --flag ORDER_OVERWRITTEN@${at}`],
      // The same code, raised again after the person set the order right (seed 28465).
      [['--flag', 'ORDER_OVERWRITTEN@2026-12-01T10:00:00.000Z'], 'not the flag you handled'],
    ] as const;
    for (const [flag, says] of refusals) {
      const refused = await retry(...flag);
      assert.equal(refused.code, 1, refused.output);
      assert.match(refused.output, new RegExp(says));
    }
    const malformed = await retry('--flag', 'ORDER_OVERWRITTEN@yesterday');
    assert.equal(malformed.code, 2);
    assert.match(malformed.output, /CODE or CODE@<when it was raised/);
    assert.equal(
      (await stack.relation(order))?.error?.code,
      'ORDER_OVERWRITTEN',
      'nothing changed',
    );
    // It ended a second ago: a held REJECTED of ours may still land, and would read as the fix.
    const early = await retry('--flag', `ORDER_OVERWRITTEN@${at}`);
    assert.equal(early.code, 1, early.output);
    assert.match(early.output, /ended REJECTED; an update of ours may still land .* until /);
    await db()
      .collection('relations')
      .doc(id)
      .update({ stageSince: ago(15 * 60) });
    const named = await retry('--flag', `ORDER_OVERWRITTEN@${at}`);
    assert.equal(named.code, 0, named.output);
    const relation = await stack.relation(order);
    assert.equal(relation?.error, null);
    assert.ok(relation?.vouchedFrom && relation.vouchedUpdateTime, JSON.stringify(relation));
    assert.ok(relation.vouchedFrom < relation.vouchedUpdateTime, 'from when ours could not land');
  });

  it("counts time by Firestore's clock, not the machine the person runs it on: a laptop 30 s fast is refused until no update of ours can land", async () => {
    stack = await startStack({ autoDeliver: false });
    const id = randomUUID();
    const order = `orders/${id}`;
    const raised = ago(1);
    const at = raised.toDate().toISOString();
    // It ended REJECTED long enough ago that no update of ours can land 10 s from now.
    await seedRelation(id, {
      stage: 'REJECTED',
      orderStatus: 'IN_FLIGHT',
      stageSince: Timestamp.fromMillis(Date.now() + 10_000 - 845_000),
      ...flagFields('ORDER_OVERWRITTEN', 'the order changed to IN_FLIGHT', raised),
    });
    const fastClock = path.join(os.tmpdir(), `fast-clock-${process.pid}.cjs`);
    fs.writeFileSync(
      fastClock,
      `const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) { if (args.length === 0) super(RealDate.now() + 30000); else super(...args); }
  static now() { return RealDate.now() + 30000; }
};
`,
    );
    try {
      const retried = await ops(
        [
          'retry',
          order,
          '--reason',
          'set it back to REJECTED',
          '--flag',
          `ORDER_OVERWRITTEN@${at}`,
        ],
        { NODE_OPTIONS: `--require ${fastClock}` },
      );
      assert.equal(retried.code, 1, retried.output);
      assert.match(retried.output, /an update of ours may still land on the food service until /);
    } finally {
      fs.rmSync(fastClock, { force: true });
    }
    const relation = await stack.relation(order);
    assert.equal(relation?.error?.at.toISOString(), at, 'not raised anew by the fast clock');
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
    await seedAttempt(order, 'createKitchenOrder', 1, {
      holder: 'live',
      claimedAt: Timestamp.now(),
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
