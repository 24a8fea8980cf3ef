// The promise, checked after a simulated run against the food service's own
// ledger, not against what the orchestrator believes:
// 1. every kitchen order and shipment the food service made is the one its
//    relation records, or named by an open possible-orphan note, or noted by
//    attempt while its name is unknown to the orchestrator, or was
//    reconciled by a person who saw its name: no silent duplicate;
// 2. no cancel that stands (the customer's, or a person's that set one
//    back) was overwritten without an overwrite flag;
// 3. every order is finished, or a person is alerted (flagged, an open
//    possible orphan, or stuck past its stage's threshold): none left behind;
// 4. nothing a person must act on carries expireAt (nor does its history).
import type { Config } from '../src/config';
import { CLOCK_SKEW_MS } from '../src/model/update-time';
import { problemsOf } from '../src/model/health';
import { isFlagged, openOrphans } from '../src/model/relation';
import { isTerminal } from '../src/model/stage';
import { parseRelation, stageSinceOf } from '../src/store/schema';
import type { FoodLedger } from './food';
import type { MemoryDatabase } from './memory-database';
import { RUN_START } from './run';

export interface Violation {
  /** Which promise: silent-duplicate, cancel-overwritten, left-behind, expires-while-waiting, inconsistent. */
  kind: string;
  order: string;
  message: string;
}

const STEP_OF = { kitchenOrder: 'createKitchenOrder', shipment: 'createShipment' } as const;

export function checkPromise({
  store,
  food,
  now,
  healedAt,
  config,
}: {
  store: MemoryDatabase;
  food: FoodLedger;
  now: number;
  /** From when the world has healed: no faults, and every invocation of the chaos has ended. */
  healedAt: number;
  config: Config;
}): Violation[] {
  const violations: Violation[] = [];
  const docs = store.dump();
  const relationOf = (order: string) => docs.get(`relations/${order.slice('orders/'.length)}`);
  const add = (kind: string, order: string, message: string) =>
    violations.push({ kind, order, message });

  // 1. Everything made is recorded or named.
  for (const made of food.made) {
    const order = made.order;
    if (!order) {
      add('silent-duplicate', '?', `${made.name} was made outside any order's step`);
      continue;
    }
    const data = relationOf(order);
    if (!data) {
      add('silent-duplicate', order, `${made.name} was made for ${order}, which has no relation`);
      continue;
    }
    if (data[made.kind] === made.name) continue;
    const notes = Array.isArray(data.possibleOrphans)
      ? (data.possibleOrphans as Array<Record<string, unknown>>)
      : [];
    const named = notes.find((n) => n.name === made.name);
    if (named) {
      // Open, or closed by a person who saw this very name (and so reconciled it).
      const resolvedName = (named.resolution as { name?: unknown } | null)?.name;
      if (named.resolution === null || resolvedName !== made.name || made.reconciled) continue;
      add(
        'silent-duplicate',
        order,
        `${made.name} is named only by a note closed for it, and nobody reconciled it`,
      );
      continue;
    }
    const attempt = Number(/-(\d+)$/.exec(made.attempt ?? '')?.[1]);
    const byAttempt = notes.find(
      (n) =>
        n.step === STEP_OF[made.kind] &&
        n.attempt === attempt &&
        (n.name === null || n.name === undefined),
    );
    if (byAttempt) {
      // Nobody can reconcile what did not exist yet: a resolution before the create was applied covers nothing.
      const resolvedAt = (byAttempt.resolution as { at?: unknown } | null)?.at;
      if (resolvedAt instanceof Date && resolvedAt.getTime() < made.at) {
        add(
          'silent-duplicate',
          order,
          `${made.name} (attempt ${attempt}) was made after a person resolved its unnamed note`,
        );
        continue;
      }
      const learned = made.attempt ? docs.get(made.attempt)?.created : undefined;
      if (byAttempt.resolution === null || typeof learned !== 'string') continue;
      add(
        'silent-duplicate',
        order,
        `${made.name} (attempt ${attempt}) was learned after a person resolved its unnamed note`,
      );
      continue;
    }
    const cancelled = food.orders.get(order)?.history.some((h) => h.status === 'CANCELLED');
    add(
      'silent-duplicate',
      order,
      `${made.name} (${made.attempt?.split('/').at(-1) ?? 'no attempt'}) is neither recorded (${String(data[made.kind])}) nor named in a note ` +
        `(notes: ${notes.map((n) => `${String(n.step)}-${String(n.attempt)} ${String(n.name)}${n.resolution ? ' resolved' : ''}`).join(', ') || 'none'}); ` +
        `the create was ${made.reply}; its sender ${made.sender?.dead ? 'died' : `ended ${made.sender?.outcome ?? 'never'}`}; the relation is ${String(data.stage)}` +
        `${(data.error as { code?: string } | null)?.code ? ` flagged ${(data.error as { code: string }).code}` : ''}${cancelled ? '; the customer cancelled' : ''}`,
    );
  }

  for (const ordered of food.orders.values()) {
    const order = ordered.name;
    const data = relationOf(order);
    const error = data?.error as { code?: unknown; transient?: unknown } | null | undefined;

    // 2. No cancel that stands is overwritten unseen: the customer's, or a person's that set one back. The
    //    one window no client can close: an update of ours that looked before the cancel and landed after
    //    it, within its send window, its deadline and the clock skew allowed for (the API has no
    //    preconditions; a landing any later was held by the server, and is told by its update_time:
    //    docs/ARCHITECTURE.md#late-writes). Such an update overwrites the cancel whatever else of ours
    //    landed before it. And one no client can always tell: the customer cancels again, on a live
    //    relation, or while a person is alerted to an earlier overwrite and has not retried it. From then
    //    the order reads as one cancel (to the retry, as the person's own fix), and the cancel they wanted
    //    stands; a step that judged the overwritten order in between flags it, and the runs without a
    //    second cancel check that.
    const flaggedOverwrite = /_OVERWRITTEN$/.test(String(error?.code));
    const customerCancelled = ordered.history.some(
      (h) => h.status === 'CANCELLED' && h.by === 'customer',
    );
    const bound = (until: number) => until + config.rpcDeadlineMs + CLOCK_SKEW_MS;
    const relationAt = (at: number) => ordered.relationStates.filter((a) => a.at <= at).at(-1);
    let overwritten = false;
    ordered.history.forEach((cancel, i) => {
      const stands =
        cancel.status === 'CANCELLED' &&
        (cancel.by === 'customer' || (cancel.by === 'operator' && customerCancelled));
      if (!stands) return;
      const rest = ordered.history.slice(i + 1);
      const next = rest.findIndex((h) => h.status === 'CANCELLED');
      const nextCancel = next >= 0 ? rest[next] : undefined;
      // What of ours landed over this cancel before it was made again.
      const ours = rest
        .slice(0, next >= 0 ? next : undefined)
        .filter((h) => h.by === 'orchestrator' && h.status !== 'CANCELLED');
      const overwrite = ours[0];
      if (!overwrite) return;
      // A person who was alerted and set the CANCELLED back, or found it so, has repaired it.
      if (ordered.checked.some((c) => c.at >= overwrite.at && c.status === 'CANCELLED')) return;
      const inherent =
        ours.some(
          (h) =>
            h.lookAt !== undefined &&
            h.lookAt < cancel.at &&
            h.at <= bound(Math.max(h.sentAt ?? -Infinity, h.sendBefore ?? -Infinity)),
        ) ||
        // A window of ours for that status, on record before the cancel, that the landing falls in: a send in
        // it, after a look before the cancel, would have landed the same, and no client can tell whether one was made.
        ordered.windows.some(
          (w) =>
            w.status === overwrite.status && w.at < cancel.at && overwrite.at <= bound(w.until),
        );
      if (nextCancel?.by === 'customer') {
        const [then, was] = [relationAt(nextCancel.at), relationAt(overwrite.at)];
        if (then?.active || (was?.overwriteFlagged && then?.overwriteFlagged)) return;
      }
      overwritten = true;
      if (inherent || flaggedOverwrite) return;
      add(
        'cancel-overwritten',
        order,
        `the ${cancel.by}'s CANCELLED (at ${cancel.at - RUN_START} ms) was overwritten with ${overwrite.status} by an update sent at ` +
          `${(overwrite.sentAt ?? NaN) - RUN_START} ms after a look at ${(overwrite.lookAt ?? NaN) - RUN_START} ms, applied at ` +
          `${overwrite.at - RUN_START} ms, and the relation is not flagged (${String(error?.code ?? 'no error')})`,
      );
    });

    // 3. Finished, or a person is alerted.
    const final = ['DELIVERED', 'REJECTED', 'CANCELLED'].includes(ordered.status);
    if (!data) {
      if (!final)
        add(
          'left-behind',
          order,
          `${order} is ${ordered.status} on the food service and has no relation`,
        );
      continue;
    }
    const parsed = parseRelation(data, order.slice('orders/'.length));
    if (!parsed.ok) {
      add('inconsistent', order, `the relation does not parse: ${parsed.problems.join('; ')}`);
      continue;
    }
    const relation = parsed.value;
    const since = stageSinceOf(data) ?? new Date(0);
    const alerted =
      problemsOf(relation, since, new Date(now), {
        NEW: config.stuckNewSeconds,
        PREPARATION: config.stuckPreparationSeconds,
        IN_FLIGHT: config.stuckInFlightSeconds,
      }).length > 0;
    const finished =
      isTerminal(relation.stage) && data.active === false && relation.stage === ordered.status;
    if (!finished && !alerted && !overwritten) {
      add(
        'left-behind',
        order,
        `the relation is ${relation.stage}${data.active ? ' (active)' : ''} while the order is ${ordered.status}, and no person is alerted`,
      );
    }

    // 3b. In a healed world a step does not fail for a fault that usually heals: one that does, once nothing
    //     faults any more, cannot go on by itself (a finish stuck behind a passed window did).
    const failed = relation.error;
    if (
      failed &&
      (failed.transient || failed.failures >= config.faultRetryLimit) &&
      failed.at.getTime() > healedAt
    ) {
      add(
        'stuck',
        order,
        `${failed.step} failed (${failed.code}, ${failed.failures} in a row) at ${failed.at.getTime() - RUN_START} ms, after the world healed: ${failed.message}`,
      );
    }

    // 4. Nothing that waits for a person expires.
    const waits = isFlagged(relation) || openOrphans(relation).length > 0;
    if (data.expireAt !== undefined && (waits || !isTerminal(relation.stage))) {
      add(
        'expires-while-waiting',
        order,
        `the relation carries expireAt while ${waits ? 'it waits for a person' : 'it is live'}`,
      );
    }
    if (waits) {
      const prefix = `relations/${relation.id}/transitions/`;
      for (const [path, entry] of docs) {
        if (path.startsWith(prefix) && entry.expireAt !== undefined) {
          add(
            'expires-while-waiting',
            order,
            `${path.slice(prefix.length)} carries expireAt while its relation waits for a person`,
          );
        }
      }
    }
  }
  return violations;
}
