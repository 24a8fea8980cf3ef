// The kill switch as the functions see it: each instance reads
// controls/orchestrator at most once per PAUSE_CHECK_SECONDS, so a pause or
// a resume takes effect everywhere within that time, and a busy instance
// does not pay a read per event. While paused, nothing calls the food
// service: the trigger returns before it reads the relation, and the poller
// skips its polls. State is only kept, never changed.
import * as logger from 'firebase-functions/logger';

import type { KillSwitch } from '../model/health';
import { readKillSwitch } from '../store/controls';

/**
 * The switch as an instance sees it: a read at most every `maxAgeMs`, the
 * last one reused in between. One per instance (triggers/deps.ts).
 */
export function killSwitchCache(maxAgeMs: number): (now: Date) => Promise<KillSwitch> {
  let cached: { state: KillSwitch; readAt: number } | undefined;
  return async (now) => {
    const age = cached ? now.getTime() - cached.readAt : Infinity;
    if (cached && age >= 0 && age < maxAgeMs) return cached.state;
    const state = await readKillSwitch();
    if (state.problem)
      logger.error(
        'the kill switch is malformed; the orchestrator stays paused until it is fixed',
        { problem: state.problem },
      );
    else if (state.paused !== cached?.state.paused) {
      logger.warn(
        state.paused
          ? 'kill switch: paused, nothing calls the food service'
          : 'kill switch: running',
        {
          by: state.by,
          reason: state.reason,
          at: state.at?.toISOString(),
        },
      );
    }
    cached = { state, readAt: now.getTime() };
    return state;
  };
}

/**
 * Until when an event may have been dropped because an instance still
 * believed the orchestrator paused: the resume plus one PAUSE_CHECK_SECONDS.
 * Relations untouched since before then are woken by the poller.
 */
export function pausedUntil(state: KillSwitch, pauseCheckSeconds: number): Date | null {
  return state.resumedAt ? new Date(state.resumedAt.getTime() + pauseCheckSeconds * 1000) : null;
}

/** What a person reads in a log or an HTTP answer. */
export function describePause(state: KillSwitch): string {
  if (state.problem) return state.problem;
  const who = state.by ? ` by ${state.by}` : '';
  const when = state.at ? ` at ${state.at.toISOString()}` : '';
  const why = state.reason ? `: ${state.reason}` : '';
  return `paused${who}${when}${why}`;
}
