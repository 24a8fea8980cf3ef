// Counts a relation's look-ups that fail with a fault that usually heals: FAULT_RETRY_LIMIT polls
// in a row make an observationError; one flags nothing. No I/O (docs/ARCHITECTURE.md#failures).
import { z } from 'zod';

import { timestamp } from '../model/fields';

const ObservationFaultsField = z.object({
  code: z.string(),
  message: z.string(),
  /** Polls in a row whose look-ups failed this way. */
  count: z.int().min(1),
  since: timestamp,
});
export type ObservationFaults = z.output<typeof ObservationFaultsField>;

/** The field as stored; anything malformed reads as none (the count starts again). */
export function parseObservationFaults(value: unknown): ObservationFaults | null {
  return ObservationFaultsField.safeParse(value).data ?? null;
}

export type RoundOutcome =
  | { kind: 'fault'; code: string; message: string }
  /** Every look-up worked, or one failed for good (already recorded as observationError). */
  | { kind: 'settled' }
  /** An outage (UNAVAILABLE, DEADLINE_EXCEEDED): neither counts nor clears. */
  | { kind: 'outage' };

/** The new count, or the observationError it has become; nothing when nothing changes. */
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
