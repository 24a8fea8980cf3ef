import * as assert from 'node:assert/strict';
import { OrderBook } from '../src/order-book';
import { createRandom } from '../src/random';
import { ORDER_STATUSES, type OrderStatus } from '../src/statuses';

describe('OrderBook', () => {
  const now = () => '2024-01-01T00:00:00.000Z';

  it('lists by status exactly as a full scan would, after random moves', () => {
    const book = new OrderBook(now);
    const random = createRandom(3, 'order-book-test');
    for (let i = 0; i < 500; i++) {
      book.create(`c${i}`);
      const target = book.list(undefined, random.int(0, i), 1).orders[0];
      if (target)
        book.update(target, { status: ORDER_STATUSES[random.int(0, ORDER_STATUSES.length - 1)] });
    }
    const everything = book.list(undefined, 0, 1000).orders;
    for (const status of ORDER_STATUSES) {
      const expected = everything.filter((o) => o.status === status).map((o) => o.seq);
      const seen: number[] = [];
      let after = 0;
      for (let page = 0; page < 100; page++) {
        const { orders, more } = book.list(status, after, 7);
        seen.push(...orders.map((o) => o.seq));
        if (!more) break;
        after = orders[orders.length - 1].seq;
      }
      assert.deepEqual(seen, expected, status);
      assert.equal(book.countsByStatus()[status], expected.length);
    }
  });

  it('pages the active orders without walking the finished ones', () => {
    // 1,000 active orders next to 10,000 finished ones, as in the benchmark.
    const book = new OrderBook(now);
    for (let i = 0; i < 11_000; i++) {
      const order = book.create('c');
      if (i % 11 !== 0) book.update(order, { status: 'DELIVERED' satisfies OrderStatus });
    }
    const started = performance.now();
    let listed = 0;
    let after = 0;
    for (let page = 0; page < 1000; page++) {
      const { orders, more } = book.list('NEW', after, 50);
      listed += orders.length;
      if (!more) break;
      after = orders[orders.length - 1].seq;
    }
    assert.equal(listed, 1000);
    // A scan of the history per page would take far longer; this is generous for slow machines.
    assert.ok(performance.now() - started < 200, `listing took ${performance.now() - started} ms`);
  });
});
