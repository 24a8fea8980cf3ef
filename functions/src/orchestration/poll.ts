// One poll of the food service: list the active orders, read the relations
// the orchestrator is driving, observe what changed, and write only that.
// Its cost follows the number of active orders, not the history (DESIGN rule 6).
import * as logger from 'firebase-functions/logger';

import { forEachLimit } from '../concurrency';
import type { Config } from '../config';
import type { FoodClient } from '../food/client';
import { FoodServiceError } from '../food/errors';
import type { Order, OrderStatusName } from '../food/types';
import {
  activeRelations,
  createRelation,
  existingRelations,
  writeObservation,
} from '../store/relations';
import { needsNudge, observationChanges, type Observation } from './observe';
import { parseRelation, type Relation } from './relation';

/** The statuses in which an order still needs the orchestrator. */
const ACTIVE_STATUSES = ['NEW', 'PREPARATION', 'IN_FLIGHT'] as const satisfies readonly OrderStatusName[];
const RANK: Record<OrderStatusName, number> = { UNKNOWN: 0, NEW: 1, PREPARATION: 2, IN_FLIGHT: 3, DELIVERED: 4, REJECTED: 4, CANCELLED: 4 };
const FOREIGN_SAMPLE = 10;

export interface PollDeps {
  food: FoodClient;
  config: Config;
  now: () => Date;
}

export interface PollSummary {
  listed: number;
  listCalls: number;
  activeRelations: number;
  created: number;
  observed: number;
  nudged: number;
  vanished: number;
  foreign: number;
  malformed: number;
  lookupFailures: number;
  writeFailures: number;
  calls: { GetOrder: number; GetKitchenOrder: number; GetShipment: number };
  durationMs: number;
}

export async function pollOnce(deps: PollDeps): Promise<PollSummary> {
  const started = Date.now();
  const summary: PollSummary = {
    listed: 0, listCalls: 0, activeRelations: 0, created: 0, observed: 0, nudged: 0, vanished: 0,
    foreign: 0, malformed: 0, lookupFailures: 0, writeFailures: 0, calls: { GetOrder: 0, GetKitchenOrder: 0, GetShipment: 0 }, durationMs: 0,
  };

  // New relations and news are written as soon as each is known, not after
  // the whole poll: every write starts a trigger, and waiting for the slowest
  // look-up would add the poll's duration to every order's latency. So a NEW
  // order's relation is created as soon as its page is listed; create() makes
  // that safe for the few NEW orders that already have one.
  const creations: Array<Promise<void>> = [];
  const onPage = (status: OrderStatusName, orders: Order[]) => {
    if (status !== 'NEW') return;
    creations.push(forEachLimit(orders, deps.config.maxConcurrency, (order) => oneWrite(order.name, summary, async () => {
      if ((await createRelation(order.name, order.customerId, deps.now())) === 'created') summary.created++;
    })));
  };
  const [listed, relations] = await Promise.all([listActiveOrders(deps, summary, onPage), activeRelations()]);
  summary.listed = listed.size;
  summary.activeRelations = relations.length;

  const driven = new Set(relations.map((stored) => String(stored.data.order)));
  const unknown = [...listed.values()].filter((order) => order.status !== 'NEW' && !driven.has(order.name));

  await Promise.all([
    ...creations,
    forEachLimit(relations, deps.config.maxConcurrency, async (stored) => {
      const parsed = parseRelation(stored.data);
      if (!parsed.ok) {
        // The trigger flags it; observing it would only stack news on bad data.
        summary.malformed++;
        return;
      }
      const seen = await observe(parsed.relation, listed.get(parsed.relation.order), deps, summary);
      const changes = observationChanges(parsed.relation, stored.data.observationError, seen);
      const nudge = !changes && needsNudge(parsed.relation, stored.updateTime, deps.now(), deps.config.claimLeaseSeconds * 1000);
      if (!changes && !nudge) return;
      await oneWrite(parsed.relation.order, summary, async () => {
        await writeObservation(stored.ref, changes ?? {}, nudge, deps.now());
        if (changes) summary.observed++;
        else summary.nudged++;
      });
    }),
  ]);

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
    logger.warn('relation write failed; the next poll tries again', { order, error: error instanceof Error ? error.message : String(error) });
  }
}

/** Every page of every active status; an order seen twice keeps its later status. */
async function listActiveOrders(
  deps: PollDeps, summary: PollSummary, onPage: (status: OrderStatusName, orders: Order[]) => void,
): Promise<Map<string, Order>> {
  const orders = new Map<string, Order>();
  await Promise.all(ACTIVE_STATUSES.map(async (status) => {
    for await (const page of deps.food.listAllOrders(status, deps.config.pageSize)) {
      summary.listCalls++;
      onPage(status, page);
      for (const order of page) {
        const known = orders.get(order.name);
        if (!known || RANK[order.status] > RANK[known.status]) orders.set(order.name, order);
      }
    }
  }));
  return orders;
}

/**
 * Looks up what the lists do not say: the order of a relation that left the
 * active lists (cancelled, or finished under us), the kitchen order while it
 * cooks, the shipment while it flies.
 */
async function observe(relation: Relation, listed: Order | undefined, deps: PollDeps, summary: PollSummary): Promise<Observation> {
  const seen: Observation = {};
  const failures: string[] = [];
  let transientFailure = false;
  const lookUp = async <T>(method: keyof PollSummary['calls'], call: () => Promise<T>): Promise<T | undefined> => {
    summary.calls[method]++;
    try {
      return await call();
    } catch (error) {
      summary.lookupFailures++;
      if (error instanceof FoodServiceError && error.transient) {
        transientFailure = true;
        logger.warn('look-up failed; the next poll tries again', { order: relation.order, method, code: error.codeName });
      } else {
        failures.push(error instanceof Error ? error.message : String(error));
      }
      return undefined;
    }
  };

  if (listed) {
    seen.orderStatus = listed.status;
  } else {
    summary.vanished++;
    const order = await lookUp('GetOrder', () => deps.food.getOrder(relation.order));
    if (order) seen.orderStatus = order.status;
  }
  if (seen.orderStatus !== 'CANCELLED') {
    const { kitchenOrder, shipment } = relation;
    if (relation.stage === 'PREPARATION' && kitchenOrder && relation.kitchenOrderStatus !== 'PACKAGED') {
      const found = await lookUp('GetKitchenOrder', () => deps.food.getKitchenOrder(kitchenOrder));
      if (found) seen.kitchenOrderStatus = found.status;
    }
    if (relation.stage === 'IN_FLIGHT' && shipment && relation.shipmentStatus !== 'DELIVERED' && relation.shipmentStatus !== 'REJECTED') {
      const found = await lookUp('GetShipment', () => deps.food.getShipment(shipment));
      if (found) seen.shipmentStatus = found.status;
    }
  }
  // Only a complete, clean round clears an earlier observation error.
  if (failures.length > 0) seen.observationError = failures.join('; ');
  else if (!transientFailure) seen.observationError = null;
  return seen;
}

/** Orders in PREPARATION or IN_FLIGHT that we never drove: someone else's. Logged and counted, never touched. */
async function reportForeign(unknown: Order[], summary: PollSummary): Promise<void> {
  if (unknown.length === 0) return;
  const known = await existingRelations(unknown.map((o) => o.name));
  const foreign = unknown.filter((o) => !known.has(o.name));
  summary.foreign = foreign.length;
  if (foreign.length > 0) {
    logger.warn('orders in progress that the orchestrator did not start; leaving them alone', {
      count: foreign.length,
      sample: foreign.slice(0, FOREIGN_SAMPLE).map((o) => `${o.name} (${o.status})`),
    });
  }
}
