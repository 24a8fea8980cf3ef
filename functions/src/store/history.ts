// relations/{id}/transitions, read back: the relation's history, one entry
// per attempt at a create (which is also its claim, see claims.ts), one per
// finishing step, and one per operator's repair (docs/ARCHITECTURE.md#the-documents).
import type { DocumentReference, DocumentSnapshot } from './database';

import type { Step } from '../model/relation';
import { parseAttempt, type Attempt } from './claims';
import { describeValue, toDate, TRANSITIONS } from './schema';

export type HistoryEntry =
  | { kind: 'attempt'; id: string; step: Step; to: string; adopted: boolean; claim: Attempt }
  | { kind: 'step'; id: string; step: Step; from: string; to: string; eventId: string; at: Date }
  | {
      kind: 'retry';
      id: string;
      stage: string;
      by: string;
      reason: string;
      at: Date;
      cleared: { code: string; message: string };
      approvedAttempt: number | null;
    }
  | {
      kind: 'resolve-orphan';
      id: string;
      stage: string;
      by: string;
      reason: string;
      at: Date;
      orphan: { step: string; attempt: number; name: string | null };
    };

/** One history entry, or what is wrong with it. */
export function parseHistoryEntry(snapshot: DocumentSnapshot): HistoryEntry | string {
  const data = snapshot.data() ?? {};
  const id = snapshot.id;
  if (id.startsWith('retry-')) {
    const at = toDate(data.at);
    const cleared = data.cleared as { code?: unknown; message?: unknown } | undefined;
    if (
      !at ||
      typeof data.by !== 'string' ||
      typeof data.reason !== 'string' ||
      typeof cleared?.code !== 'string'
    ) {
      return `${snapshot.ref.path} is malformed: expected {by, reason, at, cleared {code, message}}`;
    }
    const approvedAttempt = typeof data.approvedAttempt === 'number' ? data.approvedAttempt : null;
    return {
      kind: 'retry',
      id,
      stage: String(data.stage),
      by: data.by,
      reason: data.reason,
      at,
      cleared: { code: cleared.code, message: String(cleared.message ?? '') },
      approvedAttempt,
    };
  }
  if (id.startsWith('resolve-orphan-')) {
    const at = toDate(data.at);
    const orphan = data.orphan as { step?: unknown; attempt?: unknown; name?: unknown } | undefined;
    if (
      !at ||
      typeof data.by !== 'string' ||
      typeof data.reason !== 'string' ||
      typeof orphan?.attempt !== 'number'
    ) {
      return `${snapshot.ref.path} is malformed: expected {by, reason, at, orphan {step, attempt, name}}`;
    }
    return {
      kind: 'resolve-orphan',
      id,
      stage: String(data.stage),
      by: data.by,
      reason: data.reason,
      at,
      orphan: {
        step: String(orphan.step),
        attempt: orphan.attempt,
        name: typeof orphan.name === 'string' ? orphan.name : null,
      },
    };
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
  const at = toDate(data.claimedAt);
  if (!at || typeof data.step !== 'string')
    return `${snapshot.ref.path} is malformed: expected {step, from, to, eventId, claimedAt}`;
  return {
    kind: 'step',
    id,
    step: data.step as Step,
    from: String(data.from),
    to: String(data.to),
    eventId: String(data.eventId ?? ''),
    at,
  };
}

const whenOf = (entry: HistoryEntry) =>
  (entry.kind === 'attempt' ? entry.claim.claimedAt : entry.at).getTime();

/** The whole history, oldest first; an entry that cannot be read is returned as its problem. */
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
