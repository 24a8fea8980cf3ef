// Firestore reports failures with gRPC status codes; these say what they mean here.
import { status } from '@grpc/grpc-js';

const codeOf = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

/** A create() that lost the race: the document exists. */
export function isAlreadyExists(error: unknown): boolean {
  return codeOf(error) === status.ALREADY_EXISTS;
}

export function isNotFound(error: unknown): boolean {
  return codeOf(error) === status.NOT_FOUND;
}

const TRANSIENT = new Set<unknown>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.ABORTED,
  status.RESOURCE_EXHAUSTED,
  status.INTERNAL,
]);

/** A Firestore failure that trying again later may get past. */
export function isTransientFirestoreError(error: unknown): boolean {
  return TRANSIENT.has(codeOf(error));
}

export function firestoreCodeName(error: unknown): string {
  const code = codeOf(error);
  return typeof code === 'number' ? (status[code] ?? `code ${code}`) : 'INTERNAL';
}
