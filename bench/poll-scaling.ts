// Sections 2 and 3 of the bench: one poll with A active orders and H finished
// ones in the food service's history, against the raw floor and the original
// design, each in a process of its own, on one Firestore emulator, in a
// frozen world (world.ts). The poll process counts its own Firestore
// operations on the wire.
import type { Ops } from './ops';
import type { FirestoreKind } from './lifecycle';
import { openWorld, type PollCalls, type PollTarget } from './world';

export type { PollTarget } from './world';

export type Mode = 'orchestrator' | 'raw' | 'original';

export interface PollMeasurement {
  firestoreKind: FirestoreKind;
  mode: Mode;
  active: number;
  history: number;
  wallMs: number;
  peakRssMb: number;
  calls: PollCalls;
  /** Counted on the wire by the poll process. */
  firestore: Ops;
  /** Queries that returned nothing (billed as one read each by Firestore; not in `firestore`). */
  emptyQueries: number;
  /** Firestore calls the counter could not bill, by method (should be none). */
  uncounted: Record<string, number>;
}

export interface PollScalingParams {
  target: PollTarget;
  actives: number[];
  histories: number[];
  pageSize: number;
  maxConcurrency: number;
  log: (line: string) => void;
}

export async function pollScalingBench(params: PollScalingParams): Promise<PollMeasurement[]> {
  const results: PollMeasurement[] = [];
  const emulator = params.target;
  for (const active of params.actives) {
    const world = await openWorld(emulator, params);
    try {
      params.log(`  poll scaling on ${emulator.kind}: A = ${active}`);
      await world.seedActive(active, params.log);
      let history = 0;
      for (const target of params.histories) {
        world.seedHistory(target - history);
        history = target;
        for (const mode of ['orchestrator', 'raw', 'original'] as const) {
          const child = await world.run(mode);
          results.push({
            firestoreKind: emulator.kind,
            mode,
            active,
            history,
            wallMs: child.wallMs,
            peakRssMb: child.peakRssMb,
            calls: child.calls,
            firestore: child.firestore.ops,
            emptyQueries: child.firestore.emptyQueries,
            uncounted: child.firestore.uncounted,
          });
          params.log(
            `    ${emulator.kind} A=${active} H=${history} ${mode.padEnd(12)} ${child.wallMs.toFixed(0).padStart(6)} ms, ${child.peakRssMb.toFixed(0)} MB`,
          );
        }
      }
    } finally {
      await world.close();
    }
  }
  return results;
}
