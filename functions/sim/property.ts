// The simulation as a fast-check property: fast-check draws the run's plan
// (orders, faults, crashes, config, operators) and owns the scheduler that
// orders every concurrent call, so a seed replays a run exactly and a
// failure shrinks to a smaller plan that still fails.
import * as fc from 'fast-check';

import type { Violation } from './checks';
import { CHAOS_MS, simulate, type Plan, type RunResult } from './run';

const rate = fc.constantFrom(0, 0, 0.01, 0.05, 0.15);

export const planArbitrary: fc.Arbitrary<Plan> = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  orders: fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: 10 * 60_000 }),
      cancelAt: fc.option(fc.integer({ min: 0, max: CHAOS_MS + 5 * 60_000 }), { freq: 3 }),
      rejects: fc.boolean(),
    }),
    { minLength: 1, maxLength: 24 },
  ),
  food: fc.record({
    refused: rate,
    replyLost: rate,
    late: rate,
    held: rate,
    resourceExhausted: rate,
    internal: rate,
  }),
  stallRate: fc.constantFrom(0, 0, 0.05),
  crashRate: fc.constantFrom(0, 0.002, 0.01, 0.03),
  freezeRate: fc.constantFrom(0, 0, 0.005, 0.02, 0.05),
  events: fc.record({ drop: rate, duplicate: rate, late: rate }),
  store: fc.record({
    unavailable: fc.constantFrom(0, 0.005, 0.02),
    aborted: fc.constantFrom(0, 0.01),
  }),
  zombies: fc.constantFrom(0, 0.5, 1),
  config: fc.record({
    pollIntervalSeconds: fc.constantFrom(10, 30, 60),
    maxAmbiguousRetries: fc.integer({ min: 0, max: 3 }),
    shardSize: fc.constantFrom(5, 2_000),
  }),
  operators: fc.record({
    retries: fc.boolean(),
    resolves: fc.boolean(),
    everyMs: fc.constantFrom(120_000, 300_000),
    pause: fc.option(
      fc.record({
        at: fc.integer({ min: 0, max: CHAOS_MS }),
        forMs: fc.integer({ min: 10_000, max: 600_000 }),
      }),
      {
        freq: 4,
      },
    ),
  }),
  person: fc.option(
    fc.record({
      pagedWithinMs: fc.option(fc.integer({ min: 1_000, max: 180_000 })),
      retryGapMs: fc.constantFrom(0, 0, 60_000, 240_000),
      looksAgainWithinMs: fc.option(fc.integer({ min: 5_000, max: 600_000 })),
      resolvesFirst: fc.boolean(),
      retriesTwice: fc.boolean(),
    }),
    { freq: 2 },
  ),
  recancelWithinMs: fc.option(fc.integer({ min: 1_000, max: 300_000 }), { freq: 2 }),
  heldOften: fc.constantFrom(null, null, null, 0.5),
  slotTasks: fc.boolean(),
  heldWhileAPersonWaits: fc.constantFrom(false, false, false, true),
  pastesTheNewFlag: fc.boolean(),
  slowCalls: fc.constantFrom(null, null, 0.2, 0.6),
});

/** A run that broke the promise; the result has the violations and the trace. */
export class PromiseBroken extends Error {
  constructor(readonly result: RunResult) {
    super(result.violations.map((v) => `${v.kind} ${v.order}: ${v.message}`).join('\n'));
    this.name = 'PromiseBroken';
  }
}

/**
 * The world a run draws, so that a seed replays the run that found it: everyone; or as before the
 * slow food service was drawn; or as before `heldWhileAPersonWaits` was; or only the people of the
 * seeds found before the person on call and the customer who cancels again were (the operators'
 * rounds, one cancel per customer).
 */
export type People = 'everyone' | 'before slow calls' | 'before the wait' | 'rounds only';

/** The command-line flag that replays a seed in each world but the whole one. */
export const PEOPLE_FLAGS = {
  'before slow calls': '--before-slow-calls',
  'before the wait': '--before-the-wait',
  'rounds only': '--rounds-only',
} as const satisfies Record<Exclude<People, 'everyone'>, string>;

function worldOf(drawn: Plan, people: People): Plan {
  switch (people) {
    case 'rounds only':
      return {
        ...drawn,
        person: null,
        recancelWithinMs: null,
        heldOften: null,
        heldWhileAPersonWaits: false,
        pastesTheNewFlag: false,
        slowCalls: null,
      };
    case 'before the wait':
      return { ...drawn, heldWhileAPersonWaits: false, pastesTheNewFlag: false, slowCalls: null };
    case 'before slow calls':
      return worldOf({ ...drawn, slowCalls: null }, 'everyone');
    case 'everyone':
      // Held updates common, and a person who waits up to four minutes between fix and retry and
      // acts on what the customer said for as long as the flag is the same.
      return drawn.heldWhileAPersonWaits
        ? {
            ...drawn,
            heldOften: 0.5,
            person: {
              pagedWithinMs: drawn.person ? drawn.person.pagedWithinMs : 20_000,
              retryGapMs: 240_000,
              looksAgainWithinMs: drawn.person?.looksAgainWithinMs ?? null,
              resolvesFirst: drawn.person?.resolvesFirst ?? false,
              retriesTwice: drawn.person?.retriesTwice ?? false,
              asksOncePerFlag: true,
              ...(drawn.pastesTheNewFlag ? { pastesTheNewFlag: true as const } : {}),
            },
          }
        : drawn;
    default:
      return people satisfies never;
  }
}

/**
 * The property; `observe` sees every run's result. With `only`, a run counts
 * as failing only if it breaks the promise that way: shrinking then keeps to
 * the failure it started from instead of wandering to another.
 */
export function simulationProperty(
  observe?: (result: RunResult, plan: Plan) => void,
  only?: string,
  people: People = 'everyone',
) {
  return fc.asyncProperty(fc.scheduler(), planArbitrary, async (scheduler, drawn) => {
    const plan = worldOf(drawn, people);
    const result = await simulate(scheduler, plan);
    observe?.(result, plan);
    const broken = only
      ? result.violations.filter((v) => signature(v) === only)
      : result.violations;
    if (broken.length > 0) throw new PromiseBroken({ ...result, violations: broken });
  });
}

/** What kind of failure a violation is, without the names and numbers of one run. */
export function signature(violation: Violation): string {
  return `${violation.kind}: ${violation.message.replace(/\b(orders|kitchenorders|shipments)\/[\w-]+/g, '$1/…').replace(/\d+/g, 'N')}`;
}

export interface SeedOutcome {
  seed: number;
  failed: boolean;
  /** The failing run: as the seed ran it, or shrunk to the smallest plan that fails the same way. */
  failure?: { result: RunResult; plan: Plan; path?: string; shrunk: boolean };
  stats: RunResult['stats'];
}

/** One whole run from a seed, replayed exactly; with `shrink`, a failure is then shrunk keeping its first violation's kind. */
export async function runSeed(
  seed: number,
  shrink: boolean,
  people: People = 'everyone',
): Promise<SeedOutcome> {
  let first: { result: RunResult; plan: Plan } | undefined;
  const details = await fc.check(
    simulationProperty(
      (result, plan) => {
        first ??= { result, plan };
      },
      undefined,
      people,
    ),
    { seed, numRuns: 1, endOnFailure: true },
  );
  if (!first || (details.failed && first.result.violations.length === 0)) {
    const cause =
      details.errorInstance instanceof Error
        ? details.errorInstance
        : new Error(String(details.errorInstance));
    throw new Error(`seed ${seed}: the simulation itself failed: ${cause.stack ?? cause.message}`);
  }
  const { stats } = first.result;
  if (!details.failed) return { seed, failed: false, stats };
  if (!shrink) return { seed, failed: true, failure: { ...first, shrunk: false }, stats };
  const only = signature(first.result.violations[0]);
  let smallest = first;
  const shrunk = await fc.check(
    simulationProperty(
      (result, plan) => {
        if (result.violations.some((v) => signature(v) === only))
          smallest = {
            result: {
              ...result,
              violations: result.violations.filter((v) => signature(v) === only),
            },
            plan,
          };
      },
      only,
      people,
    ),
    { seed, numRuns: 1 },
  );
  return {
    seed,
    failed: true,
    failure: {
      ...smallest,
      shrunk: true,
      ...(shrunk.counterexamplePath ? { path: shrunk.counterexamplePath } : {}),
    },
    stats,
  };
}
