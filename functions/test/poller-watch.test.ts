// The poller, watched: every poll that completes records its outcome in
// health/poller, and the stuck-order report alerts (jsonPayload.alert
// "poller-down", severity ERROR) when no poll has succeeded for
// POLLER_DOWN_INTERVALS intervals, whatever the cause: a refusal on every
// call, a lease someone holds, a crash at start-up, a scheduler that never
// fires; and "kill-switch-on" when the switch stays on too long. On Google's
// Firestore emulator, with the simulator over TLS and the exported functions.
import { status } from '@grpc/grpc-js';
import { Timestamp } from 'firebase-admin/firestore';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  ALERT_KINDS,
  judgePoller,
  type KillSwitch,
  type PollerHeartbeat,
  type PollerWatchSettings,
} from '../src/model/health';
import { reportStuckOrders } from '../src/operations/health-report';
import { db } from '../src/store/db';
import { readHealthSummary } from '../src/store/health';
import { readPollerHeartbeat } from '../src/store/poller-health';
import { api, logEntries, logMark, ops } from './helpers/ops';
import { startStack, type Stack } from './helpers/stack';

const THRESHOLDS = { NEW: 180, PREPARATION: 300, IN_FLIGHT: 300 };
const WATCH: PollerWatchSettings = {
  pollIntervalSeconds: 1,
  pollerDownIntervals: 3,
  killSwitchAlertSeconds: 600,
};
/** Three intervals of at least a minute each. */
const DOWN_AFTER_MS = 180_000;
const RUNNING: KillSwitch = {
  paused: false,
  by: null,
  reason: null,
  at: null,
  resumedAt: null,
  problem: null,
};

const heartbeatDoc = () => db().collection('health').doc('poller');
const poller = (mark: number) =>
  logEntries(mark).filter((e) => e.alert === 'poller-down' || e.alert === 'kill-switch-on');

/** One poll through the exported HTTPS function; its HTTP status. */
async function pollStatus(stack: Stack): Promise<number> {
  const response = await fetch(`${stack.httpUrl}/pollFoodServiceNow`, { method: 'POST' });
  await response.text();
  return response.status;
}

/** The report as Cloud Scheduler would run it at `at`. */
const reportAt = (at: Date) =>
  reportStuckOrders({ thresholds: THRESHOLDS, watch: WATCH, now: () => at });

describe('judgePoller (pure)', () => {
  const now = new Date('2030-06-01T12:00:00Z');
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
  const beat = (fields: Partial<PollerHeartbeat>): PollerHeartbeat => ({
    lastSuccessAt: null,
    lastFailure: null,
    consecutiveFailures: 0,
    watchedSince: ago(3600),
    unrecorded: null,
    ...fields,
  });

  it('is down once no poll has succeeded for N intervals of at least a minute, naming the last failure', () => {
    assert.equal(judgePoller(beat({ lastSuccessAt: ago(179) }), RUNNING, now, WATCH).state, 'ok');
    const down = judgePoller(
      beat({
        lastSuccessAt: ago(181),
        lastFailure: { at: ago(5), code: 'PERMISSION_DENIED', message: 'no' },
        consecutiveFailures: 4,
      }),
      RUNNING,
      now,
      WATCH,
    );
    assert.equal(down.state, 'down');
    assert.equal(down.alerts[0]?.kind, 'poller-down');
    assert.match(
      down.alerts[0]?.detail ?? '',
      /no poll has succeeded for 3 min, longer than 180 s .*; 4 failed since, .*: PERMISSION_DENIED: no$/,
    );
    const hourly = { ...WATCH, pollIntervalSeconds: 3600 };
    assert.equal(
      judgePoller(beat({ lastSuccessAt: ago(3 * 3600 - 1) }), RUNNING, now, hourly).state,
      'ok',
      'intervals above a minute count',
    );
  });

  it('counts from when watching began, or from the last resume, when that is later than the last success', () => {
    assert.equal(judgePoller(beat({ watchedSince: ago(100) }), RUNNING, now, WATCH).state, 'ok');
    const never = judgePoller(beat({ watchedSince: ago(200) }), RUNNING, now, WATCH);
    assert.match(
      never.alerts[0]?.detail ?? '',
      /\(none since watching began\); no poll has reported a failure either/,
    );
    assert.equal(
      judgePoller(beat({ lastSuccessAt: ago(900) }), { ...RUNNING, resumedAt: ago(60) }, now, WATCH)
        .state,
      'ok',
    );
  });

  it('is paused, not down, while the kill switch is on, and alerts once it has been on too long', () => {
    const paused = (seconds: number): KillSwitch => ({
      ...RUNNING,
      paused: true,
      by: 'alice',
      reason: 'incident 42',
      at: ago(seconds),
    });
    const early = judgePoller(beat({ lastSuccessAt: ago(3600) }), paused(599), now, WATCH);
    assert.deepEqual([early.state, early.alerts], ['paused', []]);
    const late = judgePoller(beat({ lastSuccessAt: ago(3600) }), paused(601), now, WATCH);
    assert.deepEqual(
      late.alerts.map((a) => a.kind),
      ['kill-switch-on'],
    );
    assert.match(
      late.alerts[0].detail,
      /on for 10 min, longer than 600 s \(paused by alice: incident 42\)/,
    );
  });
});

describe('the poller, watched', () => {
  let stack: Stack;
  afterEach(async () => stack?.stop());

  it('a refusal on every ListOrders: each poll records the failure, and the report alerts poller-down', async () => {
    stack = await startStack({ autoDeliver: false });
    stack.service.placeOrders(1);
    assert.equal(await pollStatus(stack), 200);
    const healthy = await readPollerHeartbeat();
    assert.ok(healthy?.lastSuccessAt, 'a successful poll records its time');
    assert.equal(healthy?.consecutiveFailures, 0);

    stack.service.failAll('ListOrders', { code: status.PERMISSION_DENIED, when: 'before' });
    const mark = logMark();
    assert.equal(await pollStatus(stack), 502);
    assert.equal(await pollStatus(stack), 502);
    const failing = await readPollerHeartbeat();
    assert.equal(failing?.consecutiveFailures, 2);
    assert.equal(failing?.lastFailure?.code, 'PERMISSION_DENIED');
    assert.match(String(failing?.lastFailure?.message), /ListOrders .*PERMISSION_DENIED/);
    assert.deepEqual(
      failing?.lastSuccessAt,
      healthy?.lastSuccessAt,
      'a failure leaves the last success as it was',
    );
    assert.ok(
      logEntries(mark).some(
        (e) =>
          /poll failed; the next poll tries again/.test(String(e.message)) &&
          e.severity === 'ERROR',
      ),
      'a refusal is logged as an error, not a warning',
    );

    // Minutes pass with every poll refused: the report, run then, alerts.
    await reportAt(new Date(Date.now() + DOWN_AFTER_MS - 10_000));
    assert.deepEqual(poller(mark), [], 'not before the threshold');
    const later = new Date((healthy?.lastSuccessAt?.getTime() ?? 0) + DOWN_AFTER_MS + 1_000);
    await reportAt(later);
    const [alert, ...more] = poller(mark);
    assert.equal(more.length, 0);
    assert.equal(alert?.alert, 'poller-down');
    assert.equal(alert?.severity, 'ERROR');
    assert.equal(alert?.since, healthy?.lastSuccessAt?.toISOString());
    assert.equal(alert?.lastFailureCode, 'PERMISSION_DENIED');
    assert.equal(alert?.thresholdSeconds, 180);
    assert.match(
      String(alert?.detail),
      /no poll has succeeded for 3 min.*2 failed since.*PERMISSION_DENIED/,
    );
    const summary = await readHealthSummary();
    assert.equal(summary?.poller?.state, 'down');
    assert.equal(summary?.poller?.consecutiveFailures, 2);

    // Healed: the next successful poll ends it.
    stack.service.failAll('ListOrders', undefined);
    assert.equal(await pollStatus(stack), 200);
    const after = logMark();
    await reportAt(new Date());
    assert.deepEqual(poller(after), []);
    assert.equal((await readHealthSummary())?.poller?.state, 'ok');
  });

  it('shows in GET /health and npm run ops -- health, live, and in the scheduled report', async () => {
    stack = await startStack({ autoDeliver: false });
    stack.service.failAll('ListOrders', { code: status.PERMISSION_DENIED, when: 'before' });
    assert.equal(await pollStatus(stack), 502);
    // The poller has been watched, and last succeeded, ten minutes ago (as if the refusals had lasted that long).
    const tenMinutesAgo = Timestamp.fromMillis(Date.now() - 600_000);
    await heartbeatDoc().set(
      { watchedSince: tenMinutesAgo, lastSuccessAt: tenMinutesAgo },
      { merge: true },
    );
    const mark = logMark();
    assert.equal(await stack.fireSchedule('reportStuckOrders'), 200);
    assert.deepEqual(
      poller(mark).map((e) => e.alert),
      ['poller-down'],
    );
    const health = await api(stack.httpUrl, '/health');
    assert.equal(health.status, 200);
    const live = health.body.poller as {
      state: string;
      lastFailure: { code: string };
      alerts: Array<{ kind: string }>;
    };
    assert.equal(live.state, 'down');
    assert.equal(live.lastFailure.code, 'PERMISSION_DENIED');
    assert.deepEqual(
      live.alerts.map((a) => a.kind),
      ['poller-down'],
    );
    assert.equal((health.body.summary as { poller: { state: string } }).poller.state, 'down');
    const cli = await ops(['health']);
    assert.equal(cli.code, 0, cli.output);
    assert.match(
      cli.output,
      /^poller: down \(last success \S+; 1 failed since, last \S+ PERMISSION_DENIED: /m,
    );
    assert.match(cli.output, /^ {2}ALERT poller-down: no poll has succeeded for 10 min/m);
  });

  it('a lease someone keeps holding: every poll records LEASE_HELD, and the report alerts', async () => {
    stack = await startStack({ autoDeliver: false });
    const lease = db().collection('leases').doc('poll');
    const mark = logMark();
    const startedAt = Date.now();
    for (let i = 0; i < 3; i++) {
      // A holder that renews as a live poll does (within the 30 s a poll's lease lasts), and never polls.
      await lease.set({
        holder: 'stuck-instance',
        expiresAt: Timestamp.fromMillis(Date.now() + 25_000),
        lastPollAt: null,
      });
      assert.equal(await pollStatus(stack), 409);
    }
    const heartbeat = await readPollerHeartbeat();
    assert.equal(heartbeat?.lastSuccessAt, null);
    assert.equal(heartbeat?.consecutiveFailures, 3);
    assert.equal(heartbeat?.lastFailure?.code, 'LEASE_HELD');
    assert.match(
      String(heartbeat?.lastFailure?.message),
      /another poll holds the lease \(stuck-instance\)/,
    );
    // The first report starts the clock, as on a fresh deployment; minutes later it alerts.
    await reportAt(new Date(startedAt));
    await reportAt(new Date(startedAt + DOWN_AFTER_MS + 1_000));
    const [alert] = poller(mark);
    assert.equal(alert?.alert, 'poller-down');
    assert.match(
      String(alert?.detail),
      /\(none since watching began\); 3 failed since, .*: LEASE_HELD: another poll holds the lease \(stuck-instance\)/,
    );
  });

  it('a crash at start-up (a param out of range) is recorded before the function fails, and alerted', async () => {
    stack = await startStack({ autoDeliver: false });
    const saved = process.env.RPC_DEADLINE_MS;
    process.env.RPC_DEADLINE_MS = '50'; // below its range: loadConfig refuses it
    try {
      assert.equal(await stack.fireSchedule('pollFoodService'), 500);
      assert.equal(await pollStatus(stack), 500);
    } finally {
      process.env.RPC_DEADLINE_MS = saved;
    }
    const heartbeat = await readPollerHeartbeat();
    assert.equal(heartbeat?.consecutiveFailures, 2);
    assert.equal(heartbeat?.lastFailure?.code, 'START_FAILED');
    assert.match(
      String(heartbeat?.lastFailure?.message),
      /RPC_DEADLINE_MS must be an integer from 100 to 60000, got "50"/,
    );
    const mark = logMark();
    await reportAt(new Date(Date.now() + DOWN_AFTER_MS + 1_000));
    assert.match(
      String(poller(mark)[0]?.detail),
      /START_FAILED: RPC_DEADLINE_MS must be an integer from 100 to 60000, got "50"/,
    );
  });

  it('a poller that never writes at all (the scheduler stopped): the report starts the clock and alerts after it', async () => {
    stack = await startStack({ autoDeliver: false });
    const mark = logMark();
    const start = new Date();
    await reportAt(start);
    assert.ok((await heartbeatDoc().get()).exists, 'the first report starts watching');
    await reportAt(new Date(start.getTime() + DOWN_AFTER_MS - 1_000));
    assert.deepEqual(poller(mark), []);
    await reportAt(new Date(start.getTime() + DOWN_AFTER_MS + 1_000));
    assert.match(
      String(poller(mark)[0]?.detail),
      /\(none since watching began\); no poll has reported a failure either/,
    );
  });

  it('a kill switch left on: kill-switch-on once it has been on too long, and no poller-down while it is on', async () => {
    stack = await startStack({ autoDeliver: false });
    assert.equal(await pollStatus(stack), 200);
    const pausedAt = Date.now();
    await db()
      .collection('controls')
      .doc('orchestrator')
      .set({
        paused: true,
        by: 'alice',
        reason: 'incident 42',
        at: Timestamp.fromMillis(pausedAt),
        resumedAt: null,
      });
    assert.equal(await pollStatus(stack), 503);
    const mark = logMark();
    await reportAt(new Date(pausedAt + 599_000));
    assert.deepEqual(
      poller(mark),
      [],
      'paused on purpose, for less than KILL_SWITCH_ALERT_SECONDS: nothing',
    );
    assert.equal((await readHealthSummary())?.poller?.state, 'paused');
    await reportAt(new Date(pausedAt + 601_000));
    const alerts = poller(mark);
    assert.deepEqual(
      alerts.map((a) => a.alert),
      ['kill-switch-on'],
    );
    assert.equal(alerts[0].severity, 'ERROR');
    assert.equal(alerts[0].thresholdSeconds, 600);
    assert.match(String(alerts[0].detail), /paused by alice: incident 42/);
  });

  it("the monitoring metric's filter takes the poller's alert entries, and the stuck-order metric does not", async () => {
    stack = await startStack({ autoDeliver: false });
    const mark = logMark();
    await reportAt(new Date());
    await reportAt(new Date(Date.now() + DOWN_AFTER_MS + 1_000));
    const metric = JSON.parse(
      fs.readFileSync(
        path.resolve(__dirname, '..', '..', 'ops', 'monitoring', 'poller-metric.json'),
        'utf8',
      ),
    ) as {
      filter: string;
      labelExtractors: Record<string, string>;
    };
    const [, kinds] =
      /^jsonPayload\.alert=\(([^)]+)\) AND severity=ERROR$/.exec(metric.filter) ?? [];
    assert.ok(kinds, `a filter this test understands: ${metric.filter}`);
    const wanted = kinds.split(' OR ').map((k) => JSON.parse(k) as string);
    // Every alert kind but the stuck order's, which stuck-orders-metric.json counts.
    const pollerKinds = ALERT_KINDS.filter((kind) => kind !== 'stuck-order');
    assert.deepEqual(wanted.sort(), [...pollerKinds].sort());
    const entries = logEntries(mark);
    const taken = entries.filter((e) => e.severity === 'ERROR' && wanted.includes(String(e.alert)));
    assert.deepEqual(
      taken.map((e) => e.alert),
      ['poller-down'],
    );
    assert.equal(metric.labelExtractors.alert, 'EXTRACT(jsonPayload.alert)');
  });
});
