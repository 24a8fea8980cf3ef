// The stuck-order report (docs/OPERATIONS.md#the-stuck-order-report): one error entry per problem
// for a log-based metric, and the counts in health/summary. It reads through indexed and
// aggregation queries, so its cost follows the problems, never the history.
import * as logger from 'firebase-functions/logger';

import {
  type PollerAlert,
  type AlertKind,
  type PollerWatchSettings,
  problemsOf,
  stuckCutoff,
  type Problem,
  type ProblemReason,
  type StuckThresholds,
} from '../model/health';
import { ACTIVE_STAGES, isStage, type ActiveStage } from '../model/stage';
import { writeHealthSummary, type HealthSummary } from '../store/health';
import { pollerStatus } from '../poller/heartbeat';
import { countRelations, pageOfRelations, type RelationFilter } from '../store/queries';
import type { StoredRelation } from '../store/relations';
import { stageSinceOf } from '../store/schema';
import { describeValue, toDate } from '../model/fields';

/** Every entry carries it, for the log-based metric's filter (jsonPayload.alert). */
export const ALERT: AlertKind = 'stuck-order';
/** Logged one by one per reason (and stage, for stuck ones); the counts cover the rest. */
export const MAX_LOGGED_PER_REASON = 100;

export interface ReportDeps {
  thresholds: StuckThresholds;
  /** How long the poller may be silent, and the kill switch on, before they are alerted. */
  watch: PollerWatchSettings;
  now: () => Date;
}

export function problemFilter(
  reason: ProblemReason,
  stage: ActiveStage | undefined,
  now: Date,
  thresholds: StuckThresholds,
): RelationFilter {
  switch (reason) {
    case 'flagged':
      return { flagged: true };
    case 'orphans':
      return { openOrphans: true };
    case 'stuck': {
      if (!stage) throw new Error('stuck relations are found one stage at a time: name the stage');
      // A flagged relation waits for a person already; it is reported as flagged.
      return { stage, flagged: false, stageBefore: stuckCutoff(stage, now, thresholds) };
    }
    default: {
      const unreachable: never = reason;
      throw new Error(`unknown reason ${String(unreachable)}`);
    }
  }
}

/** A document that does not parse (say, INVALID_DOCUMENT) is reported from its raw fields. */
export function problemOf(
  reason: ProblemReason,
  stored: StoredRelation,
  now: Date,
  thresholds: StuckThresholds,
): Problem {
  const since = stageSinceOf(stored.data) ?? new Date(0);
  if (stored.parsed.ok) {
    const found = problemsOf(stored.parsed.value, since, now, thresholds).find(
      (p) => p.reason === reason,
    );
    if (found) return found;
  }
  const { data } = stored;
  const error = (typeof data.error === 'object' && data.error !== null ? data.error : {}) as Record<
    string,
    unknown
  >;
  return {
    reason,
    order: typeof data.order === 'string' ? data.order : `orders/${stored.ref.id}`,
    stage: isStage(data.stage) ? data.stage : 'NEW',
    since: (reason === 'flagged' ? toDate(error.at) : null) ?? since,
    detail: stored.parsed.ok
      ? `matched the ${reason} query`
      : `${String(error.code ?? 'malformed')}: the document is malformed (${stored.parsed.problems.join('; ')}); stage ${describeValue(data.stage)}`,
  };
}

/** One structured entry per problem, with stable fields for the log-based metric. */
export function logProblem(problem: Problem, thresholds: StuckThresholds): void {
  logger.error(`order needs a person: ${problem.reason}`, {
    alert: ALERT,
    order: problem.order,
    stage: problem.stage,
    since: problem.since.toISOString(),
    reason: problem.reason,
    detail: problem.detail,
    ...(problem.reason === 'stuck' && problem.stage in thresholds
      ? { thresholdSeconds: thresholds[problem.stage as ActiveStage] }
      : {}),
  });
}

/** Same contract as the stuck-order entries (`alert`, severity ERROR, `since`, `detail`). */
export function logPollerAlert(alert: PollerAlert, fields: Record<string, unknown>): void {
  logger.error(`the poller needs a person: ${alert.kind}`, {
    alert: alert.kind,
    since: alert.since.toISOString(),
    detail: alert.detail,
    ...fields,
  });
}

export async function reportStuckOrders(deps: ReportDeps): Promise<HealthSummary> {
  const now = deps.now();
  const { thresholds } = deps;
  // First, as it needs no food service or index: a stopped poller shows on no relation.
  const poller = await pollerStatus(now, deps.watch, true);
  for (const alert of poller.alerts) {
    logPollerAlert(alert, {
      lastSuccessAt: poller.lastSuccessAt?.toISOString() ?? null,
      lastFailureCode: poller.lastFailure?.code ?? null,
      consecutiveFailures: poller.consecutiveFailures,
      thresholdSeconds:
        alert.kind === 'poller-down' ? poller.downAfterSeconds : deps.watch.killSwitchAlertSeconds,
    });
  }
  const searches: Array<{ reason: ProblemReason; stage?: ActiveStage }> = [
    { reason: 'flagged' },
    { reason: 'orphans' },
    ...ACTIVE_STAGES.map((stage) => ({ reason: 'stuck' as const, stage })),
  ];
  const found = await Promise.all(
    searches.map(async ({ reason, stage }) => {
      const filter = problemFilter(reason, stage, now, thresholds);
      const [count, page] = await Promise.all([
        countRelations(filter),
        pageOfRelations(filter, null, MAX_LOGGED_PER_REASON),
      ]);
      return {
        reason,
        stage,
        count,
        problems: page.relations.map((stored) => problemOf(reason, stored, now, thresholds)),
      };
    }),
  );

  const summary: HealthSummary = {
    checkedAt: now,
    counts: { flagged: 0, orphans: 0, stuck: 0 },
    stuckByStage: { NEW: 0, PREPARATION: 0, IN_FLIGHT: 0 },
    thresholds,
    logged: 0,
    poller,
  };
  for (const { reason, stage, count, problems } of found) {
    summary.counts[reason] += count;
    if (stage) summary.stuckByStage[stage] += count;
    for (const problem of problems) logProblem(problem, thresholds);
    summary.logged += problems.length;
    if (count > problems.length) {
      // Not an alert entry: the metric counts orders, and health/summary has the exact count.
      logger.warn(
        `${count - problems.length} more orders need a person (${reason}) than are logged one by one`,
        {
          reason,
          stage,
          unlisted: count - problems.length,
        },
      );
    }
  }
  await writeHealthSummary(summary);
  logger.info('stuck-order report', {
    counts: summary.counts,
    stuckByStage: summary.stuckByStage,
    logged: summary.logged,
    poller: poller.state,
    unrecorded: poller.unrecorded,
  });
  return summary;
}
