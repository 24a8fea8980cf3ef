// The operator's scenario, end to end, as a person lives it: an order is
// flagged; it shows in `npm run ops -- list --flagged`, in the structured
// log (the trigger's entry and the stuck-order report's alert) and on the
// live board, whose card opens the order's history; `ops retry` clears it;
// the order finishes, and the board and the report say so.
import * as grpc from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';

import { startBoard, type Board } from '../../local/board/server';
import { RelationTracker } from '../../local/board/tracker';
import { triggerFeed } from '../../local/functions-host';
import { openBoard, type BoardBrowser } from '../../local/test/helpers/chromium';
import { readHealthSummary } from '../src/store/health';
import { alertEntries, logEntries, logMark, ops } from './helpers/ops';
import { startStack, type Stack } from './helpers/stack';
import { emulator, PROJECT_ID } from './setup';

const WAIT_MS = 10_000;

describe('the operator scenario: flagged, seen, retried, finished', function () {
  this.timeout(180_000);
  let stack: Stack | undefined;
  let board: Board | undefined;
  let browser: BoardBrowser | undefined;
  let stopFeed: (() => void) | undefined;

  afterEach(async () => {
    await browser?.close();
    await board?.stop();
    stopFeed?.();
    await stack?.stop();
  });

  it('an order the kitchen refuses is flagged, listed, alerted, shown with its history, retried, and delivered', async () => {
    const mark = logMark();
    stack = await startStack({ service: { rejectRate: 0 } });
    // The live board of `npm start`, fed by the emulator's own trigger events, reading histories from the ops API.
    const tracker = new RelationTracker();
    const { firestore, receiver } = emulator();
    stopFeed = await triggerFeed(
      receiver,
      { host: firestore.host, projectId: PROJECT_ID },
      'scenario-board',
    )('relations', ({ id, before, after }) => tracker.apply(id, before, after, new Date()));
    board = await startBoard({ port: 0, tracker, statusApi: `${stack.httpUrl}/ops` });

    // 1. The kitchen turns the create down: a refusal waits for a person.
    const [order] = stack.service.placeOrders(1);
    const id = order.slice('orders/'.length);
    stack.service.failNext('CreateKitchenOrder', grpc.status.INVALID_ARGUMENT);
    await stack.cycle();
    assert.equal((await stack.relation(order))?.flagged, true);

    // 2a. ops list --flagged names it, with the reason.
    const listed = await ops(['list', '--flagged']);
    assert.equal(listed.code, 0, listed.output);
    assert.match(listed.output, new RegExp(`^${order}  NEW +since \\S+  flagged: INVALID_ARGUMENT: CreateKitchenOrder`, 'm'));

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
      { alert: alert?.alert, order: alert?.order, stage: alert?.stage, reason: alert?.reason, severity: alert?.severity },
      { alert: 'stuck-order', order, stage: 'NEW', reason: 'flagged', severity: 'ERROR' },
    );
    assert.ok(!Number.isNaN(Date.parse(String(alert?.since))));

    // 2c. The board: the card is red with the reason, the header counts it, and a click opens the history.
    browser = await openBoard(board.url, WAIT_MS);
    const { page } = browser;
    const card = page.locator(`[data-stage="NEW"] [data-order-id="${id}"]`);
    await card.waitFor();
    assert.equal(await card.locator('[data-reason="flagged"]').innerText(), 'flagged: INVALID_ARGUMENT');
    await page.locator('[data-testid="summary-health"]:text-is("1 / 0 / 0")').waitFor();
    await card.click();
    const history = page.locator('[data-testid="history"]');
    await history.locator('[data-testid="history-entry"][data-id="PREPARATION-1"]').waitFor();
    assert.match(await history.locator('[data-id="PREPARATION-1"]').innerText(), /failed: INVALID_ARGUMENT/);
    assert.match(await history.locator('[data-testid="history-health"]').innerText(), /flagged: INVALID_ARGUMENT/);
    assert.equal(await history.locator('[data-testid="history-title"]').innerText(), order);
    await page.locator('[data-testid="history-close"]').click();

    // 3. A person retries it, saying who and why.
    const retried = await ops(['retry', order, '--reason', 'the kitchen fixed its menu', '--by', 'alice']);
    assert.equal(retried.code, 0, retried.output);
    await stack.settle();

    // 4. It finishes: the card moves on to DELIVERED, the history keeps the retry, the report is quiet.
    for (let round = 0; round < 6 && (await stack.relation(order))?.stage !== 'DELIVERED'; round++) {
      stack.service.tick();
      await stack.cycle();
    }
    const done = await stack.relation(order);
    assert.equal(done?.stage, 'DELIVERED', JSON.stringify(done?.error));
    assert.equal(done?.flagged, false);
    const delivered = page.locator(`[data-stage="DELIVERED"] [data-order-id="${id}"]`);
    await delivered.waitFor();
    assert.equal(await delivered.locator('[data-reason]').count(), 0, 'nothing needs a person any more');
    await page.locator('[data-testid="summary-health"]:text-is("0 / 0 / 0")').waitFor();
    await delivered.click();
    await history.locator('[data-testid="history-entry"][data-id="DELIVERED-1"]').waitFor();
    const ids = await history.locator('[data-testid="history-entry"]').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-id')));
    // A refused create proves nothing was made, so the try after the retry reused attempt 1 (its claim is
    // dated then); the refusal itself is kept on the retry entry, which names the flag it cleared.
    assert.deepEqual(
      ids.map((i) => String(i).replace(/-\d{13}$/, '-<ms>')),
      ['retry-<ms>', 'PREPARATION-1', 'IN_FLIGHT-1', 'DELIVERED-1'],
      'oldest first',
    );
    assert.match(await history.locator('[data-id^="retry-"]').innerText(), /by alice: the kitchen fixed its menu/);
    assert.match(await history.locator('[data-id="PREPARATION-1"]').innerText(), /created kitchenorders\//);

    const quietMark = logMark();
    assert.equal(await stack.fireSchedule('reportStuckOrders'), 200);
    assert.deepEqual(alertEntries(quietMark), []);
    assert.deepEqual((await readHealthSummary())?.counts, { flagged: 0, orphans: 0, stuck: 0 });
    assert.deepEqual(browser.problems, []);
  });
});
