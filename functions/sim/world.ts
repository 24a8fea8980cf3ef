// The simulated world's machinery: a clock that only moves when nothing can
// run, timers on it, invocations that can die at any call they make, and
// fast-check's scheduler choosing which ready call goes next. Nothing here
// reads the real clock or real randomness, so a run is a function of its
// seed and plan: it replays exactly.
import { AsyncLocalStorage } from 'node:async_hooks';

import type { Scheduler } from 'fast-check';

/** Seeded randomness (mulberry32): the world's dice, separate from the scheduler's choices. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

export type InvocationKind = 'advance' | 'poll' | 'shard' | 'operator' | 'report';

/** One run of a function (or an operator's command): it may die at any call it makes, and then never resumes. */
export interface Invocation {
  id: number;
  kind: InvocationKind;
  /** The order it works on, where there is one (an advance, an operator's repair). */
  order?: string;
  dead: boolean;
  /** The last create-step attempt document it claimed: what its creates belong to. */
  claim?: string;
  /** How it ended, once it did: its result, or the failure. */
  outcome?: string;
  /** When it last looked at each order (GetOrder), for telling the look-to-update window. */
  looks: Map<string, number>;
}

const current = new AsyncLocalStorage<Invocation>();

/** The invocation the calling code runs in, if any. */
export const currentInvocation = (): Invocation | undefined => current.getStore();

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

export interface TraceLine {
  at: number;
  text: string;
  order?: string;
}

/** Bounds every run, so no bug can make it spin forever. */
const MAX_STEPS = 400_000;

export class World {
  now: number;
  private readonly timers: Timer[] = [];
  private seq = 0;
  private nextInvocation = 1;
  readonly trace: TraceLine[] = [];
  /** Faults may happen while this is true; after it, the world only heals. */
  chaos = true;
  steps = 0;
  readonly stats = {
    invocations: 0,
    crashes: 0,
    freezes: 0,
    interleavings: 0,
    failedInvocations: 0,
  };
  /** Invocations that threw something other than an injected fault. */
  readonly bugs: Array<{ order: string | undefined; text: string }> = [];

  constructor(
    readonly scheduler: Scheduler,
    readonly random: Random,
    start: number,
    /** The chance that an invocation dies before or after one of its calls, during chaos. */
    private readonly crashRate: number,
    /** The chance that an invocation freezes for minutes before one of its calls (a stalled or throttled instance). */
    private readonly freezeRate: number = 0,
  ) {
    this.now = start;
  }

  log(text: string, order?: string): void {
    this.trace.push({ at: this.now, text, ...(order ? { order } : {}) });
  }

  /**
   * One call of the current invocation to the outside (Firestore, the food
   * service): others may run first, and the invocation may die before the
   * call reaches its target or after it did its work, never hearing back.
   */
  async call<T>(label: string, effect: () => T): Promise<T> {
    const invocation = currentInvocation();
    if (invocation && this.chaos && this.random.chance(this.freezeRate)) {
      const ms = this.random.int(60_000, 20 * 60_000);
      this.stats.freezes++;
      this.log(
        `inv#${invocation.id} freezes for ${Math.round(ms / 1000)} s before ${label}`,
        invocation.order,
      );
      await this.sleep(ms);
    }
    await this.scheduler.schedule(Promise.resolve(), label);
    if (invocation?.dead) return never();
    if (invocation && this.chaos && this.random.chance(this.crashRate))
      return this.kill(invocation, `before ${label}`);
    const result = effect();
    if (invocation?.dead) return never();
    if (invocation && this.chaos && this.random.chance(this.crashRate))
      return this.kill(invocation, `after ${label}`);
    return result;
  }

  kill(invocation: Invocation, where: string): Promise<never> {
    if (!invocation.dead) {
      invocation.dead = true;
      this.stats.crashes++;
      this.log(`inv#${invocation.id} dies ${where}`, invocation.order);
    }
    return never();
  }

  /** Resolves `ms` later on the simulated clock. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(this.now + Math.max(0, ms), resolve));
  }

  /** Calls `tick` every `ms` in the calling invocation, until stopped or until that invocation dies. */
  every(ms: number, tick: () => void): () => void {
    const invocation = currentInvocation();
    let stopped = false;
    const loop = () => {
      if (stopped || invocation?.dead) return;
      if (invocation) current.run(invocation, tick);
      else tick();
      this.at(this.now + ms, loop);
    };
    this.at(this.now + ms, loop);
    return () => {
      stopped = true;
    };
  }

  at(time: number, fire: () => void): void {
    const timer = { at: Math.max(time, this.now), seq: this.seq++, fire };
    let i = this.timers.length;
    while (
      i > 0 &&
      (this.timers[i - 1].at > timer.at ||
        (this.timers[i - 1].at === timer.at && this.timers[i - 1].seq > timer.seq))
    )
      i--;
    this.timers.splice(i, 0, timer);
  }

  /** Starts an invocation; its failure is recorded, as the platform would log it, and dropped. */
  spawn(
    kind: InvocationKind,
    order: string | undefined,
    work: () => Promise<unknown>,
    timeoutMs?: number,
  ): Invocation {
    const invocation: Invocation = {
      id: this.nextInvocation++,
      kind,
      dead: false,
      looks: new Map(),
      ...(order ? { order } : {}),
    };
    this.stats.invocations++;
    if (timeoutMs !== undefined) {
      this.at(this.now + timeoutMs, () => {
        if (!invocation.dead && !done)
          void this.kill(invocation, `at its ${timeoutMs / 1000} s timeout`);
      });
    }
    let done = false;
    void current.run(invocation, async () => {
      try {
        const result = await work();
        invocation.outcome = describe(result);
        if (!invocation.dead)
          this.log(`inv#${invocation.id} ${kind} ended: ${invocation.outcome}`, order);
      } catch (error) {
        this.stats.failedInvocations++;
        invocation.outcome = `failed: ${error instanceof Error ? error.message : String(error)}`;
        this.log(`inv#${invocation.id} ${kind} ${invocation.outcome}`, order);
        // A fault the world injected carries its gRPC code; anything else is a defect of the code under test.
        if (!isInjectedFault(error)) {
          this.bugs.push({
            order,
            text: `inv#${invocation.id} (${kind}) threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
          });
        }
      } finally {
        done = true;
      }
    });
    return invocation;
  }

  /** Runs until `end` on the simulated clock, or until nothing is left to happen. */
  async run(end: number): Promise<void> {
    for (;;) {
      if (++this.steps > MAX_STEPS)
        throw new Error(`the world did not settle within ${MAX_STEPS} steps`);
      // A tick runs once the microtask queue is empty: every promise chain the last step started has
      // gone as far as it can. Unlike an immediate, no real timer or I/O can run in between, so a run
      // depends on its seed alone, and it skips an event-loop turn per step (a third of the time).
      await new Promise<void>((resolve) => process.nextTick(resolve));
      if (this.scheduler.count() > 0) {
        if (this.scheduler.count() > 1) this.stats.interleavings++;
        await this.scheduler.waitOne();
        continue;
      }
      const next = this.timers[0];
      if (!next || next.at > end) return;
      this.now = next.at;
      // Everything due now fires before anything runs, so the scheduler can interleave it.
      while (this.timers.length > 0 && this.timers[0].at === this.now)
        (this.timers.shift() as Timer).fire();
    }
  }
}

function describe(result: unknown): string {
  if (typeof result === 'string') return result;
  if (result === undefined) return 'done';
  const text = JSON.stringify(result);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** A store or food-service fault, as the world injects them: an error with a gRPC status code (wrapped or not). */
function isInjectedFault(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (typeof (e as { code?: unknown }).code === 'number') return true;
  }
  return false;
}
