// The private ops HTTPS function as a caller uses it, on Google's emulator:
// one order with its history, listings with cursor paging, bad input, and
// the repairs over HTTP.
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

import { installWireCounter } from '../../bench/firestore-wire';
import { idToken, signingKey, trustKeys } from './helpers/id-tokens';
import { ago, api, flagFields, orphanNote, seedRelation } from './helpers/ops';
import { startStack, type Stack } from './helpers/stack';

const key = signingKey('status-api-key');

interface View {
  id: string;
  order: string;
  stage: string;
  flagged: boolean;
  health: Array<{ reason: string; since: string; detail: string }>;
  times: Record<string, string | null>;
}

describe('the ops HTTPS API', function () {
  // Some cases drive an order through polls and trigger rounds first.
  this.timeout(120_000);
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('GET /orders/<id>: the relation, what needs a person, and the history oldest first', async () => {
    stack = await startStack({ service: { rejectRate: 0 } });
    const [order] = stack.service.placeOrders(1);
    await stack.cycle();
    stack.service.tick();
    stack.service.tick();
    await stack.cycle();
    const { status, body } = await api(stack.httpUrl, `/${order}`);
    assert.equal(status, 200, JSON.stringify(body));
    const relation = body.relation as View & Record<string, unknown>;
    assert.equal(relation.order, order);
    assert.equal(relation.stage, 'IN_FLIGHT');
    assert.equal(relation.valid, true);
    assert.match(String(relation.kitchenOrder), /^kitchenorders\//);
    assert.match(String(relation.shipment), /^shipments\//);
    assert.deepEqual(relation.health, []);
    for (const time of ['createdAt', 'stageSince', 'advancedAt', 'updatedAt']) {
      assert.ok(!Number.isNaN(Date.parse(String(relation.times[time]))), `${time} is an ISO time`);
    }
    const history = body.history as Array<{ id: string; claimedAt: string }>;
    assert.deepEqual(
      history.map((h) => h.id),
      ['PREPARATION-1', 'IN_FLIGHT-1'],
    );
    assert.ok(Date.parse(history[0].claimedAt) <= Date.parse(history[1].claimedAt));
    // The same, named by its id alone.
    assert.equal(
      (await api(stack.httpUrl, `/orders/${order.slice('orders/'.length)}`)).status,
      200,
    );
  });

  it('GET /orders lists by stage and health, oldest in the stage first, with cursor paging bound to the filters', async () => {
    stack = await startStack({ autoDeliver: false });
    const ids = Array.from({ length: 7 }, (_, i) => ({ id: randomUUID(), age: 700 - i * 10 }));
    await Promise.all([
      ...ids.map(({ id, age }) =>
        seedRelation(id, {
          stage: 'PREPARATION',
          kitchenOrder: 'kitchenorders/k',
          stageSince: ago(age),
        }),
      ),
      seedRelation(randomUUID(), { stage: 'DELIVERED', active: false, stageSince: ago(50) }),
      seedRelation(randomUUID(), {
        stageSince: ago(5),
        ...flagFields('INVALID_ARGUMENT', 'refused', ago(5)),
      }),
      seedRelation(randomUUID(), {
        stage: 'DELIVERED',
        active: false,
        stageSince: ago(90),
        possibleOrphans: [orphanNote(1, null)],
        hasOpenOrphans: true,
      }),
    ]);
    const seen: string[] = [];
    let token = '';
    for (let page = 0; page < 5; page++) {
      const { status, body } = await api(
        stack.httpUrl,
        `/orders?stage=PREPARATION&limit=3${token ? `&pageToken=${token}` : ''}`,
      );
      assert.equal(status, 200, JSON.stringify(body));
      const orders = body.orders as View[];
      assert.ok(orders.length <= 3);
      seen.push(...orders.map((o) => o.id));
      token = String(body.nextPageToken);
      if (!token) break;
    }
    assert.deepEqual(
      seen,
      ids.map((i) => i.id),
      'every PREPARATION relation once, the longest in the stage first',
    );

    // A page costs what it returns, plus the one read that tells whether another page follows.
    const counter = installWireCounter();
    let reads = 0;
    const stopCounting = counter.onOp((op) => op.kind === 'reads' && reads++);
    try {
      const page = await api(stack.httpUrl, '/orders?stage=PREPARATION&limit=3');
      assert.equal((page.body.orders as View[]).length, 3);
    } finally {
      stopCounting();
      counter.uninstall();
    }
    assert.equal(reads, 4, 'a page of three reads four documents of the ten');

    const flagged = await api(stack.httpUrl, '/orders?flagged=true');
    assert.deepEqual(
      (flagged.body.orders as View[]).map((o) => [o.stage, o.health.map((h) => h.reason).join()]),
      [['NEW', 'flagged']],
    );
    const orphans = await api(stack.httpUrl, '/orders?orphans=true&stage=DELIVERED');
    assert.equal((orphans.body.orders as View[]).length, 1);
    assert.equal((orphans.body.orders as View[])[0].health[0].reason, 'orphans');
    const stuck = await api(stack.httpUrl, '/orders?stuck=true&limit=100');
    assert.equal(stuck.status, 200);
    assert.equal(
      (stuck.body.orders as View[]).length,
      7,
      'seven PREPARATION relations past the default 300 s threshold',
    );

    const first = await api(stack.httpUrl, '/orders?stage=PREPARATION&limit=2');
    const other = await api(
      stack.httpUrl,
      `/orders?stage=NEW&limit=2&pageToken=${String(first.body.nextPageToken)}`,
    );
    assert.equal(other.status, 400);
    assert.match(String(other.body.error), /pageToken belongs to a listing with other filters/);
  });

  it('answers bad input with 400 and a message, an unknown order with 404', async () => {
    stack = await startStack({ autoDeliver: false });
    const cases: Array<[string, RegExp]> = [
      ['/orders?stage=COOKING', /unknown stage "COOKING"; stages: NEW, PREPARATION/],
      ['/orders?limit=0', /limit must be an integer from 1 to 100, got "0"/],
      ['/orders?limit=101', /limit must be an integer from 1 to 100, got "101"/],
      ['/orders?limit=ten', /limit must be an integer from 1 to 100, got "ten"/],
      ['/orders?pageToken=not-a-token', /pageToken is malformed/],
      [
        `/orders?pageToken=${Buffer.from('{"v":1}').toString('base64url')}`,
        /pageToken is malformed/,
      ],
      ['/orders?flagged=yes', /flagged must be true or false, got "yes"/],
      ['/orders?stuck=true&flagged=true', /exclude each other/],
      ['/orders?stuck=true&stage=DELIVERED', /stuck=true applies to the active stages/],
      ['/orders?color=red', /unknown parameter "color"/],
      ['/orders?stage=NEW&stage=PREPARATION', /stage is given 2 times/],
      ['/orders/has%20space', /"has space" is not an order id/],
      ['/orders/-leading-dash', /is not an order id/],
      ['/orders/%E0%A4%A', /not valid percent-encoding/],
    ];
    for (const [route, message] of cases) {
      const { status, body } = await api(stack.httpUrl, route);
      assert.equal(status, 400, `${route}: ${JSON.stringify(body)}`);
      assert.match(String(body.error), message, route);
    }
    const missing = await api(stack.httpUrl, `/orders/${randomUUID()}`);
    assert.equal(missing.status, 404);
    assert.match(String(missing.body.error), /has no relation/);
    const method = await api(stack.httpUrl, '/orders', { method: 'DELETE' });
    assert.equal(method.status, 405);
    assert.equal((await api(stack.httpUrl, '/nowhere')).status, 404);
  });

  it('shows a malformed document as stored, with what is wrong, instead of failing', async () => {
    stack = await startStack({ autoDeliver: false });
    const id = randomUUID();
    await seedRelation(id, { stage: 'COOKING' });
    const { status, body } = await api(stack.httpUrl, `/orders/${id}`);
    assert.equal(status, 200);
    const relation = body.relation as View & { valid: boolean; problems: string[] };
    assert.equal(relation.valid, false);
    assert.match(relation.problems.join(), /stage: unknown stage "COOKING"/);
    assert.equal(relation.stage, 'COOKING', 'the stored value is shown');
  });

  it('POST retry and resolve-orphan: repairs over HTTP, recorded with who and why, refused where unsafe', async () => {
    stack = await startStack({ service: { rejectRate: 0 } });
    const [order] = stack.service.placeOrders(1);
    // The kitchen turns the first create down: the relation is flagged for a person.
    stack.service.failNext('CreateKitchenOrder', grpc.status.INVALID_ARGUMENT);
    await stack.cycle();
    const flagged = await api(stack.httpUrl, `/${order}`);
    assert.equal((flagged.body.relation as View).flagged, true);

    const noWho = await api(stack.httpUrl, `/${order}/retry`, {
      method: 'POST',
      body: { reason: 'fixed the menu' },
    });
    assert.equal(noWho.status, 400);
    assert.match(String(noWho.body.error), /say who asks/);
    const noReason = await api(stack.httpUrl, `/${order}/retry`, {
      method: 'POST',
      body: { by: 'carol' },
    });
    assert.equal(noReason.status, 400);
    assert.match(String(noReason.body.error), /"reason" is required/);

    // A verified ID token's e-mail names who asks (functions/test/ops-auth.test.ts has the refusals).
    const untrust = trustKeys(key);
    const retried = await api(stack.httpUrl, `/${order}/retry`, {
      method: 'POST',
      body: { reason: 'the kitchen fixed its menu' },
      headers: { authorization: `Bearer ${idToken(key)}` },
    }).finally(untrust);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.by, 'carol@example.com');
    await stack.settle();
    const after = await api(stack.httpUrl, `/${order}`);
    assert.equal((after.body.relation as View).stage, 'PREPARATION');
    assert.equal((after.body.relation as View).flagged, false);
    const entry = (after.body.history as Array<Record<string, unknown>>).find((h) =>
      String(h.id).startsWith('retry-'),
    );
    assert.equal(entry?.by, 'carol@example.com');

    const again = await api(stack.httpUrl, `/${order}/retry`, {
      method: 'POST',
      body: { reason: 'again', by: 'carol' },
    });
    assert.equal(again.status, 409);
    assert.match(String(again.body.error), /refused: .*is not flagged/);
    const noOrphan = await api(stack.httpUrl, `/${order}/resolve-orphan`, {
      method: 'POST',
      body: { orphan: 'PREPARATION-1', note: 'checked', by: 'carol' },
    });
    assert.equal(noOrphan.status, 409);
    assert.match(
      String(noOrphan.body.error),
      /no possible orphan matches "PREPARATION-1"; the relation notes: none/,
    );
  });
});
