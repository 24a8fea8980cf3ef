// The stuck-order report on Google's emulator, run as Cloud Scheduler runs
// it: one structured error entry per problem with stable fields, the
// summary document, and nothing read or said about the healthy history.
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { installWireCounter, type Op } from '../../bench/firestore-wire';
import { readHealthSummary } from '../src/store/health';
import { problemsOf } from '../src/model/health';
import { relation, stepError } from './helpers/relations';
import {
  ago,
  alertEntries,
  api,
  flagFields,
  logEntries,
  logMark,
  orphanNote,
  seedRelation,
} from './helpers/ops';
import { startStack, type Stack } from './helpers/stack';

const THRESHOLDS = { NEW: 60, PREPARATION: 120, IN_FLIGHT: 120 };
const env = {
  STUCK_NEW_SECONDS: '60',
  STUCK_PREPARATION_SECONDS: '120',
  STUCK_IN_FLIGHT_SECONDS: '120',
};
const KITCHEN = 'kitchenorders/k-1';
const SHIPMENT = 'shipments/s-1';

describe('problemsOf (pure)', () => {
  const now = new Date('2030-06-01T12:00:00Z');
  const since = (seconds: number) => new Date(now.getTime() - seconds * 1000);

  it('names a flag, open orphans and a stage held past its threshold, each with its own since', () => {
    const flaggedAt = since(30);
    const problems = problemsOf(
      relation({
        stage: 'PREPARATION',
        kitchenOrder: KITCHEN,
        error: stepError(flaggedAt, { transient: false, code: 'INVALID_ARGUMENT' }),
        possibleOrphans: [
          {
            step: 'createKitchenOrder',
            attempt: 1,
            name: null,
            claimedAt: since(900),
            eventId: 'e',
            reason: 'r',
            resolution: null,
          },
        ],
      }),
      since(1000),
      now,
      THRESHOLDS,
    );
    assert.deepEqual(
      problems.map((p) => [p.reason, p.since.toISOString()]),
      [
        ['flagged', flaggedAt.toISOString()],
        ['orphans', since(900).toISOString()],
      ],
      'a flagged relation is not also stuck: it waits for a person already',
    );
  });

  it('is stuck only past the threshold of its own stage, and never when finished', () => {
    assert.deepEqual(
      problemsOf(relation({ stage: 'NEW' }), since(61), now, THRESHOLDS)[0]?.reason,
      'stuck',
    );
    assert.deepEqual(problemsOf(relation({ stage: 'NEW' }), since(59), now, THRESHOLDS), []);
    assert.deepEqual(
      problemsOf(
        relation({ stage: 'PREPARATION', kitchenOrder: KITCHEN }),
        since(100),
        now,
        THRESHOLDS,
      ),
      [],
    );
    assert.deepEqual(
      problemsOf(
        relation({ stage: 'DELIVERED', orderStatus: 'DELIVERED' }),
        since(9999),
        now,
        THRESHOLDS,
      ),
      [],
    );
    const transient = relation({ stage: 'NEW', error: stepError(since(10)) });
    assert.equal(
      problemsOf(transient, since(61), now, THRESHOLDS)[0]?.reason,
      'stuck',
      'a step retrying for too long is stuck',
    );
  });

  it('leaves out orphans a person resolved', () => {
    const resolved = relation({
      stage: 'DELIVERED',
      possibleOrphans: [
        {
          step: 'createShipment',
          attempt: 1,
          name: SHIPMENT,
          claimedAt: since(900),
          eventId: 'e',
          reason: 'r',
          resolution: { by: 'alice', note: 'cancelled', at: since(10), name: SHIPMENT },
        },
      ],
    });
    assert.deepEqual(problemsOf(resolved, since(9999), now, THRESHOLDS), []);
  });
});

describe('reportStuckOrders (the scheduled function)', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('logs one alert entry per problem with stable fields, and counts them in health/summary', async () => {
    stack = await startStack({ autoDeliver: false, env });
    const id = () => randomUUID();
    const flagged = id();
    const flaggedAndOld = id();
    const orphaned = id();
    const resolved = id();
    const stuckNew = id();
    const stuckFlight = id();
    const fresh = id();
    // The healthy history: finished orders the report must neither read nor mention.
    const history = Array.from({ length: 30 }, id);
    await Promise.all([
      seedRelation(flagged, {
        stage: 'PREPARATION',
        kitchenOrder: KITCHEN,
        stageSince: ago(10),
        ...flagFields('INVALID_ARGUMENT', 'bad', ago(5)),
      }),
      seedRelation(flaggedAndOld, {
        stageSince: ago(3600),
        ...flagFields('ATTEMPTS_EXHAUSTED', 'reconcile', ago(1800)),
      }),
      seedRelation(orphaned, {
        stage: 'DELIVERED',
        active: false,
        stageSince: ago(7200),
        possibleOrphans: [
          orphanNote(1, null),
          orphanNote(2, 'kitchenorders/k-2', { by: 'bob', note: 'cancelled', at: ago(60) }),
        ],
        hasOpenOrphans: true,
      }),
      seedRelation(resolved, {
        stage: 'DELIVERED',
        active: false,
        stageSince: ago(7200),
        possibleOrphans: [orphanNote(1, null, { by: 'bob', note: 'none was made', at: ago(60) })],
        hasOpenOrphans: false,
      }),
      seedRelation(stuckNew, { stageSince: ago(61) }),
      seedRelation(stuckFlight, {
        stage: 'IN_FLIGHT',
        kitchenOrder: KITCHEN,
        shipment: SHIPMENT,
        stageSince: ago(600),
      }),
      seedRelation(fresh, {
        stage: 'IN_FLIGHT',
        kitchenOrder: KITCHEN,
        shipment: SHIPMENT,
        stageSince: ago(30),
      }),
      ...history.map((h) =>
        seedRelation(h, {
          stage: 'DELIVERED',
          active: false,
          outcome: 'DELIVERED',
          stageSince: ago(86_400),
        }),
      ),
    ]);

    // Billed operations, counted on the wire as the bench counts them.
    const counter = installWireCounter();
    const ops: Op[] = [];
    const stopCounting = counter.onOp((op) => ops.push(op));
    const mark = logMark();
    try {
      assert.equal(await stack.fireSchedule('reportStuckOrders'), 200);
    } finally {
      stopCounting();
      counter.uninstall();
    }
    const reads = ops.filter((op) => op.kind === 'reads');
    assert.ok(
      !reads.some((op) => history.some((h) => op.path?.includes(h))),
      'no document of the healthy history is read',
    );
    // The five problems (flagged twice, orphans, two stuck), five counts (flagged, orphans, stuck in three stages),
    // and the poller's heartbeat and the kill switch.
    assert.equal(reads.length, 12, JSON.stringify(reads));
    assert.deepEqual(
      reads
        .filter((op) => op.path?.startsWith('health/') || op.path?.startsWith('controls/'))
        .map((op) => op.path)
        .sort(),
      ['controls/orchestrator', 'health/poller'],
    );
    assert.deepEqual(
      ops.filter((op) => op.kind === 'writes').map((op) => op.path),
      // No poll has run: the first report starts the poller's clock.
      ['health/poller', 'health/summary'],
    );
    const alerts = alertEntries(mark);
    const seen = alerts.map((a) => `${String(a.order)} ${String(a.reason)}`).sort();
    assert.deepEqual(
      seen,
      [
        `orders/${flagged} flagged`,
        `orders/${flaggedAndOld} flagged`,
        `orders/${orphaned} orphans`,
        `orders/${stuckFlight} stuck`,
        `orders/${stuckNew} stuck`,
      ].sort(),
    );
    for (const entry of alerts) {
      assert.equal(entry.severity, 'ERROR');
      assert.ok(
        !Number.isNaN(Date.parse(String(entry.since))),
        `since is a time: ${String(entry.since)}`,
      );
      assert.match(
        String(entry.stage),
        /^(NEW|PREPARATION|IN_FLIGHT|DELIVERED|REJECTED|CANCELLED)$/,
      );
      assert.equal(typeof entry.detail, 'string');
    }
    // The log-based metric of docs/OPERATIONS.md counts exactly these entries, labelled by reason and stage.
    // Cloud Logging puts a structured line's fields (but severity and message) under jsonPayload.
    const metric = JSON.parse(
      fs.readFileSync(
        path.resolve(__dirname, '..', '..', 'ops', 'monitoring', 'stuck-orders-metric.json'),
        'utf8',
      ),
    ) as { filter: string; labelExtractors: Record<string, string> };
    const clauses = metric.filter.split(' AND ');
    const matches = (entry: Record<string, unknown>) =>
      clauses.every((clause) => {
        const [, field, value] =
          /^(jsonPayload\.\w+|severity)=("?)([^"]*)\2$/.exec(clause)?.filter((_, i) => i !== 2) ??
          [];
        assert.ok(field, `a clause the test understands: ${clause}`);
        return (
          String(
            field === 'severity' ? entry.severity : entry[field.slice('jsonPayload.'.length)],
          ) === value
        );
      });
    assert.deepEqual(
      logEntries(mark)
        .filter(matches)
        .map((e) => e.order),
      alerts.map((a) => a.order),
      'the filter takes the alert entries and nothing else',
    );
    for (const extractor of Object.values(metric.labelExtractors)) {
      const field = /^EXTRACT\(jsonPayload\.(\w+)\)$/.exec(extractor)?.[1];
      assert.ok(
        field && alerts.every((a) => typeof a[field] === 'string'),
        `every entry has ${extractor}`,
      );
    }

    const stuck = alerts.find((a) => a.order === `orders/${stuckFlight}`);
    assert.equal(stuck?.stage, 'IN_FLIGHT');
    assert.equal(stuck?.thresholdSeconds, 120);
    assert.match(
      String(alerts.find((a) => a.order === `orders/${orphaned}`)?.detail),
      /1 possible orphan\(s\).*createKitchenOrder attempt 1/,
    );
    assert.match(
      String(alerts.find((a) => a.order === `orders/${flagged}`)?.detail),
      /^INVALID_ARGUMENT: bad$/,
    );
    assert.ok(
      !logEntries(mark).some((e) => history.some((h) => JSON.stringify(e).includes(h))),
      'the finished history is not mentioned',
    );

    const summary = await readHealthSummary();
    assert.deepEqual(summary?.counts, { flagged: 2, orphans: 1, stuck: 2 });
    assert.deepEqual(summary?.stuckByStage, { NEW: 1, PREPARATION: 0, IN_FLIGHT: 1 });
    assert.deepEqual(summary?.thresholds, THRESHOLDS);
    assert.equal(summary?.logged, 5);

    // The API shows the same health without scanning.
    const health = await api(stack.httpUrl, '/health');
    assert.equal(health.status, 200);
    assert.deepEqual((health.body.summary as { counts: unknown }).counts, {
      flagged: 2,
      orphans: 1,
      stuck: 2,
    });
  });

  it('says when no report has run, and an empty world reports nothing', async () => {
    stack = await startStack({ autoDeliver: false, env });
    const before = await api(stack.httpUrl, '/health');
    assert.equal(before.status, 200);
    assert.equal(before.body.summary, null);
    assert.match(String(before.body.note), /no stuck-order report has run yet/);
    const mark = logMark();
    assert.equal(await stack.fireSchedule('reportStuckOrders'), 200);
    assert.deepEqual(alertEntries(mark), []);
    assert.deepEqual((await readHealthSummary())?.counts, { flagged: 0, orphans: 0, stuck: 0 });
  });
});
