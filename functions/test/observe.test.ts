// What the poller writes (observationChanges) and when it wakes the trigger
// (needsNudge), both without I/O.
import { strict as assert } from 'node:assert';

import { needsNudge, observationChanges } from '../src/poller/observe';
import { KITCHEN_ORDER, relation, SHIPMENT, stepError } from './helpers/relations';

const NOW = new Date('2030-06-01T12:00:00.000Z');
const STALL_MS = 180_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const later = (ms: number) => new Date(NOW.getTime() + ms);

/** PREPARATION as the trigger leaves it: our UpdateOrder is not observed yet. */
const preparing = relation({
  stage: 'PREPARATION',
  orderStatus: 'NEW',
  kitchenOrder: KITCHEN_ORDER,
  kitchenOrderStatus: 'NEW',
});
const inFlight = relation({
  stage: 'IN_FLIGHT',
  orderStatus: 'IN_FLIGHT',
  kitchenOrder: KITCHEN_ORDER,
  kitchenOrderStatus: 'PACKAGED',
  shipment: SHIPMENT,
  shipmentStatus: 'NEW',
});

describe('observationChanges', () => {
  it('writes nothing when nothing changed', () => {
    assert.equal(observationChanges(relation(), {}), null);
    assert.equal(
      observationChanges(relation(), { orderStatus: 'NEW', observationError: null }),
      null,
    );
    assert.equal(
      observationChanges(inFlight, {
        orderStatus: 'IN_FLIGHT',
        kitchenOrderStatus: 'PACKAGED',
        shipmentStatus: 'NEW',
        observationError: null,
      }),
      null,
    );
  });

  it("opens the finish's send window once, with the observation that makes the finish due", () => {
    const opens = { at: NOW, sendUntil: later(20_000) };
    for (const end of ['DELIVERED', 'REJECTED'] as const) {
      assert.deepEqual(observationChanges(inFlight, { shipmentStatus: end }, opens), {
        shipmentStatus: end,
        finishWindow: { to: end, ...opens },
      });
    }
    // Not for a shipment still flying, nor a second time, nor on a relation no finish follows.
    assert.deepEqual(observationChanges(inFlight, { shipmentStatus: 'COLLECTED' }, opens), {
      shipmentStatus: 'COLLECTED',
    });
    const opened = relation({
      ...inFlight,
      finishWindow: { to: 'DELIVERED', at: ago(1), sendUntil: NOW },
    });
    assert.deepEqual(observationChanges(opened, { shipmentStatus: 'REJECTED' }, opens), {
      shipmentStatus: 'REJECTED',
    });
    const cancelled = relation({ ...inFlight, stage: 'CANCELLED' });
    assert.deepEqual(observationChanges(cancelled, { shipmentStatus: 'DELIVERED' }, opens), {
      shipmentStatus: 'DELIVERED',
    });
  });

  it('skips an order status that only echoes the stage the orchestrator set', () => {
    assert.equal(
      observationChanges(preparing, { orderStatus: 'PREPARATION', kitchenOrderStatus: 'NEW' }),
      null,
    );
    const flying = relation({ ...inFlight, orderStatus: 'PREPARATION' });
    assert.equal(
      observationChanges(flying, { orderStatus: 'IN_FLIGHT', shipmentStatus: 'NEW' }),
      null,
    );
    const delivered = relation({
      ...inFlight,
      stage: 'DELIVERED',
      orderStatus: 'IN_FLIGHT',
      shipmentStatus: 'DELIVERED',
    });
    assert.equal(observationChanges(delivered, { orderStatus: 'DELIVERED' }), null);
  });

  it('carries the echo along with real news', () => {
    assert.deepEqual(
      observationChanges(preparing, {
        orderStatus: 'PREPARATION',
        kitchenOrderStatus: 'PREPARATION',
      }),
      {
        orderStatus: 'PREPARATION',
        kitchenOrderStatus: 'PREPARATION',
      },
    );
    assert.deepEqual(
      observationChanges(
        { ...preparing, observationError: 'GetKitchenOrder: NOT_FOUND' },
        { orderStatus: 'PREPARATION', observationError: null },
      ),
      {
        orderStatus: 'PREPARATION',
        observationError: null,
      },
    );
  });

  it('writes an order status the orchestrator did not set', () => {
    assert.deepEqual(
      observationChanges(preparing, { orderStatus: 'CANCELLED', kitchenOrderStatus: 'NEW' }),
      { orderStatus: 'CANCELLED' },
    );
    assert.deepEqual(observationChanges(relation(), { orderStatus: 'CANCELLED' }), {
      orderStatus: 'CANCELLED',
    });
    assert.deepEqual(observationChanges(inFlight, { orderStatus: 'DELIVERED' }), {
      orderStatus: 'DELIVERED',
    });
    assert.deepEqual(observationChanges(preparing, { orderStatus: 'IN_FLIGHT' }), {
      orderStatus: 'IN_FLIGHT',
    });
    assert.deepEqual(observationChanges(relation(), { orderStatus: 'UNKNOWN' }), {
      orderStatus: 'UNKNOWN',
    });
  });

  it('writes kitchen order and shipment changes, and only what changed', () => {
    assert.deepEqual(observationChanges(preparing, { kitchenOrderStatus: 'PACKAGED' }), {
      kitchenOrderStatus: 'PACKAGED',
    });
    assert.deepEqual(
      observationChanges(inFlight, {
        orderStatus: 'IN_FLIGHT',
        kitchenOrderStatus: 'PACKAGED',
        shipmentStatus: 'COLLECTED',
      }),
      {
        shipmentStatus: 'COLLECTED',
      },
    );
    assert.deepEqual(observationChanges(inFlight, { shipmentStatus: 'REJECTED' }), {
      shipmentStatus: 'REJECTED',
    });
    // The first observation of a kitchen order the trigger created without a status.
    const unobserved = relation({ ...preparing, kitchenOrderStatus: null });
    assert.deepEqual(observationChanges(unobserved, { kitchenOrderStatus: 'NEW' }), {
      kitchenOrderStatus: 'NEW',
    });
  });

  it('sets and clears observationError only when it differs', () => {
    assert.deepEqual(observationChanges(relation(), { observationError: 'GetOrder: NOT_FOUND' }), {
      observationError: 'GetOrder: NOT_FOUND',
    });
    assert.equal(
      observationChanges(
        { ...relation(), observationError: 'GetOrder: NOT_FOUND' },
        { observationError: 'GetOrder: NOT_FOUND' },
      ),
      null,
    );
    assert.deepEqual(
      observationChanges(
        { ...relation(), observationError: 'GetOrder: NOT_FOUND' },
        { observationError: 'GetOrder: PERMISSION_DENIED' },
      ),
      {
        observationError: 'GetOrder: PERMISSION_DENIED',
      },
    );
    assert.deepEqual(
      observationChanges(
        { ...relation(), observationError: 'GetOrder: NOT_FOUND' },
        { observationError: null },
      ),
      {
        observationError: null,
      },
    );
    assert.equal(observationChanges(relation(), { observationError: null }), null);
    // Not looked at: leave whatever is there.
    assert.equal(
      observationChanges({ ...relation(), observationError: 'GetOrder: NOT_FOUND' }, {}),
      null,
    );
  });

  it('does not modify the relation or the observation', () => {
    const r = relation({ ...preparing });
    const seen = { orderStatus: 'PREPARATION', kitchenOrderStatus: 'PACKAGED' } as const;
    const before = JSON.stringify([r, seen]);
    observationChanges(r, seen);
    assert.equal(JSON.stringify([r, seen]), before);
  });
});

describe('needsNudge', () => {
  const due = relation(); // NEW order, nothing created: createKitchenOrder is due.

  it('is false for a terminal relation, however old', () => {
    for (const stage of ['DELIVERED', 'REJECTED', 'CANCELLED'] as const) {
      assert.equal(
        needsNudge(relation({ ...inFlight, stage }), ago(10 * STALL_MS), NOW, STALL_MS),
        false,
        stage,
      );
    }
  });

  it('is false for a relation waiting on the food service, however old', () => {
    assert.equal(needsNudge(preparing, ago(10 * STALL_MS), NOW, STALL_MS), false);
    assert.equal(needsNudge(inFlight, ago(10 * STALL_MS), NOW, STALL_MS), false);
  });

  it('is false for a relation blocked by a permanent error, however old', () => {
    const blocked = relation({
      error: stepError(ago(600_000), {
        transient: false,
        code: 'INVALID_ARGUMENT',
        retryAt: ago(STALL_MS),
      }),
    });
    assert.equal(needsNudge(blocked, ago(10 * STALL_MS), NOW, STALL_MS), false);
  });

  it('is true for a flagged relation whose order ended, once its close has stalled (a lost event)', () => {
    const ended = relation({
      orderStatus: 'CANCELLED',
      error: stepError(ago(600_000), { transient: false, code: 'INCONSISTENT' }),
    });
    assert.equal(needsNudge(ended, ago(STALL_MS), NOW, STALL_MS), true);
    assert.equal(needsNudge(ended, ago(1_000), NOW, STALL_MS), false);
  });

  it('is true for a due step that has seen no write for stallMs or more', () => {
    assert.equal(needsNudge(due, ago(STALL_MS), NOW, STALL_MS), true);
    assert.equal(needsNudge(due, ago(10 * STALL_MS), NOW, STALL_MS), true);
    assert.equal(
      needsNudge(
        relation({ ...inFlight, shipmentStatus: 'DELIVERED' }),
        ago(STALL_MS + 1),
        NOW,
        STALL_MS,
      ),
      true,
    );
    assert.equal(
      needsNudge(
        relation({ ...preparing, kitchenOrderStatus: 'PACKAGED' }),
        ago(STALL_MS),
        NOW,
        STALL_MS,
      ),
      true,
    );
    assert.equal(
      needsNudge(relation({ orderStatus: 'CANCELLED' }), ago(STALL_MS), NOW, STALL_MS),
      true,
    );
  });

  it('after a pause, is true at once for a due step untouched since before the resume, and only for such a one', () => {
    const resumedUntil = ago(1_000);
    assert.equal(
      needsNudge(due, ago(2_000), NOW, STALL_MS, resumedUntil),
      true,
      'its event may have been dropped while paused',
    );
    assert.equal(
      needsNudge(due, ago(500), NOW, STALL_MS, resumedUntil),
      false,
      'written after the resume: its event was delivered',
    );
    assert.equal(
      needsNudge(preparing, ago(2_000), NOW, STALL_MS, resumedUntil),
      false,
      'nothing is due: the poller observes it',
    );
    assert.equal(
      needsNudge(
        relation({ ...inFlight, stage: 'DELIVERED' }),
        ago(2_000),
        NOW,
        STALL_MS,
        resumedUntil,
      ),
      false,
    );
    assert.equal(
      needsNudge(due, ago(2_000), NOW, STALL_MS, null),
      false,
      'without a pause, the stall rule alone',
    );
  });

  it('is false for a due step written recently', () => {
    assert.equal(needsNudge(due, ago(STALL_MS - 1), NOW, STALL_MS), false);
    assert.equal(needsNudge(due, NOW, NOW, STALL_MS), false);
  });

  it('is true once a transient retry falls due and nothing was written since its retryAt', () => {
    const retryAt = ago(1_000);
    const retrying = relation({ error: stepError(ago(600_000), { retryAt }) });
    assert.equal(needsNudge(retrying, ago(2_000), NOW, STALL_MS), true, 'written before retryAt');
    assert.equal(needsNudge(retrying, retryAt, NOW, STALL_MS), true, 'written at retryAt');
  });

  it('is false when the relation was written after its retryAt, recently', () => {
    const retrying = relation({ error: stepError(ago(600_000), { retryAt: ago(10_000) }) });
    assert.equal(needsNudge(retrying, ago(5_000), NOW, STALL_MS), false);
    // ...unless that write is itself stalled.
    const longAgo = relation({ error: stepError(ago(600_000), { retryAt: ago(10 * STALL_MS) }) });
    assert.equal(needsNudge(longAgo, ago(5 * STALL_MS), NOW, STALL_MS), true);
  });

  it('is false while the retryAt is still in the future, however old the last write', () => {
    const backingOff = relation({ error: stepError(ago(600_000), { retryAt: later(1_000) }) });
    assert.equal(needsNudge(backingOff, ago(10 * STALL_MS), NOW, STALL_MS), false);
    assert.equal(needsNudge(backingOff, ago(1), NOW, STALL_MS), false);
  });
});
