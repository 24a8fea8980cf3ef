// Configuration as Firebase params, from one table: defineInt, loadConfig(), the tests and the
// README's table derive from it. Values are read when a function runs, never at import time:
// deploy-time discovery has no secrets.
import { isIP } from 'node:net';

import {
  defineInt,
  defineSecret,
  defineString,
  Expression,
  expr,
  projectID,
} from 'firebase-functions/params';

import { worstCaseMs, type RetryPolicy } from './backoff';
import type { PollerWatchSettings, StuckThresholds } from './model/health';
import { CLOCK_SKEW_MS } from './model/update-time';

export interface IntParam {
  default: number;
  min: number;
  max: number;
  /** What it means, for the deploy prompt and the README. */
  description: string;
}

export const INT_PARAMS = {
  POLL_INTERVAL_SECONDS: {
    // The knee of the latency-cost frontier (docs/BENCHMARKS.md, section 6).
    default: 30,
    min: 1,
    max: 3600,
    description:
      'Seconds between polls. Below 60, each minute polls several times while any order is in progress (an idle minute polls once): a pollSlot task per slot, or one held invocation where tasks cannot run; above, invocations without a due poll do nothing. 30 is the knee of the measured latency-cost frontier (docs/BENCHMARKS.md): half the added latency of 60 for about $15 a month more at 1,000 active orders, and no more at idle',
  },
  PAGE_SIZE: { default: 500, min: 1, max: 1000, description: 'ListOrders page size' },
  RPC_DEADLINE_MS: {
    default: 5_000,
    min: 100,
    max: 60_000,
    description: 'Deadline of each food-service read or update, in milliseconds',
  },
  CREATE_DEADLINE_MS: {
    default: 30_000,
    min: 1_000,
    max: 120_000,
    description:
      'Deadline of CreateKitchenOrder and CreateShipment, in milliseconds: longer than reads, since a create that times out may still have happened',
  },
  MAX_CONCURRENCY: {
    default: 32,
    min: 1,
    max: 256,
    description: 'Food-service calls and relation writes a poll keeps in flight at once',
  },
  SHARD_SIZE: {
    default: 2_000,
    min: 5,
    max: 5_000,
    description:
      'Active orders one poll observes itself; above, it splits the relations into shards of this many, each observed by an observeShard task',
  },
  ADVANCE_TIMEOUT_SECONDS: {
    default: 120,
    min: 10,
    max: 540,
    description: 'Timeout of advanceRelation, the trigger that runs one step',
  },
  MAX_AMBIGUOUS_RETRIES: {
    default: 1,
    min: 0,
    max: 5,
    description:
      'Further attempts at a create after attempts that may have created something; beyond that the relation is flagged for a person',
  },
  // The food service moves one status per 10 s, two per stage, and the poller sees it within an
  // interval (60 s at idle): a stage normally takes under 90 s.
  STUCK_NEW_SECONDS: {
    default: 180,
    min: 10,
    max: 86_400,
    description:
      'Seconds an order may stay NEW (no kitchen order yet) before the stuck-order report names it',
  },
  STUCK_PREPARATION_SECONDS: {
    default: 300,
    min: 10,
    max: 86_400,
    description:
      'Seconds an order may stay in PREPARATION (the kitchen cooks) before the stuck-order report names it',
  },
  STUCK_IN_FLIGHT_SECONDS: {
    default: 300,
    min: 10,
    max: 86_400,
    description:
      'Seconds an order may stay IN_FLIGHT (the drone flies) before the stuck-order report names it',
  },
  ADVANCE_MAX_INSTANCES: {
    default: 10,
    min: 1,
    max: 1000,
    description:
      'Most instances of advanceRelation: a burst of writes fans out to no more, so the food service sees at most this many times FOOD_MAX_IN_FLIGHT calls from the triggers',
  },
  ADVANCE_CONCURRENCY: {
    default: 20,
    min: 1,
    max: 1000,
    description:
      'Events one advanceRelation instance runs at once: a step mostly waits on the network, so one instance carries many (runs with 1 CPU)',
  },
  FOOD_MAX_IN_FLIGHT: {
    default: 10,
    min: 1,
    max: 256,
    description:
      'Food-service calls one function instance keeps in flight at once, whatever its invocations ask; a call waits for a slot within its own deadline',
  },
  RETENTION_DAYS: {
    default: 30,
    min: 1,
    max: 3650,
    description:
      'Days a finished relation is kept: it gets expireAt, which a Firestore TTL policy deletes it by, and its history goes with it (forgetHistory); active ones never get it',
  },
  FAULT_RETRY_LIMIT: {
    default: 10,
    min: 1,
    max: 1000,
    description:
      'Polls in a row (a look-up) or tries in a row (a step) that may fail with a fault that usually heals (RESOURCE_EXHAUSTED, INTERNAL, ABORTED, UNKNOWN, CANCELLED) before the relation is flagged for a person',
  },
  POLLER_DOWN_INTERVALS: {
    default: 3,
    min: 1,
    max: 1000,
    description:
      "The stuck-order report alerts poller-down when no poll has succeeded for this many poll intervals (an interval counts as at least a minute, the scheduler's grain)",
  },
  KILL_SWITCH_ALERT_SECONDS: {
    default: 1800,
    min: 60,
    max: 604_800,
    description:
      'The stuck-order report alerts kill-switch-on when the kill switch has been on for longer than this',
  },
  PAUSE_CHECK_SECONDS: {
    default: 10,
    min: 0,
    max: 300,
    description:
      'How long an instance trusts its last read of the kill switch (controls/orchestrator) before reading it again: a pause or resume takes effect within this time',
  },
} as const satisfies Record<string, IntParam>;

export type IntParamName = keyof typeof INT_PARAMS;

/** A param's name in code: POLL_INTERVAL_SECONDS is pollIntervalSeconds. */
type Camel<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<Camel<Tail>>}`
  : Lowercase<S>;

const camel = <S extends string>(name: S): Camel<S> =>
  name.toLowerCase().replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase()) as Camel<S>;

/** The int params' values, by their names in code. */
export type IntSettings = { [Name in IntParamName as Camel<Name>]: number };

export interface StringParam {
  /** null: no default, so the deploy must be given a value. */
  default: string | null;
  /** The values it takes, for the README. */
  format: string;
  /** What it means, for the deploy prompt and the README. */
  description: string;
  /** Checked by the CLI when it prompts, not in .env files: loadConfig() checks those. */
  validationRegex: string;
}

/** gcloud's OAuth client: the audience of a user's `gcloud auth print-identity-token`. */
export const GCLOUD_CLIENT_ID = '32555940559.apps.googleusercontent.com';

export const STRING_PARAMS = {
  FOOD_SERVICE_ADDRESS: {
    default: null,
    format: 'host:port, not loopback outside the emulators',
    description:
      'The food service (gRPC over TLS). No default: a deployed function dialling loopback would reach its own container, so loopback is refused outside the emulators',
    validationRegex:
      '^(?!127\\.|localhost[.:]|0\\.0\\.0\\.0:|\\[::1?\\]:)(\\[[0-9a-fA-F:.]+\\]|[^\\s:\\[\\]]+):\\d{1,5}$',
  },
  FUNCTIONS_REGION: {
    default: 'us-central1',
    format: 'a Cloud Functions region',
    description:
      "Region of every function: pick your Firestore database's location (nam5 or nam7: us-central1, eur3: europe-west1, otherwise the database's own region)",
    validationRegex: '^[a-z]+-[a-z]+[0-9]+$',
  },
  SERVICE_ACCOUNT: {
    // A template; the param's default is an expression the CLI resolves (serviceAccount below).
    default: 'food-orchestrator@<project>.iam.gserviceaccount.com',
    format: 'a service account e-mail',
    description:
      'The identity every function runs as, and that Eventarc and Cloud Scheduler invoke them with: a least-privilege account made for it (docs/DEPLOY.md)',
    validationRegex: '^[a-z0-9-]+@[a-z0-9.-]+\\.gserviceaccount\\.com$',
  },
  OPS_TOKEN_AUDIENCES: {
    // gcloud's own OAuth client: the audience of `gcloud auth print-identity-token` for a user.
    default: GCLOUD_CLIENT_ID,
    format: 'audiences, comma-separated',
    description:
      "The audiences an ID token may name for the ops API to take its e-mail as the operator's, besides the function's own URL (https://<region>-<project>.cloudfunctions.net/ops); add its run.app URL if callers use that (docs/OPERATIONS.md)",
    validationRegex: '^[^\\s,]+(,[^\\s,]+)*$',
  },
  OPS_INVOKER: {
    // A template; the param's default is an expression the CLI resolves (opsInvoker below).
    default: 'food-orchestrator-ops@<project>.iam.gserviceaccount.com',
    format: 'a service account e-mail',
    description:
      'The one identity that may call pollFoodServiceNow and ops: every deploy grants it the invoker role and removes grants made by hand; operators call with its ID token, and the ops API names them from their own (docs/DEPLOY.md)',
    validationRegex: '^[a-z0-9-]+@[a-z0-9.-]+\\.gserviceaccount\\.com$',
  },
} as const satisfies Record<string, StringParam>;

export type StringParamName = keyof typeof STRING_PARAMS;

const describe = (name: IntParamName) =>
  `${INT_PARAMS[name].description} (${INT_PARAMS[name].min}-${INT_PARAMS[name].max})`;
const intParam = (name: IntParamName) =>
  defineInt(name, { default: INT_PARAMS[name].default, description: describe(name) });
const stringParam = (name: StringParamName, fallback?: string | Expression<string>) => {
  const { description, validationRegex, format } = STRING_PARAMS[name];
  return defineString(name, {
    ...(fallback === undefined ? {} : { default: fallback }),
    description,
    input: { text: { validationRegex, validationErrorMessage: `${name} must be ${format}` } },
  });
};

export const foodServiceAddress = stringParam('FOOD_SERVICE_ADDRESS');
export const functionsRegion = stringParam(
  'FUNCTIONS_REGION',
  STRING_PARAMS.FUNCTIONS_REGION.default,
);
// A full e-mail the CLI resolves: the `name@` shorthand reaches the secret grants and the Scheduler
// job as written (firebase-tools 15), where it is not a valid member.
export const serviceAccount = stringParam(
  'SERVICE_ACCOUNT',
  expr`food-orchestrator@${projectID}.iam.gserviceaccount.com`,
);
export const opsTokenAudiences = stringParam(
  'OPS_TOKEN_AUDIENCES',
  STRING_PARAMS.OPS_TOKEN_AUDIENCES.default,
);

export const opsInvoker = stringParam(
  'OPS_INVOKER',
  expr`food-orchestrator-ops@${projectID}.iam.gserviceaccount.com`,
);
/**
 * `invoker` of the private HTTPS functions: every deploy resets their invoker members to this
 * list, so grants made by hand vanish. Typed as strings, a param is written as CEL, resolved at
 * deploy.
 */
export const OPERATORS = [opsInvoker as unknown as string];

/** Where and as whom every function runs: spread into each one's options, so none can miss them. */
export const DEPLOYMENT = { region: functionsRegion, serviceAccount } as const;

/** Every int param, declared so the CLI knows it (deploy prompt, .env). */
export const PARAMS = Object.fromEntries(
  Object.keys(INT_PARAMS).map((name) => [name, intParam(name as IntParamName)]),
) as Record<IntParamName, ReturnType<typeof intParam>>;

export const foodServiceCa = defineSecret('FOOD_SERVICE_CA');
// Secret Manager refuses empty secrets, so "none" stands for "no mTLS".
export const foodServiceClientCert = defineSecret('FOOD_SERVICE_CLIENT_CERT');
export const foodServiceClientKey = defineSecret('FOOD_SERVICE_CLIENT_KEY');

/** Every secret a function that talks to the food service must be bound to. */
export const FOOD_SERVICE_SECRETS = [foodServiceCa, foodServiceClientCert, foodServiceClientKey];

/** Retries of a read within one call: short; the step or the next poll retries on a longer one. */
export const READ_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 3,
  initialBackoffMs: 100,
  maxBackoffMs: 1_000,
  multiplier: 2,
};

/** How many times a step looks at the order and tries to set its status, per attempt. */
export const MOVE_ORDER_ROUNDS = 3;

/** The food service applies a request within this time or never (ARCHITECTURE.md#late-writes). */
export const LATE_WRITE_WINDOW_MS = 5 * 60_000;

/**
 * The end of a send window opened, on record, at `opened`: two deadlines, room for an update, a
 * look and a second one, never moved on (a round past it fails the step). An update landing after
 * it, a deadline and the skew was held.
 */
export function sendWindowEnd(opened: Date, config: Pick<Config, 'rpcDeadlineMs'>): Date {
  return new Date(opened.getTime() + 2 * config.rpcDeadlineMs);
}

/** When an update sent before `sendUntil` has landed too late to be anything but held. */
export function heldAfter(sendUntil: Date, config: Pick<Config, 'rpcDeadlineMs'>): Date {
  return new Date(sendUntil.getTime() + config.rpcDeadlineMs + CLOCK_SKEW_MS);
}

/** How long an ended order is watched: nothing is sent after the timeout, nothing applied later. */
export function lateWriteWatchMs(config: Pick<Config, 'advanceTimeoutSeconds'>): number {
  return config.advanceTimeoutSeconds * 1000 + LATE_WRITE_WINDOW_MS;
}

export type Config = IntSettings & {
  address: string;
  /** FUNCTIONS_REGION: where the functions run, and so where observeShard's task queue is. */
  region: string;
  /** PEM from the secrets: the CA, and a client certificate and key for mTLS (both or neither). */
  tls: { caPem: string; certPem?: string; keyPem?: string };
};

/** The longest a create step calls the food service: a look, the create, then the moves. */
export function stepCallBudgetMs(
  config: Pick<Config, 'rpcDeadlineMs' | 'createDeadlineMs'>,
): number {
  const read = worstCaseMs(config.rpcDeadlineMs, READ_RETRY_POLICY);
  return read + config.createDeadlineMs + MOVE_ORDER_ROUNDS * (read + config.rpcDeadlineMs);
}

/** The other functions that call the food service, and their most instances (observeShard's is
 * also its queue's maxConcurrentDispatches). */
export const POLLER_MAX_INSTANCES = {
  pollFoodService: 1,
  pollFoodServiceNow: 1,
  pollSlot: 1,
  observeShard: 6,
} as const;

/**
 * The most food-service calls in flight across every instance: FOOD_MAX_IN_FLIGHT each. In practice
 * the pollers add one instance's worth: the poll lease lets one poll call at a time.
 */
export function foodCallBound(config: Pick<Config, 'advanceMaxInstances' | 'foodMaxInFlight'>): {
  triggers: number;
  pollers: number;
  total: number;
} {
  const triggers = config.advanceMaxInstances * config.foodMaxInFlight;
  const pollers =
    Object.values(POLLER_MAX_INSTANCES).reduce((sum, n) => sum + n, 0) * config.foodMaxInFlight;
  return { triggers, pollers, total: triggers + pollers };
}

function integer(name: IntParamName, env: NodeJS.ProcessEnv): number {
  const { min, max } = INT_PARAMS[name];
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return INT_PARAMS[name].default;
  const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function optionalPem(value: string): string | undefined {
  const trimmed = value.trim();
  return trimmed === '' || trimmed.toLowerCase() === 'none' ? undefined : value;
}

/** The stuck thresholds in seconds per active stage; no secrets, for the report and the ops CLI. */
export function loadStuckThresholds(env: NodeJS.ProcessEnv = process.env): StuckThresholds {
  return {
    NEW: integer('STUCK_NEW_SECONDS', env),
    PREPARATION: integer('STUCK_PREPARATION_SECONDS', env),
    IN_FLIGHT: integer('STUCK_IN_FLIGHT_SECONDS', env),
  };
}

/** What watching the poller needs, without secrets, for the stuck-order report and the ops API. */
export function loadWatchSettings(env: NodeJS.ProcessEnv = process.env): PollerWatchSettings {
  return {
    pollIntervalSeconds: integer('POLL_INTERVAL_SECONDS', env),
    pollerDownIntervals: integer('POLLER_DOWN_INTERVALS', env),
    killSwitchAlertSeconds: integer('KILL_SWITCH_ALERT_SECONDS', env),
  };
}

/** OPS_TOKEN_AUDIENCES and the function's cloudfunctions.net URL, which Google's libraries name. */
export function loadOpsAudiences(env: NodeJS.ProcessEnv = process.env): string[] {
  const listed = (env.OPS_TOKEN_AUDIENCES?.trim() || STRING_PARAMS.OPS_TOKEN_AUDIENCES.default)
    .split(',')
    .map((a) => a.trim());
  if (listed.some((a) => a === '' || /\s/.test(a)))
    throw new Error(
      `OPS_TOKEN_AUDIENCES must be audiences, comma-separated, got "${env.OPS_TOKEN_AUDIENCES}"`,
    );
  const project = env.GCLOUD_PROJECT ?? env.GOOGLE_CLOUD_PROJECT;
  const region = env.FUNCTIONS_REGION?.trim() || STRING_PARAMS.FUNCTIONS_REGION.default;
  return [
    ...new Set([
      ...listed,
      ...(project ? [`https://${region}-${project}.cloudfunctions.net/ops`] : []),
    ]),
  ];
}

/** OPS_INVOKER, lower-cased: it names no person, so the ops API never takes it as the operator. */
export function loadOpsInvoker(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.OPS_INVOKER?.trim().toLowerCase() || undefined;
}

/** RETENTION_DAYS alone, without secrets: the repairs stamp what they settle. */
export function loadRetentionDays(env: NodeJS.ProcessEnv = process.env): number {
  return integer('RETENTION_DAYS', env);
}

/** An emulator or the local stack: the only places the food service may be on loopback. */
export function isLocalRun(env: NodeJS.ProcessEnv): boolean {
  return env.FUNCTIONS_EMULATOR === 'true' || Boolean(env.FIRESTORE_EMULATOR_HOST?.trim());
}

/** localhost, *.localhost, 127.0.0.0/8, ::1, the unspecified addresses, IPv4-mapped loopback. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.') || bare === '0.0.0.0';
  if (isIP(bare) === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
    return bare === '::1' || bare === '::' || (mapped !== null && isLoopbackHost(mapped[1]));
  }
  return false;
}

/** No default, and no loopback outside the emulators: deployed, that is its own container. */
function foodServiceAddressFrom(env: NodeJS.ProcessEnv): string {
  const address = (env.FOOD_SERVICE_ADDRESS ?? '').trim();
  if (!address) {
    throw new Error(
      'FOOD_SERVICE_ADDRESS is not set: give the food service as host:port in functions/.env.<project> (or at the deploy prompt)',
    );
  }
  const match = /^(\[[^\]]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(address);
  if (!match) throw new Error(`FOOD_SERVICE_ADDRESS must be host:port, got "${address}"`);
  if (isLoopbackHost(match[1]) && !isLocalRun(env)) {
    throw new Error(
      `FOOD_SERVICE_ADDRESS is ${address}, a loopback address: deployed, that is this function's own container, not the food service. ` +
        'Set the food service address in functions/.env.<project> and deploy again (loopback is only for the emulators and npm start)',
    );
  }
  return address;
}

/** The three secrets' values as TLS material; "none" (or empty) client secrets mean no mTLS. */
export function tlsFromSecrets(values: {
  ca: string;
  clientCert: string;
  clientKey: string;
}): Config['tls'] {
  if (!values.ca.trim()) {
    throw new Error(
      'FOOD_SERVICE_CA is not set: it must hold the PEM of the CA that signed the food service certificate',
    );
  }
  const certPem = optionalPem(values.clientCert);
  const keyPem = optionalPem(values.clientKey);
  return { caPem: values.ca, ...(certPem ? { certPem } : {}), ...(keyPem ? { keyPem } : {}) };
}

/** The secrets' names in Secret Manager, as defineSecret() binds them. */
export const SECRET_NAMES = {
  ca: foodServiceCa.name,
  clientCert: foodServiceClientCert.name,
  clientKey: foodServiceClientKey.name,
};

/**
 * Where to read the secrets' latest versions: Secret Manager when deployed (K_SERVICE without
 * FUNCTIONS_EMULATOR), or a test's stand-in (SECRET_MANAGER_EMULATOR_HOST); null otherwise.
 */
export function secretManagerTarget(
  env: NodeJS.ProcessEnv = process.env,
): { projectId: string; emulatorHost?: string } | null {
  const projectId = env.GCLOUD_PROJECT ?? env.GOOGLE_CLOUD_PROJECT;
  const emulatorHost = env.SECRET_MANAGER_EMULATOR_HOST?.trim();
  const deployed = Boolean(env.K_SERVICE) && env.FUNCTIONS_EMULATOR !== 'true';
  if (!projectId || (!emulatorHost && !deployed)) return null;
  return { projectId, ...(emulatorHost ? { emulatorHost } : {}) };
}

/** Reads and checks every param; a missing or bad value fails with its name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const tls = tlsFromSecrets({
    ca: foodServiceCa.value(),
    clientCert: foodServiceClientCert.value(),
    clientKey: foodServiceClientKey.value(),
  });
  return {
    address: foodServiceAddressFrom(env),
    // The CLI sets every param in a deployed function's environment; elsewhere the default applies.
    region: env.FUNCTIONS_REGION?.trim() || STRING_PARAMS.FUNCTIONS_REGION.default,
    ...(Object.fromEntries(
      Object.keys(INT_PARAMS).map((name) => [camel(name), integer(name as IntParamName, env)]),
    ) as IntSettings),
    tls,
  };
}

/**
 * How long a claimed create step is left to its claimant: it must outlive the claimant, or a second
 * attempt could start while the first can still create. Its timeout and worst-case food-service
 * time, with a minute's margin, rounded up to the minute (300 s with the defaults).
 */
export function claimLeaseSeconds(
  config: Pick<Config, 'advanceTimeoutSeconds' | 'rpcDeadlineMs' | 'createDeadlineMs'>,
): number {
  const needed = config.advanceTimeoutSeconds + stepCallBudgetMs(config) / 1000;
  return Math.ceil((needed + 60) / 60) * 60;
}
