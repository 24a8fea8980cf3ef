// Possible orphans, derived from the attempts: the one record of what was sent. Every write that
// changes an attempt, or the relation's stage or names, stores this result in its own transaction
// (engine/settle.ts), so none copies notes by hand (docs/ARCHITECTURE.md#possible-orphans).
import { z } from 'zod';

import { expected, orNull, shown, timestamp, updateTime } from './fields';
import {
  CREATE_STEPS,
  createStep,
  OrphanResolutionField,
  type CreateStep,
  type PossibleOrphan,
} from './relation';
import type { Stage } from './stage';

const AttemptFailureField = z.object(
  {
    code: z
      .unknown()
      .optional()
      .transform((code) => String(code ?? 'UNKNOWN')),
    message: shown,
    transient: z.boolean(expected('true or false')),
    /** The call reached, or may have reached, the food service: it may have created something. */
    ambiguous: z.boolean(expected('true or false')),
  },
  expected('null or {code, message, transient, ambiguous}'),
);
export type AttemptFailure = z.output<typeof AttemptFailureField>;

/**
 * relations/{id}/transitions/{STAGE}-{n}: one attempt, also its claim (engine/claims.ts). Fields
 * that people and older versions wrote loosely read as their defaults.
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
    /** An operator's retry: ambiguous attempts up to this one stop counting against the budget. */
    approved: z.unknown().optional().transform(Boolean),
    approvedBy: shown,
    approvedReason: shown,
    approvedAt: timestamp.nullish().catch(null),
    /** When it was named: its UpdateOrder's send window opened then (null before). */
    createdAt: timestamp
      .nullish()
      .catch(null)
      .transform((at) => at ?? null),
    /** When its UpdateOrder's send window ends, once named (null before, and on older attempts). */
    sendUntil: timestamp
      .nullish()
      .catch(null)
      .transform((until) => until ?? null),
    /** The order's update_time its look saw before it was named: an update of it lands later. */
    seenUpdateTime: orNull(updateTime).catch(null),
  })
  .transform(({ approvedBy, approvedReason, approvedAt, ...attempt }) => ({
    ...attempt,
    approval: attempt.approved
      ? { by: approvedBy, reason: approvedReason, at: approvedAt ?? attempt.claimedAt }
      : null,
  }));

export type AttemptRecord = Pick<
  z.output<typeof AttemptFields>,
  'attempt' | 'claimedAt' | 'eventId' | 'created' | 'failure' | 'resolution'
>;

export interface RecordedNames {
  stage: Stage;
  kitchenOrder: string | null;
  shipment: string | null;
  /** A flag waits for a person: no step is under way meanwhile. */
  flagged: boolean;
}

/**
 * One step's possible orphans from its attempts, oldest first. A resolution closes a note only for
 * the name it had then (docs/ARCHITECTURE.md#possible-orphans).
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

/** The create step whose attempts a relation at `stage` waits on: the one that starts there. */
export function stepFrom(stage: Stage): CreateStep | null {
  for (const [step, { from }] of Object.entries(CREATE_STEPS))
    if (from === stage) return step as CreateStep;
  return null;
}
