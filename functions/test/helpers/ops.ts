// What an operator uses, for the tests: the ops CLI as a person runs it, the
// ops HTTPS API, the structured log file, and relations seeded as the
// functions write them.
import { Timestamp, type DocumentData, type DocumentReference } from 'firebase-admin/firestore';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { db } from '../../src/store/db';
import { CREATE_STEPS, type CreateStep } from '../../src/model/relation';
import { newRelation, relationId, TRANSITIONS } from '../../src/store/schema';
import { FUNCTIONS_LOG, PROJECT_ID } from '../setup';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Runs `npm run ops -- …` (its entry point, as npm would) against the test emulator. */
export function ops(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', 'ops/main.ts', ...args],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        FIRESTORE_EMULATOR_HOST: String(process.env.FIRESTORE_EMULATOR_HOST),
        GCLOUD_PROJECT: PROJECT_ID,
        METADATA_SERVER_DETECTION: 'none',
        ...env,
      },
      timeout: 60_000,
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}

/** Calls the ops HTTPS function; the body is parsed as JSON. */
export async function api(
  httpUrl: string,
  route: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${httpUrl}/ops${route}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    throw new Error(`ops ${route} answered ${response.status} with ${text.slice(0, 300)}`);
  }
}

/** Where the structured log file ends now: entries after this mark are new. */
export function logMark(): number {
  return fs.statSync(FUNCTIONS_LOG).size;
}

/** The structured entries written since `mark`, parsed. */
export function logEntries(mark: number): Array<Record<string, unknown>> {
  const text = fs.readFileSync(FUNCTIONS_LOG).subarray(mark).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The stuck-order alert entries since `mark`. */
export function alertEntries(mark: number): Array<Record<string, unknown>> {
  return logEntries(mark).filter((entry) => entry.alert === 'stuck-order');
}

export const ago = (seconds: number, from = Date.now()) =>
  Timestamp.fromMillis(from - seconds * 1000);

/**
 * A relation as the poller creates it, with fields the trigger would have
 * written since. Its possible orphans are derived from attempts
 * (model/orphans.ts), so each note given is also written as the attempt it
 * derives from (and the attempts before it, which failed before sending).
 */
/**
 * An attempt document as a claim writes it (`relations/{id}/transitions/{to}-{n}`):
 * by default claimed a minute ago by a process that stopped, its lease
 * still running, nothing made and nothing failed. Returns its reference.
 */
export async function seedAttempt(
  order: string,
  step: CreateStep,
  attempt: number,
  fields: DocumentData = {},
): Promise<DocumentReference> {
  const ref = db()
    .collection('relations')
    .doc(relationId(order))
    .collection(TRANSITIONS)
    .doc(`${CREATE_STEPS[step].to}-${attempt}`);
  await ref.set({
    step,
    from: CREATE_STEPS[step].from,
    to: CREATE_STEPS[step].to,
    attempt,
    holder: 'dead',
    eventId: `e${attempt}`,
    claimedAt: ago(60),
    leaseExpiresAt: ago(-60),
    created: null,
    failure: null,
    cleanFailures: 0,
    approved: false,
    resolution: null,
    ...fields,
  });
  return ref;
}

export async function seedRelation(id: string, fields: DocumentData = {}): Promise<void> {
  const order = `orders/${id}`;
  const ref = db().collection('relations').doc(relationId(order));
  await ref.set({ ...newRelation(order, 'customer-1', new Date()), ...fields });
  const notes = (fields.possibleOrphans ?? []) as DocumentData[];
  for (const step of Object.keys(CREATE_STEPS) as CreateStep[]) {
    const ofStep = notes.filter((note) => note.step === step);
    const last = Math.max(0, ...ofStep.map((note) => note.attempt as number));
    for (let attempt = 1; attempt <= last; attempt++) {
      const note = ofStep.find((n) => n.attempt === attempt);
      await seedAttempt(order, step, attempt, {
        holder: `seed-${attempt}`,
        eventId: note?.eventId ?? `e${attempt}`,
        claimedAt: note?.claimedAt ?? ago(600),
        leaseExpiresAt: ago(300),
        created: note?.name ?? null,
        failure: note
          ? note.name
            ? null
            : {
                code: 'UNAVAILABLE',
                message: 'the reply was lost',
                transient: true,
                ambiguous: true,
              }
          : { code: 'UNAVAILABLE', message: 'not sent', transient: true, ambiguous: false },
        resolution: note?.resolution ?? null,
      });
    }
  }
}

/** A flag as the trigger records it. */
export function flagFields(code: string, message: string, at: Timestamp): DocumentData {
  return {
    error: { step: 'document', code, message, transient: false, failures: 1, at, retryAt: null },
    flagged: true,
  };
}

/** A possible orphan note, open unless a resolution is given. */
export function orphanNote(
  attempt: number,
  name: string | null,
  resolution: DocumentData | null = null,
): DocumentData {
  return {
    step: 'createKitchenOrder',
    attempt,
    name,
    claimedAt: ago(600),
    eventId: `e${attempt}`,
    reason: `attempt ${attempt} may have created something`,
    // Resolved for the name it has, unless the test says otherwise.
    resolution: resolution ? { name, ...resolution } : null,
  };
}
