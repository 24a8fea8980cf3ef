// Faults that usually heal (FAILURE_TABLE's retry-bounded codes:
// RESOURCE_EXHAUSTED, INTERNAL, ABORTED, UNKNOWN, CANCELLED) through the
// exported functions, the simulator over TLS answering them, on Google's
// Firestore emulator: one of them on a poll's look-up or a step's look flags
// nothing; FAULT_RETRY_LIMIT in a row do; a create refused with
// RESOURCE_EXHAUSTED is tried again without a note, and one that answers
// INTERNAL after doing the work is noted as a possible orphan.
import { status } from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';

import { db } from '../src/store/db';
import { relationId } from '../src/store/schema';
import { attemptEntry, startStack, type Stack } from './helpers/stack';

/** Waits, bounded, until `check` holds. */
async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** The client's in-call attempts for a read (READ_RETRY_POLICY): a fault on each fails one poll's look-up. */
const READ_ATTEMPTS = 3;

describe('faults that usually heal', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  for (const code of [status.RESOURCE_EXHAUSTED, status.INTERNAL]) {
    it(`one ${status[code]} on a poll's GetKitchenOrder flags nothing, and the shipment follows the next poll`, async () => {
      stack = await startStack({ service: { rejectRate: 0 } });
      const [order] = stack.service.placeOrders(1);
      await stack.cycle();
      assert.equal((await stack.relation(order))?.stage, 'PREPARATION');
      stack.service.tick();
      stack.service.tick(); // the kitchen order is PACKAGED
      stack.service.failNext('GetKitchenOrder', code, READ_ATTEMPTS);
      await stack.cycle();
      const faulted = await stack.relation(order);
      assert.equal(faulted?.error, null, 'not flagged');
      assert.equal(faulted?.observationError, null);
      assert.equal(faulted?.stage, 'PREPARATION');
      assert.equal(stack.service.stats().calls.GetKitchenOrder.failed[status[code]], READ_ATTEMPTS);

      await stack.cycle();
      const moved = await stack.relation(order);
      assert.equal(
        moved?.stage,
        'IN_FLIGHT',
        'the next poll saw PACKAGED and the shipment was made',
      );
      assert.equal(moved?.error, null);
      assert.equal(stack.service.stats().shipmentsCreated, 1);
    });
  }

  it('FAULT_RETRY_LIMIT polls in a row of such a fault flag the relation LOOKUP_FAILED, naming the code', async () => {
    stack = await startStack({ env: { FAULT_RETRY_LIMIT: '3' } });
    const [order] = stack.service.placeOrders(1);
    await stack.cycle();
    stack.service.failAll('GetKitchenOrder', { code: status.INTERNAL, when: 'before' });
    await stack.cycle(2);
    const counting = await stack.relation(order);
    assert.equal(counting?.error, null, 'two polls in a row: still retried');
    await stack.cycle();
    const flagged = await stack.relation(order);
    assert.equal(flagged?.error?.code, 'LOOKUP_FAILED');
    assert.equal(flagged?.error?.transient, false);
    assert.match(
      String(flagged?.error?.message),
      /GetKitchenOrder kitchenorders\/\S+: INTERNAL: .*3 polls in a row/,
    );
    stack.service.failAll('GetKitchenOrder', undefined);
  });

  it('an outage between two such faults neither counts nor clears, and a clean poll starts the count again', async () => {
    stack = await startStack({ env: { FAULT_RETRY_LIMIT: '3' } });
    const [order] = stack.service.placeOrders(1);
    await stack.cycle();
    for (const code of [status.ABORTED, status.UNAVAILABLE, status.UNKNOWN]) {
      stack.service.failNext('GetKitchenOrder', code, READ_ATTEMPTS);
      await stack.cycle();
    }
    assert.equal(
      (await stack.relation(order))?.error,
      null,
      'two faults that usually heal, an outage between them',
    );
    const counted = (await db().collection('relations').doc(relationId(order)).get()).get(
      'observationFaults',
    ) as {
      count?: unknown;
      code?: unknown;
    };
    assert.deepEqual(
      [counted.count, counted.code],
      [2, 'UNKNOWN'],
      'the outage neither counted nor cleared',
    );
    await stack.cycle(); // a clean poll
    for (const code of [status.CANCELLED, status.RESOURCE_EXHAUSTED]) {
      stack.service.failNext('GetKitchenOrder', code, READ_ATTEMPTS);
      await stack.cycle();
    }
    const relation = await stack.relation(order);
    assert.equal(relation?.error, null, 'the clean poll started the count again');
    const recount = (await db().collection('relations').doc(relationId(order)).get()).get(
      'observationFaults',
    ) as { count?: unknown };
    assert.equal(recount.count, 2);
    assert.equal(relation?.stage, 'PREPARATION');
  });

  it("one RESOURCE_EXHAUSTED on a step's look retries the step, and it goes on", async () => {
    stack = await startStack();
    const [order] = stack.service.placeOrders(1);
    // The look before the create (GetOrder), through all the client's attempts.
    stack.service.onCall((method) => {
      if (method === 'CreateKitchenOrder') throw new Error('the look should have failed first');
    });
    stack.service.failNext('GetOrder', status.RESOURCE_EXHAUSTED, READ_ATTEMPTS);
    await stack.cycle();
    stack.service.onCall(undefined);
    const failed = await stack.relation(order);
    assert.equal(failed?.error?.code, 'RESOURCE_EXHAUSTED');
    assert.equal(failed?.error?.transient, true, 'retried, not flagged');
    const retryAt = failed?.error?.retryAt?.getTime() ?? 0;
    await until('the retry time', () => Date.now() > retryAt);
    await stack.cycle();
    const moved = await stack.relation(order);
    assert.equal(moved?.stage, 'PREPARATION');
    assert.equal(moved?.error, null);
  });

  it('RESOURCE_EXHAUSTED on CreateKitchenOrder (nothing made) is tried again without a possible orphan', async () => {
    stack = await startStack();
    const [order] = stack.service.placeOrders(1);
    stack.service.failNext('CreateKitchenOrder', status.RESOURCE_EXHAUSTED, 1);
    await stack.cycle();
    const failed = await stack.relation(order);
    assert.equal(failed?.error?.code, 'RESOURCE_EXHAUSTED');
    assert.equal(failed?.error?.transient, true, 'a refusal that may clear: retried, not flagged');
    const retryAt = failed?.error?.retryAt?.getTime() ?? 0;
    await until('the retry time', () => Date.now() > retryAt);
    await stack.cycle();
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.deepEqual(
      relation?.possibleOrphans,
      [],
      'nothing was made by the refused create: nothing to note',
    );
    assert.equal(stack.service.stats().kitchenOrdersCreated, 1);
    const { claim } = attemptEntry(await stack.transitions(order), 'PREPARATION-1');
    assert.equal(claim.cleanFailures, 1, 'the refused try handed its attempt number on');
  });

  it('INTERNAL after CreateKitchenOrder did its work is ambiguous: the next attempt notes the possible orphan', async () => {
    stack = await startStack();
    const [order] = stack.service.placeOrders(1);
    stack.service.failNext('CreateKitchenOrder', status.INTERNAL, 1, 'after');
    await stack.cycle();
    const failed = await stack.relation(order);
    assert.equal(failed?.error?.code, 'INTERNAL');
    assert.equal(failed?.error?.transient, true);
    assert.equal(
      attemptEntry(await stack.transitions(order), 'PREPARATION-1').claim.failure?.ambiguous,
      true,
    );
    const retryAt = failed?.error?.retryAt?.getTime() ?? 0;
    await until('the retry time', () => Date.now() > retryAt);
    await stack.cycle();
    const relation = await stack.relation(order);
    assert.equal(relation?.stage, 'PREPARATION');
    assert.equal(
      stack.service.stats().kitchenOrdersCreated,
      2,
      'the server made the first one, and the step made another',
    );
    assert.equal(relation?.possibleOrphans.length, 1);
    assert.equal(
      relation?.possibleOrphans[0].attempt,
      1,
      'the first attempt is named as a possible duplicate',
    );
  });

  it('FAULT_RETRY_LIMIT tries in a row of RESOURCE_EXHAUSTED on the create flag the relation', async () => {
    stack = await startStack({ env: { FAULT_RETRY_LIMIT: '2' } });
    const [order] = stack.service.placeOrders(1);
    stack.service.failAll('CreateKitchenOrder', {
      code: status.RESOURCE_EXHAUSTED,
      when: 'before',
    });
    await stack.cycle();
    const first = await stack.relation(order);
    assert.equal(first?.error?.transient, true);
    const retryAt = first?.error?.retryAt?.getTime() ?? 0;
    await until('the retry time', () => Date.now() > retryAt);
    await stack.cycle();
    const flagged = await stack.relation(order);
    assert.equal(flagged?.error?.code, 'RESOURCE_EXHAUSTED');
    assert.equal(flagged?.error?.transient, false);
    assert.equal(flagged?.error?.failures, 2);
    assert.match(
      String(flagged?.error?.message),
      /2 tries in a row failed with faults that usually heal/,
    );
    assert.deepEqual(flagged?.possibleOrphans, []);
    stack.service.failAll('CreateKitchenOrder', undefined);
    assert.equal(stack.service.stats().kitchenOrdersCreated, 0);
  });

  it('a slow server that sheds every update: FAULT_RETRY_LIMIT tries flag the relation, though each try ends with its send window passed', async () => {
    stack = await startStack({ env: { FAULT_RETRY_LIMIT: '2' } });
    const [order] = stack.service.placeOrders(1);
    // Each call takes 1.1 s: two rounds of look and update fill the window of two 2 s deadlines.
    stack.service.setFaults({ latencyMs: 1_100 });
    stack.service.failAll('UpdateOrder', { code: status.RESOURCE_EXHAUSTED, when: 'before' });
    await stack.cycle();
    const first = await stack.relation(order);
    assert.equal(first?.error?.code, 'RESOURCE_EXHAUSTED', JSON.stringify(first?.error));
    assert.equal(first?.error?.transient, true);
    const retryAt = first?.error?.retryAt?.getTime() ?? 0;
    await until('the retry time', () => Date.now() > retryAt);
    await stack.cycle();
    const flagged = await stack.relation(order);
    assert.equal(flagged?.error?.code, 'RESOURCE_EXHAUSTED', JSON.stringify(flagged?.error));
    assert.equal(flagged?.error?.transient, false);
    stack.service.failAll('UpdateOrder', undefined);
    stack.service.setFaults({ latencyMs: 0 });
  });
});
