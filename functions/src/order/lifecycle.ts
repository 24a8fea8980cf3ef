// An order's life as the orchestrator drives it (docs/ARCHITECTURE.md#the-lifecycle). Every write
// of the relation runs advance(): decide() names the one thing due from the relation as it is now,
// and the engine does it once, however often, late or concurrently the event comes.
import type { DocumentReference } from '../store/database';
import type { Deps } from '../engine/deps';
import { begin, cancel, close, finish, flag, once, type AdvanceResult } from '../engine/steps';
import { decide } from './decide';

export type { AdvanceResult } from '../engine/steps';

export async function advance(
  ref: DocumentReference,
  eventId: string,
  deps: Deps,
): Promise<AdvanceResult> {
  const run = await begin(ref, eventId, deps);
  if (typeof run === 'string') return run;
  const { food } = deps;
  const next = decide(run.relation, deps.now());
  switch (next.action) {
    case 'createKitchenOrder':
      return once(run, 'createKitchenOrder', () => food.createKitchenOrder());
    case 'createShipment':
      return once(run, 'createShipment', () => food.createShipment());
    case 'finish':
      return finish(run, next.to);
    case 'cancel':
      return cancel(run);
    case 'close':
      return close(run, next.to);
    case 'flag':
      return flag(run, next.code, next.message, next.orderUpdateTime);
    case 'none':
      // Waiting on the kitchen or the drone, backing off, ended, or flagged: the poller wakes it.
      return 'nothing';
    default: {
      const unreachable: never = next;
      throw new Error(`unhandled decision ${JSON.stringify(unreachable)}`);
    }
  }
}
