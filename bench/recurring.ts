// Section 5 of the bench: what polling several times a minute reads. One
// scheduled invocation's window of polls at a sub-minute interval, with A
// active orders that do not change, without the relation listener (every poll
// queries every active relation) and with it (the listener reads them once,
// then only what changes).
import type { FirestoreKind } from './lifecycle';
import type { Ops } from './ops';
import { openWorld, type PollTarget } from './world';

export interface RecurringRun {
  listener: boolean;
  polls: number;
  failedPolls: number;
  /** Where the polls took their relations from. */
  relationsFrom: string[];
  firestore: Ops;
  emptyQueries: number;
  wallMs: number;
}

export interface RecurringResult {
  firestoreKind: FirestoreKind;
  active: number;
  intervalSeconds: number;
  windowMs: number;
  runs: RecurringRun[];
}

export interface RecurringParams {
  target: PollTarget;
  active: number;
  intervalSeconds: number;
  windowMs: number;
  pageSize: number;
  maxConcurrency: number;
  log: (line: string) => void;
}

/** What one scheduled invocation did (poll-child.js, minute). */
export interface MinuteResult {
  polls: number;
  failedPolls: number;
  relationsFrom: string[];
  /** How long each invocation held its instance: one for a held minute, one per slot for tasks. */
  spansMs: number[];
  /** Each poll's own duration. */
  pollMs: number[];
}

export async function recurringReadsBench(params: RecurringParams): Promise<RecurringResult> {
  const { target, active, intervalSeconds, windowMs, log } = params;
  const world = await openWorld(target, params);
  try {
    log(
      `  recurring reads on ${target.kind}: A = ${active}, a poll every ${intervalSeconds} s for ${windowMs / 1000} s`,
    );
    await world.seedActive(active, log);
    const runs: RecurringRun[] = [];
    for (const listener of [false, true]) {
      const child = await world.run<MinuteResult>('minute', {
        POLL_INTERVAL_SECONDS: String(intervalSeconds),
        BENCH_WINDOW_MS: String(windowMs),
        // The listener is used up to this many active relations; 0 turns it off.
        LISTENER_MAX_RELATIONS: listener ? String(Math.max(active, 1)) : '0',
      });
      runs.push({
        listener,
        ...child.result,
        firestore: child.firestore.ops,
        emptyQueries: child.firestore.emptyQueries,
        wallMs: child.wallMs,
      });
      log(
        `    ${listener ? 'with' : 'without'} the listener: ${child.result.polls} polls, ${child.firestore.ops.reads} reads, ${child.firestore.ops.writes} writes`,
      );
    }
    return { firestoreKind: target.kind, active, intervalSeconds, windowMs, runs };
  } finally {
    await world.close();
  }
}
