// One limit on what a poll keeps in flight, shared by every kind of work and every page.
import { strict as assert } from 'node:assert';

import { createLimiter } from '../src/concurrency';
import { startStack, type Stack } from './helpers/stack';

describe('the concurrency limit', () => {
  it('never runs more than its limit, hands a freed slot to the next waiter, and survives failures', async () => {
    const limit = createLimiter(3);
    let running = 0;
    let peak = 0;
    const work = (ms: number, fail = false) =>
      limit(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, ms));
        running--;
        if (fail) throw new Error('boom');
        return ms;
      });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => work(i % 7, i % 5 === 0)),
    );
    assert.equal(peak, 3);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 8);
    assert.equal(running, 0);
    // Freed slots are reused at once: a newcomer after the burst does not wait.
    assert.equal(await work(0), 0);
  });

  describe('in a poll', () => {
    let stack: Stack;
    afterEach(async () => stack?.stop());

    it('holds for the poll as a whole: look-ups across relations never exceed MAX_CONCURRENCY', async () => {
      stack = await startStack({ env: { MAX_CONCURRENCY: '3', PAGE_SIZE: '5' } });
      const orders = stack.service.placeOrders(12);
      await stack.cycle(); // 12 relations in PREPARATION, each with a kitchen order to look at
      let inFlight = 0;
      let peak = 0;
      stack.service.onCall(async (method) => {
        if (method !== 'GetKitchenOrder') return;
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight--;
      });
      const run = await stack.pollNow();
      assert.equal(run.polls[0].calls.GetKitchenOrder, orders.length);
      assert.ok(peak >= 2, `the look-ups ran concurrently (peak ${peak})`);
      assert.ok(peak <= 3, `at most MAX_CONCURRENCY at once, got ${peak}`);
    });
  });
});
