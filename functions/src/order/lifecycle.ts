// An order's life as the orchestrator drives it (docs/ARCHITECTURE.md#the-lifecycle). Every write
// of the relation runs advance(): decide() names the one thing due from the relation as it is now,
// and the engine does it once, however often, late or concurrently the event comes.
import type { DocumentReference } from '../store/database';
import type { Deps } from '../engine/deps';
import { begin, cancel, close, finish, flag, once, type AdvanceResult } from '../engine/steps';
import { decide } from './decide';

/** Runs the one next step of the order whose relation is at `ref`, or nothing. */
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
      // 1. A NEW order: the kitchen cooks it. One kitchen order, then the order is PREPARATION.
      return once(run, 'createKitchenOrder', () => food.createKitchenOrder());
    case 'createShipment':
      // 2. The kitchen packaged it: a drone flies it. One shipment, then the order is IN_FLIGHT.
      return once(run, 'createShipment', () => food.createShipment());
    case 'finish':
      // 3. The drone delivered it, or the customer rejected it: the order ends so.
      return finish(run, next.to);
    case 'cancel':
      // The customer cancelled, at any stage: nothing more is made or moved.
      return cancel(run);
    case 'close':
      // A flagged order ended on the food service: its end is recorded beside the flag.
      return close(run, next.to);
    case 'flag':
      // Something only a person can settle: the relation says what, and waits.
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
