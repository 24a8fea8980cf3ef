// The relation's derived fields (possibleOrphans, hasOpenOrphans, expireAt), computed in the
// transaction of every write that could change them, so no path writes them by hand
// (docs/ARCHITECTURE.md#possible-orphans).
import { orphansOf, type AttemptRecord } from '../model/orphans';
import { CREATE_STEPS, isOpen, type CreateStep, type PossibleOrphan } from '../model/relation';
import { isStage, isTerminal } from '../model/stage';
import { DELETE_FIELD, type DocumentData, type DocumentSnapshot } from '../store/database';
import { EXPIRE_AT, expiryFor, parsePossibleOrphans, storedOrphan } from '../store/schema';

export interface Settlement {
  /** The relation as this transaction read it. */
  relation: DocumentSnapshot;
  /** What the transaction changes on it (top-level fields, stored form). */
  update: DocumentData;
  /** The steps whose attempts this transaction read, as they are once it commits. */
  attempts: Partial<Record<CreateStep, readonly AttemptRecord[]>>;
  at: Date;
  retentionDays: number;
}

/** The update to write to the relation, derived fields included; null when nothing changes. */
export function settle({
  relation,
  update,
  attempts,
  at,
  retentionDays,
}: Settlement): DocumentData | null {
  const stored = relation.data() ?? {};
  const next = { ...stored, ...update };
  const stage = isStage(next.stage) ? next.stage : null;
  const error = next.error as { transient?: unknown } | null | undefined;
  const flagged = Boolean(error && error.transient === false);
  const names = {
    stage: stage ?? 'NEW',
    kitchenOrder: typeof next.kitchenOrder === 'string' ? next.kitchenOrder : null,
    shipment: typeof next.shipment === 'string' ? next.shipment : null,
    flagged,
  };
  const before = parsePossibleOrphans(stored.possibleOrphans);
  const notes: PossibleOrphan[] = (Object.keys(CREATE_STEPS) as CreateStep[]).flatMap((step) => {
    const read = attempts[step];
    return read && stage
      ? orphansOf(names, step, read)
      : before.filter((note) => note.step === step);
  });
  const fields: DocumentData = { ...update };
  if (canonical(notes) !== canonical(before)) {
    fields.possibleOrphans = notes.map(storedOrphan);
    fields.hasOpenOrphans = notes.some(isOpen);
  }
  const waitsForPerson = flagged || notes.some(isOpen);
  if (stage && isTerminal(stage) && !waitsForPerson) {
    if (!(stored[EXPIRE_AT] instanceof Date)) fields[EXPIRE_AT] = expiryFor(at, retentionDays);
  } else if (stored[EXPIRE_AT] !== undefined) {
    fields[EXPIRE_AT] = DELETE_FIELD;
  }
  return Object.keys(fields).length > 0 ? fields : null;
}

/** A list of notes as text with sorted keys, so two lists compare by content alone. */
function canonical(notes: readonly PossibleOrphan[]): string {
  return JSON.stringify(notes.map(storedOrphan), (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
}
