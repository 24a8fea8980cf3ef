// One poll: list the active orders, read the relations being driven, and write only what changed.
// Its cost follows the active orders, not the history; bad data is logged, counted and skipped.
// See docs/ARCHITECTURE.md#polling.
import * as logger from 'firebase-functions/logger';

import { claimLeaseSeconds, sendWindowEnd } from '../config';
import { createLimiter, type Limit } from '../concurrency';
import type { SkippedOrder } from '../food/client';
import { FoodServiceError } from '../food/errors';
import type { AlertKind, UnrecordedOrder } from '../model/health';
import { firestoreCodeName, isTransientFirestoreError } from '../store/errors';
import { boundCustomerId } from './customer-id';
import {
  nextObservationFaults,
  parseObservationFaults,
  type ObservationFaults,
  type RoundOutcome,
} from './observation-faults';
import { isOrderName } from '../model/names';
import { isFlagged, type Relation } from '../model/relation';
import { isFlaggedOverwritten, isOverwritten } from '../model/overwrite';
import { isTerminal } from '../model/stage';
import {
  ACTIVE_ORDER_STATUSES,
  isKitchenOrderStatus,
  isOrderStatus,
  isShipmentStatus,
  orderStatusRank,
} from '../model/statuses';
import {
  activeRelationPages,
  createRelation,
  dueWatches,
  relationsOf,
  writeObservation,
  type IdRange,
  type StoredRelation,
} from '../store/relations';
import { isNewerSchema } from '../store/schema';
import type { PollDeps } from './shards';
import { pausedUntil } from '../engine/kill-switch';
import { planShards, type Shard } from './shards';
import { describeError } from '../describe-error';
import { needsNudge, observationChanges, type ListedOrder, type Seen } from './observe';

const SAMPLE = 10;
/** Unrecorded orders logged one by one per poll; the count covers the rest. */
const MAX_UNRECORDED_LOGGED = 100;

/** Relations read and observed at a time: what a poll holds in memory besides the listing. */
export const RELATION_PAGE_SIZE = 500;

/** Kept this small on purpose: at 100,000 active orders it is the bulk of a poll's memory. */
export interface Listing {
  orders: Map<string, ListedOrder>;
  customers: Map<string, string>;
}

export function emptySummary() {
  return {
    listed: 0,
    listCalls: 0,
    activeRelations: 0,
    created: 0,
    observed: 0,
    nudged: 0,
    vanished: 0,
    foreign: 0,
    /** Relations the trigger flags as malformed; not observed. */
    malformed: 0,
    /** Relations a newer version of the orchestrator wrote; left alone. */
    newerSchema: 0,
    /** Orders listed with names that are not orders/<id>; skipped. */
    malformedOrders: 0,
    /** Statuses the proto does not name (a newer server?); reported, not recorded. */
    unknownStatuses: 0,
    lookupFailures: 0,
    writeFailures: 0,
    /** Listed orders that could not be given a relation; each logged at ERROR. */
    unrecorded: 0,
    unrecordedOrders: [] as UnrecordedOrder[],
    /** Ended relations looked at once more for a late write of ours, or listed as active again. */
    watched: 0,
    calls: { GetOrder: 0, GetKitchenOrder: 0, GetShipment: 0 },
    shards: 0,
    /** Shards observed here after their task could not be enqueued. */
    shardsInline: 0,
    durationMs: 0,
  };
}

export type PollSummary = ReturnType<typeof emptySummary>;

/** `pollId` names its tasks, so two polls of one slot (an overlap) enqueue each shard once. */
export async function pollOnce(
  deps: PollDeps,
  pollId: string = `now-${deps.now().getTime()}`,
): Promise<PollSummary> {
  const started = deps.now().getTime();
  const summary = emptySummary();
  const limit = createLimiter(deps.config.maxConcurrency);

  // Relations are created as their page is listed: waiting for the slowest look-up would add the
  // poll's duration to every order's latency. create() is safe for a NEW order that has one.
  const creations: Array<Promise<void>> = [];
  const listing = await listActiveOrders(deps, summary, (name, customerId) =>
    creations.push(limit(() => createFor(name, customerId, deps, summary))),
  );
  summary.listed = listing.orders.size;
  const shards = planShards(listing.orders, deps.config.shardSize);
  await Promise.all([
    ...creations,
    watchEnded(deps, summary, limit),
    shards
      ? fanOut(deps, shards, pollId, summary, limit)
      : observeRelations(deps, listing, {}, summary, limit),
  ]);
  summary.durationMs = deps.now().getTime() - started;
  return summary;
}

/** A shard whose task cannot be enqueued is observed here, so the poll is complete either way. */
async function fanOut(
  deps: PollDeps,
  shards: Shard[],
  pollId: string,
  summary: PollSummary,
  limit: Limit,
): Promise<void> {
  for (const [index, shard] of shards.entries()) {
    try {
      if (!deps.shards) throw new Error('no task queue in this environment');
      await deps.shards.enqueue(shard, `${pollId}-${index}`);
      summary.shards++;
    } catch (error) {
      logger.warn('could not hand a shard to a task; observing it here', {
        shard: index,
        of: shards.length,
        error: describeError(error),
      });
      summary.shardsInline++;
      await observeShardHere(deps, shard, summary, limit);
    }
  }
}

export async function observeShard(deps: PollDeps, shard: Shard): Promise<PollSummary> {
  const started = deps.now().getTime();
  const summary = emptySummary();
  summary.listed = shard.orders.length;
  // A task enqueued before a pause may run during it; the first poll after the resume covers it.
  if ((await deps.killSwitch()).paused) {
    logger.info('shard skipped: the kill switch is on', { after: shard.after, upTo: shard.upTo });
    return summary;
  }
  await observeShardHere(deps, shard, summary, createLimiter(deps.config.maxConcurrency));
  summary.durationMs = deps.now().getTime() - started;
  return summary;
}

async function observeShardHere(
  deps: PollDeps,
  shard: Shard,
  summary: PollSummary,
  limit: Limit,
): Promise<void> {
  const orders = new Map(
    shard.orders.map(([id, status, updateTime]) => [
      `orders/${id}`,
      updateTime ? { status, updateTime } : { status },
    ]),
  );
  const listing: Listing = { orders, customers: new Map() };
  await observeRelations(deps, listing, { after: shard.after, upTo: shard.upTo }, summary, limit);
}

/** A transient failure is the next poll's; a write Firestore refuses for good is reported. */
async function createFor(
  name: string,
  customerId: string,
  deps: PollDeps,
  summary: PollSummary,
): Promise<void> {
  await oneWrite(name, summary, async () => {
    try {
      if ((await createRelation(name, customerId, deps.now())) === 'created') summary.created++;
    } catch (error) {
      if (isTransientFirestoreError(error)) throw error;
      const refused = `${firestoreCodeName(error)}: ${describeError(error)}`;
      reportUnrecorded(summary, name, `Firestore refused its relation: ${refused}`);
    }
  });
}

/** The stuck-order report cannot see an order with no relation, so each poll alerts on it. */
function reportUnrecorded(summary: PollSummary, order: string, reason: string): void {
  summary.unrecorded++;
  if (summary.unrecordedOrders.length < SAMPLE) summary.unrecordedOrders.push({ order, reason });
  if (summary.unrecorded <= MAX_UNRECORDED_LOGGED) {
    logger.error('order cannot be recorded: the orchestrator does not drive it', {
      alert: 'unrecorded-order' satisfies AlertKind,
      order,
      reason,
    });
  } else if (summary.unrecorded === MAX_UNRECORDED_LOGGED + 1) {
    logger.warn(
      `more than ${MAX_UNRECORDED_LOGGED} orders cannot be recorded in this poll; the heartbeat (health/poller) counts them all`,
    );
  }
}

/** The active relations in `range`, a page at a time, then the undriven orders. */
export async function observeRelations(
  deps: PollDeps,
  listing: Listing,
  range: IdRange,
  summary: PollSummary,
  limit: Limit,
): Promise<void> {
  const undriven = new Set(
    [...listing.orders].flatMap(([name, order]) => (order.status === 'NEW' ? [] : [name])),
  );
  const context: ObserveContext = {
    deps,
    listing,
    summary,
    wakeUntouchedBefore: pausedUntil(await deps.killSwitch(), deps.config.pauseCheckSeconds),
    newer: [],
  };
  for await (const page of activeRelationPages(RELATION_PAGE_SIZE, range)) {
    summary.activeRelations += page.length;
    await Promise.all(page.map((stored) => limit(() => observeOne(stored, context))));
    for (const stored of page) undriven.delete(String(stored.data.order));
  }
  if (context.newer.length > 0) {
    logger.warn(
      'relations written by a newer version of the orchestrator; left alone until that version runs again',
      {
        count: summary.newerSchema,
        sample: context.newer,
      },
    );
  }
  await observeUndriven([...undriven], context);
}

interface ObserveContext {
  deps: PollDeps;
  listing: Listing;
  summary: PollSummary;
  /** A due relation untouched since then may have lost its event in a pause; null without one. */
  wakeUntouchedBefore: Date | null;
  newer: string[];
}

async function observeOne(stored: StoredRelation, context: ObserveContext): Promise<void> {
  const { deps, listing, summary } = context;
  if (isNewerSchema(stored.parsed)) {
    // Its fields may mean what this version does not know: nothing is written to it.
    summary.newerSchema++;
    if (context.newer.length < SAMPLE) context.newer.push(String(stored.data.order));
    return;
  }
  if (!stored.parsed.ok) {
    // The trigger flags it; observing it would only stack news on bad data.
    summary.malformed++;
    return;
  }
  const relation = stored.parsed.value;
  const faults = parseObservationFaults(stored.data.observationFaults);
  const seen = await lookUp(relation, listing.orders.get(relation.order), faults, deps, summary);
  const now = deps.now();
  const changes = observationChanges(relation, seen, {
    at: now,
    sendUntil: sendWindowEnd(now, deps.config),
  });
  const nudge =
    !changes &&
    needsNudge(
      relation,
      stored.updateTime,
      deps.now(),
      claimLeaseSeconds(deps.config) * 1000,
      context.wakeUntouchedBefore,
    );
  if (!changes && !nudge) return;
  await oneWrite(relation.order, summary, async () => {
    await writeObservation(stored, changes ?? {}, nudge, deps.now());
    if (changes) summary.observed++;
    else summary.nudged++;
  });
}

/** A failed write is logged and counted, and the poll goes on with the others. */
async function oneWrite(
  order: string,
  summary: PollSummary,
  write: () => Promise<void>,
): Promise<void> {
  try {
    await write();
  } catch (error) {
    summary.writeFailures++;
    logger.warn('relation write failed; the next poll tries again', {
      order,
      error: describeError(error),
    });
  }
}

/** Every page of every active status; an order listed twice (it moved) keeps the later status. */
async function listActiveOrders(
  deps: PollDeps,
  summary: PollSummary,
  onNewOrder: (name: string, customerId: string) => void,
): Promise<Listing> {
  const listing: Listing = { orders: new Map(), customers: new Map() };
  const badNames: string[] = [];
  const skipped = (order: SkippedOrder) => reportUnrecorded(summary, order.name, order.reason);
  await Promise.all(
    ACTIVE_ORDER_STATUSES.map(async (status) => {
      for await (const page of deps.food.listAllOrders(
        status,
        deps.config.pageSize,
        undefined,
        skipped,
      )) {
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
          if (order.status === 'NEW') {
            // Bounded here, before it is held or stored (customer-id.ts).
            const customerId = boundCustomerId(order.customerId);
            listing.customers.set(order.name, customerId);
            onNewOrder(order.name, customerId);
          }
          const known = listing.orders.get(order.name);
          if (!known || orderStatusRank(order.status) > orderStatusRank(known.status)) {
            listing.orders.set(order.name, { status: order.status, updateTime: order.updateTime });
          }
        }
      }
    }),
  );
  if (badNames.length)
    logger.error('the food service listed orders with malformed names; skipped', {
      count: summary.malformedOrders,
      sample: badNames,
    });
  return listing;
}

function reportUnknownStatus(
  summary: PollSummary,
  resource: string,
  kind: string,
  value: unknown,
): void {
  summary.unknownStatuses++;
  logger.warn(
    `the food service reported a ${kind} status this version does not know; not recorded, observed again next poll`,
    {
      resource,
      status: value,
    },
  );
}

/** What the listings do not say; a vanished order is how a cancel is seen. */
async function lookUp(
  relation: Relation,
  listed: ListedOrder | undefined,
  previousFaults: ObservationFaults | null,
  deps: PollDeps,
  summary: PollSummary,
): Promise<Seen> {
  const seen: Seen = {};
  const failures: string[] = [];
  let transientFailure = false;
  let fault: { code: string; message: string } | null = null;
  const read = async <T extends { status: unknown }>(
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
        if (error.bounded) fault = { code: error.codeName, message: error.message };
        logger.warn('look-up failed; the next poll tries again', {
          order: relation.order,
          method,
          code: error.codeName,
          // A fault that usually heals is counted: FAULT_RETRY_LIMIT polls in a row flag it.
          pollsInARow: error.bounded ? (previousFaults?.count ?? 0) + 1 : undefined,
        });
      } else {
        failures.push(describeError(error));
      }
      return undefined;
    }
  };

  if (listed) {
    seen.orderStatus = listed.status;
    if (listed.updateTime) seen.orderUpdateTime = listed.updateTime;
  } else {
    summary.vanished++;
    const order = await read('GetOrder', () => deps.food.getOrder(relation.order));
    if (order && isOrderStatus(order.status))
      Object.assign(seen, { orderStatus: order.status, orderUpdateTime: order.updateTime });
    else if (order) reportUnknownStatus(summary, relation.order, 'order', order.status);
  }
  if (seen.orderStatus !== 'CANCELLED' && !isFlagged(relation)) {
    const { kitchenOrder, shipment } = relation;
    if (
      relation.stage === 'PREPARATION' &&
      kitchenOrder &&
      relation.kitchenOrderStatus !== 'PACKAGED'
    ) {
      const found = await read('GetKitchenOrder', () => deps.food.getKitchenOrder(kitchenOrder));
      if (found && isKitchenOrderStatus(found.status)) seen.kitchenOrderStatus = found.status;
      else if (found) reportUnknownStatus(summary, kitchenOrder, 'kitchen order', found.status);
    }
    if (
      relation.stage === 'IN_FLIGHT' &&
      shipment &&
      relation.shipmentStatus !== 'DELIVERED' &&
      relation.shipmentStatus !== 'REJECTED'
    ) {
      const found = await read('GetShipment', () => deps.food.getShipment(shipment));
      if (found && isShipmentStatus(found.status)) seen.shipmentStatus = found.status;
      else if (found) reportUnknownStatus(summary, shipment, 'shipment', found.status);
    }
  }
  // Only a complete, clean round clears an earlier observation error.
  if (failures.length > 0) seen.observationError = failures.join('; ');
  else if (!transientFailure) seen.observationError = null;
  // Set inside the look-ups above, which TypeScript does not follow.
  const faulted = fault as { code: string; message: string } | null;
  // A failure for good is recorded already (and flagged by the trigger): the count ends there.
  const round: RoundOutcome =
    failures.length > 0 || !transientFailure
      ? { kind: 'settled' }
      : faulted
        ? { kind: 'fault', ...faulted }
        : { kind: 'outage' };
  const counted = nextObservationFaults(
    previousFaults,
    round,
    deps.now(),
    deps.config.faultRetryLimit,
  );
  if (counted.observationFaults !== undefined) seen.observationFaults = counted.observationFaults;
  if (counted.observationError !== undefined) seen.observationError = counted.observationError;
  return seen;
}

/** An ended relation's order active again had a late write: observed, so the trigger flags it. */
async function observeUndriven(names: string[], context: ObserveContext): Promise<void> {
  if (names.length === 0) return;
  const { deps, listing, summary } = context;
  const found = await relationsOf(names);
  const known = new Set(found.map((stored) => String(stored.data.order)));
  await Promise.all(
    found.map(async (stored) => {
      const listed = listing.orders.get(String(stored.data.order));
      if (
        !listed ||
        !stored.parsed.ok ||
        isNewerSchema(stored.parsed) ||
        !isTerminal(stored.parsed.value.stage)
      )
        return;
      const relation = stored.parsed.value;
      const seen: Seen = {
        orderStatus: listed.status,
        ...(listed.updateTime ? { orderUpdateTime: listed.updateTime } : {}),
      };
      const changes = observationChanges(relation, seen);
      const overwritten = writtenAfterItsEnd(relation, seen);
      if (!changes && !overwritten) return;
      summary.watched++;
      // Already recorded, and still not flagged: the trigger's event was lost, so it is woken.
      await oneWrite(relation.order, summary, () =>
        writeObservation(stored, changes ?? {}, !changes, deps.now()),
      );
    }),
  );
  const foreign = names.filter((name) => !known.has(name));
  summary.foreign = foreign.length;
  if (foreign.length > 0) {
    logger.warn('orders in progress that the orchestrator did not start; leaving them alone', {
      count: foreign.length,
      sample: foreign
        .slice(0, SAMPLE)
        .map((name) => `${name} (${listing.orders.get(name)?.status})`),
    });
  }
}

/** Far more pages than one poll ends; each page's watches end before the next is read. */
const MAX_WATCH_PAGES = 100;

/** Ended orders' last look, after the late-write window (docs/ARCHITECTURE.md#late-writes). */
async function watchEnded(deps: PollDeps, summary: PollSummary, limit: Limit): Promise<void> {
  for (let page = 0; page < MAX_WATCH_PAGES; page++) {
    const due = await dueWatches(deps.now(), RELATION_PAGE_SIZE);
    let ended = 0;
    await Promise.all(
      due.map((stored) =>
        limit(async () => {
          if (await lastLook(stored, deps, summary)) ended++;
        }),
      ),
    );
    if (due.length < RELATION_PAGE_SIZE || ended === 0) return;
  }
}

/** One ended relation's last look; whether its watch ended. */
async function lastLook(
  stored: StoredRelation,
  deps: PollDeps,
  summary: PollSummary,
): Promise<boolean> {
  const order = String(stored.data.order);
  let seen: Seen = {};
  // Flagged for another reason, it is looked at too: an overwrite takes that flag's place.
  if (
    stored.parsed.ok &&
    !isNewerSchema(stored.parsed) &&
    !isFlaggedOverwritten(stored.parsed.value)
  ) {
    summary.calls.GetOrder++;
    try {
      const found = await deps.food.getOrder(order);
      if (!isOrderStatus(found.status)) {
        reportUnknownStatus(summary, order, 'order', found.status);
        return false;
      }
      seen = { orderStatus: found.status, orderUpdateTime: found.updateTime };
    } catch (error) {
      summary.lookupFailures++;
      logger.warn('last look at an ended order failed; the next poll tries again', {
        order,
        error: describeError(error),
      });
      return false;
    }
  }
  const changes = stored.parsed.ok ? observationChanges(stored.parsed.value, seen) : null;
  // The watch ends once there is nothing to flag, so a flag whose event was lost is woken again.
  const overwritten = stored.parsed.ok && writtenAfterItsEnd(stored.parsed.value, seen);
  summary.watched++;
  let ended = false;
  await oneWrite(order, summary, async () => {
    await writeObservation(
      stored,
      changes ?? {},
      overwritten && !changes,
      deps.now(),
      !overwritten,
    );
    ended = !overwritten;
  });
  return ended;
}

/** An ended relation's order written after its end, not flagged yet (model/overwrite.ts). */
function writtenAfterItsEnd(relation: Relation, seen: Seen): boolean {
  if (
    isFlaggedOverwritten(relation) ||
    seen.orderStatus === undefined ||
    seen.orderUpdateTime === undefined
  )
    return false;
  return isOverwritten(
    relation,
    { status: seen.orderStatus, updateTime: seen.orderUpdateTime },
    'recorded',
  );
}
