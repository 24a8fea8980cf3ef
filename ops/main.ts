// `npm run ops -- <command>`: an operator's view of relations, and the
// supported repairs. It talks to Firestore as the functions do: to the
// emulator named by FIRESTORE_EMULATOR_HOST, or to a real project with
// Application Default Credentials (`gcloud auth application-default login`).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { isOrderName } from '../functions/src/model/names';
import { RepairRefused, retryRelation } from '../functions/src/orchestration/repairs';
import { db } from '../functions/src/store/db';
import { relationRef } from '../functions/src/store/relations';
import { TRANSITIONS } from '../functions/src/store/schema';
import { killSwitchRef, readKillSwitch, setKillSwitch } from '../functions/src/store/controls';

export const USAGE = `usage: npm run ops -- <command> [flags]

  show <order>                          the relation of orders/<id> (or <id>) and its history, oldest first
  retry <order> --reason "…" [--by who] clear a flag so the step runs again; a create whose attempts ran
                                        out gets a fresh budget. Refused while an attempt holds the step.
  pause --reason "…" [--by who]         the kill switch: nothing calls the food service, state is kept
                                        (within PAUSE_CHECK_SECONDS on every instance; no deploy)
  resume --reason "…" [--by who]        back to work: the poller wakes everything the pause held up
  switch                                the kill switch as stored

  --project ID   the Firebase project (default: GCLOUD_PROJECT, else .firebaserc's default)

Against the emulator, set FIRESTORE_EMULATOR_HOST (npm start prints it).
Against a real project, run \`gcloud auth application-default login\` first.
`;

class UsageError extends Error {}

function defaultProject(): string | undefined {
  try {
    const rc = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '.firebaserc'), 'utf8')) as { projects?: { default?: string } };
    return rc.projects?.default;
  } catch {
    return undefined;
  }
}

function orderName(value: string | undefined): string {
  if (!value) throw new UsageError('name the order: orders/<id> or <id>');
  const name = value.startsWith('orders/') ? value : `orders/${value}`;
  if (!isOrderName(name)) throw new UsageError(`"${value}" is not an order name (orders/<id>)`);
  return name;
}

/** Firestore values as a person reads them: timestamps as ISO strings. */
function readable(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value.toISOString();
  if (typeof (value as { toDate?: unknown }).toDate === 'function') return (value as { toDate(): Date }).toDate().toISOString();
  if (Array.isArray(value)) return value.map(readable);
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, readable(inner)]));
}

async function show(order: string): Promise<number> {
  const ref = relationRef(order);
  const snapshot = await ref.get();
  if (!snapshot.exists) {
    console.error(`ops: ${order} has no relation (${ref.path})`);
    return 1;
  }
  const history = (await ref.collection(TRANSITIONS).get()).docs
    .map((doc): Record<string, unknown> => ({ id: doc.id, ...(readable(doc.data()) as Record<string, unknown>) }))
    .sort((a, b) => String(a.claimedAt ?? a.at ?? '').localeCompare(String(b.claimedAt ?? b.at ?? '')));
  console.log(JSON.stringify({ relation: readable(snapshot.data()), history }, null, 2));
  return 0;
}

async function retry(order: string, reason: string | undefined, by: string | undefined): Promise<number> {
  if (!reason?.trim()) throw new UsageError('retry needs --reason "…": what you checked or fixed');
  const who = operator(by);
  const { approvedAttempt } = await retryRelation(relationRef(order), { who, why: reason }, new Date());
  console.log(
    `${order}: flag cleared by ${who}${approvedAttempt ? `; attempt ${approvedAttempt} approved, so the step has a fresh budget` : ''}. The trigger runs the step again now.`,
  );
  return 0;
}

function operator(by: string | undefined): string {
  return by?.trim() || process.env.USER || os.userInfo().username;
}

async function flip(paused: boolean, reason: string | undefined, by: string | undefined): Promise<number> {
  const command = paused ? 'pause' : 'resume';
  if (!reason?.trim()) throw new UsageError(`${command} needs --reason "…": why, for whoever reads the switch next`);
  const who = operator(by);
  const result = await setKillSwitch(paused, { who, why: reason }, new Date());
  const where = killSwitchRef().path;
  if (result === 'unchanged') console.log(`${where}: already ${paused ? 'paused' : 'running'}; nothing changed.`);
  else if (paused)
    console.log(`${where}: paused by ${who}. Nothing calls the food service once every instance has read it (PAUSE_CHECK_SECONDS).`);
  else console.log(`${where}: resumed by ${who}. The next poll catches up on what the pause held up.`);
  return 0;
}

async function showSwitch(): Promise<number> {
  const state = await readKillSwitch();
  console.log(JSON.stringify({ document: killSwitchRef().path, ...(readable(state) as Record<string, unknown>) }, null, 2));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let values: { project?: string; reason?: string; by?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { project: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    console.error(`ops: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help || positionals.length === 0) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const project = values.project ?? process.env.GCLOUD_PROJECT ?? defaultProject();
  if (!project) {
    console.error('ops: no project: pass --project or set GCLOUD_PROJECT');
    return 2;
  }
  process.env.GCLOUD_PROJECT = project;
  const [command, target] = positionals;
  try {
    switch (command) {
      case 'show':
        return await show(orderName(target));
      case 'retry':
        return await retry(orderName(target), values.reason, values.by);
      case 'pause':
      case 'resume':
        if (target) throw new UsageError(`${command} takes no order`);
        return await flip(command === 'pause', values.reason, values.by);
      case 'switch':
        return await showSwitch();
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`ops: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof RepairRefused) {
      console.error(`ops: refused: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await db()
      .terminate()
      .catch(() => undefined);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`ops: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
