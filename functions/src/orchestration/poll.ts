// One poll of the food service: list the active orders, read the relations
// the orchestrator is driving, observe what changed, and write only that.
// Its cost follows the number of active orders, not the history
// (docs/ARCHITECTURE.md, "Polling"). Bad data from either side is logged,
// counted and skipped; it never stops the poll.
import * as logger from 'firebase-functions/logger';

import { createLimiter } from '../concurrency';
import { FoodServiceError } from '../food/errors';
import type { Order } from '../food/types';
import { isOrderName } from '../model/names';
import { isFlagged, type Relation } from '../model/relation';
import {
  ACTIVE_ORDER_STATUSES,
  isKitchenOrderStatus,
  isOrderStatus,
  isShipmentStatus,
  orderStatusRank,
  type OrderStatusName,
} from '../model/statuses';
import { activeRelations, createRelation, existingRelations, writeObservation } from '../store/relations';
import { isNewerSchema } from '../store/schema';
import type { Deps } from './deps';
import { needsNudge, observationChanges, type Seen } from './observe';
import { describeError } from './step-failure';

const SAMPLE = 10;

export interface PollSummary {
  listed: number;
  listCalls: number;
  activeRelations: number;
  created: number;
  observed: number;
  nudged: number;
  vanished: number;
  foreign: number;
  /** Relations the trigger flags as malformed; not observed. */
  malformed: number;
  /** Relations a newer version of the orchestrator wrote; left alone. */
  newerSchema: number;
  /** Orders in the listings whose names are not orders/<id>; skipped. */
  malformedOrders: number;
  /** Statuses the proto does not name (a newer server?); reported, not recorded. */
  unknownStatuses: number;
  lookupFailures: number;
  writeFailures: number;
  calls: { GetOrder: number; GetKitchenOrder: number; GetShipment: number };
  durationMs: number;
}

export interface PollOptions {
  /**
   * Relations untouched since before this time are woken if a step is due:
   * their events may have been dropped while the kill switch was on
   * (kill-switch.ts, pausedUntil). Null when there was no pause.
   */
  wakeUntouchedBefore: Date | null;
}

export async function pollOnce(deps: Deps, options: PollOptions = { wakeUntouchedBefore: null }): Promise<PollSummary> {
  const started = Date.now();
  const summary: PollSummary = {
    listed: 0,
    listCalls: 0,
    activeRelations: 0,
    created: 0,
    observed: 0,
    nudged: 0,
    vanished: 0,
    foreign: 0,
    malformed: 0,
    newerSchema: 0,
    malformedOrders: 0,
    unknownStatuses: 0,
    lookupFailures: 0,
    writeFailures: 0,
    calls: { GetOrder: 0, GetKitchenOrder: 0, GetShipment: 0 },
    durationMs: 0,
  };
  const limit = createLimiter(deps.config.maxConcurrency);

  // New relations are created as soon as their page is listed, not after the
  // whole poll: every write starts a trigger, and waiting for the slowest
  // look-up would add the poll's duration to every order's latency. create()
  // makes that safe for the few NEW orders that already have one.
  const creations: Array<Promise<void>> = [];
  const onNewOrder = (order: Order) =>
    creations.push(
      limit(() =>
        oneWrite(order.name, summary, async () => {
          if ((await createRelation(order.name, order.customerId, deps.now())) === 'created') summary.created++;
        }),
      ),
    );
  const [listed, relations] = await Promise.all([listActiveOrders(deps, summary, onNewOrder), activeRelations()]);
  summary.listed = listed.size;
  summary.activeRelations = relations.length;

  const driven = new Set(relations.map((stored) => String(stored.data.order)));
  const newer: string[] = [];
  const unknown = [...listed].filter(([name, status]) => status !== 'NEW' && !driven.has(name)).map(([name, status]) => ({ name, status }));

  await Promise.all([
    ...creations,
    ...relations.map((stored) =>
      limit(async () => {
        if (isNewerSchema(stored.parsed)) {
          // Its fields may mean what this version does not know: nothing is written to it.
          summary.newerSchema++;
          if (newer.length < SAMPLE) newer.push(String(stored.data.order));
          return;
        }
        if (!stored.parsed.ok) {
          // The trigger flags it; observing it would only stack news on bad data.
          summary.malformed++;
          return;
        }
        const relation = stored.parsed.value;
        const changes = observationChanges(relation, await observe(relation, listed.get(relation.order), deps, summary));
        const nudge =
          !changes &&
          needsNudge(relation, stored.updateTime, deps.now(), deps.config.claimLeaseSeconds * 1000, options.wakeUntouchedBefore);
        if (!changes && !nudge) return;
        await oneWrite(relation.order, summary, async () => {
          await writeObservation(stored.ref, changes ?? {}, nudge, deps.now());
          if (changes) summary.observed++;
          else summary.nudged++;
        });
      }),
    ),
  ]);

  if (newer.length > 0) {
    logger.warn('relations written by a newer version of the orchestrator; left alone until that version runs again', {
      count: summary.newerSchema,
      sample: newer,
    });
  }
  await reportForeign(unknown, summary);
  summary.durationMs = Date.now() - started;
  return summary;
}

/** One relation's write; its failure is logged and counted, and the poll goes on with the others. */
async function oneWrite(order: string, summary: PollSummary, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (error) {
    summary.writeFailures++;
    logger.warn('relation write failed; the next poll tries again', { order, error: describeError(error) });
  }
}

/**
 * Every page of every active status, kept as name → status (an order seen
 * twice, because it moved between listings, keeps the later status). Orders
 * whose names or statuses cannot be used are logged and left out.
 */
async function listActiveOrders(
  deps: Deps,
  summary: PollSummary,
  onNewOrder: (order: Order) => void,
): Promise<Map<string, OrderStatusName>> {
  const orders = new Map<string, OrderStatusName>();
  const badNames: string[] = [];
  await Promise.all(
    ACTIVE_ORDER_STATUSES.map(async (status) => {
      for await (const page of deps.food.listAllOrders(status, deps.config.pageSize)) {
        summary.listCalls++;
        for (const order of page) {
          if (!isOrderName(order.name)) {
            summary.malformedOrders++;
            if (badNames.length < SAMPLE) badNames.push(JSON.stringify(order.name));
            continue;
          }
          if (!isOrderStatus(order.status)) {
            reportUnknownStatus(summary, order.name, 'order', order.status);
            continue;
          }
          if (order.status === 'NEW') onNewOrder(order);
          const known = orders.get(order.name);
          if (!known || orderStatusRank(order.status) > orderStatusRank(known)) orders.set(order.name, order.status);
        }
      }
    }),
  );
  if (badNames.length)
    logger.error('the food service listed orders with malformed names; skipped', { count: summary.malformedOrders, sample: badNames });
  return orders;
}

function reportUnknownStatus(summary: PollSummary, resource: string, kind: string, value: unknown): void {
  summary.unknownStatuses++;
  logger.warn(`the food service reported a ${kind} status this version does not know; not recorded, observed again next poll`, {
    resource,
    status: value,
  });
}

/**
 * Looks up what the lists do not say: the order of a relation that left the
 * active lists (cancelled, or finished under us), the kitchen order while it
 * cooks, the shipment while it flies. A flagged relation needs only its
 * order's status, to notice that the order ended.
 */
async function observe(relation: Relation, listed: OrderStatusName | undefined, deps: Deps, summary: PollSummary): Promise<Seen> {
  const seen: Seen = {};
  const failures: string[] = [];
  let transientFailure = false;
  const lookUp = async <T extends { status: unknown }>(
    method: keyof PollSummary['calls'],
    call: () => Promise<T>,
  ): Promise<T | undefined> => {
    summary.calls[method]++;
    try {
      return await call();
    } catch (error) {
      summary.lookupFailures++;
      if (error instanceof FoodServiceError && error.transient) {
        transientFailure = true;
        logger.warn('look-up failed; the next poll tries again', { order: relation.order, method, code: error.codeName });
      } else {
        failures.push(describeError(error));
      }
      return undefined;
    }
  };

  if (listed) {
    seen.orderStatus = listed;
  } else {
    summary.vanished++;
    const order = await lookUp('GetOrder', () => deps.food.getOrder(relation.order));
    if (order && isOrderStatus(order.status)) seen.orderStatus = order.status;
    else if (order) reportUnknownStatus(summary, relation.order, 'order', order.status);
  }
  if (seen.orderStatus !== 'CANCELLED' && !isFlagged(relation)) {
    const { kitchenOrder, shipment } = relation;
    if (relation.stage === 'PREPARATION' && kitchenOrder && relation.kitchenOrderStatus !== 'PACKAGED') {
      const found = await lookUp('GetKitchenOrder', () => deps.food.getKitchenOrder(kitchenOrder));
      if (found && isKitchenOrderStatus(found.status)) seen.kitchenOrderStatus = found.status;
      else if (found) reportUnknownStatus(summary, kitchenOrder, 'kitchen order', found.status);
    }
    if (relation.stage === 'IN_FLIGHT' && shipment && relation.shipmentStatus !== 'DELIVERED' && relation.shipmentStatus !== 'REJECTED') {
      const found = await lookUp('GetShipment', () => deps.food.getShipment(shipment));
      if (found && isShipmentStatus(found.status)) seen.shipmentStatus = found.status;
      else if (found) reportUnknownStatus(summary, shipment, 'shipment', found.status);
    }
  }
  // Only a complete, clean round clears an earlier observation error.
  if (failures.length > 0) seen.observationError = failures.join('; ');
  else if (!transientFailure) seen.observationError = null;
  return seen;
}

/** Orders in PREPARATION or IN_FLIGHT that we never drove: someone else's. Logged and counted, never touched. */
async function reportForeign(unknown: Array<{ name: string; status: OrderStatusName }>, summary: PollSummary): Promise<void> {
  if (unknown.length === 0) return;
  const known = await existingRelations(unknown.map((o) => o.name));
  const foreign = unknown.filter((o) => !known.has(o.name));
  summary.foreign = foreign.length;
  if (foreign.length > 0) {
    logger.warn('orders in progress that the orchestrator did not start; leaving them alone', {
      count: foreign.length,
      sample: foreign.slice(0, SAMPLE).map((o) => `${o.name} (${o.status})`),
    });
  }
}
