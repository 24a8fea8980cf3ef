// The kill switch: controls/orchestrator says whether the orchestrator may
// call the food service. A document, not a param, so that an operator can
// flip it in an emergency at once, without a deploy (docs/OPERATIONS.md). A
// document that cannot be read as a switch counts as paused: whoever edited
// it by hand most likely meant to stop things, and the log says what is wrong.
import type { DocumentSnapshot } from './database';
import { store } from './db';
import { describeValue, toDate } from './schema';

export const CONTROLS = 'controls';
export const KILL_SWITCH_ID = 'orchestrator';

export const killSwitchRef = () => store().collection(CONTROLS).doc(KILL_SWITCH_ID);

export interface KillSwitch {
  paused: boolean;
  /** Who flipped it last, and why, as they said. */
  by: string | null;
  reason: string | null;
  /** When it was last flipped (null: never, or a document without it). */
  at: Date | null;
  /** When the last pause ended: relations untouched since are woken by the poller (orchestration/observe.ts). */
  resumedAt: Date | null;
  /** Set when the document is malformed: what is wrong with it (it then counts as paused). */
  problem: string | null;
}

const RUNNING: KillSwitch = {
  paused: false,
  by: null,
  reason: null,
  at: null,
  resumedAt: null,
  problem: null,
};

/** Reads the switch as stored; no document means running. */
export function parseKillSwitch(
  snapshot: Pick<DocumentSnapshot, 'exists' | 'data'> & { ref: { path: string } },
): KillSwitch {
  if (!snapshot.exists) return RUNNING;
  const data = snapshot.data() ?? {};
  const problems: string[] = [];
  if (typeof data.paused !== 'boolean')
    problems.push(`paused must be true or false, got ${describeValue(data.paused)}`);
  const date = (field: 'at' | 'resumedAt'): Date | null => {
    const value: unknown = data[field];
    if (value === undefined || value === null) return null;
    const parsed = toDate(value);
    if (!parsed) problems.push(`${field} must be a timestamp, got ${describeValue(value)}`);
    return parsed;
  };
  const text = (field: 'by' | 'reason'): string | null =>
    typeof data[field] === 'string' ? (data[field] as string) : null;
  const state = {
    by: text('by'),
    reason: text('reason'),
    at: date('at'),
    resumedAt: date('resumedAt'),
  };
  if (problems.length > 0) {
    return {
      ...state,
      paused: true,
      problem: `${snapshot.ref.path} is malformed (${problems.join('; ')}); counted as paused`,
    };
  }
  return { ...state, paused: data.paused as boolean, problem: null };
}

export async function readKillSwitch(): Promise<KillSwitch> {
  return parseKillSwitch(await killSwitchRef().get());
}

/**
 * Flips the switch, recording who and why. Resuming records resumedAt, which
 * tells the poller to wake every relation that nothing has touched since.
 * Flipping it to where it already is changes nothing and says so.
 */
export async function setKillSwitch(
  paused: boolean,
  by: { who: string; why: string },
  now: Date,
): Promise<'changed' | 'unchanged'> {
  return store().runTransaction(async (tx) => {
    const current = parseKillSwitch(await tx.get(killSwitchRef()));
    if (current.paused === paused && current.problem === null) return 'unchanged';
    const at = now;
    tx.set(killSwitchRef(), {
      paused,
      by: by.who,
      reason: by.why,
      at,
      resumedAt: paused ? current.resumedAt : at,
    });
    return 'changed';
  });
}
