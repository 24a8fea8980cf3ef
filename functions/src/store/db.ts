// The one Firestore handle. firebase-admin finds the project and, locally,
// FIRESTORE_EMULATOR_HOST on its own; initialising lazily keeps deploy-time
// discovery free of it.
import { getApp, initializeApp, type App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';

let firestore: Firestore | undefined;

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
