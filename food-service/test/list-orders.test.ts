import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import type { ListOrdersRequest } from '../src/generated/food/v1/ListOrdersRequest';
import type { Order__Output } from '../src/generated/food/v1/Order';
import { expectStatus, startHarness, type Harness } from './helpers';

describe('OrderService: ListOrders', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ maxPageSize: 100 });
  });
  afterEach(() => h.close());

  /** Follows next_page_token to the end, at most `maxPages` pages. */
  async function listAll(
    request: ListOrdersRequest,
    maxPages = 20,
  ): Promise<{ pages: Order__Output[][]; tokens: string[] }> {
    const pages: Order__Output[][] = [];
    const tokens: string[] = [];
    let pageToken = '';
    for (let i = 0; i < maxPages; i++) {
      const page = await h.client.listOrders({ ...request, pageToken });
      pages.push(page.orders);
      tokens.push(page.nextPageToken);
      if (!page.nextPageToken) return { pages, tokens };
      pageToken = page.nextPageToken;
    }
    throw new Error(`still paging after ${maxPages} pages`);
  }

  it('pages through every order once, in creation order, ending with an empty token', async () => {
    const names = h.service.placeOrders(120);
    const { pages, tokens } = await listAll({ pageSize: 50 });
    assert.deepEqual(
      pages.map((p) => p.length),
      [50, 50, 20],
    );
    assert.equal(tokens[2], '');
    assert.ok(tokens[0] && tokens[1] && tokens[0] !== tokens[1]);
    assert.deepEqual(
      pages.flat().map((o) => o.name),
      names,
    );
  });

  it('has no empty trailing page when the orders fill the last page exactly', async () => {
    h.service.placeOrders(100);
    const { pages } = await listAll({ pageSize: 50 });
    assert.deepEqual(
      pages.map((p) => p.length),
      [50, 50],
    );
  });

  it('lists nothing, with no token, when there are no orders', async () => {
    assert.deepEqual(await h.client.listOrders({}), { orders: [], nextPageToken: '' });
  });

  it('filters by status; UNKNOWN means no filter', async () => {
    const names = h.service.placeOrders(30);
    const preparing = names.filter((_, i) => i % 3 === 0);
    for (const name of preparing) await h.client.setStatus(name, 'PREPARATION');

    const filtered = await listAll({ statusFilter: 'PREPARATION', pageSize: 4 });
    assert.deepEqual(
      filtered.pages.flat().map((o) => o.name),
      preparing,
    );
    assert.ok(filtered.pages.flat().every((o) => o.status === 'PREPARATION'));
    const fresh = await listAll({ statusFilter: 'NEW', pageSize: 7 });
    assert.deepEqual(
      fresh.pages.flat().map((o) => o.name),
      names.filter((n) => !preparing.includes(n)),
    );
    assert.equal(
      (await listAll({ statusFilter: 'UNKNOWN', pageSize: 100 })).pages.flat().length,
      30,
    );
    assert.deepEqual(await listAll({ statusFilter: 'DELIVERED' }), { pages: [[]], tokens: [''] });
  });

  it('uses the default page size for 0 and clamps to the maximum', async () => {
    h.service.placeOrders(130);
    assert.equal((await h.client.listOrders({ pageSize: 0 })).orders.length, 50);
    assert.equal((await h.client.listOrders({ pageSize: 5000 })).orders.length, 100);
  });

  it('rejects a negative page size', async () => {
    await expectStatus(
      h.client.listOrders({ pageSize: -1 }),
      grpc.status.INVALID_ARGUMENT,
      /^page_size: must not be negative, got -1/,
    );
  });

  it('rejects a status filter the enum does not define', async () => {
    await expectStatus(
      h.client.listOrders({ statusFilter: 99 as unknown as 'NEW' }),
      grpc.status.INVALID_ARGUMENT,
      /^status_filter: 99/,
    );
  });

  for (const token of [
    'not a token',
    'abc',
    Buffer.from('{"v":2,"f":"","a":1}').toString('base64url'),
    Buffer.from('{"v":1,"f":"","a":-3}').toString('base64url'),
  ]) {
    it(`rejects the page token ${JSON.stringify(token)}`, async () => {
      h.service.placeOrders(3);
      await expectStatus(
        h.client.listOrders({ pageToken: token }),
        grpc.status.INVALID_ARGUMENT,
        /^page_token: .* is not a token this server issued/,
      );
    });
  }

  it('rejects a token issued for another filter', async () => {
    h.service.placeOrders(3);
    const { nextPageToken } = await h.client.listOrders({ statusFilter: 'NEW', pageSize: 1 });
    await expectStatus(
      h.client.listOrders({ pageToken: nextPageToken, pageSize: 1 }),
      grpc.status.INVALID_ARGUMENT,
      /^page_token: issued for status_filter NEW, but this request has status_filter UNKNOWN/,
    );
    await expectStatus(
      h.client.listOrders({ statusFilter: 'PREPARATION', pageToken: nextPageToken }),
      grpc.status.INVALID_ARGUMENT,
      /status_filter PREPARATION/,
    );
  });

  it('keeps paging when orders change status between pages, never serving one twice', async () => {
    const names = h.service.placeOrders(10);
    const first = await h.client.listOrders({ statusFilter: 'NEW', pageSize: 4 });
    // One order from the page already served and one from the next page leave NEW.
    await h.client.setStatus(names[1], 'PREPARATION');
    await h.client.setStatus(names[5], 'PREPARATION');
    const second = await h.client.listOrders({
      statusFilter: 'NEW',
      pageSize: 4,
      pageToken: first.nextPageToken,
    });
    const third = await h.client.listOrders({
      statusFilter: 'NEW',
      pageSize: 4,
      pageToken: second.nextPageToken,
    });
    assert.equal(third.nextPageToken, '');
    const seen = [...first.orders, ...second.orders, ...third.orders].map((o) => o.name);
    assert.equal(new Set(seen).size, seen.length);
    assert.deepEqual(seen, [...names.slice(0, 4), ...names.slice(4).filter((n) => n !== names[5])]);
  });
});
