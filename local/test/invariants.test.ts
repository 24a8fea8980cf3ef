import { strict as assert } from 'node:assert';

import { checkInvariants, type RunFacts } from '../invariants';

const relation = (order: string, stage: string, extra: Record<string, unknown> = {}) => ({
  order,
  stage,
  active: !['DELIVERED', 'REJECTED', 'CANCELLED'].includes(stage),
  error: null,
  possibleOrphans: [],
  kitchenOrder: stage === 'NEW' ? null : `kitchenorders/${order}`,
  shipment: ['IN_FLIGHT', 'DELIVERED', 'REJECTED'].includes(stage) ? `shipments/${order}` : null,
  ...extra,
});

function facts(overrides: Partial<RunFacts> = {}): RunFacts {
  return {
    orders: new Map([
      ['orders/a', 'DELIVERED'],
      ['orders/b', 'CANCELLED'],
      ['orders/c', 'IN_FLIGHT'],
      ['orders/d', 'NEW'],
    ]),
    relations: [
      relation('orders/a', 'DELIVERED'),
      relation('orders/b', 'CANCELLED', { kitchenOrder: null }),
      relation('orders/c', 'IN_FLIGHT'),
    ],
    created: { kitchenOrders: 2, shipments: 2 },
    foodFaults: false,
    failedDeliveries: 0,
    drainTimedOut: false,
    ...overrides,
  };
}

describe('run invariants', () => {
  it('hold for finished orders and orders legitimately in progress', () => {
    const report = checkInvariants(facts());
    assert.deepEqual(report.violations, []);
    assert.equal(report.held, true);
    assert.equal(report.finished, 2);
    assert.equal(report.inProgress, 2);
  });

  it('catch a relation that ended differently from its order', () => {
    const report = checkInvariants(
      facts({
        relations: [relation('orders/a', 'REJECTED'), relation('orders/c', 'IN_FLIGHT')],
        created: { kitchenOrders: 2, shipments: 2 },
      }),
    );
    assert.match(
      report.violations.join('\n'),
      /orders\/a is DELIVERED on the food service but its relation ended REJECTED/,
    );
  });

  it('catch an order in progress that nobody drives', () => {
    const report = checkInvariants(
      facts({
        orders: new Map([['orders/x', 'PREPARATION']]),
        relations: [],
        created: { kitchenOrders: 0, shipments: 0 },
      }),
    );
    assert.match(report.violations.join('\n'), /orders\/x is PREPARATION but has no relation/);
  });

  it('catch a silent duplicate create, but not one that was noted as a possible orphan', () => {
    assert.match(
      checkInvariants(facts({ created: { kitchenOrders: 3, shipments: 2 } })).violations.join('\n'),
      /created 3 kitchen orders, 1 more than recorded or noted: a silent duplicate/,
    );
    const noted = facts({
      relations: [
        relation('orders/a', 'DELIVERED', { possibleOrphans: [{ step: 'createKitchenOrder' }] }),
        relation('orders/c', 'IN_FLIGHT'),
      ],
      created: { kitchenOrders: 3, shipments: 2 },
      foodFaults: true,
    });
    const report = checkInvariants(noted);
    assert.equal(report.held, true, report.violations.join('\n'));
    assert.match(report.notes.join('\n'), /noted as possible orphans.*faults were injected/);
  });

  it('treat a flag as a violation unless food-service faults were injected', () => {
    const flagged = [
      relation('orders/a', 'DELIVERED'),
      relation('orders/c', 'IN_FLIGHT', { error: { transient: false, code: 'INVALID_ARGUMENT' } }),
    ];
    assert.equal(checkInvariants(facts({ relations: flagged })).held, false);
    assert.equal(checkInvariants(facts({ relations: flagged, foodFaults: true })).held, true);
  });

  it('treat trigger invocations that threw, and a drain that timed out, as violations', () => {
    assert.match(
      checkInvariants(facts({ failedDeliveries: 3 })).violations.join('\n'),
      /3 trigger invocation\(s\) threw/,
    );
    assert.match(
      checkInvariants(facts({ drainTimedOut: true })).violations.join('\n'),
      /2 order\(s\) were still in flight when the drain timed out/,
    );
  });

  it('treat the notes and flags of relations an earlier run left as notes when the run resumed them', () => {
    const noted = [
      relation('orders/a', 'DELIVERED', {
        possibleOrphans: [{ step: 'createKitchenOrder', attempt: 1 }],
      }),
      relation('orders/c', 'IN_FLIGHT'),
    ];
    assert.equal(
      checkInvariants(facts({ relations: noted })).held,
      false,
      'a fresh run must not leave notes',
    );
    const resumed = checkInvariants(facts({ relations: noted, resumedRelations: 12 }));
    assert.equal(resumed.held, true, JSON.stringify(resumed));
    assert.ok(resumed.notes.some((n) => /resumed 12 relation\(s\) an earlier run left/.test(n)));
  });

  it("compare what the food service created with its own orders' relations, not with relations of an earlier run's food service", () => {
    const earlier = [relation('orders/gone-1', 'DELIVERED'), relation('orders/gone-2', 'REJECTED')];
    const relations = [...facts().relations, ...earlier];
    const resumed = checkInvariants(facts({ relations, resumedRelations: 2 }));
    assert.deepEqual(resumed.violations, []);
    assert.ok(
      resumed.notes.includes(
        "2 relation(s) name orders the food service does not know (an earlier run's, resumed)",
      ),
    );
    assert.match(
      checkInvariants(facts({ relations })).violations.join('\n'),
      /2 relation\(s\) name orders the food service does not know/,
    );
  });
});
