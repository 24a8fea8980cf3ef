// `npm run setup -- --project ID`: what a project needs before and after the
// first `npm run deploy` (docs/DEPLOY.md), as gcloud commands it prints and
// runs one by one: the two service accounts, their role bindings, the three
// secrets (asking for what is missing), the TTL policies, and, once the
// functions exist, the invoker grants of the event- and task-triggered ones.
// It also writes functions/.env.<projectId>, the one env file name the CLI
// takes for a project. Every step is idempotent: it looks first (a
// read-only gcloud command) and acts only when something is missing, so it
// can be run again after the first deploy, or to check a project.
// `--dry-run` prints the commands and runs nothing, not even the looks.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline/promises';
import { parseArgs } from 'node:util';

import { describeError, STRING_PARAMS } from '../functions/src/api';

const ROOT = path.resolve(__dirname, '..');
const SECRETS = ['FOOD_SERVICE_CA', 'FOOD_SERVICE_CLIENT_CERT', 'FOOD_SERVICE_CLIENT_KEY'] as const;
/** What the functions' account does in the project (docs/DEPLOY.md has why each). */
const PROJECT_ROLES = [
  'roles/datastore.user',
  'roles/eventarc.eventReceiver',
  'roles/cloudtasks.enqueuer',
];
/** The functions whose invoker is granted by hand once they exist: deploys leave their bindings alone. */
const INVOKED_BY_THE_ACCOUNT = ['advanceRelation', 'forgetHistory', 'observeShard', 'pollSlot'];
const GCLOUD_MS = 300_000;

export const USAGE = `usage: npm run setup -- --project ID [flags]

Prepares a Firebase project for npm run deploy, printing each gcloud command
before it runs it; every step looks first and acts only where something is
missing, so run it again after the first deploy (for the invoker grants).

  --project ID                the project (required; .firebaserc is left on the demo project)
  --region R                  FUNCTIONS_REGION (default: functions/.env.<ID>'s, else us-central1)
  --food-service HOST:PORT    FOOD_SERVICE_ADDRESS (asked for when missing)
  --ca FILE                   the PEM of the food service's CA, for the FOOD_SERVICE_CA secret (asked for when missing)
  --client-cert FILE          mTLS: the client certificate and key (default: none)
  --client-key FILE
  --deployer MEMBER           who deploys, e.g. user:you@example.com (default: gcloud's account)
  --operator MEMBER           who may act as the operators' account (repeatable), e.g. user:alice@example.com
  --dry-run                   print the commands and change nothing
  -h, --help                  show this help
`;

export class UsageError extends Error {}

export interface SetupOptions {
  project: string;
  region: string | undefined;
  foodService: string | undefined;
  ca: string | undefined;
  clientCert: string | undefined;
  clientKey: string | undefined;
  deployer: string | undefined;
  operators: string[];
  dryRun: boolean;
}

const MEMBER = /^(user|group|serviceAccount|domain):\S+$/;

export function parseSetup(argv: readonly string[]): SetupOptions | 'help' {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        project: { type: 'string' },
        region: { type: 'string' },
        'food-service': { type: 'string' },
        ca: { type: 'string' },
        'client-cert': { type: 'string' },
        'client-key': { type: 'string' },
        deployer: { type: 'string' },
        operator: { type: 'string', multiple: true },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(describeError(error));
  }
  if (values.help) return 'help';
  const text = (name: string) => values[name] as string | undefined;
  const project = text('project');
  if (!project || !/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project))
    throw new UsageError(`--project needs a project id, got "${project ?? ''}"`);
  if (project.startsWith('demo-'))
    throw new UsageError(
      `--project ${project} is a demo project: it has no cloud resources to set up`,
    );
  const region = text('region');
  if (
    region !== undefined &&
    !new RegExp(STRING_PARAMS.FUNCTIONS_REGION.validationRegex).test(region)
  ) {
    throw new UsageError(`--region must be a Cloud Functions region, got "${region}"`);
  }
  const foodService = text('food-service');
  if (
    foodService !== undefined &&
    !new RegExp(STRING_PARAMS.FOOD_SERVICE_ADDRESS.validationRegex).test(foodService)
  ) {
    throw new UsageError(
      `--food-service must be host:port, and not loopback, got "${foodService}"`,
    );
  }
  if ((text('client-cert') === undefined) !== (text('client-key') === undefined)) {
    throw new UsageError('--client-cert and --client-key go together (mTLS)');
  }
  const operators = (values.operator as string[] | undefined) ?? [];
  for (const member of [...operators, ...(text('deployer') ? [text('deployer') as string] : [])]) {
    if (!MEMBER.test(member))
      throw new UsageError(
        `a member is user:, group:, serviceAccount: or domain: and a name, got "${member}"`,
      );
  }
  return {
    project,
    region,
    foodService,
    ca: text('ca'),
    clientCert: text('client-cert'),
    clientKey: text('client-key'),
    deployer: text('deployer'),
    operators,
    dryRun: values['dry-run'] === true,
  };
}

/** One command of the setup: argv for gcloud, and the data it reads on stdin, if any. */
export interface Command {
  args: string[];
  stdin?: string;
}

/** How the setup talks to gcloud and to the person: replaced in the test. */
export interface Io {
  /** Runs gcloud; resolves with its exit status and output. */
  gcloud(command: Command): { status: number; stdout: string; stderr: string };
  ask(question: string): Promise<string>;
  log(line: string): void;
}

const shellWord = (word: string) =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
export const show = ({ args, stdin }: Command) =>
  `${stdin !== undefined ? `printf ${shellWord(stdin)} | ` : ''}gcloud ${args.map(shellWord).join(' ')}`;

/** The env file the CLI reads at deploy for this project; an alias's file beside it would fail every deploy. */
export function projectEnvFile(project: string, root = ROOT): string {
  return path.join(root, 'functions', `.env.${project}`);
}

function readDotenv(file: string): Record<string, string> {
  if (!fs.existsSync(file)) return {};
  const entries = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim()))
    .filter((match): match is RegExpExecArray => match !== null);
  return Object.fromEntries(entries.map(([, key, value]) => [key, value]));
}

/** Aliases of `project` in .firebaserc whose functions/.env.<alias> exists: the CLI refuses both files at once. */
function aliasFiles(project: string, root: string): string[] {
  const rcFile = path.join(root, '.firebaserc');
  const rc = fs.existsSync(rcFile)
    ? (JSON.parse(fs.readFileSync(rcFile, 'utf8')) as { projects?: Record<string, string> })
    : {};
  return Object.entries(rc.projects ?? {})
    .filter(([alias, id]) => id === project && alias !== project)
    .map(([alias]) => path.join(root, 'functions', `.env.${alias}`))
    .filter((file) => fs.existsSync(file));
}

export async function setup(options: SetupOptions, io: Io, root = ROOT): Promise<number> {
  const { project, dryRun } = options;
  const p = `--project=${project}`;
  const functionsAccount = `food-orchestrator@${project}.iam.gserviceaccount.com`;
  const opsAccount = `food-orchestrator-ops@${project}.iam.gserviceaccount.com`;
  let failed = 0;
  /** Prints the command and runs it (not in a dry run); a failure is said and counted, and the next step still runs. */
  const act = (command: Command): boolean => {
    io.log(`$ ${show(command)}`);
    if (dryRun) return true;
    const result = io.gcloud(command);
    if (result.status === 0) return true;
    failed++;
    io.log(
      `  failed (exit ${result.status}): ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
    );
    return false;
  };
  /** A read-only look, printed as it runs (never in a dry run). */
  const look = (command: Command) => {
    io.log(`$ ${show(command)}   # look`);
    return io.gcloud(command);
  };
  /** Whether a look finds nothing; in a dry run nothing is known, so the action is printed as if needed. */
  const missing = (command: Command): boolean => dryRun || look(command).status !== 0;

  const envFile = projectEnvFile(project, root);
  const clashing = aliasFiles(project, root);
  if (clashing.length > 0) {
    io.log(
      `setup: ${clashing.join(', ')} would sit beside ${envFile}, and the CLI refuses both: merge it into ${envFile} and remove it`,
    );
    return 1;
  }
  const env = readDotenv(envFile);
  const foodService =
    options.foodService ??
    env.FOOD_SERVICE_ADDRESS ??
    (dryRun ? '<host:port>' : await io.ask('The food service address (host:port): '));
  if (
    !dryRun &&
    !new RegExp(STRING_PARAMS.FOOD_SERVICE_ADDRESS.validationRegex).test(foodService)
  ) {
    io.log(`setup: "${foodService}" is not a food-service address (host:port, not loopback)`);
    return 2;
  }

  io.log(
    `# 1. The functions' account and the operators' account (${functionsAccount}, ${opsAccount})`,
  );
  for (const [name, display] of [
    ['food-orchestrator', 'food orchestrator functions'],
    ['food-orchestrator-ops', 'food orchestrator operators (invokes pollFoodServiceNow and ops)'],
  ]) {
    const email = `${name}@${project}.iam.gserviceaccount.com`;
    if (
      missing({ args: ['iam', 'service-accounts', 'describe', email, p, '--format=value(email)'] })
    ) {
      act({ args: ['iam', 'service-accounts', 'create', name, p, `--display-name=${display}`] });
    }
  }
  io.log('# 2. Role bindings (adding one that exists changes nothing)');
  for (const role of PROJECT_ROLES) {
    act({
      args: [
        'projects',
        'add-iam-policy-binding',
        project,
        `--member=serviceAccount:${functionsAccount}`,
        `--role=${role}`,
        '--condition=None',
      ],
    });
  }
  let deployer = options.deployer;
  if (!deployer && !dryRun) {
    const account = look({ args: ['config', 'get-value', 'account'] }).stdout.trim();
    deployer = account
      ? `${account.endsWith('gserviceaccount.com') ? 'serviceAccount' : 'user'}:${account}`
      : undefined;
  }
  // Whoever deploys acts as the account, and so does the poller itself (it names it on the tasks it enqueues).
  for (const member of [deployer ?? '<deployer>', `serviceAccount:${functionsAccount}`]) {
    act({
      args: [
        'iam',
        'service-accounts',
        'add-iam-policy-binding',
        functionsAccount,
        p,
        `--member=${member}`,
        '--role=roles/iam.serviceAccountUser',
      ],
    });
  }
  // Operators mint the operators' account's ID token: every deploy grants it (and only it) the invoker role on the private functions.
  // Who the operator is, the ops API takes from their own ID token (docs/OPERATIONS.md).
  for (const member of options.operators) {
    act({
      args: [
        'iam',
        'service-accounts',
        'add-iam-policy-binding',
        opsAccount,
        p,
        `--member=${member}`,
        '--role=roles/iam.serviceAccountTokenCreator',
      ],
    });
  }

  io.log(
    '# 3. The secrets (a value is set only where the secret has none yet; a new value is a rotation, docs/OPERATIONS.md)',
  );
  const files: Record<(typeof SECRETS)[number], string | undefined> = {
    FOOD_SERVICE_CA: options.ca,
    FOOD_SERVICE_CLIENT_CERT: options.clientCert,
    FOOD_SERVICE_CLIENT_KEY: options.clientKey,
  };
  for (const name of SECRETS) {
    if (!missing({ args: ['secrets', 'describe', name, p, '--format=value(name)'] })) continue;
    let file = files[name];
    if (name === 'FOOD_SERVICE_CA' && !file)
      file = dryRun ? '<ca.pem>' : await io.ask("The food service's CA certificate (a PEM file): ");
    if (file && !dryRun && !fs.existsSync(file)) {
      io.log(`setup: ${file} does not exist; ${name} is left unset`);
      failed++;
      continue;
    }
    // Secret Manager refuses empty values: without mTLS the client pair is "none".
    const source = file
      ? { args: [`--data-file=${file}`] }
      : { args: ['--data-file=-'], stdin: 'none' };
    act({
      args: ['secrets', 'create', name, p, '--replication-policy=automatic', ...source.args],
      ...(source.stdin ? { stdin: source.stdin } : {}),
    });
  }

  io.log(
    '# 4. Retention: the TTL policy on expireAt (docs/OPERATIONS.md, "Retention"); a relation\'s history goes with it',
  );
  act({
    args: [
      'firestore',
      'fields',
      'ttls',
      'update',
      'expireAt',
      '--collection-group=relations',
      '--enable-ttl',
      p,
      '--async',
    ],
  });

  const region = options.region ?? env.FUNCTIONS_REGION ?? STRING_PARAMS.FUNCTIONS_REGION.default;
  const values = {
    ...env,
    FOOD_SERVICE_ADDRESS: foodService,
    FUNCTIONS_REGION: region,
    SERVICE_ACCOUNT: functionsAccount,
    OPS_INVOKER: opsAccount,
  };
  io.log(
    `# 5. ${path.relative(root, envFile)}: the params a deploy of ${project} cannot default (the rest are in functions/.env)`,
  );
  const content = `${Object.entries(values)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;
  for (const line of content.trimEnd().split('\n')) io.log(`  ${line}`);
  if (!dryRun) fs.writeFileSync(envFile, content);

  io.log(
    '# 6. Once the functions exist: the invoker role for the account on the functions it invokes',
  );
  for (const name of INVOKED_BY_THE_ACCOUNT) {
    if (
      !dryRun &&
      look({
        args: ['functions', 'describe', name, `--region=${region}`, p, '--format=value(name)'],
      }).status !== 0
    ) {
      io.log(
        `  ${name} is not deployed yet: run npm run deploy -- --project ${project}, then npm run setup again`,
      );
      continue;
    }
    act({
      args: [
        'functions',
        'add-invoker-policy-binding',
        name,
        `--region=${region}`,
        `--member=serviceAccount:${functionsAccount}`,
        p,
      ],
    });
  }
  io.log(
    failed > 0
      ? `setup: ${failed} step(s) failed (above); fix them and run it again`
      : dryRun
        ? 'setup: a dry run, nothing was changed'
        : `setup: done. Deploy with npm run deploy -- --project ${project}`,
  );
  return failed > 0 ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  let options: SetupOptions | 'help';
  try {
    options = parseSetup(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`setup: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const prompt = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await setup(options, {
      gcloud: ({ args, stdin }) => {
        const result = spawnSync('gcloud', args, {
          input: stdin,
          encoding: 'utf8',
          timeout: GCLOUD_MS,
        });
        if (result.error)
          return { status: 127, stdout: '', stderr: `gcloud: ${result.error.message}` };
        return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
      },
      ask: (question) => prompt.question(question),
      log: (line) => console.log(line),
    });
  } finally {
    prompt.close();
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
