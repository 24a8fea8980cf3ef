// The kill switch (controls/orchestrator): a document, not a param, so an operator can flip it at
// once, without a deploy (docs/OPERATIONS.md, "The kill switch"). One that cannot be read counts
// as paused: whoever edited it by hand most likely meant to stop things.
import type { DocumentSnapshot } from './database';
import { db, store } from './db';
import { parseOr } from '../model/fields';
import { KillSwitchDocument, type KillSwitch } from '../model/health';

export const CONTROLS = 'controls';
export const KILL_SWITCH_ID = 'orchestrator';

export const killSwitchRef = () => store().collection(CONTROLS).doc(KILL_SWITCH_ID);

const RUNNING: KillSwitch = {
  paused: false,
  by: null,
  reason: null,
  at: null,
  resumedAt: null,
  problem: null,
};

/** Reads the switch as stored; no document means running, and one that cannot be read, paused. */
export function parseKillSwitch(
  snapshot: Pick<DocumentSnapshot, 'exists' | 'data'> & { ref: { path: string } },
): KillSwitch {
  if (!snapshot.exists) return RUNNING;
  const data = snapshot.data() ?? {};
  const { value, problems } = parseOr(KillSwitchDocument, data, { paused: true });
  if (problems.length === 0) return { ...value, problem: null };
  return {
    ...value,
    paused: true,
    problem: `${snapshot.ref.path} is malformed (${problems.join('; ')}); counted as paused`,
  };
}

/**
 * Firestore's clock, read as the time of a read: a repair counts time against what the functions
 * recorded, and the machine a person runs the ops CLI on may run fast.
 */
export async function firestoreNow(): Promise<Date> {
  return (await db().collection(CONTROLS).doc(KILL_SWITCH_ID).get()).readTime.toDate();
}

export async function readKillSwitch(): Promise<KillSwitch> {
  return parseKillSwitch(await killSwitchRef().get());
}

/** Resuming records resumedAt, from which the poller wakes every relation untouched since. */
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
