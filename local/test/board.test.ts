import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

import { EventStreams, startBoard, type Board } from '../board/server';
import {
  RelationTracker,
  type RelationView,
  type Summary,
  type TransitionView,
} from '../board/tracker';
import { openBoard, type BoardBrowser } from './helpers/chromium';
import { relationDoc, RelationFeed } from './helpers/relations';
import { SseClient } from './helpers/sse';

const SCREENSHOT = path.resolve(__dirname, '../../artifacts/board.png');
const WAIT_MS = 5000;

/** GET (or another method) over node:http, so the Host header can be set too. */
function request(
  url: string,
  options: { method?: string; host?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.host ? { host: options.host } : {},
        timeout: WAIT_MS,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${WAIT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function getJson<T>(url: string): Promise<T> {
  const { status, headers, body } = await request(url);
  assert.equal(status, 200, body);
  assert.match(headers['content-type'] ?? '', /^application\/json/);
  return JSON.parse(body) as T;
}

async function waitUntil(
  what: string,
  condition: () => boolean,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('board server', () => {
  let tracker: RelationTracker;
  let feed: RelationFeed;
  let board: Board;
  const clients: SseClient[] = [];

  beforeEach(async () => {
    tracker = new RelationTracker();
    feed = new RelationFeed(tracker);
    feed.write('a', relationDoc('a'), new Date());
    feed.write('b', relationDoc('b'), new Date());
    board = await startBoard({
      port: 0,
      tracker,
      extra: () => ({ foodService: { ordersCreated: 2 } }),
    });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await board.stop();
  });

  it('listens on 127.0.0.1 at an ephemeral port and serves the page and its script', async () => {
    assert.match(board.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.notEqual(board.port, 0);
    const page = await request(board.url);
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'] ?? '', /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
    assert.match(page.body, /<script src="\/board.js">/);
    assert.doesNotMatch(page.body, /https?:\/\//, 'the page loads nothing from the network');
    const script = await request(`${board.url}board.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers['content-type'] ?? '', /^text\/javascript/);
    assert.match(script.body, /new EventSource\('\/api\/events'\)/);
  });

  it('serves relations, transitions and the summary with the extra figures as JSON', async () => {
    feed.write(
      'a',
      {
        stage: 'PREPARATION',
        advancedAt: new Date(),
        kitchenOrder: 'kitchenorders/k',
        kitchenOrderStatus: 'NEW',
      },
      new Date(),
    );

    const relations = await getJson<RelationView[]>(`${board.url}api/relations`);
    assert.deepEqual(
      relations.map((view) => [view.id, view.stage, view.kitchenOrder]),
      [
        ['a', 'PREPARATION', 'kitchenorders/k'],
        ['b', 'NEW', null],
      ],
    );
    const transitions = await getJson<TransitionView[]>(`${board.url}api/transitions`);
    assert.deepEqual(
      transitions.map((t) => `${t.id}:${t.from}->${t.to}`),
      ['a:null->NEW', 'b:null->NEW', 'a:NEW->PREPARATION'],
    );
    const summary = await getJson<Summary & { extra: { foodService: unknown } }>(
      `${board.url}api/summary`,
    );
    assert.deepEqual(summary.stages, {
      NEW: 1,
      PREPARATION: 1,
      IN_FLIGHT: 0,
      DELIVERED: 0,
      REJECTED: 0,
      CANCELLED: 0,
      INVALID: 0,
    });
    assert.equal(summary.active, 2);
    assert.equal(summary.relations, 2);
    assert.deepEqual(summary.extra.foodService, { ordersCreated: 2 });
  });

  it('answers 404 and 405 as JSON, and refuses other Host names and non-loopback addresses', async () => {
    const missing = await request(`${board.url}api/nope`);
    assert.equal(missing.status, 404);
    assert.match(JSON.parse(missing.body).error, /not found: \/api\/nope/);
    const post = await request(`${board.url}api/summary`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(String(post.headers.allow), 'GET');
    assert.match(post.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(
      (await request(`${board.url}api/summary`, { host: 'attacker.example' })).status,
      421,
    );
    assert.equal(
      (await request(`${board.url}api/summary`, { host: `localhost:${board.port}` })).status,
      200,
    );
    await assert.rejects(
      startBoard({ host: '0.0.0.0', port: 0, tracker }),
      /listens on loopback only, not 0\.0\.0\.0/,
    );
    await assert.rejects(
      startBoard({ port: 0, tracker, statusApi: 'http://10.1.2.3:5001/ops' }),
      /reads the status API on loopback only, not http:\/\/10\.1\.2\.3:5001\/ops/,
    );
  });

  it('answers /api/orders/<id> only with a status API to ask, and only for an order id', async () => {
    const none = await request(`${board.url}api/orders/abc`);
    assert.equal(none.status, 404);
    assert.match(JSON.parse(none.body).error, /no status API/);
    // A status API that is not there: the board says so rather than hang.
    const other = await startBoard({ port: 0, tracker, statusApi: 'http://127.0.0.1:9/ops' });
    try {
      const bad = await request(`${other.url}api/orders/has..dots`);
      assert.equal(bad.status, 400);
      const down = await request(`${other.url}api/orders/abc`);
      assert.equal(down.status, 502);
      assert.match(JSON.parse(down.body).error, /the status API did not answer/);
    } finally {
      await other.stop();
    }
  });

  it('reports a failing extra in the summary instead of failing it', async () => {
    const other = await startBoard({
      port: 0,
      tracker,
      extra: () => {
        throw new Error('stats unavailable');
      },
    });
    try {
      const summary = await getJson<Summary & { extra: { error: string } }>(
        `${other.url}api/summary`,
      );
      assert.equal(summary.extra.error, 'stats unavailable');
      assert.equal(summary.relations, 2);
    } finally {
      await other.stop();
    }
  });

  it('streams a snapshot, then relations, transitions, removals and summaries as Server-Sent Events', async () => {
    const client = await SseClient.open(`${board.url}api/events`);
    clients.push(client);
    assert.equal(client.response.statusCode, 200);
    assert.match(client.response.headers['content-type'] ?? '', /^text\/event-stream/);

    const snapshot = await client.next(() => true);
    assert.equal(snapshot.event, 'snapshot', 'the snapshot comes first');
    const { relations, transitions, summary } = snapshot.data as {
      relations: RelationView[];
      transitions: TransitionView[];
      summary: Summary;
    };
    assert.deepEqual(
      relations.map((view) => view.id),
      ['a', 'b'],
    );
    assert.equal(transitions.length, 2);
    assert.equal(summary.stages.NEW, 2);

    const mark = client.messages.length;
    feed.write('a', { stage: 'PREPARATION', advancedAt: new Date() }, new Date());
    const relation = await client.next((m) => m.event === 'relation', { from: mark });
    assert.equal((relation.data as RelationView).stage, 'PREPARATION');
    const transition = await client.next((m) => m.event === 'transition', { from: mark });
    assert.deepEqual(
      [(transition.data as TransitionView).from, (transition.data as TransitionView).to],
      ['NEW', 'PREPARATION'],
    );
    // A summary follows changes soon, not only on the 1 s tick.
    const soon = Date.now();
    const after = await client.next((m) => m.event === 'summary', { from: mark, timeoutMs: 2000 });
    assert.ok(Date.now() - soon < 900, 'the summary follows the change within the debounce');
    assert.deepEqual((after.data as Summary).stages.PREPARATION, 1);
    assert.deepEqual(
      (after.data as Summary & { extra: { foodService: unknown } }).extra.foodService,
      { ordersCreated: 2 },
    );

    feed.delete('b', new Date());
    const removed = await client.next((m) => m.event === 'removed', { from: mark });
    assert.deepEqual(removed.data, { id: 'b' });

    // And every second without changes, so the rate decays on the page.
    const quiet = client.messages.length;
    const tick = await client.next((m) => m.event === 'summary', { from: quiet, timeoutMs: 2500 });
    assert.equal((tick.data as Summary).relations, 1);
  });

  it('forgets a stream when its client goes away, and ends open streams on stop', async () => {
    const streams = new EventStreams();
    const server = http.createServer((_req, res) =>
      streams.open(res, { event: 'snapshot', data: {} }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const first = await SseClient.open(url);
      const second = await SseClient.open(url);
      await first.next((m) => m.event === 'snapshot');
      assert.equal(streams.size, 2);
      first.close();
      await waitUntil('the closed stream to be forgotten', () => streams.size === 1);
      streams.heartbeat();
      streams.send('summary', { n: 1 });
      await second.next((m) => m.event === 'summary');
      assert.deepEqual(second.comments, ['heartbeat']);
      const ended = new Promise((resolve) => second.response.on('end', resolve));
      streams.closeAll();
      await ended;
      assert.equal(streams.size, 0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }

    // The board's own stop() ends its streams, so it never hangs on an open EventSource.
    const client = await SseClient.open(`${board.url}api/events`);
    clients.push(client);
    await client.next((m) => m.event === 'snapshot');
    const ended = new Promise((resolve) => client.response.on('close', resolve));
    await board.stop();
    await ended;
    board = await startBoard({ port: 0, tracker }); // for afterEach
  });
});

describe('board page in headless Chromium', function () {
  // Launching a browser is slow on a busy CI machine; every wait below is bounded on its own.
  this.timeout(60_000);

  let tracker: RelationTracker;
  let feed: RelationFeed;
  let board: Board | undefined;
  let browser: BoardBrowser | undefined;

  afterEach(async () => {
    await browser?.close();
    await board?.stop();
  });

  it('shows cards per stage and moves them live, without reload', async () => {
    // PREPARATION is stuck after 30 s: one background card (35 s in) is, the other (12 s in) is not.
    tracker = new RelationTracker({
      stuckThresholds: { NEW: 3600, PREPARATION: 30, IN_FLIGHT: 3600 },
    });
    feed = new RelationFeed(tracker);
    const ids = { moving: randomUUID(), failing: randomUUID(), waiting: randomUUID() };
    const now = Date.now();
    const ago = (seconds: number) => new Date(now - seconds * 1000);
    for (const [id, seconds] of [
      [ids.moving, 12],
      [ids.failing, 9],
      [ids.waiting, 4],
    ] as const) {
      feed.write(id, relationDoc(id, { createdAt: ago(seconds) }), ago(seconds));
    }
    seedBackground(feed, ago);

    board = await startBoard({
      port: 0,
      tracker,
      extra: () => ({ foodService: { ordersCreated: 16, injectedFaults: 0 } }),
    });
    browser = await openBoard(board.url, WAIT_MS);
    const { page, problems } = browser;
    for (const id of Object.values(ids))
      await page.waitForSelector(`[data-stage="NEW"] [data-order-id="${id}"]`);
    await expectText(page, 'count-NEW', '4'); // three here and one in the background
    // Page-side code as strings: the tests compile without the DOM library.
    await page.evaluate("window.boardMarker = 'not reloaded'");

    const card = (stage: string, id: string) => `[data-stage="${stage}"] [data-order-id="${id}"]`;
    feed.write(
      ids.moving,
      {
        stage: 'PREPARATION',
        advancedAt: new Date(),
        kitchenOrder: `kitchenorders/${randomUUID()}`,
        kitchenOrderStatus: 'NEW',
      },
      new Date(),
    );
    await page.waitForSelector(card('PREPARATION', ids.moving));
    assert.equal(await page.locator(card('NEW', ids.moving)).count(), 0, 'the card left NEW');
    assert.match(
      (await page.locator(card('PREPARATION', ids.moving)).innerText()) ?? '',
      /kitchen\s+NEW\s+[0-9a-f]{8}/i,
    );

    feed.write(ids.moving, { kitchenOrderStatus: 'PACKAGED' }, new Date());
    await page.waitForSelector(`${card('PREPARATION', ids.moving)} .status:text-is("PACKAGED")`);
    feed.write(
      ids.moving,
      {
        stage: 'IN_FLIGHT',
        advancedAt: new Date(),
        shipment: `shipments/${randomUUID()}`,
        shipmentStatus: 'NEW',
      },
      new Date(),
    );
    await page.waitForSelector(card('IN_FLIGHT', ids.moving));
    feed.write(
      ids.moving,
      {
        stage: 'DELIVERED',
        active: false,
        outcome: 'DELIVERED',
        advancedAt: new Date(),
        shipmentStatus: 'DELIVERED',
      },
      new Date(),
    );
    await page.waitForSelector(card('DELIVERED', ids.moving));
    assert.equal(
      await page.locator(`[data-order-id="${ids.moving}"].card`).count(),
      1,
      'one card per order',
    );
    const delivered = await page.locator(card('DELIVERED', ids.moving)).innerText();
    assert.match(delivered, /drone\s+DELIVERED\s+[0-9a-f]{8}/i);
    assert.doesNotMatch(
      delivered,
      /order/i,
      'an order status behind the stage is old news and not shown',
    );
    assert.match(
      await page.locator('[data-stage="PREPARATION"] .line.news').innerText(),
      /order\s+CANCELLED/i,
      'a cancellation the orchestrator has yet to see is',
    );
    const feedEntries = page.locator(`[data-testid="feed"] li[data-order-id="${ids.moving}"]`);
    await feedEntries.nth(3).waitFor();
    assert.equal(await feedEntries.count(), 4, 'created, and three moves');
    assert.match(
      await feedEntries.first().innerText(),
      /IN_FLIGHT\s*→\s*DELIVERED/,
      'newest first',
    );

    const message =
      'orders/x: FAILED_PRECONDITION: order is CANCELLED but the relation says PREPARATION';
    feed.write(
      ids.failing,
      {
        error: {
          step: 'createKitchenOrder',
          code: 'INCONSISTENT',
          message,
          transient: false,
          failures: 1,
        },
      },
      new Date(),
    );
    const flag = page.locator(`[data-order-id="${ids.failing}"] [data-testid="flag"]`);
    await flag.waitFor({ state: 'visible' });
    assert.match(
      (await flag.getAttribute('title')) ?? '',
      /INCONSISTENT: orders\/x: FAILED_PRECONDITION/,
    );
    assert.match(
      (await page.locator(card('NEW', ids.failing)).getAttribute('class')) ?? '',
      /\bflagged\b/,
    );
    const border = await page.evaluate(
      `getComputedStyle(document.querySelector('${card('NEW', ids.failing)}')).borderLeftColor`,
    );
    assert.equal(border, 'rgb(217, 45, 32)', 'the flagged card is red');
    assert.equal(
      await page.locator(`[data-order-id="${ids.waiting}"] [data-testid="flag"]`).count(),
      0,
    );
    // What needs a person, with the reason: the flag's code, open orphans, and time past the stage's threshold.
    await page.locator(`[data-order-id="${ids.failing}"] [data-reason="flagged"]`).waitFor();
    assert.equal(
      await page.locator(`[data-order-id="${ids.failing}"] [data-reason="flagged"]`).innerText(),
      'flagged: INCONSISTENT',
    );
    assert.equal(
      await page.locator('[data-stage="IN_FLIGHT"] [data-reason="orphans"]').innerText(),
      'orphans: 1 open',
    );
    const stuck = page.locator('[data-stage="PREPARATION"] [data-reason="stuck"]');
    await stuck.first().waitFor();
    assert.equal(await stuck.count(), 1, 'one PREPARATION card is past its 30 s');
    assert.match(await stuck.innerText(), /^stuck: 3\ds$/);
    assert.match((await stuck.getAttribute('title')) ?? '', /longer than its 30 s threshold/);
    await expectText(page, 'summary-health', '1 / 1 / 1');

    await expectText(page, 'count-DELIVERED', '4');
    await expectText(page, 'count-NEW', '3');
    await expectText(page, 'summary-errors', '1 / 1'); // the background's transient error, and this one
    await expectText(page, 'summary-orphans', '1');
    // Time in stage counts up on its own.
    const age = page.locator(`${card('NEW', ids.waiting)} .age`);
    const first = await age.innerText();
    assert.match(first, /^\d+s$/);
    await poll(`the age ${first} to count up`, async () => (await age.innerText()) !== first, 3000);
    assert.equal(await page.evaluate('window.boardMarker'), 'not reloaded');
    assert.equal(await page.locator('#connection').getAttribute('data-state'), 'live');

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    assert.deepEqual(problems, []);
  });
});

async function poll(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function expectText(page: Page, testid: string, text: string): Promise<void> {
  const locator = page.locator(`[data-testid="${testid}"]`);
  let shown: string | null = null;
  try {
    await poll(
      `${testid} to show ${text}`,
      async () => (shown = await locator.textContent()) === text,
    );
  } catch {
    assert.fail(
      `${testid} shows ${JSON.stringify(shown)}, expected ${JSON.stringify(text)} within ${WAIT_MS} ms`,
    );
  }
}

/** Orders in every stage, so the board (and its screenshot) looks like a real afternoon. */
function seedBackground(feed: RelationFeed, ago: (seconds: number) => Date): void {
  const kitchen = () => `kitchenorders/${randomUUID()}`;
  const shipment = () => `shipments/${randomUUID()}`;
  const finished = (stage: string) => ({ stage, active: false, outcome: stage });
  const scenes: Array<[number, Record<string, unknown>]> = [
    [
      2,
      {
        error: {
          step: 'createKitchenOrder',
          code: 'UNAVAILABLE',
          message: 'food service unavailable; retry in 60 s',
          transient: true,
          failures: 1,
        },
      },
    ],
    [
      48,
      {
        stage: 'PREPARATION',
        advancedAt: ago(35),
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'PREPARATION',
      },
    ],
    [
      40,
      {
        stage: 'PREPARATION',
        advancedAt: ago(12),
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'NEW',
        orderStatus: 'CANCELLED',
      },
    ],
    [
      95,
      {
        stage: 'IN_FLIGHT',
        advancedAt: ago(61),
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'PACKAGED',
        shipment: shipment(),
        shipmentStatus: 'COLLECTED',
      },
    ],
    [
      80,
      {
        stage: 'IN_FLIGHT',
        advancedAt: ago(14),
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'PACKAGED',
        shipment: shipment(),
        shipmentStatus: 'NEW',
        possibleOrphans: [{ step: 'createShipment', attempt: 1, reason: 'lease expired' }],
      },
    ],
    [
      300,
      {
        ...finished('DELIVERED'),
        advancedAt: ago(130),
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'PACKAGED',
        shipment: shipment(),
        shipmentStatus: 'DELIVERED',
      },
    ],
    [
      250,
      {
        ...finished('DELIVERED'),
        advancedAt: ago(90),
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'PACKAGED',
        shipment: shipment(),
        shipmentStatus: 'DELIVERED',
      },
    ],
    [
      200,
      {
        ...finished('DELIVERED'),
        advancedAt: ago(45),
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'PACKAGED',
        shipment: shipment(),
        shipmentStatus: 'DELIVERED',
      },
    ],
    [
      210,
      {
        ...finished('REJECTED'),
        advancedAt: ago(70),
        orderStatus: 'REJECTED',
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'PACKAGED',
        shipment: shipment(),
        shipmentStatus: 'REJECTED',
      },
    ],
    [
      150,
      {
        ...finished('CANCELLED'),
        advancedAt: ago(100),
        orderStatus: 'CANCELLED',
        kitchenOrder: kitchen(),
        kitchenOrderStatus: 'PREPARATION',
      },
    ],
  ];
  for (const [created, fields] of scenes) {
    const id = randomUUID();
    feed.write(id, relationDoc(id, { createdAt: ago(created) }), ago(created));
    if (Object.keys(fields).length > 0) feed.write(id, fields, ago(created - 1));
  }
}
