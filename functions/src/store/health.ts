// health/summary: the last stuck-order report's counts and poller state, so the status API and the
// board need not scan relations. Only the report writes it, whole, each run.
import type { PollerStatus, ProblemReason, StuckThresholds } from '../model/health';
import type { ActiveStage } from '../model/stage';
import { store } from './db';
import { HEALTH, HEALTH_SUMMARY } from './schema';
import { toDate } from '../model/fields';

export interface HealthSummary {
  checkedAt: Date;
  /** Relations per reason; a relation may count under more than one. */
  counts: Record<ProblemReason, number>;
  stuckByStage: Record<ActiveStage, number>;
  thresholds: StuckThresholds;
  /** Problems logged one by one; beyond a bound per reason only the counts say how many. */
  logged: number;
  /** The poller as the report judged it; absent in summaries from before it was watched. */
  poller?: PollerStatus;
}

const summaryRef = () => store().collection(HEALTH).doc(HEALTH_SUMMARY);

export async function writeHealthSummary(summary: HealthSummary): Promise<void> {
  await summaryRef().set({ ...summary });
}

/** Null if no report has run, or the document is unreadable (the next report replaces it). */
export async function readHealthSummary(): Promise<HealthSummary | null> {
  const data = (await summaryRef().get()).data();
  const checkedAt = toDate(data?.checkedAt);
  if (!data || !checkedAt || typeof data.counts !== 'object' || data.counts === null) return null;
  return { ...(data as Omit<HealthSummary, 'checkedAt'>), checkedAt };
}
