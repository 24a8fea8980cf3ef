// The kill switch as an instance sees it: controls/orchestrator read at most once per
// PAUSE_CHECK_SECONDS, so a flip reaches every instance within that time and a busy one does not
// pay a read per event (docs/ARCHITECTURE.md#level-triggered-triggers).
import * as logger from 'firebase-functions/logger';

import type { KillSwitch } from '../model/health';
import { readKillSwitch } from '../store/controls';

/** One per instance (triggers/deps.ts): a read at most every `maxAgeMs`, reused in between. */
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

/** Until then an instance may have dropped events as paused: the poller wakes older relations. */
export function pausedUntil(state: KillSwitch, pauseCheckSeconds: number): Date | null {
  return state.resumedAt ? new Date(state.resumedAt.getTime() + pauseCheckSeconds * 1000) : null;
}

export function describePause(state: KillSwitch): string {
  if (state.problem) return state.problem;
  const who = state.by ? ` by ${state.by}` : '';
  const when = state.at ? ` at ${state.at.toISOString()}` : '';
  const why = state.reason ? `: ${state.reason}` : '';
  return `paused${who}${when}${why}`;
}
