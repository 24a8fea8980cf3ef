// The one Firestore handle, made lazily to keep deploy-time discovery free of it. A tool without a
// Firebase app (the ops CLI) hands the store a plain @google-cloud/firestore client (useFirestore).
import { Firestore as StandaloneFirestore } from '@google-cloud/firestore';
import { getApp, initializeApp, type App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';

import type { Database } from './database';
import { FirestoreDatabase } from './firestore-database';

let firestore: Firestore | undefined;
let database: Database | undefined;

/**
 * Not by counting apps: firebase-functions makes its own (`__FIREBASE_FUNCTIONS_SDK__`) to decode
 * events, so that would skip initializeApp() on a fresh instance whose first call is an event.
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

/** Makes every store function use `client`, for a process with no Firebase app. */
export function useFirestore(client: Firestore): void {
  firestore = client;
  database = undefined;
}

/** Firestore, unless the simulation put its own store in (useDatabase). */
export function store(): Database {
  database ??= new FirestoreDatabase(db());
  return database;
}

/** Makes every store function use `replacement` (the simulation's), or Firestore with undefined. */
export function useDatabase(replacement: Database | undefined): void {
  database = replacement;
}

/**
 * A client with no Firebase app, for the emulator (FIRESTORE_EMULATOR_HOST) or a real project. It
 * must come from the package the store's Timestamps come from: Firestore requires that of values.
 */
export function standaloneFirestore(projectId: string): Firestore {
  return new StandaloneFirestore({ projectId });
}
