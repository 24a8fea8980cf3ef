// The Firebase project folder one `npm start` runs in: a generated
// firebase.json, passed to the CLI with --config, beside links to the
// repository's rules, indexes and functions build, and the functions' local
// params (.env.local) and secrets (.secret.local).
//
// Why a folder of its own: firebase-tools takes the folder of --config as the
// project root and resolves every path of the config from there, refusing
// paths that leave it; and every run needs its own .env.local (its own
// simulator's address, poll interval and faults), so two runs, a developer's
// and the tests', never read each other's. The repository's firebase.json and
// functions/.env* stay as a plain `firebase emulators:start` reads them.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { emulatorSecrets, writeDotenv } from '../food-service/src/dotenv';
import { freePort } from '../functions/test/helpers/firestore-emulator';
import type { EmulatorTools } from './google/check';

export const ROOT = path.resolve(__dirname, '..');
export const FUNCTIONS_DIR = path.join(ROOT, 'functions');

/** firebase.json, as far as this script reads and rewrites it. */
export interface FirebaseJson {
  emulators?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * The emulator project (`project`, or .firebaserc's default: a demo project, so no account, and no real
 * service can be reached through it) and the repository's firebase.json.
 */
export function readProjectConfig(root: string = ROOT, project?: string) {
  const rc = JSON.parse(fs.readFileSync(path.join(root, '.firebaserc'), 'utf8')) as {
    projects?: Record<string, string>;
  };
  const projectId = project ?? rc.projects?.default;
  // A real project here would let emulated functions reach production services that are not emulated.
  if (!projectId?.startsWith('demo-')) {
    throw new Error(
      `.firebaserc's default project must be a demo- project for the emulators, got "${projectId}"; add real projects under another alias (firebase use --add)`,
    );
  }
  const firebaseJson = JSON.parse(
    fs.readFileSync(path.join(root, 'firebase.json'), 'utf8'),
  ) as FirebaseJson;
  if (!emulatorSettings(firebaseJson, 'functions')?.port)
    throw new Error('firebase.json has no emulators.functions.port');
  return { projectId, firebaseJson };
}

interface EmulatorSettings {
  host?: string;
  port?: number;
  enabled?: boolean;
  websocketPort?: number;
}

function emulatorSettings(config: FirebaseJson, name: string): EmulatorSettings | undefined {
  const value = config.emulators?.[name];
  return typeof value === 'object' && value !== null ? (value as EmulatorSettings) : undefined;
}

// ---- ports ---------------------------------------------------------------------

/** Every port one run listens on: the emulators', the Firestore emulator's websocket and the simulator's. */
export interface RunPorts {
  /** Emulator name → port, for every emulator in firebase.json. */
  emulators: Record<string, number>;
  /** The Firestore emulator's websocket for the Emulator UI; firebase-tools picks one when absent. */
  firestoreWebsocket?: number;
  simulator: number;
  simulatorStats: number;
}

export const SIMULATOR_PORTS = { port: 9000, statsPort: 9001 } as const;

/** The ports firebase.json fixes, and the simulator's usual ones. */
export function fixedPorts(config: FirebaseJson): RunPorts {
  const emulators: Record<string, number> = {};
  for (const name of Object.keys(config.emulators ?? {})) {
    const port = emulatorSettings(config, name)?.port;
    if (port !== undefined) emulators[name] = port;
  }
  return { emulators, simulator: SIMULATOR_PORTS.port, simulatorStats: SIMULATOR_PORTS.statsPort };
}

/**
 * Free loopback ports for everything, distinct from each other, so a run can
 * go beside another (a developer's `npm start` and the tests'). A port
 * is free when asked; another program could still take it before the
 * emulators bind it, which they then report as "Port … is not open".
 */
export async function freePorts(config: FirebaseJson): Promise<RunPorts> {
  const taken = new Set<number>();
  const next = async (): Promise<number> => {
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    return port;
  };
  const emulators: Record<string, number> = {};
  for (const name of Object.keys(fixedPorts(config).emulators)) emulators[name] = await next();
  return {
    emulators,
    firestoreWebsocket: await next(),
    simulator: await next(),
    simulatorStats: await next(),
  };
}

// ---- the generated firebase.json ------------------------------------------------

/**
 * The repository's firebase.json with this run's ports, the Emulator UI on
 * exactly when its bundle is there (`ui`: firebase.json keeps it off, since an
 * offline download would abort the whole suite), and nothing that is missing
 * (`without`, so `emulators:start` does not try to download them).
 */
export function emulatorsConfig(
  config: FirebaseJson,
  choices: { ports: RunPorts; ui: boolean; without: readonly string[] },
): FirebaseJson {
  const emulators: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config.emulators ?? {})) {
    if (choices.without.includes(name)) continue;
    const port = choices.ports.emulators[name];
    emulators[name] =
      port === undefined || typeof value !== 'object'
        ? value
        : { ...(value as EmulatorSettings), port };
  }
  emulators.ui = { ...emulatorSettings({ emulators }, 'ui'), enabled: choices.ui };
  if (choices.ports.firestoreWebsocket !== undefined && typeof emulators.firestore === 'object') {
    emulators.firestore = {
      ...(emulators.firestore as EmulatorSettings),
      websocketPort: choices.ports.firestoreWebsocket,
    };
  }
  return { ...config, emulators };
}

// ---- functions/.env.local and functions/.secret.local ----------------------

/** The run's own params (every other param has its default in functions/.env), and a value for every secret. */
export type LocalConfigValues = ReturnType<typeof localValues>;

/**
 * Writes the functions' local config where the Firebase CLI looks for it in
 * the emulator, over the defaults of functions/.env (linked beside them):
 * params in .env.local, secrets in .secret.local. Returns the files and the
 * name of every param and secret they give a value.
 */
export function writeFunctionsConfig(functionsDir: string, values: LocalConfigValues) {
  const files = {
    envFile: path.join(functionsDir, '.env.local'),
    secretFile: path.join(functionsDir, '.secret.local'),
  };
  writeDotenv(files.envFile, values.params, 0o644);
  writeDotenv(files.secretFile, values.secrets, 0o600);
  const defaults =
    fs.readFileSync(path.join(functionsDir, '.env'), 'utf8').match(/^[A-Z_][A-Z0-9_]*(?==)/gm) ??
    [];
  return {
    ...files,
    names: [
      ...new Set([...defaults, ...Object.keys(values.params), ...Object.keys(values.secrets)]),
    ],
  };
}

/** SERVICE_ACCOUNT's and OPS_INVOKER's defaults name the project, which only the CLI resolves at deploy; locally they are just names. */
export const LOCAL_SERVICE_ACCOUNT =
  'food-orchestrator@demo-food-orchestrator.iam.gserviceaccount.com';
export const LOCAL_OPS_INVOKER =
  'food-orchestrator-ops@demo-food-orchestrator.iam.gserviceaccount.com';

/** The params that point the functions at this run's simulator, and the secrets that let them trust it. */
export function localValues(
  address: string,
  pollIntervalSeconds: number,
  caPem: string,
  more: Record<string, string> = {},
) {
  return {
    params: {
      FOOD_SERVICE_ADDRESS: address,
      POLL_INTERVAL_SECONDS: String(pollIntervalSeconds),
      // The emulators run every function as the developer; the account is only named.
      SERVICE_ACCOUNT: LOCAL_SERVICE_ACCOUNT,
      OPS_INVOKER: LOCAL_OPS_INVOKER,
      ...more,
    },
    secrets: emulatorSecrets(caPem),
  };
}

// ---- the folder ------------------------------------------------------------------

/** What the deployable package holds at run time, and its params' defaults; linked, so the emulator runs the real build. */
const FUNCTIONS_ENTRIES = ['package.json', 'lib', 'proto', 'node_modules', '.env'];
/** Files firebase.json names, linked so the emulators read the repository's own. */
const PROJECT_FILES = ['firestore.rules', 'firestore.indexes.json'];

export type RunDirectory = ReturnType<typeof createRunDirectory>;

/**
 * A fresh folder under `parent` holding the generated firebase.json (configFile, for --config),
 * .firebaserc, links to the rules, the indexes, the functions build and its
 * .env, and the run's own .env.local and .secret.local.
 */
export function createRunDirectory(
  parent: string,
  config: FirebaseJson,
  values: LocalConfigValues,
  root: string = ROOT,
) {
  fs.mkdirSync(parent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(parent, 'emulators-'));
  const functionsDir = path.join(dir, 'functions');
  fs.mkdirSync(functionsDir);
  for (const entry of FUNCTIONS_ENTRIES)
    fs.symlinkSync(path.join(root, 'functions', entry), path.join(functionsDir, entry));
  for (const file of PROJECT_FILES) fs.symlinkSync(path.join(root, file), path.join(dir, file));
  fs.copyFileSync(path.join(root, '.firebaserc'), path.join(dir, '.firebaserc'));
  const configFile = path.join(dir, 'firebase.json');
  fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const files = writeFunctionsConfig(functionsDir, values);
  return { dir, configFile, functionsDir, ...files };
}

// ---- the CLI's environment -------------------------------------------------------

/**
 * Inherited variables that would point the CLI or the functions elsewhere: a
 * running emulator (a test's, another run's), or a project.
 */
const POINTING_ELSEWHERE =
  /_EMULATOR_HOST$|^FIREBASE_EMULATOR_HUB$|^GCLOUD_PROJECT$|^GOOGLE_CLOUD_PROJECT$|^FIREBASE_CONFIG$/;

/**
 * The Firebase CLI's environment: the Java found first on PATH (firebase-tools
 * runs plain `java`, and refuses one older than 21) and as JAVA_HOME (the
 * Pub/Sub emulator's launcher reads it), and the emulators found locally as
 * the binary overrides firebase-tools honours, so it downloads nothing.
 */
export function cliEnvironment(
  base: NodeJS.ProcessEnv,
  tools: EmulatorTools,
  paramNames: readonly string[],
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  // Params and secrets come from the run folder's files only.
  for (const name of Object.keys(env))
    if (POINTING_ELSEWHERE.test(name) || paramNames.includes(name)) delete env[name];
  if (tools.java) {
    env.JAVA_HOME = path.dirname(tools.java.binDir);
    env.PATH = [tools.java.binDir, base.PATH].filter(Boolean).join(path.delimiter);
  }
  if (tools.firestore) env.FIRESTORE_EMULATOR_BINARY_PATH = tools.firestore.path;
  if (tools.pubsub) env.PUBSUB_EMULATOR_BINARY_PATH = tools.pubsub.path;
  // The CLI is pinned in package.json; its "npm install -g" update notice would mislead.
  env.NO_UPDATE_NOTIFIER = '1';
  // A demo project needs no Google credentials: no probe of the GCE metadata server for them.
  env.METADATA_SERVER_DETECTION = 'none';
  // As `npm start` does: grpc-js sets the TLS server name to the IP it dials, which Node deprecates
  // (DEP0123) in every function worker; the certificate is still checked against that IP.
  env.NODE_OPTIONS = [base.NODE_OPTIONS, '--disable-warning=DEP0123'].filter(Boolean).join(' ');
  return env;
}
