import * as assert from 'node:assert/strict';

import type { PlainData } from '../board/feed';
import { RelationTracker, type TrackerEvent } from '../board/tracker';
import { relationDoc, RelationFeed } from './helpers/relations';

const T0 = new Date('2030-01-01T12:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

describe('board tracker', () => {
  it('detects transitions from creation to delivery and keeps a view of each relation', () => {
    const tracker = new RelationTracker();
    const feed = new RelationFeed(tracker);
    feed.write('a', relationDoc('a', { createdAt: at(0) }), at(0));
    feed.write('a', { orderStatus: 'NEW', observedAt: at(1) }, at(1));
    feed.write(
      'a',
      {
        stage: 'PREPARATION',
        advancedAt: at(2),
        kitchenOrder: 'kitchenorders/k1',
        kitchenOrderStatus: 'NEW',
      },
      at(2),
    );
    feed.write('a', { kitchenOrderStatus: 'PACKAGED' }, at(3));
    feed.write(
      'a',
      { stage: 'IN_FLIGHT', advancedAt: at(4), shipment: 'shipments/s1', shipmentStatus: 'NEW' },
      at(4),
    );
    feed.write(
      'a',
      {
        stage: 'DELIVERED',
        active: false,
        outcome: 'DELIVERED',
        advancedAt: at(5),
        shipmentStatus: 'DELIVERED',
      },
      at(5),
    );

    assert.deepEqual(
      tracker.transitions().map(({ from, to, at: when }) => [from, to, when]),
      [
        [null, 'NEW', at(0).toISOString()],
        ['NEW', 'PREPARATION', at(2).toISOString()],
        ['PREPARATION', 'IN_FLIGHT', at(4).toISOString()],
        ['IN_FLIGHT', 'DELIVERED', at(5).toISOString()],
      ],
    );
    assert.deepEqual(tracker.relations(), [
      {
        id: 'a',
        order: 'orders/a',
        stage: 'DELIVERED',
        orderStatus: 'NEW',
        kitchenOrder: 'kitchenorders/k1',
        kitchenOrderStatus: 'PACKAGED',
        shipment: 'shipments/s1',
        shipmentStatus: 'DELIVERED',
        error: null,
        observationError: null,
        possibleOrphans: 0,
        openOrphans: 0,
        health: [],
        stageSince: at(5).toISOString(),
        updatedAt: at(5).toISOString(),
      },
    ]);
  });

  it('takes the time in stage from createdAt while NEW and from advancedAt after', () => {
    const tracker = new RelationTracker();
    const feed = new RelationFeed(tracker);
    feed.write('a', relationDoc('a', { createdAt: at(-30) }), at(0));
    assert.equal(tracker.relations()[0].stageSince, at(-30).toISOString());
    feed.write('a', { stage: 'PREPARATION', advancedAt: at(7) }, at(8));
    assert.equal(tracker.relations()[0].stageSince, at(7).toISOString());
    feed.write('a', { kitchenOrderStatus: 'PREPARATION' }, at(9));
    assert.equal(
      tracker.relations()[0].stageSince,
      at(7).toISOString(),
      'news at the same stage does not reset the clock',
    );
  });

  it('accepts Firestore Timestamps and ISO strings as well as Dates', () => {
    const tracker = new RelationTracker();
    tracker.apply('a', null, relationDoc('a', { createdAt: { toDate: () => at(-5) } }), at(0));
    tracker.apply(
      'b',
      null,
      relationDoc('b', { stage: 'PREPARATION', advancedAt: at(-3).toISOString() }),
      at(0),
    );
    assert.deepEqual(
      tracker.relations().map((view) => view.stageSince),
      [at(-5).toISOString(), at(-3).toISOString()],
    );
  });

  it('counts every stage exactly, also while finished cards are dropped to bound memory', () => {
    const tracker = new RelationTracker({ finishedPerStage: 3 });
    const feed = new RelationFeed(tracker);
    const removed: string[] = [];
    tracker.subscribe((event) => event.type === 'removed' && removed.push(event.id));
    for (let i = 0; i < 20; i++) feed.write(`o${i}`, relationDoc(`o${i}`), at(i));
    for (let i = 0; i < 10; i++)
      feed.write(`o${i}`, { stage: 'DELIVERED', active: false }, at(100 + i));
    for (let i = 10; i < 15; i++)
      feed.write(`o${i}`, { stage: 'CANCELLED', active: false }, at(200 + i));
    feed.write('o15', { stage: 'PREPARATION' }, at(300));

    const summary = tracker.summary(at(1000));
    assert.deepEqual(summary.stages, {
      NEW: 4,
      PREPARATION: 1,
      IN_FLIGHT: 0,
      DELIVERED: 10,
      REJECTED: 0,
      CANCELLED: 5,
      INVALID: 0,
    });
    assert.equal(summary.active, 5);
    assert.equal(summary.finished, 15);
    assert.equal(summary.relations, 20);

    const cards = tracker.relations();
    assert.equal(
      cards.length,
      5 + 3 + 3,
      'every active card, and the three most recent finished per stage',
    );
    assert.deepEqual(
      cards.filter((view) => view.stage === 'DELIVERED').map((view) => view.id),
      ['o7', 'o8', 'o9'],
    );
    assert.deepEqual(
      cards.filter((view) => view.stage === 'CANCELLED').map((view) => view.id),
      ['o12', 'o13', 'o14'],
    );
    assert.deepEqual(removed, ['o0', 'o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o10', 'o11']);

    // A dropped relation edited by hand, then deleted, is still counted right (from the change's `before`).
    feed.write('o0', { stage: 'REJECTED' }, at(400));
    feed.delete('o1', at(401));
    assert.deepEqual(tracker.summary(at(1000)).stages, {
      NEW: 4,
      PREPARATION: 1,
      IN_FLIGHT: 0,
      DELIVERED: 8,
      REJECTED: 1,
      CANCELLED: 5,
      INVALID: 0,
    });
    assert.equal(tracker.summary(at(1000)).relations, 19);
  });

  it('keeps the most recent transitions in a bounded ring, oldest first', () => {
    const tracker = new RelationTracker({ transitionLimit: 5 });
    const feed = new RelationFeed(tracker);
    for (let i = 0; i < 12; i++) feed.write(`o${i}`, relationDoc(`o${i}`), at(i));
    assert.deepEqual(
      tracker.transitions().map((t) => t.id),
      ['o7', 'o8', 'o9', 'o10', 'o11'],
    );
  });

  it('reports transitions per second over a sliding window ending at now', () => {
    const tracker = new RelationTracker({ rateWindowMs: 10_000 });
    const feed = new RelationFeed(tracker);
    for (let i = 0; i < 20; i++) feed.write(`o${i}`, relationDoc(`o${i}`), at(i * 0.5)); // 2 per second for 10 s
    feed.write('o0', { orderStatus: 'NEW', observedAt: at(9.6) }, at(9.6)); // news, not a transition
    assert.equal(tracker.summary(at(9.75)).transitionsPerSecond, 2);
    assert.equal(
      tracker.summary(at(4.75)).transitionsPerSecond,
      1,
      'transitions after now are not counted',
    );
    assert.equal(
      tracker.summary(at(14.75)).transitionsPerSecond,
      1,
      'the first half has left the window',
    );
    assert.equal(tracker.summary(at(30)).transitionsPerSecond, 0);
  });

  it('splits errors into transient and flagged, and totals possible orphans', () => {
    const tracker = new RelationTracker();
    const feed = new RelationFeed(tracker);
    for (const id of ['a', 'b', 'c', 'd']) feed.write(id, relationDoc(id), at(0));
    feed.write(
      'a',
      {
        error: {
          step: 'createKitchenOrder',
          code: 'UNAVAILABLE',
          message: 'down',
          transient: true,
          failures: 1,
        },
      },
      at(1),
    );
    feed.write(
      'b',
      { error: { code: 'NOT_FOUND', message: 'orders/b not found', transient: false } },
      at(1),
    );
    feed.write(
      'c',
      {
        possibleOrphans: [
          { step: 'createKitchenOrder', attempt: 1 },
          { step: 'createShipment', attempt: 1 },
        ],
      },
      at(1),
    );
    feed.write('d', { observationError: 'kitchenorders/x: NOT_FOUND' }, at(1));

    let summary = tracker.summary(at(2));
    assert.deepEqual(summary.errors, { transient: 1, flagged: 2 });
    assert.equal(summary.possibleOrphans, 2);
    const views = new Map(tracker.relations().map((view) => [view.id, view]));
    assert.deepEqual(views.get('a')?.error, {
      code: 'UNAVAILABLE',
      message: 'down',
      transient: true,
    });
    assert.deepEqual(views.get('b')?.error, {
      code: 'NOT_FOUND',
      message: 'orders/b not found',
      transient: false,
    });
    assert.equal(views.get('c')?.possibleOrphans, 2);
    assert.equal(views.get('d')?.observationError, 'kitchenorders/x: NOT_FOUND');

    // Recording the step clears the error; the orphan notes stay with the relation.
    feed.write('a', { error: null, stage: 'PREPARATION' }, at(3));
    feed.write('b', { error: null }, at(3));
    feed.write('c', { stage: 'PREPARATION' }, at(3));
    summary = tracker.summary(at(4));
    assert.deepEqual(summary.errors, { transient: 0, flagged: 1 });
    assert.equal(summary.possibleOrphans, 2);
  });

  it('tolerates malformed and hand-edited documents without throwing', () => {
    const tracker = new RelationTracker();
    const malformed: Array<[string, PlainData]> = [
      ['unknown-stage', { ...relationDoc('x'), stage: 'COOKING' }],
      ['no-stage', { order: 'orders/y' }],
      ['number-stage', { stage: 7 }],
      ['string-error', { ...relationDoc('z'), error: 'something broke' }],
      [
        'odd-fields',
        {
          stage: 'NEW',
          order: 42,
          kitchenOrder: { name: 'k' },
          possibleOrphans: 'many',
          error: { code: 5 },
          createdAt: 'not a date',
        },
      ],
      ['empty', {}],
    ];
    for (const [id, data] of malformed) tracker.apply(id, null, data, at(0));
    tracker.apply('empty', {}, null, at(1));

    const views = new Map(tracker.relations().map((view) => [view.id, view]));
    assert.equal(views.get('unknown-stage')?.stage, 'INVALID');
    assert.deepEqual(views.get('unknown-stage')?.error, {
      code: 'INVALID_STAGE',
      message: 'unknown stage "COOKING"',
      transient: false,
    });
    assert.deepEqual(views.get('no-stage')?.error, {
      code: 'INVALID_STAGE',
      message: 'the document has no stage',
      transient: false,
    });
    assert.equal(views.get('number-stage')?.error?.message, 'unknown stage 7');
    assert.deepEqual(views.get('string-error')?.error, {
      code: 'UNKNOWN',
      message: 'something broke',
      transient: false,
    });
    const odd = views.get('odd-fields');
    assert.deepEqual(
      [
        odd?.stage,
        odd?.order,
        odd?.kitchenOrder,
        odd?.possibleOrphans,
        odd?.error,
        odd?.stageSince,
      ],
      [
        'NEW',
        '42',
        '{"name":"k"}',
        0,
        { code: '5', message: '(no message)', transient: false },
        at(0).toISOString(),
      ],
    );
    assert.equal(views.has('empty'), false);

    const summary = tracker.summary(at(2));
    assert.deepEqual(summary.stages, {
      NEW: 2,
      PREPARATION: 0,
      IN_FLIGHT: 0,
      DELIVERED: 0,
      REJECTED: 0,
      CANCELLED: 0,
      INVALID: 3,
    });
    assert.deepEqual(summary.errors, { transient: 0, flagged: 5 });
    assert.deepEqual(
      tracker.transitions().map((t) => `${t.id}:${t.to}`),
      [
        'unknown-stage:INVALID',
        'no-stage:INVALID',
        'number-stage:INVALID',
        'string-error:NEW',
        'odd-fields:NEW',
        'empty:INVALID',
      ],
    );
  });

  it('summarises active, finished and totals', () => {
    const tracker = new RelationTracker();
    const feed = new RelationFeed(tracker);
    feed.write('a', relationDoc('a', { createdAt: at(0) }), at(0));
    feed.write('b', relationDoc('b', { createdAt: at(0) }), at(0));
    feed.write('b', { stage: 'REJECTED', active: false }, at(1));
    assert.deepEqual(tracker.summary(at(1)), {
      stages: {
        NEW: 1,
        PREPARATION: 0,
        IN_FLIGHT: 0,
        DELIVERED: 0,
        REJECTED: 1,
        CANCELLED: 0,
        INVALID: 0,
      },
      active: 1,
      finished: 1,
      transitionsPerSecond: 0.3,
      errors: { transient: 0, flagged: 0 },
      waitingForPerson: 0,
      possibleOrphans: 0,
      health: { flagged: 0, orphans: 0, stuck: 0 },
      stuckThresholds: { NEW: 180, PREPARATION: 300, IN_FLIGHT: 300 },
      relations: 2,
    });
  });

  it('names what needs a person as the report does: flags, open orphans, and orders stuck past their stage threshold as time passes', () => {
    const tracker = new RelationTracker({
      stuckThresholds: { NEW: 60, PREPARATION: 120, IN_FLIGHT: 120 },
    });
    const feed = new RelationFeed(tracker);
    const flag = {
      code: 'INVALID_ARGUMENT',
      message: 'refused',
      transient: false,
      at: at(0),
      retryAt: null,
    };
    const note = (resolution: unknown) => ({
      step: 'createKitchenOrder',
      attempt: 1,
      name: null,
      claimedAt: at(0),
      reason: 'r',
      resolution,
    });
    feed.write('flagged', relationDoc('flagged', { createdAt: at(0), error: flag }), at(0));
    feed.write(
      'orphaned',
      relationDoc('orphaned', {
        createdAt: at(0),
        stage: 'DELIVERED',
        active: false,
        advancedAt: at(0),
        possibleOrphans: [note(null)],
      }),
      at(0),
    );
    feed.write(
      'resolved',
      relationDoc('resolved', {
        createdAt: at(0),
        stage: 'DELIVERED',
        advancedAt: at(0),
        possibleOrphans: [note({ by: 'alice', note: 'ok', at: at(1) })],
      }),
      at(0),
    );
    feed.write(
      'cooking',
      relationDoc('cooking', { createdAt: at(0), stage: 'PREPARATION', advancedAt: at(0) }),
      at(0),
    );
    assert.deepEqual(tracker.summary(at(30)).health, { flagged: 1, orphans: 1, stuck: 0 });
    assert.deepEqual(
      tracker.summary(at(61)).health,
      { flagged: 1, orphans: 1, stuck: 0 },
      'a flagged NEW order is not also stuck',
    );
    assert.deepEqual(tracker.summary(at(121)).health, { flagged: 1, orphans: 1, stuck: 1 });
    const views = new Map(tracker.relations(at(121)).map((v) => [v.id, v]));
    assert.deepEqual(
      views.get('cooking')?.health.map((h) => [h.reason, h.detail]),
      [['stuck', 'in PREPARATION for 121 s, longer than its 120 s threshold']],
    );
    assert.deepEqual(
      views.get('flagged')?.health.map((h) => [h.reason, h.detail, h.since]),
      [['flagged', 'INVALID_ARGUMENT: refused', at(0).toISOString()]],
    );
    assert.deepEqual(
      [views.get('orphaned')?.openOrphans, views.get('resolved')?.openOrphans],
      [1, 0],
    );
  });

  it('counts the active relations that wait for a person, and not a flagged one that ended', () => {
    const tracker = new RelationTracker();
    const feed = new RelationFeed(tracker);
    const flag = {
      code: 'INCONSISTENT',
      message: 'look',
      transient: false,
      at: at(0),
      retryAt: null,
    };
    feed.write('waiting', relationDoc('waiting', { error: flag }), at(0));
    feed.write(
      'lookup',
      relationDoc('lookup', { observationError: 'GetKitchenOrder: NOT_FOUND' }),
      at(0),
    );
    feed.write('retrying', relationDoc('retrying', { error: { ...flag, transient: true } }), at(0));
    feed.write(
      'closed',
      relationDoc('closed', { error: flag, stage: 'CANCELLED', active: false }),
      at(0),
    );
    const summary = tracker.summary(at(1));
    assert.equal(summary.waitingForPerson, 2);
    assert.deepEqual(summary.errors, { transient: 1, flagged: 3 });
  });

  it('notifies subscribers of views, transitions and removals, and survives a throwing listener', () => {
    const tracker = new RelationTracker();
    const feed = new RelationFeed(tracker);
    const events: TrackerEvent[] = [];
    const stopThrowing = tracker.subscribe(() => {
      throw new Error('listener bug');
    });
    const unsubscribe = tracker.subscribe((event) => events.push(event));
    const reported: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => reported.push(args);
    try {
      feed.write('a', relationDoc('a'), at(0));
      feed.write('a', { stage: 'PREPARATION' }, at(1));
      feed.delete('a', at(2));
    } finally {
      console.error = consoleError;
    }
    stopThrowing();
    unsubscribe();
    feed.write('b', relationDoc('b'), at(3));
    assert.equal(reported.length, 5, 'each failed notification is logged');
    assert.deepEqual(
      events.map((event) =>
        event.type === 'relation'
          ? `relation:${event.view.stage}`
          : event.type === 'transition'
            ? `transition:${event.transition.to}`
            : `removed:${event.id}`,
      ),
      [
        'relation:NEW',
        'transition:NEW',
        'relation:PREPARATION',
        'transition:PREPARATION',
        'removed:a',
      ],
    );
  });
});
