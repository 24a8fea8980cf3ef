// The operator's scenario, end to end, as a person lives it: an order is
// flagged; it shows in `npm run ops -- list --flagged`, in the ops API's
// history and in the structured log (the trigger's entry and the stuck-order
// report's alert); `ops retry` clears it; the order finishes, and the report
// says so. (The live board shows the same in `npm start`, whose end-to-end
// test clicks a card open: local/test/emulators.test.ts.)
import * as grpc from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';

import { readHealthSummary } from '../src/store/health';
import { alertEntries, api, logEntries, logMark, ops } from './helpers/ops';
import { startStack, type Stack } from './helpers/stack';

describe('the operator scenario: flagged, seen, retried, finished', function () {
  this.timeout(180_000);
  let stack: Stack | undefined;
  afterEach(async () => stack?.stop());

  it('an order the kitchen refuses is flagged, listed, alerted, shown with its history, retried, and delivered', async () => {
    const mark = logMark();
    stack = await startStack({ service: { rejectRate: 0 } });

    // 1. The kitchen turns the create down: a refusal waits for a person.
    const [order] = stack.service.placeOrders(1);
    const id = order.slice('orders/'.length);
    stack.service.failNext('CreateKitchenOrder', grpc.status.INVALID_ARGUMENT);
    await stack.cycle();
    assert.equal((await stack.relation(order))?.flagged, true);

    // 2a. ops list --flagged names it, with the reason.
    const listed = await ops(['list', '--flagged']);
    assert.equal(listed.code, 0, listed.output);
    assert.match(
      listed.output,
      new RegExp(`^${order}  NEW +since \\S+  flagged: INVALID_ARGUMENT: CreateKitchenOrder`, 'm'),
    );

    // 2b. The log: the trigger's entry when it flagged, and the report's alert, with its stable fields.
    const flaggedEntry = logEntries(mark).find(
      (e) => e.message === 'relation flagged for a person' || /step failed/.test(String(e.message)),
    );
    assert.equal(flaggedEntry?.order, order, JSON.stringify(flaggedEntry));
    assert.equal(flaggedEntry?.severity, 'ERROR');
    const reportMark = logMark();
    assert.equal(await stack.fireSchedule('reportStuckOrders'), 200);
    const [alert] = alertEntries(reportMark);
    assert.deepEqual(
      {
        alert: alert?.alert,
        order: alert?.order,
        stage: alert?.stage,
        reason: alert?.reason,
        severity: alert?.severity,
      },
      { alert: 'stuck-order', order, stage: 'NEW', reason: 'flagged', severity: 'ERROR' },
    );
    assert.ok(!Number.isNaN(Date.parse(String(alert?.since))));

    // 2c. The ops API (what a click on the board's card shows): the flag, and the failed attempt in the history.
    const shown = await api(stack.httpUrl, `/${order}`);
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    assert.equal((shown.body.relation as { flagged?: unknown }).flagged, true);
    const failed = (shown.body.history as Array<Record<string, unknown>>).find(
      (h) => h.id === 'PREPARATION-1',
    );
    assert.match(JSON.stringify(failed), /INVALID_ARGUMENT/);

    // 3. A person retries it, saying who and why.
    const retried = await ops([
      'retry',
      order,
      '--reason',
      'the kitchen fixed its menu',
      '--by',
      'alice',
    ]);
    assert.equal(retried.code, 0, retried.output);
    await stack.settle();

    // 4. It finishes: the history keeps the retry, the report is quiet.
    for (
      let round = 0;
      round < 6 && (await stack.relation(order))?.stage !== 'DELIVERED';
      round++
    ) {
      stack.service.tick();
      await stack.cycle();
    }
    const done = await stack.relation(order);
    assert.equal(done?.stage, 'DELIVERED', JSON.stringify(done?.error));
    assert.equal(done?.flagged, false);
    const history = (await api(stack.httpUrl, `/orders/${id}`)).body.history as Array<
      Record<string, unknown>
    >;
    // A refused create proves nothing was made, so the try after the retry reused attempt 1 (its claim is
    // dated then); the refusal itself is kept on the retry entry, which names the flag it cleared.
    assert.deepEqual(
      history.map((h) => String(h.id).replace(/-\d{13}$/, '-<ms>')),
      ['retry-<ms>', 'PREPARATION-1', 'IN_FLIGHT-1', 'DELIVERED-1'],
      'oldest first',
    );
    assert.equal(history[0].by, 'alice');
    assert.match(JSON.stringify(history[1]), /kitchenorders\//);

    const quietMark = logMark();
    assert.equal(await stack.fireSchedule('reportStuckOrders'), 200);
    assert.deepEqual(alertEntries(quietMark), []);
    assert.deepEqual((await readHealthSummary())?.counts, { flagged: 0, orphans: 0, stuck: 0 });
  });
});
