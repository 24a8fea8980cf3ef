// The one Firestore handle. In the functions, firebase-admin finds the
// project and, locally, FIRESTORE_EMULATOR_HOST on its own; initialising
// lazily keeps deploy-time discovery free of it. A standalone tool (the ops
// CLI) needs no Firebase app: it hands the store a plain
// @google-cloud/firestore client instead (useFirestore), and every store
// function works on that.
import { Firestore as StandaloneFirestore } from '@google-cloud/firestore';
import { getApp, initializeApp, type App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';

import type { Database } from './database';
import { FirestoreDatabase } from './firestore-database';

let firestore: Firestore | undefined;
let database: Database | undefined;

/**
 * The default app, made if there is none. Other apps may exist already:
 * firebase-functions decodes each Firestore event with an app of its own
 * (`__FIREBASE_FUNCTIONS_SDK__`) that it creates when no default app exists,
 * so counting apps would skip initializeApp() on every fresh instance whose
 * first call is a trigger event.
 */
export function defaultApp(): App {
  try {
    return getApp();
  } catch {
    return initializeApp();
  }
}

export function db(): Firestore {
  firestore ??= getFirestore(defaultApp());
  return firestore;
}

/** Makes every store function use `client`; for a process that is not a function (no Firebase app). */
export function useFirestore(client: Firestore): void {
  firestore = client;
  database = undefined;
}

/** What the store's functions read and write: Firestore, unless the simulation put its own store in (useDatabase). */
export function store(): Database {
  database ??= new FirestoreDatabase(db());
  return database;
}

/** Makes every store function use `replacement` (the simulation's memory store), or Firestore again with undefined. */
export function useDatabase(replacement: Database | undefined): void {
  database = replacement;
}

/**
 * A Firestore client without a Firebase app: against the emulator named by
 * FIRESTORE_EMULATOR_HOST, or a real project with Application Default
 * Credentials. It comes from the same @google-cloud/firestore package the
 * store's Timestamps and references come from, which Firestore requires of
 * every value it is given.
 */
export function standaloneFirestore(projectId: string): Firestore {
  return new StandaloneFirestore({ projectId });
}
