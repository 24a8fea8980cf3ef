// The tests read relations/{id}/transitions back with a schema of their own: one entry per create
// attempt (its claim), per finishing step and per operator's repair, so a malformed write fails
// the test that made it (docs/ARCHITECTURE.md#the-documents).
import { z } from 'zod';

import type { DocumentReference, DocumentSnapshot } from '../../src/store/database';

import type { Step } from '../../src/model/relation';
import { parseAttempt, type Attempt } from '../../src/engine/claims';
import { TRANSITIONS } from '../../src/store/schema';
import { describeValue, expected, parseWith, shown, text, timestamp } from '../../src/model/fields';

const Repair = { stage: shown, by: text('text'), reason: text('text'), at: timestamp };
/** An operator's retry (operations/repairs.ts): the flag it cleared, the attempt it allowed. */
const RetryEntry = z.object({
  ...Repair,
  cleared: z.object({ code: text('text'), message: shown }, expected('{code, message}')),
  approvedAttempt: z.number().nullable().catch(null),
});
/** A retry that raised a finished relation's overwrite flag anew, to check with the customer again. */
const RaiseAgainEntry = z.object({
  ...Repair,
  flag: z.object({ code: text('text'), at: timestamp }, expected('{code, at}')),
});
/** An operator's word on a possible orphan. */
const ResolveOrphanEntry = z.object({
  ...Repair,
  orphan: z.object(
    {
      step: shown,
      attempt: z.number(expected('a number')),
      name: z.string().nullable().catch(null),
    },
    expected('{step, attempt, name}'),
  ),
});
/** A step that is not a create: its record, written with its own transition. */
const StepEntry = z
  .object({
    step: z.string(expected('a step')).transform((step) => step as Step),
    from: shown,
    to: shown,
    eventId: shown,
    claimedAt: timestamp,
  })
  .transform(({ claimedAt, ...entry }) => ({ ...entry, at: claimedAt }));

export type HistoryEntry =
  | { kind: 'attempt'; id: string; step: Step; to: string; adopted: boolean; claim: Attempt }
  | ({ kind: 'step'; id: string } & z.output<typeof StepEntry>)
  | ({ kind: 'retry'; id: string } & z.output<typeof RetryEntry>)
  | ({ kind: 'raise-again'; id: string } & z.output<typeof RaiseAgainEntry>)
  | ({ kind: 'resolve-orphan'; id: string } & z.output<typeof ResolveOrphanEntry>);

export function parseHistoryEntry(snapshot: DocumentSnapshot): HistoryEntry | string {
  const data = snapshot.data() ?? {};
  const id = snapshot.id;
  const read = <T extends z.ZodType>(schema: T): z.output<T> | string => {
    const parsed = parseWith(schema, data);
    return parsed.ok
      ? parsed.value
      : `${snapshot.ref.path} is malformed: ${parsed.problems.join('; ')}`;
  };
  if (id.startsWith('retry-')) {
    const entry = read(RetryEntry);
    return typeof entry === 'string' ? entry : { kind: 'retry', id, ...entry };
  }
  if (id.startsWith('raise-again-')) {
    const entry = read(RaiseAgainEntry);
    return typeof entry === 'string' ? entry : { kind: 'raise-again', id, ...entry };
  }
  if (id.startsWith('resolve-orphan-')) {
    const entry = read(ResolveOrphanEntry);
    return typeof entry === 'string' ? entry : { kind: 'resolve-orphan', id, ...entry };
  }
  const match = /^([A-Z_]+)-(\d+)$/.exec(id);
  if (!match) return `${snapshot.ref.path}: ${describeValue(id)} is not a history entry's name`;
  if (data.step === 'createKitchenOrder' || data.step === 'createShipment') {
    const claim = parseAttempt(snapshot, Number(match[2]));
    if (typeof claim === 'string') return claim;
    return {
      kind: 'attempt',
      id,
      step: data.step,
      to: match[1],
      adopted: data.adopted === true,
      claim,
    };
  }
  const entry = read(StepEntry);
  return typeof entry === 'string' ? entry : { kind: 'step', id, ...entry };
}

const whenOf = (entry: HistoryEntry) =>
  (entry.kind === 'attempt' ? entry.claim.claimedAt : entry.at).getTime();

export async function readHistory(
  relation: DocumentReference,
): Promise<{ entries: HistoryEntry[]; problems: string[] }> {
  const entries: HistoryEntry[] = [];
  const problems: string[] = [];
  for (const snapshot of (await relation.collection(TRANSITIONS).get()).docs) {
    const entry = parseHistoryEntry(snapshot);
    if (typeof entry === 'string') problems.push(entry);
    else entries.push(entry);
  }
  return { entries: entries.sort((a, b) => whenOf(a) - whenOf(b)), problems };
}
