// What makes an order need a person, decided without I/O: a flag, a possible
// orphan nobody has reconciled, or an active order that has not moved for
// longer than its stage should take. The stuck-order report, the status API
// and the live board all judge relations with these functions.
import { isFlagged, openOrphans, type Relation } from './relation';
import type { Stage } from './stage';

export const PROBLEM_REASONS = ['flagged', 'orphans', 'stuck'] as const;
export type ProblemReason = (typeof PROBLEM_REASONS)[number];

export function isProblemReason(value: unknown): value is ProblemReason {
  return typeof value === 'string' && (PROBLEM_REASONS as readonly string[]).includes(value);
}

/** The stages in which the orchestrator still moves an order, each with its own pace. */
export const ACTIVE_STAGES = ['NEW', 'PREPARATION', 'IN_FLIGHT'] as const satisfies readonly Stage[];
export type ActiveStage = (typeof ACTIVE_STAGES)[number];

export function isActiveStage(stage: unknown): stage is ActiveStage {
  return typeof stage === 'string' && (ACTIVE_STAGES as readonly string[]).includes(stage);
}

/** Seconds an order may stay in each active stage before it counts as stuck. */
export type StuckThresholds = Record<ActiveStage, number>;

/** One reason a relation needs a person, with the time it has been so. */
export interface Problem {
  reason: ProblemReason;
  order: string;
  stage: Stage;
  /** Flagged: when the flag was raised; orphans: when the oldest open one was noted; stuck: when the stage was entered. */
  since: Date;
  /** What to look at, for a person. */
  detail: string;
}

/** The latest time an order may have entered `stage` and still be on time. */
export function stuckCutoff(stage: ActiveStage, now: Date, thresholds: StuckThresholds): Date {
  return new Date(now.getTime() - thresholds[stage] * 1000);
}

/**
 * Whether an order has been in its active stage for longer than the stage's
 * threshold. A flagged relation is not stuck: it waits for a person already,
 * and is reported as flagged.
 */
export function isStuck(relation: Pick<Relation, 'stage' | 'error'>, stageSince: Date, now: Date, thresholds: StuckThresholds): boolean {
  return isActiveStage(relation.stage) && !isFlagged(relation) && stageSince < stuckCutoff(relation.stage, now, thresholds);
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

/** Every reason the relation needs a person, in the order flagged, orphans, stuck. */
export function problemsOf(relation: Relation, stageSince: Date, now: Date, thresholds: StuckThresholds): Problem[] {
  const problems: Problem[] = [];
  const { order, stage, error } = relation;
  if (error && isFlagged(relation)) {
    problems.push({ reason: 'flagged', order, stage, since: error.at, detail: `${error.code}: ${error.message}` });
  }
  const open = openOrphans(relation);
  if (open.length > 0) {
    const oldest = open.reduce((a, b) => (b.claimedAt < a.claimedAt ? b : a));
    const named = open.map((o) => o.name ?? `${o.step} attempt ${o.attempt} (name unknown)`).join(', ');
    problems.push({
      reason: 'orphans',
      order,
      stage,
      since: oldest.claimedAt,
      detail: `${open.length} possible orphan(s) to reconcile with the food service: ${named}`,
    });
  }
  if (isActiveStage(stage) && isStuck(relation, stageSince, now, thresholds)) {
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
