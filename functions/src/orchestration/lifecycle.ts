// The life of an order, as the orchestrator drives it, in one place.
//
//   the poller sees a NEW order        → it creates relations/{orderId}    (poll.ts)
//   NEW                                → runCreateStep('createKitchenOrder'): a kitchen order, the order to PREPARATION
//   PREPARATION, kitchen order PACKAGED → runCreateStep('createShipment'):    a shipment, the order to IN_FLIGHT
//   IN_FLIGHT, shipment DELIVERED/REJECTED → finishOrder: the order to DELIVERED or REJECTED
//   the customer CANCELLED, at any stage → recordCancellation: nothing more is created or updated
//   a flagged relation whose order ended → closeFlagged: the outcome is kept beside the flag
//
// Every write of a relation fires advanceRelation, which reads the relation
// as it is now, lets decide() name the one next step, and runs it
// (steps.ts). The poller records what the food service says, and wakes a
// relation whose step is due again (observe.ts). Nothing else moves an order.
//
// Before any of that: while the kill switch is on, nothing is done at all
// (kill-switch.ts); a relation a newer version wrote is left alone; and a
// live relation never keeps an expireAt (store/relations.ts, clearExpiry).
import type { DocumentReference } from '../store/database';
import * as logger from 'firebase-functions/logger';

import { isTerminal } from '../model/stage';
import { clearExpiry, readRelation } from '../store/relations';
import { EXPIRE_AT, isNewerSchema, SCHEMA_VERSION } from '../store/schema';
import { decide } from './decide';
import type { Deps } from './deps';
import {
  closeFlagged,
  finishOrder,
  flag,
  flagRelation,
  recordCancellation,
  runCreateStep,
  type AdvanceResult,
  type StepContext,
} from './steps';

export type { AdvanceResult } from './steps';

/** Runs the one next step of the relation at `ref`, or nothing, as its current state says. */
export async function advance(
  ref: DocumentReference,
  eventId: string,
  deps: Deps,
): Promise<AdvanceResult> {
  const control = await deps.killSwitch();
  if (control.paused) {
    // The poller wakes this relation after the resume (observe.ts, needsNudge).
    logger.info('paused: the event is left for the poller to pick up after the resume', {
      relation: ref.path,
      eventId,
    });
    return 'paused';
  }
  const stored = await readRelation(ref);
  if (!stored) return 'gone';
  if (isNewerSchema(stored.parsed)) {
    logger.warn('relation written by a newer version of the orchestrator; left alone', {
      order: String(stored.data.order),
      schemaVersion: stored.parsed.newerSchema,
      supported: SCHEMA_VERSION,
    });
    return 'newer';
  }
  if (!stored.parsed.ok) {
    // Nothing can be decided from it; the flag says what to fix.
    const { data } = stored;
    const target = { ref, order: String(data.order), stage: data.stage, error: data.error };
    const message = `the relation document is malformed: ${stored.parsed.problems.join('; ')}`;
    return flagRelation(target, deps.now(), 'INVALID_DOCUMENT', message, deps.config.retentionDays);
  }
  const ctx: StepContext = { ref, relation: stored.parsed.value, eventId, deps };
  if (!isTerminal(ctx.relation.stage) && stored.data[EXPIRE_AT] !== undefined) {
    // Made active again by hand: take it and its history off the TTL policy first; the write brings the next event.
    const cleared = await clearExpiry(ref, ctx.relation.stage);
    if (cleared)
      logger.warn(
        'a live relation carried expireAt; removed it from the relation and its history',
        { order: ctx.relation.order },
      );
    return cleared ? 'unexpired' : 'fenced';
  }
  const decision = decide(ctx.relation, deps.now());
  switch (decision.action) {
    case 'createKitchenOrder':
    case 'createShipment':
      return runCreateStep(ctx, decision.action);
    case 'finish':
      return finishOrder(ctx, decision.to);
    case 'cancel':
      return recordCancellation(ctx, null, ctx.relation.orderUpdateTime);
    case 'close':
      return closeFlagged(ctx, decision.to);
    case 'flag':
      return flag(ctx, decision.code, decision.message);
    case 'none':
      return 'nothing';
    default: {
      const unreachable: never = decision;
      throw new Error(`unhandled decision ${JSON.stringify(unreachable)}`);
    }
  }
}
