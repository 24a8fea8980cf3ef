// Look-ups that fail with a fault that usually heals (RESOURCE_EXHAUSTED,
// INTERNAL, ... : FAILURE_TABLE's `retry-bounded`) are retried by the next
// poll like an outage, but counted on the relation (`observationFaults`, a
// field only the poller writes): FAULT_RETRY_LIMIT polls in a row make it an
// observationError, which the trigger flags LOOKUP_FAILED. One such fault
// flags nothing. Decided without I/O.
import { z } from 'zod';

import { timestamp } from '../model/fields';

const ObservationFaultsField = z.object({
  code: z.string(),
  message: z.string(),
  /** Polls in a row whose look-ups failed this way. */
  count: z.int().min(1),
  /** The first of them. */
  since: timestamp,
});
export type ObservationFaults = z.output<typeof ObservationFaultsField>;

/** The field as stored; anything malformed reads as none (the count starts again). */
export function parseObservationFaults(value: unknown): ObservationFaults | null {
  return ObservationFaultsField.safeParse(value).data ?? null;
}

/** What this poll's look-ups did, as far as the count is concerned. */
export type RoundOutcome =
  | { kind: 'fault'; code: string; message: string }
  /** Every look-up worked, or one failed for good (that is recorded as observationError already). */
  | { kind: 'settled' }
  /** An outage (UNAVAILABLE, DEADLINE_EXCEEDED): neither counts nor clears. */
  | { kind: 'outage' };

/** The fields to write: the new count, or the observationError it has become; nothing when nothing changes. */
export function nextObservationFaults(
  previous: ObservationFaults | null,
  round: RoundOutcome,
  now: Date,
  limit: number,
): { observationFaults?: ObservationFaults | null; observationError?: string } {
  switch (round.kind) {
    case 'outage':
      return {};
    case 'settled':
      return previous ? { observationFaults: null } : {};
    case 'fault': {
      const count = (previous?.count ?? 0) + 1;
      if (count >= limit) {
        return {
          observationFaults: null,
          observationError: `${round.message} (${count} polls in a row failed with faults that usually heal; FAULT_RETRY_LIMIT is ${limit})`,
        };
      }
      return {
        observationFaults: {
          code: round.code,
          message: round.message,
          count,
          since: previous?.since ?? now,
        },
      };
    }
    default: {
      const unreachable: never = round;
      throw new Error(`unknown round ${JSON.stringify(unreachable)}`);
    }
  }
}
