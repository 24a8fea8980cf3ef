// parseRelation turns a stored document into a checked Relation. Bad data
// must be reported field by field (a hand-edited document is flagged with
// what to fix: docs/ARCHITECTURE.md#bad-data), never thrown or half-accepted.
import { Timestamp } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';

import { isOrderName } from '../src/model/names';
import type { Relation } from '../src/model/relation';
import { isKitchenOrderStatus, isOrderStatus, isShipmentStatus } from '../src/model/statuses';
import { newRelation, parseRelation, relationId } from '../src/store/schema';
import { KITCHEN_ORDER, ORDER, ORDER_ID, relation, SHIPMENT } from './helpers/relations';

const AT = new Date('2030-06-01T12:00:00.000Z');
const RETRY_AT = new Date('2030-06-01T12:00:30.000Z');

const timestamp = (date: Date) => Timestamp.fromDate(date);

/** A stored relation document as the trigger and the poller write it, with overrides. */
function stored(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    order: ORDER,
    customerId: 'customer-1',
    stage: 'IN_FLIGHT',
    orderStatus: 'IN_FLIGHT',
    kitchenOrder: KITCHEN_ORDER,
    kitchenOrderStatus: 'PACKAGED',
    shipment: SHIPMENT,
    shipmentStatus: 'COLLECTED',
    error: {
      step: 'finish',
      code: 'UNAVAILABLE',
      message: 'the food service is unavailable',
      transient: true,
      failures: 2,
      at: timestamp(AT),
      retryAt: timestamp(RETRY_AT),
    },
    active: true,
    observationError: null,
    ...overrides,
  };
}

function parsed(data: Record<string, unknown>, id = ORDER_ID): Relation {
  const result = parseRelation(data, id);
  assert.ok(result.ok, `expected the document to parse, got ${JSON.stringify(result)}`);
  return result.value;
}

function problems(data: Record<string, unknown>, id = ORDER_ID): string[] {
  const result = parseRelation(data, id);
  assert.ok(!result.ok, `expected problems, got ${JSON.stringify(result)}`);
  assert.ok(result.problems.length > 0, 'a rejected document names at least one problem');
  return result.problems;
}

/** The field a problem is about: `error` for `error.at: …`, `possibleOrphans` for `possibleOrphans.0.step: …`. */
const fieldOf = (problem: string) => /^[^.:]*/.exec(problem)?.[0];

/** Problems about `field` alone (one per part of it that is wrong), the first mentioning each of `mentions`. */
function oneProblem(data: Record<string, unknown>, field: string, ...mentions: string[]): void {
  const found = problems(data);
  assert.deepEqual(
    found.map(fieldOf),
    found.map(() => field),
    `every problem should name ${field}: ${JSON.stringify(found)}`,
  );
  for (const text of mentions)
    assert.ok(found[0].includes(text), `the problem should mention ${text}: ${found[0]}`);
}

describe('parseRelation', () => {
  describe('accepts', () => {
    it('a full document, with Timestamp-like dates in the error', () => {
      assert.deepEqual(parsed(stored()), {
        id: ORDER_ID,
        order: ORDER,
        stage: 'IN_FLIGHT',
        orderStatus: 'IN_FLIGHT',
        kitchenOrder: KITCHEN_ORDER,
        kitchenOrderStatus: 'PACKAGED',
        shipment: SHIPMENT,
        shipmentStatus: 'COLLECTED',
        error: {
          step: 'finish',
          code: 'UNAVAILABLE',
          message: 'the food service is unavailable',
          transient: true,
          failures: 2,
          at: AT,
          retryAt: RETRY_AT,
        },
        observationError: null,
        possibleOrphans: [],
        knownUpdateTime: null,
        vouchedUpdateTime: null,
        vouchedFrom: null,
        orderUpdateTime: null,
        lateUpdates: [],
        finishWindow: null,
      });
    });

    it('possible orphan notes, named and unnamed, and an observation error', () => {
      const notes = [
        {
          step: 'createKitchenOrder',
          attempt: 1,
          name: null,
          claimedAt: timestamp(AT),
          eventId: 'e1',
          reason: 'may have created',
        },
        {
          step: 'createShipment',
          attempt: 2,
          name: SHIPMENT,
          claimedAt: timestamp(AT),
          eventId: 'e2',
          reason: 'created late',
        },
      ];
      const relation = parsed(
        stored({ possibleOrphans: notes, observationError: 'GetShipment: NOT_FOUND' }),
      );
      assert.deepEqual(
        relation.possibleOrphans,
        notes.map((n) => ({ ...n, claimedAt: AT, resolution: null })),
        'a note stored before resolutions existed reads as open',
      );
      assert.equal(relation.observationError, 'GetShipment: NOT_FOUND');
    });

    it("a person's resolution of a possible orphan, and refuses a malformed one", () => {
      const note = {
        step: 'createKitchenOrder',
        attempt: 1,
        name: null,
        claimedAt: timestamp(AT),
        eventId: 'e1',
        reason: 'may have created',
      };
      const resolution = { by: 'alice', note: 'cancelled it in the kitchen', at: timestamp(AT) };
      const relation = parsed(stored({ possibleOrphans: [{ ...note, resolution }] }));
      // A resolution stored before resolutions named their note's name reads as resolved for no name.
      assert.deepEqual(relation.possibleOrphans[0].resolution, {
        by: 'alice',
        note: 'cancelled it in the kitchen',
        at: AT,
        name: null,
      });
      const bad = parseRelation(
        stored({ possibleOrphans: [{ ...note, resolution: { by: 'alice' } }] }),
        ORDER_ID,
      );
      assert.equal(bad.ok, false);
      assert.match(
        bad.ok ? '' : bad.problems.join(),
        /possibleOrphans\.0\.resolution\.note: expected a note, got undefined/,
      );
    });

    it('a fresh relation: nothing created yet, optional fields absent or null', () => {
      const fresh = {
        order: ORDER,
        stage: 'NEW',
        orderStatus: 'NEW',
        kitchenOrder: null,
        error: null,
      };
      assert.deepEqual(parsed(fresh), relation({ order: ORDER }));
    });

    it('the document the poller creates for a NEW order', () => {
      assert.deepEqual(parsed(newRelation(ORDER, 'customer-1', AT)), relation({ order: ORDER }));
    });

    it('every stage and every known status', () => {
      for (const stage of [
        'NEW',
        'PREPARATION',
        'IN_FLIGHT',
        'DELIVERED',
        'REJECTED',
        'CANCELLED',
      ]) {
        assert.equal(parsed(stored({ stage })).stage, stage);
      }
      for (const orderStatus of [
        'UNKNOWN',
        'NEW',
        'PREPARATION',
        'IN_FLIGHT',
        'DELIVERED',
        'REJECTED',
        'CANCELLED',
      ]) {
        assert.equal(parsed(stored({ orderStatus })).orderStatus, orderStatus);
      }
      for (const kitchenOrderStatus of ['UNKNOWN', 'NEW', 'PREPARATION', 'PACKAGED']) {
        assert.equal(parsed(stored({ kitchenOrderStatus })).kitchenOrderStatus, kitchenOrderStatus);
      }
      for (const shipmentStatus of ['UNKNOWN', 'NEW', 'COLLECTED', 'DELIVERED', 'REJECTED']) {
        assert.equal(parsed(stored({ shipmentStatus })).shipmentStatus, shipmentStatus);
      }
    });

    it('an error with plain Dates, a permanent error without retryAt, and defaults for optional error fields', () => {
      const permanent = parsed(
        stored({
          error: {
            code: 'INCONSISTENT',
            step: 'document',
            message: 'look',
            transient: false,
            failures: 1,
            at: AT,
            retryAt: null,
          },
        }),
      );
      assert.deepEqual(permanent.error, {
        code: 'INCONSISTENT',
        step: 'document',
        message: 'look',
        transient: false,
        failures: 1,
        at: AT,
        retryAt: null,
      });

      const minimal = parsed(
        stored({ error: { message: 'look', transient: false, at: timestamp(AT) } }),
      );
      assert.deepEqual(minimal.error, {
        step: 'document',
        code: 'UNKNOWN',
        message: 'look',
        transient: false,
        failures: 1,
        at: AT,
        retryAt: null,
      });
    });

    it('ignores fields it does not model', () => {
      const relation = parsed(stored({ outcome: null, updatedAt: timestamp(AT) }));
      assert.equal(relation.order, ORDER);
      assert.ok(!('customerId' in relation) && !('active' in relation));
    });
  });

  describe('reports, naming the field', () => {
    it("an order that is not the relation's own: its id must be the order's", () => {
      const found = problems(stored(), 'other-id');
      assert.deepEqual(found, [
        `order: ${ORDER} is not the order of relation other-id (its id must be the order's)`,
      ]);
    });

    it('malformed possible orphan notes and observation errors', () => {
      oneProblem(stored({ possibleOrphans: 'none' }), 'possibleOrphans');
      oneProblem(
        stored({
          possibleOrphans: [
            { step: 'createKitchenOrder', attempt: 'one', claimedAt: timestamp(AT), reason: 'x' },
          ],
        }),
        'possibleOrphans',
      );
      oneProblem(
        stored({
          possibleOrphans: [{ step: 'finish', attempt: 1, claimedAt: timestamp(AT), reason: 'x' }],
        }),
        'possibleOrphans',
      );
      oneProblem(stored({ observationError: 404 }), 'observationError', '404');
    });

    it('a missing order name', () => {
      const data = stored();
      delete data.order;
      oneProblem(data, 'order', 'undefined');
    });

    for (const bad of [
      '',
      'orders/',
      'orders/a/b',
      'kitchenorders/x',
      `orders/${ORDER_ID} `,
      'orders/a b',
      ORDER_ID,
    ]) {
      it(`a malformed order name ${JSON.stringify(bad)}`, () => {
        oneProblem(stored({ order: bad }), 'order', JSON.stringify(bad));
      });
    }

    it('an order name that is not a string', () => {
      oneProblem(stored({ order: 42 }), 'order', '42');
      oneProblem(stored({ order: null }), 'order', 'null');
    });

    it('an unknown stage', () => {
      oneProblem(stored({ stage: 'SHIPPED' }), 'stage', '"SHIPPED"');
      oneProblem(stored({ stage: 'in_flight' }), 'stage', '"in_flight"');
      oneProblem(stored({ stage: 3 }), 'stage', '3');
      oneProblem(stored({ stage: undefined }), 'stage', 'undefined');
    });

    it('unknown status strings', () => {
      oneProblem(stored({ orderStatus: 'LOST' }), 'orderStatus', '"LOST"');
      oneProblem(stored({ kitchenOrderStatus: 'COOKING' }), 'kitchenOrderStatus', '"COOKING"');
      oneProblem(stored({ shipmentStatus: 'IN_THE_AIR' }), 'shipmentStatus', '"IN_THE_AIR"');
    });

    it("a status of another resource's enum", () => {
      oneProblem(stored({ kitchenOrderStatus: 'DELIVERED' }), 'kitchenOrderStatus', '"DELIVERED"');
      oneProblem(stored({ shipmentStatus: 'PACKAGED' }), 'shipmentStatus', '"PACKAGED"');
      oneProblem(stored({ orderStatus: 'COLLECTED' }), 'orderStatus', '"COLLECTED"');
    });

    it('numeric unknown enum values, as the poller records them', () => {
      oneProblem(stored({ kitchenOrderStatus: 7 }), 'kitchenOrderStatus', '7');
      oneProblem(stored({ shipmentStatus: 9 }), 'shipmentStatus', '9');
      oneProblem(stored({ orderStatus: 12 }), 'orderStatus', '12');
    });

    it('a missing order status (it is not optional)', () => {
      oneProblem(stored({ orderStatus: null }), 'orderStatus', 'null');
      oneProblem(stored({ orderStatus: undefined }), 'orderStatus');
    });

    it('malformed kitchen order and shipment names', () => {
      oneProblem(stored({ kitchenOrder: 'kitchenorders/' }), 'kitchenOrder', '"kitchenorders/"');
      oneProblem(stored({ kitchenOrder: SHIPMENT }), 'kitchenOrder', JSON.stringify(SHIPMENT));
      oneProblem(
        stored({ kitchenOrder: 'kitchenorders/a/b' }),
        'kitchenOrder',
        '"kitchenorders/a/b"',
      );
      oneProblem(stored({ kitchenOrder: 5 }), 'kitchenOrder', '5');
      oneProblem(stored({ shipment: 'shipments/a b' }), 'shipment', '"shipments/a b"');
      oneProblem(stored({ shipment: KITCHEN_ORDER }), 'shipment', JSON.stringify(KITCHEN_ORDER));
      oneProblem(stored({ shipment: { name: SHIPMENT } }), 'shipment');
    });

    const malformedErrors: ReadonlyArray<readonly [string, unknown]> = [
      ['a string', 'boom'],
      ['a number', 1],
      ['an empty object', {}],
      ['an array', []],
      ['no message', { code: 'UNAVAILABLE', transient: true, at: timestamp(AT) }],
      ['a message that is not a string', { message: 42, transient: true, at: timestamp(AT) }],
      ['no transient flag', { message: 'x', at: timestamp(AT) }],
      [
        'a transient flag that is not a boolean',
        { message: 'x', transient: 'yes', at: timestamp(AT) },
      ],
      ['no at', { message: 'x', transient: false }],
      ['an at that is not a date', { message: 'x', transient: false, at: '2030-06-01T12:00:00Z' }],
    ];
    for (const [name, error] of malformedErrors) {
      it(`a malformed error: ${name}`, () => {
        oneProblem(stored({ error }), 'error');
      });
    }

    it('a malformed error: a retryAt that is neither null nor a date', () => {
      // retryAt drives the backoff: a hand-edited "2030-..." string must not
      // silently become "retry now".
      const found = problems(
        stored({
          error: {
            message: 'x',
            transient: true,
            at: timestamp(AT),
            retryAt: '2030-06-01T12:00:30Z',
          },
        }),
      );
      assert.ok(
        found.some((p) => p.startsWith('error')),
        JSON.stringify(found),
      );
    });

    it('several problems at once, all of them', () => {
      const found = problems({
        order: 'orders/',
        stage: 'SHIPPED',
        orderStatus: 'LOST',
        kitchenOrder: 'kitchenorders/a b',
        kitchenOrderStatus: 7,
        shipment: 'drones/1',
        shipmentStatus: 'LOST',
        error: 'boom',
      });
      const fields = [...new Set(found.map(fieldOf))];
      assert.deepEqual(fields.sort(), [
        'error',
        'kitchenOrder',
        'kitchenOrderStatus',
        'order',
        'orderStatus',
        'shipment',
        'shipmentStatus',
        'stage',
      ]);
    });

    it('an empty document, with every required field', () => {
      const fields = problems({}).map(fieldOf);
      assert.deepEqual(fields.sort(), ['order', 'orderStatus', 'stage']);
    });
  });
});

describe('relation names', () => {
  const good = [ORDER, 'orders/a', 'orders/A1_b-2', `orders/${'x'.repeat(128)}`];
  const bad: unknown[] = [
    'orders/',
    'orders/a/b',
    'kitchenorders/x',
    'shipments/x',
    'orders/a b',
    ' orders/a',
    'orders/a ',
    'orders/a\n',
    'orders/_a',
    'orders/-a',
    'orders/.',
    'orders/..',
    `orders/${'x'.repeat(129)}`,
    'Orders/a',
    ORDER_ID,
    '',
    undefined,
    null,
    42,
    { name: ORDER },
  ];

  it('isOrderName accepts orders/<id>', () => {
    for (const name of good) assert.equal(isOrderName(name), true, name);
  });

  it('isOrderName rejects anything else', () => {
    for (const name of bad) assert.equal(isOrderName(name), false, JSON.stringify(name));
  });

  it('relationId is the id part of the order name', () => {
    assert.equal(relationId(ORDER), ORDER_ID);
    assert.equal(relationId('orders/a'), 'a');
  });

  it('relationId throws on a malformed name, naming it', () => {
    for (const name of bad.filter((n): n is string => typeof n === 'string')) {
      assert.throws(
        () => relationId(name),
        (err: Error) => err.message.includes(`"${name}"`),
        JSON.stringify(name),
      );
    }
  });
});

describe('status guards', () => {
  it('accept the names of their own enum only', () => {
    assert.equal(isOrderStatus('CANCELLED'), true);
    assert.equal(isOrderStatus('PACKAGED'), false);
    assert.equal(isKitchenOrderStatus('PACKAGED'), true);
    assert.equal(isKitchenOrderStatus('DELIVERED'), false);
    assert.equal(isShipmentStatus('COLLECTED'), true);
    assert.equal(isShipmentStatus('IN_FLIGHT'), false);
  });

  it('reject numbers, lower case, null and inherited property names', () => {
    for (const guard of [isOrderStatus, isKitchenOrderStatus, isShipmentStatus]) {
      for (const value of [
        0,
        1,
        7,
        'new',
        'New',
        '',
        null,
        undefined,
        'toString',
        'constructor',
        {},
      ]) {
        assert.equal(guard(value), false, `${guard.name}(${JSON.stringify(value)})`);
      }
    }
  });
});
