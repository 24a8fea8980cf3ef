// One poll of the food service: list the active orders, read the relations
// the orchestrator is driving, observe what changed, and write only that.
// Its cost follows the number of active orders, not the history
// (docs/ARCHITECTURE.md#polling). Bad data from either side is logged,
// counted and skipped; it never stops the poll.
import * as logger from 'firebase-functions/logger';

import { sendWindowEnd } from '../config';
import { createLimiter, type Limit } from '../concurrency';
import type { SkippedOrder } from '../food/client';
import { FoodServiceError } from '../food/errors';
import type { UnrecordedOrder } from '../model/health';
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
import type { RelationCache } from '../store/relation-cache';
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

/**
 * What the listings said: every active order by name, and the customer of
 * each NEW one (all a relation's creation needs). Kept this small on
 * purpose: at 100,000 active orders it is the bulk of a poll's memory.
 */
export interface Listing {
  orders: Map<string, ListedOrder>;
  customers: Map<string, string>;
}

/** What one poll did, for its log line and the heartbeat; every count starts at zero. */
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
    /** A sample of them, with the reason, for the heartbeat. */
    unrecordedOrders: [] as UnrecordedOrder[],
    /** Ended relations looked at once more for a late write of ours, or listed as active again. */
    watched: 0,
    calls: { GetOrder: 0, GetKitchenOrder: 0, GetShipment: 0 },
    /** Shards handed to observeShard tasks (0 when the poll observed everything itself). */
    shards: 0,
    /** Shards observed here after their task could not be enqueued. */
    shardsInline: 0,
    /** Where the relations came from: a query, or the invocation's listener (sub-minute polls). */
    relationsFrom: 'query' as 'query' | 'listener',
    durationMs: 0,
  };
}

export type PollSummary = ReturnType<typeof emptySummary>;

/**
 * One poll. `pollId` names its tasks, so that two polls of the same slot
 * (an overlap, a redelivered invocation) enqueue each shard once.
 */
export async function pollOnce(
  deps: PollDeps,
  pollId: string = `now-${deps.now().getTime()}`,
  cache?: RelationCache,
): Promise<PollSummary> {
  const started = deps.now().getTime();
  const summary = emptySummary();
  const limit = createLimiter(deps.config.maxConcurrency);

  // New relations are created as soon as their page is listed, not after the
  // whole poll: every write starts a trigger, and waiting for the slowest
  // look-up would add the poll's duration to every order's latency. create()
  // makes that safe for the few NEW orders that already have one.
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
      : observeRelations(deps, listing, {}, summary, limit, cache),
  ]);
  summary.durationMs = deps.now().getTime() - started;
  return summary;
}

/**
 * More active orders than one instance should observe: each shard goes to an
 * observeShard task. A shard whose task cannot be enqueued (no task queue
 * here, or Cloud Tasks refusing) is observed in this instance instead, so the
 * poll is complete either way, only slower.
 */
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

/** What observeShard does: the shard's relations, against what the listing said of its orders. */
export async function observeShard(deps: PollDeps, shard: Shard): Promise<PollSummary> {
  const started = deps.now().getTime();
  const summary = emptySummary();
  summary.listed = shard.orders.length;
  // A task enqueued before a pause may run during it; the first poll after the resume covers its shard.
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

/**
 * A NEW order's relation. A failure that trying again may get past is the
 * next poll's; one that will not (a write Firestore refuses) leaves an order
 * nobody drives, so it is reported.
 */
async function createFor(
  name: string,
  customerId: string,
  deps: PollDeps,
  summary: PollSummary,
): Promise<void> {
  try {
    if ((await createRelation(name, customerId, deps.now())) === 'created') summary.created++;
  } catch (error) {
    if (isTransientFirestoreError(error)) {
      summary.writeFailures++;
      logger.warn('relation write failed; the next poll tries again', {
        order: name,
        error: describeError(error),
      });
    } else {
      reportUnrecorded(
        summary,
        name,
        `Firestore refused its relation: ${firestoreCodeName(error)}: ${describeError(error)}`,
      );
    }
  }
}

/**
 * An order the poll listed but cannot give a relation: nothing drives it and
 * the stuck-order report cannot see it, so each poll logs it at ERROR, with
 * an alert field (docs/OPERATIONS.md, "Alerts"), and counts it in the
 * heartbeat the report summarises.
 */
function reportUnrecorded(summary: PollSummary, order: string, reason: string): void {
  summary.unrecorded++;
  if (summary.unrecordedOrders.length < SAMPLE) summary.unrecordedOrders.push({ order, reason });
  if (summary.unrecorded <= MAX_UNRECORDED_LOGGED) {
    logger.error('order cannot be recorded: the orchestrator does not drive it', {
      alert: 'unrecorded-order',
      order,
      reason,
    });
  } else if (summary.unrecorded === MAX_UNRECORDED_LOGGED + 1) {
    logger.warn(
      `more than ${MAX_UNRECORDED_LOGGED} orders cannot be recorded in this poll; the heartbeat (health/poller) counts them all`,
    );
  }
}

/**
 * Observes the active relations in `range` a page at a time, against what
 * the listing says of their orders; then the listed orders in progress that
 * no active relation drives: an ended relation's order listed as active
 * again is observed (a late write of ours landed over its end), and the
 * orders with no relation at all are reported.
 */
export async function observeRelations(
  deps: PollDeps,
  listing: Listing,
  range: IdRange,
  summary: PollSummary,
  limit: Limit,
  cache?: RelationCache,
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
  const pages = cache
    ? cache.pages(RELATION_PAGE_SIZE, range)
    : activeRelationPages(RELATION_PAGE_SIZE, range);
  if (cache) summary.relationsFrom = 'listener';
  for await (const page of pages) {
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

/** What the observation of one page's relations shares. */
interface ObserveContext {
  deps: PollDeps;
  listing: Listing;
  summary: PollSummary;
  /**
   * Relations untouched since before this time are woken if a step is due:
   * their events may have been dropped while the kill switch was on
   * (kill-switch.ts, pausedUntil). Null when there was no pause.
   */
  wakeUntouchedBefore: Date | null;
  /** A sample of the relations a newer version wrote, for the log. */
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
      deps.config.claimLeaseSeconds * 1000,
      context.wakeUntouchedBefore,
    );
  if (!changes && !nudge) return;
  await oneWrite(relation.order, summary, async () => {
    await writeObservation(stored, changes ?? {}, nudge, deps.now());
    if (changes) summary.observed++;
    else summary.nudged++;
  });
}

/** One relation's write; its failure is logged and counted, and the poll goes on with the others. */
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

/**
 * Every page of every active status, kept compact (name → status, and the
 * customer of a NEW order); an order seen twice, because it moved between
 * listings, keeps the later status. Orders whose names or statuses cannot be
 * used are logged and left out.
 */
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

/**
 * Looks up what the lists do not say: the order of a relation that left the
 * active lists (cancelled, or finished under us), the kitchen order while it
 * cooks, the shipment while it flies. A flagged relation needs only its
 * order's status, to notice that the order ended.
 */
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
        if (error.bounded) fault = { code: error.codeName, message: error.message };
        logger.warn('look-up failed; the next poll tries again', {
          order: relation.order,
          method,
          code: error.codeName,
          // A fault that usually heals is counted: FAULT_RETRY_LIMIT polls in a row flag the relation.
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
    const order = await lookUp('GetOrder', () => deps.food.getOrder(relation.order));
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
      const found = await lookUp('GetKitchenOrder', () => deps.food.getKitchenOrder(kitchenOrder));
      if (found && isKitchenOrderStatus(found.status)) seen.kitchenOrderStatus = found.status;
      else if (found) reportUnknownStatus(summary, kitchenOrder, 'kitchen order', found.status);
    }
    if (
      relation.stage === 'IN_FLIGHT' &&
      shipment &&
      relation.shipmentStatus !== 'DELIVERED' &&
      relation.shipmentStatus !== 'REJECTED'
    ) {
      const found = await lookUp('GetShipment', () => deps.food.getShipment(shipment));
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

/**
 * Listed orders in progress that no active relation drives. An ended
 * relation's order back in progress was written after it ended (a late
 * write of ours): observed, so the trigger flags it. The orders with no
 * relation at all were never ours: logged and counted, never touched.
 */
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

/** Far more pages of due watches than one poll ends; each page's watches end before the next is read. */
const MAX_WATCH_PAGES = 100;

/**
 * The last look at ended orders whose late-write window has passed
 * (docs/ARCHITECTURE.md#late-writes): a write of ours the server held lands
 * within it or never, so one look at its end tells whether the order was
 * written after it ended. What it sees is observed, and the watch ends with
 * it; a look that failed leaves the watch for the next poll.
 */
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
  // The watch ends once there is nothing for the trigger to flag, so a flag whose event was lost is woken again.
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

/** Whether an ended relation, not flagged for it yet, has an order written after its end (model/overwrite.ts). */
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
