// What makes an order need a person, decided without I/O: a flag, an open possible orphan, or an
// active stage held past its threshold. The report, the status API and the board all use these.
import { z } from 'zod';

import { expected, orNull, timestamp } from './fields';
import { isFlagged, openOrphans, type Relation } from './relation';
import { isActiveStage, type ActiveStage, type Stage } from './stage';

export const PROBLEM_REASONS = ['flagged', 'orphans', 'stuck'] as const;
export type ProblemReason = (typeof PROBLEM_REASONS)[number];

/** Seconds an order may stay in each active stage before it counts as stuck. */
export type StuckThresholds = Record<ActiveStage, number>;

/** One reason a relation needs a person, with the time it has been so. */
export interface Problem {
  reason: ProblemReason;
  order: string;
  stage: Stage;
  /** When the flag was raised, the oldest open orphan was noted, or the stage was entered. */
  since: Date;
  detail: string;
}

/** The latest time an order may have entered `stage` and still be on time. */
export function stuckCutoff(stage: ActiveStage, now: Date, thresholds: StuckThresholds): Date {
  return new Date(now.getTime() - thresholds[stage] * 1000);
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

/** Every reason the relation needs a person, in the order flagged, orphans, stuck. */
export function problemsOf(
  relation: Relation,
  stageSince: Date,
  now: Date,
  thresholds: StuckThresholds,
): Problem[] {
  const problems: Problem[] = [];
  const { order, stage, error } = relation;
  if (error && isFlagged(relation)) {
    problems.push({
      reason: 'flagged',
      order,
      stage,
      since: error.at,
      detail: `${error.code}: ${error.message}`,
    });
  }
  const open = openOrphans(relation);
  if (open.length > 0) {
    const oldest = open.reduce((a, b) => (b.claimedAt < a.claimedAt ? b : a));
    const named = open
      .map((o) => o.name ?? `${o.step} attempt ${o.attempt} (name unknown)`)
      .join(', ');
    problems.push({
      reason: 'orphans',
      order,
      stage,
      since: oldest.claimedAt,
      detail: `${open.length} possible orphan(s) to reconcile with the food service: ${named}`,
    });
  }
  // A flagged relation is not stuck: it already waits for a person, and is reported as flagged.
  if (
    isActiveStage(stage) &&
    !isFlagged(relation) &&
    stageSince < stuckCutoff(stage, now, thresholds)
  ) {
    problems.push({
      reason: 'stuck',
      order,
      stage,
      since: stageSince,
      detail: `in ${stage} for ${seconds(now.getTime() - stageSince.getTime())}, longer than its ${thresholds[stage]} s threshold`,
    });
  }
  return problems;
}

/** Alerts, each logged at ERROR as `jsonPayload.alert` (docs/OPERATIONS.md, "Alerts"). */
export const ALERT_KINDS = [
  'stuck-order',
  'poller-down',
  'kill-switch-on',
  'unrecorded-order',
  'slot-tasks-lost',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** An order the poll listed but could not give a relation, and why. */
const UnrecordedOrder = z.object({ order: z.string(), reason: z.string() });
export type UnrecordedOrder = z.output<typeof UnrecordedOrder>;

/** health/poller. Only poller/heartbeat.ts reads it: a field of the wrong type reads as absent. */
export const PollerHeartbeatDocument = z.object({
  lastSuccessAt: timestamp.nullable().catch(null),
  lastFailure: z
    .object({
      at: timestamp,
      code: z.string().catch('UNKNOWN'),
      message: z.string().catch(''),
    })
    .nullable()
    .catch(null),
  /** Polls that failed since the last success (a held lease counts). */
  consecutiveFailures: z.number().catch(0),
  /** Since when anyone has watched: the clock of a poller that never succeeded starts here. */
  watchedSince: timestamp.nullable().catch(null),
  /** What the last successful poll could not record: how many, and a sample. */
  unrecorded: z
    .object({
      at: timestamp,
      count: z.number(),
      sample: z
        .array(z.unknown())
        .catch([])
        .transform((sample) =>
          sample.flatMap((entry) => UnrecordedOrder.safeParse(entry).data ?? []),
        ),
    })
    .nullable()
    .catch(null),
});
export type PollerHeartbeat = z.output<typeof PollerHeartbeatDocument>;

/** controls/orchestrator. Who flipped it and why are only for people: a bad value reads as null. */
export const KillSwitchDocument = z.object({
  paused: z.boolean(expected('true or false')),
  /** Who flipped it last, and why, as they said. */
  by: z.string().nullable().catch(null),
  reason: z.string().nullable().catch(null),
  /** When it was last flipped (null: never, or a document without it). */
  at: orNull(timestamp),
  /** When the last pause ended: the poller wakes relations untouched since (poller/observe.ts). */
  resumedAt: orNull(timestamp),
});

export type KillSwitch = z.output<typeof KillSwitchDocument> & {
  /** Set when the document is malformed: what is wrong with it (it then counts as paused). */
  problem: string | null;
};

export interface PollerWatchSettings {
  pollIntervalSeconds: number;
  pollerDownIntervals: number;
  killSwitchAlertSeconds: number;
}

export interface PollerAlert {
  kind: Extract<AlertKind, 'poller-down' | 'kill-switch-on'>;
  /** The last successful poll (or the start of watching, or the resume), or the pause. */
  since: Date;
  detail: string;
}

export interface PollerStatus {
  state: 'ok' | 'down' | 'paused';
  lastSuccessAt: Date | null;
  lastFailure: PollerHeartbeat['lastFailure'];
  consecutiveFailures: number;
  downAfterSeconds: number;
  unrecorded: number;
  unrecordedSample: UnrecordedOrder[];
  alerts: PollerAlert[];
}

/** Each interval counts a minute at least: Scheduler starts a run a minute; a lost run loses it. */
export function pollerDownAfterSeconds(settings: PollerWatchSettings): number {
  return settings.pollerDownIntervals * Math.max(settings.pollIntervalSeconds, 60);
}

const latest = (...dates: Array<Date | null>): Date | null =>
  dates.reduce<Date | null>((a, b) => (b && (!a || b > a) ? b : a), null);

/**
 * Down, whatever the cause: no poll succeeded for pollerDownAfterSeconds since the last success (or
 * the start of watching) or the last resume, whichever is later. While paused nothing polls on
 * purpose, so it is not down; a switch on longer than killSwitchAlertSeconds is its own alert.
 */
export function judgePoller(
  heartbeat: PollerHeartbeat | null,
  pause: KillSwitch,
  now: Date,
  settings: PollerWatchSettings,
): PollerStatus {
  const downAfterSeconds = pollerDownAfterSeconds(settings);
  const status: PollerStatus = {
    state: 'ok',
    lastSuccessAt: heartbeat?.lastSuccessAt ?? null,
    lastFailure: heartbeat?.lastFailure ?? null,
    consecutiveFailures: heartbeat?.consecutiveFailures ?? 0,
    downAfterSeconds,
    unrecorded: heartbeat?.unrecorded?.count ?? 0,
    unrecordedSample: heartbeat?.unrecorded?.sample ?? [],
    alerts: [],
  };
  if (pause.paused) {
    status.state = 'paused';
    const since =
      pause.at ?? latest(heartbeat?.lastSuccessAt ?? null, heartbeat?.watchedSince ?? null) ?? now;
    if (now.getTime() - since.getTime() > settings.killSwitchAlertSeconds * 1000) {
      const who =
        pause.problem ??
        `paused${pause.by ? ` by ${pause.by}` : ''}${pause.reason ? `: ${pause.reason}` : ''}`;
      status.alerts.push({
        kind: 'kill-switch-on',
        since,
        detail: `the kill switch has been on for ${seconds(now.getTime() - since.getTime())}, longer than ${settings.killSwitchAlertSeconds} s (${who}); nothing calls the food service until it is off`,
      });
    }
    return status;
  }
  const since =
    latest(heartbeat?.lastSuccessAt ?? heartbeat?.watchedSince ?? null, pause.resumedAt) ?? now;
  const silentMs = now.getTime() - since.getTime();
  if (silentMs > downAfterSeconds * 1000) {
    status.state = 'down';
    const failure = heartbeat?.lastFailure;
    const last = heartbeat?.lastSuccessAt
      ? `the last at ${heartbeat.lastSuccessAt.toISOString()}`
      : 'none since watching began';
    const cause = failure
      ? `; ${heartbeat.consecutiveFailures} failed since, the last at ${failure.at.toISOString()}: ${failure.code}: ${failure.message}`
      : '; no poll has reported a failure either (is the scheduler running, and does the function start?)';
    status.alerts.push({
      kind: 'poller-down',
      since,
      detail: `no poll has succeeded for ${seconds(silentMs)}, longer than ${downAfterSeconds} s (${last})${cause}`,
    });
  }
  return status;
}
