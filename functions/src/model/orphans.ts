// What an order's create attempts may have made that its relation does not
// record, derived from the attempts themselves: the one record of what was
// sent (docs/ARCHITECTURE.md#possible-orphans). Every path that changes an
// attempt, or the relation's stage or names, writes the result of this
// function in the same transaction (engine/settle.ts); nothing copies notes
// by hand.
import { z } from 'zod';

import { expected, orNull, shown, timestamp } from './fields';
import {
  CREATE_STEPS,
  createStep,
  OrphanResolutionField,
  type CreateStep,
  type PossibleOrphan,
} from './relation';
import type { Stage } from './stage';

/** How an attempt ended badly, as the attempt itself recorded it. */
const AttemptFailureField = z.object(
  {
    code: z
      .unknown()
      .optional()
      .transform((code) => String(code ?? 'UNKNOWN')),
    message: shown,
    transient: z.boolean(expected('true or false')),
    /** The failed call may have created something (it reached, or may have reached, the food service). */
    ambiguous: z.boolean(expected('true or false')),
  },
  expected('null or {code, message, transient, ambiguous}'),
);
export type AttemptFailure = z.output<typeof AttemptFailureField>;

/**
 * relations/{id}/transitions/{STAGE}-{n}: one attempt at a create, which is also its claim
 * (engine/claims.ts). Fields people and older versions wrote loosely read as their defaults.
 */
export const AttemptFields = z
  .object({
    attempt: z.int(expected('an attempt number')),
    step: createStep,
    holder: z.string().catch(''),
    eventId: z.string().catch(''),
    claimedAt: timestamp,
    leaseExpiresAt: timestamp,
    /** The kitchen order or shipment it created (or adopted), once known. */
    created: orNull(z.string(expected('null or a name'))),
    failure: orNull(AttemptFailureField),
    resolution: orNull(OrphanResolutionField),
    /** Earlier tries under this attempt number that failed before anything could have been sent. */
    cleanFailures: z.int().catch(0),
    /** An operator's retry: ambiguous attempts up to this one no longer count against the budget. */
    approved: z.unknown().optional().transform(Boolean),
    approvedBy: shown,
    approvedReason: shown,
    approvedAt: timestamp.nullish().catch(null),
    /** The end of its UpdateOrder's send window, once it had a name (null before, and from versions before windows). */
    sendUntil: timestamp
      .nullish()
      .catch(null)
      .transform((until) => until ?? null),
  })
  .transform(({ approvedBy, approvedReason, approvedAt, ...attempt }) => ({
    ...attempt,
    /** Who approved it, why and when, once approved. */
    approval: attempt.approved
      ? { by: approvedBy, reason: approvedReason, at: approvedAt ?? attempt.claimedAt }
      : null,
  }));

/** What the derivation needs of one attempt document. */
export type AttemptRecord = Pick<
  z.output<typeof AttemptFields>,
  'attempt' | 'claimedAt' | 'eventId' | 'created' | 'failure' | 'resolution'
>;

/** What the derivation needs of the relation. */
export interface RecordedNames {
  stage: Stage;
  kitchenOrder: string | null;
  shipment: string | null;
  /** A flag waits for a person: no step is under way meanwhile. */
  flagged: boolean;
}

/**
 * The possible orphans of one step, from its attempts (oldest first):
 * - the latest attempt, while the relation still waits at the step's stage,
 *   unflagged, and the attempt has not failed, is in progress: not an
 *   orphan (yet);
 * - an attempt that knows what it created is one unless the relation
 *   records that very name;
 * - an attempt that failed in a way that proves nothing was sent is not;
 * - any other attempt (failed ambiguously, died, or outrun by the order's
 *   end) may have made something nobody can name.
 * A person's resolution closes a note only for the name it had then.
 */
export function orphansOf(
  relation: RecordedNames,
  step: CreateStep,
  attempts: readonly AttemptRecord[],
): PossibleOrphan[] {
  const { from, field } = CREATE_STEPS[step];
  const last = attempts.at(-1);
  return attempts.flatMap((a): PossibleOrphan[] => {
    const inProgress =
      a === last && relation.stage === from && !relation.flagged && a.failure === null;
    if (inProgress) return [];
    const note = (name: string | null, reason: string): PossibleOrphan[] => [
      {
        step,
        attempt: a.attempt,
        name,
        claimedAt: a.claimedAt,
        eventId: a.eventId,
        reason,
        resolution: a.resolution,
      },
    ];
    if (a.created !== null) {
      if (a.created === relation[field]) return [];
      return note(
        a.created,
        `attempt ${a.attempt} created ${a.created}, which the relation does not record`,
      );
    }
    if (a.failure && !a.failure.ambiguous) return [];
    if (a.failure)
      return note(
        null,
        `attempt ${a.attempt} failed with ${a.failure.code} after its call may have reached the food service`,
      );
    return a === last
      ? note(
          null,
          `attempt ${a.attempt} was under way when the order left ${from}; it may have created something`,
        )
      : note(
          null,
          `attempt ${a.attempt} claimed the step and recorded nothing before another took over`,
        );
  });
}

/** Which create step's attempts a relation at `stage` waits on, if any: the one that starts there. */
export function stepFrom(stage: Stage): CreateStep | null {
  for (const [step, { from }] of Object.entries(CREATE_STEPS))
    if (from === stage) return step as CreateStep;
  return null;
}
