// `npm run ops -- <command>`: an operator's view of relations, and the
// supported repairs. A standalone admin tool: it talks to Firestore with a
// plain @google-cloud/firestore client (no Firebase app), handed to the same
// store and orchestration code the functions run (store/db.ts,
// useFirestore): to the emulator named by FIRESTORE_EMULATOR_HOST, or to a
// real project with Application Default Credentials
// (`gcloud auth application-default login`).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import {
  BadRequest,
  db,
  describeError,
  firestoreNow,
  killSwitchRef,
  listRelations,
  listRequestOf,
  loadRetentionDays,
  loadStuckThresholds,
  loadWatchSettings,
  orderReport,
  parseOrderName,
  parseHandledFlag,
  plainJson,
  pollerStatus,
  readHealthSummary,
  readKillSwitch,
  relationRef,
  RepairRefused,
  resolveOrphan,
  retryRelation,
  setKillSwitch,
  standaloneFirestore,
  useFirestore,
  type ListRequest,
  type PollerStatus,
  type RelationView,
} from '../functions/src/api';

export const USAGE = `usage: npm run ops -- <command> [flags]

  list [--flagged] [--orphans] [--stuck] [--stage S] [--limit N] [--page-token T] [--json]
                                        relations that need a person: flagged, with possible orphans nobody
                                        resolved, or stuck in their stage past its threshold (STUCK_*_SECONDS)
  show <order>                          the relation of orders/<id> (or <id>), what needs a person, and its
                                        history, oldest first
  retry <order> --reason "…" [--flag CODE[@AT]] [--by who]
                                        clear a flag so the step runs again; a create whose attempts ran
                                        out gets a fresh budget. Refused while an attempt holds the step,
                                        or when --flag is not the relation's flag (its code, and the
                                        error.at that show prints); an overwrite flag (CANCEL_OVERWRITTEN,
                                        ORDER_OVERWRITTEN) must be named with its time, CODE@AT. On an
                                        order that ended DELIVERED or REJECTED, refused until 845 s after
                                        the end; a flag raised before then is raised anew, and the
                                        refusal names the new CODE@AT to check and retry with.
  resolve-orphan <order> <attempt-or-name> --note "…" [--by who]
                                        mark a possible orphan (PREPARATION-2, or kitchenorders/<id>) as
                                        reconciled with the food service. Refused if it is not there or
                                        was resolved already.
  health                                the poller judged now (its heartbeat: last success, last failure,
                                        orders it cannot record, alerts), then the last stuck-order
                                        report's summary
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
    const rc = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', '.firebaserc'), 'utf8'),
    ) as { projects?: { default?: string } };
    return rc.projects?.default;
  } catch {
    return undefined;
  }
}

function orderName(value: string | undefined): string {
  if (!value) throw new UsageError('name the order: orders/<id> or <id>');
  try {
    return parseOrderName(value);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

async function show(order: string): Promise<number> {
  const status = await orderReport(order, new Date(), loadStuckThresholds());
  if (!status) {
    console.error(`ops: ${order} has no relation (${relationRef(order).path})`);
    return 1;
  }
  console.log(JSON.stringify(status, null, 2));
  return 0;
}

/** One line per problem: order, stage, since, reason and what to look at. */
function listLines(views: RelationView[]): string[] {
  return views.flatMap((view) => {
    const order = String(view.order ?? `orders/${view.id}`);
    const stage = String(view.stage ?? '?');
    if (view.health.length === 0)
      return [
        `${order}  ${stage.padEnd(11)}  ${view.times.stageSince ?? '-'}  (nothing needs a person)`,
      ];
    return view.health.map(
      (h) => `${order}  ${stage.padEnd(11)}  since ${h.since}  ${h.reason}: ${h.detail}`,
    );
  });
}

async function list(request: ListRequest, asJson: boolean): Promise<number> {
  let page;
  try {
    page = await listRelations(request, new Date(), loadStuckThresholds());
  } catch (error) {
    if (error instanceof BadRequest) throw new UsageError(error.message);
    throw error;
  }
  if (asJson) {
    console.log(JSON.stringify(page, null, 2));
    return 0;
  }
  const lines = listLines(page.orders);
  console.log(lines.length ? lines.join('\n') : 'no relation matches');
  if (page.nextPageToken) console.log(`more: add --page-token ${page.nextPageToken}`);
  return 0;
}

async function retry(
  order: string,
  reason: string | undefined,
  by: string | undefined,
  flag: string | undefined,
): Promise<number> {
  if (!reason?.trim()) throw new UsageError('retry needs --reason "…": what you checked or fixed');
  const who = operator(by);
  const handled = flag === undefined ? undefined : parseHandledFlag(flag);
  if (typeof handled === 'string') throw new UsageError(handled);
  const { approvedAttempt } = await retryRelation(
    relationRef(order),
    { who, why: reason },
    await firestoreNow(),
    loadRetentionDays(),
    handled,
  );
  console.log(
    `${order}: flag cleared by ${who}${approvedAttempt ? `; attempt ${approvedAttempt} approved, so the step has a fresh budget` : ''}. The trigger runs the step again now.`,
  );
  return 0;
}

async function resolve(
  order: string,
  which: string | undefined,
  note: string | undefined,
  by: string | undefined,
): Promise<number> {
  if (!which)
    throw new UsageError(
      'resolve-orphan needs the possible orphan: its attempt (PREPARATION-2) or its name (kitchenorders/<id>)',
    );
  if (!note?.trim())
    throw new UsageError(
      'resolve-orphan needs --note "…": what you found and did on the food service',
    );
  const who = operator(by);
  const { orphan, open } = await resolveOrphan(
    relationRef(order),
    which,
    { who, why: note },
    await firestoreNow(),
    loadRetentionDays(),
  );
  console.log(
    `${order}: possible orphan of ${orphan.step} attempt ${orphan.attempt}${orphan.name ? ` (${orphan.name})` : ''} resolved by ${who}; ${open} still open.`,
  );
  return 0;
}

async function health(): Promise<number> {
  const [summary, poller] = await Promise.all([
    readHealthSummary(),
    pollerStatus(new Date(), loadWatchSettings(), false),
  ]);
  console.log(pollerLine(poller));
  console.log(
    summary ? JSON.stringify(plainJson(summary), null, 2) : 'no stuck-order report has run yet',
  );
  return 0;
}

/** The poller in one line, then one per alert: what a person reads first. */
function pollerLine(poller: PollerStatus): string {
  const success = poller.lastSuccessAt
    ? `last success ${poller.lastSuccessAt.toISOString()}`
    : 'no success recorded';
  const failure = poller.lastFailure
    ? `; ${poller.consecutiveFailures} failed since, last ${poller.lastFailure.at.toISOString()} ${poller.lastFailure.code}: ${poller.lastFailure.message}`
    : '';
  const unrecorded = poller.unrecorded
    ? `; ${poller.unrecorded} order(s) cannot be recorded: ${poller.unrecordedSample.map((u) => `${u.order} (${u.reason})`).join(', ')}`
    : '';
  return [
    `poller: ${poller.state} (${success}${failure}${unrecorded})`,
    ...poller.alerts.map((a) => `  ALERT ${a.kind}: ${a.detail}`),
  ].join('\n');
}

interface Flags {
  project?: string;
  reason?: string;
  flag?: string;
  note?: string;
  by?: string;
  help?: boolean;
  flagged?: boolean;
  orphans?: boolean;
  stuck?: boolean;
  stage?: string;
  limit?: string;
  'page-token'?: string;
  json?: boolean;
}

function listRequest(values: Flags): ListRequest {
  const { stage, limit, flagged, orphans, stuck } = values;
  try {
    return listRequestOf({
      stage,
      limit,
      flagged,
      orphans,
      stuck,
      pageToken: values['page-token'],
    });
  } catch (error) {
    if (error instanceof BadRequest) throw new UsageError(error.message);
    throw error;
  }
}

function operator(by: string | undefined): string {
  return by?.trim() || process.env.USER || os.userInfo().username;
}

async function flip(
  paused: boolean,
  reason: string | undefined,
  by: string | undefined,
): Promise<number> {
  const command = paused ? 'pause' : 'resume';
  if (!reason?.trim())
    throw new UsageError(`${command} needs --reason "…": why, for whoever reads the switch next`);
  const who = operator(by);
  const result = await setKillSwitch(paused, { who, why: reason }, await firestoreNow());
  const where = killSwitchRef().path;
  if (result === 'unchanged')
    console.log(`${where}: already ${paused ? 'paused' : 'running'}; nothing changed.`);
  else if (paused)
    console.log(
      `${where}: paused by ${who}. Nothing calls the food service once every instance has read it (PAUSE_CHECK_SECONDS).`,
    );
  else
    console.log(`${where}: resumed by ${who}. The next poll catches up on what the pause held up.`);
  return 0;
}

async function showSwitch(): Promise<number> {
  const state = await readKillSwitch();
  console.log(
    JSON.stringify(
      { document: killSwitchRef().path, ...(plainJson(state) as Record<string, unknown>) },
      null,
      2,
    ),
  );
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let values: Flags;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        project: { type: 'string' },
        reason: { type: 'string' },
        flag: { type: 'string' },
        note: { type: 'string' },
        by: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        flagged: { type: 'boolean' },
        orphans: { type: 'boolean' },
        stuck: { type: 'boolean' },
        stage: { type: 'string' },
        limit: { type: 'string' },
        'page-token': { type: 'string' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    console.error(`ops: ${describeError(error)}\n\n${USAGE}`);
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
  useFirestore(standaloneFirestore(project));
  const [command, target, which] = positionals;
  try {
    switch (command) {
      case 'list':
        return await list(listRequest(values), values.json === true);
      case 'show':
        return await show(orderName(target));
      case 'retry':
        return await retry(orderName(target), values.reason, values.by, values.flag);
      case 'resolve-orphan':
        return await resolve(orderName(target), which, values.note, values.by);
      case 'health':
        return await health();
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
      console.error(`ops: ${describeError(error)}`);
      process.exit(1);
    },
  );
}
