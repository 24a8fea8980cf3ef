// The one Firestore handle. firebase-admin finds the project and, locally,
// FIRESTORE_EMULATOR_HOST on its own; initialising lazily keeps deploy-time
// discovery free of it.
import { getApps, initializeApp } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';

let firestore: Firestore | undefined;

export function db(): Firestore {
  if (!firestore) {
    if (getApps().length === 0) initializeApp();
    firestore = getFirestore();
  }
  return firestore;
}
