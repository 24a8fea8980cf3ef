// The operators, acting as docs/OPERATIONS.md asks through the ops CLI's
// repairs: rounds that retry flagged relations and resolve open possible
// orphans, and (when the plan has one) a person paged by each new flag or
// note, who may set the order right a while before running retry, retry
// twice, and look again later. These paths are where a skeptic found the
// last holes, so the simulation draws them too.
import { isFlaggedOverwritten } from '../src/model/overwrite';
import { isOpen, type Relation } from '../src/model/relation';
import { isTerminal } from '../src/model/stage';
import {
  describeHandled,
  RepairRefused,
  resolveOrphan,
  retryRelation,
} from '../src/operations/repairs';
import { pageOfRelations, type RelationFilter } from '../src/store/queries';
import { readRelation, relationRef } from '../src/store/relations';
import type { OrderStatusName } from '../src/model/statuses';
import type { FoodLedger } from './food';
import type { World } from './world';

/** How a person on call works, beyond the rounds (null in a plan: only the rounds). */
export interface Person {
  /** Paged by each new flag or open possible orphan, they act within this long. */
  pagedWithinMs: number | null;
  /** After setting an order right by hand, they run retry up to this long later. */
  retryGapMs: number;
  /** They look again at a relation they retried, within this long. */
  looksAgainWithinMs: number | null;
  resolvesFirst: boolean;
  /** Retry runs twice (a double click, or two people on one page). */
  retriesTwice: boolean;
  /**
   * The person of the world that waits (Plan.heldWhileAPersonWaits): they ask the customer once per
   * flag they read and act on that answer until the flag changes (and are paged by a flag raised
   * anew), and set the order even when it already reads so (a console writes it again).
   */
  asksOncePerFlag?: true;
  /** Refused with a flag raised anew, they retry at once naming it, without asking again. */
  pastesTheNewFlag?: true;
}

const BY = { who: 'sim-operator', why: 'checked the food service' };

export class Operators {
  /** What the customer said, by the flag it was asked for (`order code@at`). */
  private readonly answers = new Map<string, boolean>();

  constructor(
    private readonly world: World,
    private readonly food: FoodLedger,
    private readonly can: { retries: boolean; resolves: boolean },
    private readonly person: Person | null,
    private readonly retentionDays: number,
    /** Nobody starts work after this: the run's last minutes only heal. */
    private readonly until: number,
  ) {}

  /** A round: some flagged relations retried, some open notes resolved, in the order this person works. */
  async round(): Promise<string> {
    const done: string[] = [];
    // Half of what a listing shows gets looked at in a round.
    const part =
      (filter: RelationFilter, act: (relation: Relation) => Promise<string | null>) => async () => {
        const { relations } = await pageOfRelations(filter, null, 5);
        for (const stored of relations) {
          if (!this.world.random.chance(0.5) || !stored.parsed.ok) continue;
          const result = await act(stored.parsed.value);
          if (result) done.push(result);
        }
      };
    const retries = part({ flagged: true }, (relation) => this.handleFlag(relation, null));
    const resolves = part({ openOrphans: true }, (relation) => this.resolveNote(relation, null));
    // Each part starts at once, as a person would: the first call is made in the minute it is due.
    const parts = [this.can.retries && retries, this.can.resolves && resolves];
    for (const part of this.person?.resolvesFirst ? parts.reverse() : parts) if (part) await part();
    return done.length ? done.join('; ') : 'nothing to do';
  }

  /** A relation was written: a new flag or a new open note pages the person on call, if there is one. */
  noticed(
    order: string,
    before: Record<string, unknown> | null,
    after: Record<string, unknown>,
  ): void {
    const within = this.person?.pagedWithinMs;
    if (!within || this.world.now >= this.until) return;
    // The person of the world that waits is paged by a flag raised anew too, as the stuck-order
    // report alerts on every flag; the others only by a new code.
    const flag = (data: Record<string, unknown> | null) => {
      const error = data?.error as { code?: unknown; transient?: unknown; at?: unknown } | null;
      if (!error || error.transient !== false) return null;
      const at = error.at instanceof Date ? error.at.toISOString() : String(error.at);
      return this.person?.asksOncePerFlag ? `${String(error.code)}@${at}` : String(error.code);
    };
    const paged = (act: (relation: Relation) => Promise<string | null>) =>
      this.world.at(this.world.now + this.world.random.int(1_000, within), () =>
        this.world.spawn('operator', order, async () => {
          const stored = await readRelation(relationRef(order));
          if (!stored?.parsed.ok) return 'nothing to read';
          return (await act(stored.parsed.value)) ?? 'nothing to do';
        }),
      );
    const raised = flag(after);
    if (this.can.retries && raised && raised !== flag(before))
      paged((relation) => this.handleFlag(relation, 'paged'));
    if (this.can.resolves && after.hasOpenOrphans === true && before?.hasOpenOrphans !== true)
      paged((relation) => this.resolveNote(relation, 'paged'));
  }

  /**
   * One flagged relation, as its flag asks: for an overwrite, the person asks
   * the customer and sets the order right on the food service; then retry.
   */
  private async handleFlag(relation: Relation, why: string | null): Promise<string | null> {
    const { order, stage, error } = relation;
    if (!error || error.transient) return null;
    if (isFlaggedOverwritten(relation)) {
      // A cancel stands, and an ended relation that cannot say "cancelled after it ended" keeps its flag for
      // customer service; otherwise the order is set back as it ended.
      const asked = `${order} ${error.code}@${error.at.toISOString()}`;
      const remembers = this.person?.asksOncePerFlag === true;
      const customerCancelled =
        (remembers ? this.answers.get(asked) : undefined) ??
        this.food.orders
          .get(order)
          ?.history.some((h) => h.by === 'customer' && h.status === 'CANCELLED') ??
        false;
      if (remembers) this.answers.set(asked, customerCancelled);
      const set = (status: OrderStatusName) => this.food.setByOperator(order, status, remembers);
      if (customerCancelled) set('CANCELLED');
      else if (isTerminal(stage)) set(stage);
      if (customerCancelled && isTerminal(stage) && stage !== 'CANCELLED') return null;
      if (this.person?.retryGapMs)
        await this.world.sleep(this.world.random.int(0, this.person.retryGapMs));
    }
    const retry = async () => {
      try {
        // The flag they read and handled, which the tool checks is still the relation's, raised then.
        await retryRelation(relationRef(order), BY, new Date(this.world.now), this.retentionDays, {
          code: error.code,
          at: error.at,
        });
        this.world.log(`operator retries ${order} (${error.code})${why ? ` [${why}]` : ''}`, order);
        return `retried ${order}`;
      } catch (failure) {
        // A refusal is the tool working; a store fault ends the round; anything else is a defect.
        if (!(failure instanceof RepairRefused)) throw failure;
        return (
          (await this.pasteNewFlag(order, failure)) ??
          `retry of ${order} refused: ${failure.message}`
        );
      }
    };
    const results = [await retry()];
    if (this.person?.retriesTwice) results.push(await retry());
    const again = this.person?.looksAgainWithinMs;
    if (again && this.world.now < this.until) {
      this.world.at(this.world.now + this.world.random.int(1_000, again), () =>
        this.world.spawn('operator', order, async () => {
          const stored = await readRelation(relationRef(order));
          if (!stored?.parsed.ok) return 'nothing to read';
          return (await this.handleFlag(stored.parsed.value, 'looked again')) ?? 'not flagged';
        }),
      );
    }
    return results.join('; ');
  }

  /** A person in a hurry: the flag a refusal names as raised anew goes straight into a retry. */
  private async pasteNewFlag(order: string, refusal: RepairRefused): Promise<string | null> {
    const raised = refusal.raisedAgain;
    if (!this.person?.pastesTheNewFlag || !raised) return null;
    const named = describeHandled(raised);
    try {
      const at = new Date(this.world.now);
      await retryRelation(relationRef(order), BY, at, this.retentionDays, raised);
      this.world.log(`operator retries ${order} at once, naming ${named}`, order);
      return `retried ${order} naming ${named}`;
    } catch (failure) {
      if (!(failure instanceof RepairRefused)) throw failure;
      return `retry of ${order} naming ${named} refused: ${failure.message}`;
    }
  }

  /** The first open possible orphan of a relation resolved, by name when one is shown, as the ops CLI asks. */
  private async resolveNote(relation: Relation, why: string | null): Promise<string | null> {
    const note = relation.possibleOrphans.find(isOpen);
    if (!note) return null;
    const which = note.name ?? `${note.step}-${note.attempt}`;
    // A person who sees a name reconciles that kitchen order or shipment on the food service first, then says so.
    const made = note.name ? this.food.made.find((m) => m.name === note.name) : undefined;
    if (made) made.reconciled = true;
    try {
      await resolveOrphan(
        relationRef(relation.order),
        which,
        { ...BY, why: note.name ? `cancelled ${note.name}` : 'nothing extra was made' },
        new Date(this.world.now),
        this.retentionDays,
      );
      this.world.log(
        `operator resolves ${which} of ${relation.order} (${note.name ?? 'no name known'})${why ? ` [${why}]` : ''}`,
        relation.order,
      );
      return `resolved ${which} of ${relation.order}`;
    } catch (error) {
      if (!(error instanceof RepairRefused)) throw error;
      return `resolve of ${relation.order} refused: ${error.message}`;
    }
  }
}
