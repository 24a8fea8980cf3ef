// Server-assigned resource names: `<collection>/<uuid>`.
import { randomUUID } from 'node:crypto';
import { invalidArgument, notFound } from './errors';

export type Collection = 'orders' | 'kitchenorders' | 'shipments';

/**
 * A fresh name. Ids are random rather than seeded: the orchestrator keys its
 * Firestore documents by them, and a restarted simulator with the same seed
 * must not hand out names an earlier run already used.
 */
export function newName(collection: Collection): string {
  return `${collection}/${randomUUID()}`;
}

/** Well-formed: the collection, one slash, and a non-empty id without slashes or spaces. */
export function isWellFormedName(collection: Collection, name: string): boolean {
  return name.startsWith(`${collection}/`) && /^[^/\s]+$/.test(name.slice(collection.length + 1));
}

/**
 * The resource `name` refers to: INVALID_ARGUMENT if it is not a name of the
 * collection at all, NOT_FOUND if it is one that does not exist.
 */
export function resolveName<R>(
  collection: Collection,
  field: string,
  name: string,
  get: (name: string) => R | undefined,
): R {
  if (!isWellFormedName(collection, name)) {
    throw invalidArgument(
      `${field}: ${JSON.stringify(name)} is not of the form ${collection}/<id>`,
    );
  }
  const resource = get(name);
  if (resource === undefined) throw notFound(`${name} not found`);
  return resource;
}
