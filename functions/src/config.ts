// Configuration as Firebase params, from one table: each param's default,
// range and meaning are stated once, and defineInt, loadConfig(), the tests
// and the README's table all derive from it. The CLI applies the defaults at
// deploy time and from .env files in the emulator; anything that runs the
// functions without the CLI (tests, the local stack) gets the same defaults
// from here. Values are read when a function runs, never at import time:
// deploy-time discovery has no secrets.
import { defineInt, defineSecret, defineString } from 'firebase-functions/params';

import { worstCaseMs, type RetryPolicy } from './backoff';
import type { StuckThresholds } from './model/health';

export interface IntParam {
  default: number;
  min: number;
  max: number;
  /** What it means, for the deploy prompt and the README. */
  description: string;
}

export const INT_PARAMS = {
  POLL_INTERVAL_SECONDS: {
    default: 60,
    min: 1,
    max: 3600,
    description:
      'Seconds between polls. Below 60, one scheduled invocation runs several polls; above, invocations without a due poll do nothing',
  },
  PAGE_SIZE: { default: 500, min: 1, max: 1000, description: 'ListOrders page size' },
  RPC_DEADLINE_MS: { default: 5_000, min: 100, max: 60_000, description: 'Deadline of each food-service read or update, in milliseconds' },
  CREATE_DEADLINE_MS: {
    default: 30_000,
    min: 1_000,
    max: 120_000,
    description:
      'Deadline of CreateKitchenOrder and CreateShipment, in milliseconds: longer than reads, since a create that times out may still have happened',
  },
  MAX_CONCURRENCY: { default: 32, min: 1, max: 256, description: 'Food-service calls and relation writes a poll keeps in flight at once' },
  SHARD_SIZE: {
    default: 2_000,
    min: 5,
    max: 5_000,
    description:
      'Active orders one poll observes itself; above, it splits the relations into shards of this many, each observed by an observeShard task',
  },
  LISTENER_MAX_RELATIONS: {
    default: 2_000,
    min: 0,
    max: 5_000,
    description:
      'Polls several times a minute read the active relations through one listener per invocation while there are at most this many (0: never); each poll then pays only for what changed',
  },
  ADVANCE_TIMEOUT_SECONDS: { default: 120, min: 10, max: 540, description: 'Timeout of advanceRelation, the trigger that runs one step' },
  CLAIM_LEASE_SECONDS: {
    default: 300,
    min: 20,
    max: 3600,
    description:
      "How long a claimed create step is left to its claimant before another attempt may take over; must exceed ADVANCE_TIMEOUT_SECONDS plus the step's worst-case call time",
  },
  MAX_AMBIGUOUS_RETRIES: {
    default: 1,
    min: 0,
    max: 5,
    description:
      'Further attempts at a create after attempts that may have created something; beyond that the relation is flagged for a person',
  },
  // The food service moves a kitchen order or a shipment one status per
  // controller interval (10 s for the real binary), two statuses per stage,
  // and the poller sees it within a poll interval (60 s): a stage normally
  // takes under 90 s, and NEW only as long as one trigger run.
  STUCK_NEW_SECONDS: {
    default: 180,
    min: 10,
    max: 86_400,
    description: 'Seconds an order may stay NEW (no kitchen order yet) before the stuck-order report names it',
  },
  STUCK_PREPARATION_SECONDS: {
    default: 300,
    min: 10,
    max: 86_400,
    description: 'Seconds an order may stay in PREPARATION (the kitchen cooks) before the stuck-order report names it',
  },
  STUCK_IN_FLIGHT_SECONDS: {
    default: 300,
    min: 10,
    max: 86_400,
    description: 'Seconds an order may stay IN_FLIGHT (the drone flies) before the stuck-order report names it',
  },
} as const satisfies Record<string, IntParam>;

export type IntParamName = keyof typeof INT_PARAMS;

const describe = (name: IntParamName) => `${INT_PARAMS[name].description} (${INT_PARAMS[name].min}-${INT_PARAMS[name].max})`;
const intParam = (name: IntParamName) => defineInt(name, { default: INT_PARAMS[name].default, description: describe(name) });

export const FOOD_SERVICE_ADDRESS_DEFAULT = '127.0.0.1:9000';
export const foodServiceAddress = defineString('FOOD_SERVICE_ADDRESS', {
  default: FOOD_SERVICE_ADDRESS_DEFAULT,
  description: 'host:port of the food service (gRPC over TLS)',
});
export const pollIntervalSeconds = intParam('POLL_INTERVAL_SECONDS');
export const pageSize = intParam('PAGE_SIZE');
export const rpcDeadlineMs = intParam('RPC_DEADLINE_MS');
export const createDeadlineMs = intParam('CREATE_DEADLINE_MS');
export const maxConcurrency = intParam('MAX_CONCURRENCY');
export const shardSize = intParam('SHARD_SIZE');
export const listenerMaxRelations = intParam('LISTENER_MAX_RELATIONS');
/** The trigger's timeoutSeconds is this param, so the lease rule below can hold for any value. */
export const advanceTimeoutSeconds = intParam('ADVANCE_TIMEOUT_SECONDS');
export const claimLeaseSeconds = intParam('CLAIM_LEASE_SECONDS');
export const maxAmbiguousRetries = intParam('MAX_AMBIGUOUS_RETRIES');
export const stuckNewSeconds = intParam('STUCK_NEW_SECONDS');
export const stuckPreparationSeconds = intParam('STUCK_PREPARATION_SECONDS');
export const stuckInFlightSeconds = intParam('STUCK_IN_FLIGHT_SECONDS');

export const foodServiceCa = defineSecret('FOOD_SERVICE_CA');
// Secret Manager refuses empty secrets, so "none" stands for "no mTLS".
export const foodServiceClientCert = defineSecret('FOOD_SERVICE_CLIENT_CERT');
export const foodServiceClientKey = defineSecret('FOOD_SERVICE_CLIENT_KEY');

/** Every secret a function that talks to the food service must be bound to. */
export const FOOD_SERVICE_SECRETS = [foodServiceCa, foodServiceClientCert, foodServiceClientKey];

/** Retries of food-service reads within one call: short, since the step or the next poll retries on a longer scale. */
export const READ_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1_000, multiplier: 2 };

/** How many times a step looks at the order and tries to set its status before giving up for this attempt. */
export const MOVE_ORDER_ROUNDS = 3;

export interface Config {
  address: string;
  pollIntervalSeconds: number;
  pageSize: number;
  rpcDeadlineMs: number;
  createDeadlineMs: number;
  maxConcurrency: number;
  shardSize: number;
  listenerMaxRelations: number;
  advanceTimeoutSeconds: number;
  claimLeaseSeconds: number;
  maxAmbiguousRetries: number;
  /** Stuck thresholds per active stage, in seconds (also read alone, without secrets: loadStuckThresholds). */
  stuckNewSeconds: number;
  stuckPreparationSeconds: number;
  stuckInFlightSeconds: number;
  /** PEM text from the secrets: the CA, and the client certificate and key for mTLS (both or neither). */
  tls: { caPem: string; certPem?: string; keyPem?: string };
}

/**
 * The longest a create step can spend calling the food service: the look,
 * the create, and MOVE_ORDER_ROUNDS rounds of a look and an update.
 */
export function stepCallBudgetMs(config: Pick<Config, 'rpcDeadlineMs' | 'createDeadlineMs'>): number {
  const read = worstCaseMs(config.rpcDeadlineMs, READ_RETRY_POLICY);
  return read + config.createDeadlineMs + MOVE_ORDER_ROUNDS * (read + config.rpcDeadlineMs);
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

/** The stuck thresholds, in seconds per active stage: needs no secret, so the report and the ops CLI read them alone. */
export function loadStuckThresholds(env: NodeJS.ProcessEnv = process.env): StuckThresholds {
  return {
    NEW: integer('STUCK_NEW_SECONDS', env),
    PREPARATION: integer('STUCK_PREPARATION_SECONDS', env),
    IN_FLIGHT: integer('STUCK_IN_FLIGHT_SECONDS', env),
  };
}

/** The three secrets' values as TLS material; "none" (or empty) client secrets mean no mTLS. */
export function tlsFromSecrets(values: { ca: string; clientCert: string; clientKey: string }): Config['tls'] {
  if (!values.ca.trim()) {
    throw new Error('FOOD_SERVICE_CA is not set: it must hold the PEM of the CA that signed the food service certificate');
  }
  const certPem = optionalPem(values.clientCert);
  const keyPem = optionalPem(values.clientKey);
  return { caPem: values.ca, ...(certPem ? { certPem } : {}), ...(keyPem ? { keyPem } : {}) };
}

/** The secrets' names in Secret Manager, as defineSecret() binds them. */
export const SECRET_NAMES = { ca: foodServiceCa.name, clientCert: foodServiceClientCert.name, clientKey: foodServiceClientKey.name };

/**
 * Where to read the secrets' latest versions: Secret Manager in the
 * project when deployed (Cloud Run sets K_SERVICE; the Functions emulator
 * sets it too, with FUNCTIONS_EMULATOR, and keeps its secrets in
 * .secret.local), or a local stand-in for tests (SECRET_MANAGER_EMULATOR_HOST,
 * loopback only, like FIRESTORE_EMULATOR_HOST). Null otherwise: locally the
 * secrets come from the environment, and nothing may reach out of the machine.
 */
export function secretManagerTarget(env: NodeJS.ProcessEnv = process.env): { projectId: string; emulatorHost?: string } | null {
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
  const config: Config = {
    address: (env.FOOD_SERVICE_ADDRESS ?? '').trim() || FOOD_SERVICE_ADDRESS_DEFAULT,
    pollIntervalSeconds: integer('POLL_INTERVAL_SECONDS', env),
    pageSize: integer('PAGE_SIZE', env),
    rpcDeadlineMs: integer('RPC_DEADLINE_MS', env),
    createDeadlineMs: integer('CREATE_DEADLINE_MS', env),
    maxConcurrency: integer('MAX_CONCURRENCY', env),
    shardSize: integer('SHARD_SIZE', env),
    listenerMaxRelations: integer('LISTENER_MAX_RELATIONS', env),
    advanceTimeoutSeconds: integer('ADVANCE_TIMEOUT_SECONDS', env),
    claimLeaseSeconds: integer('CLAIM_LEASE_SECONDS', env),
    maxAmbiguousRetries: integer('MAX_AMBIGUOUS_RETRIES', env),
    stuckNewSeconds: integer('STUCK_NEW_SECONDS', env),
    stuckPreparationSeconds: integer('STUCK_PREPARATION_SECONDS', env),
    stuckInFlightSeconds: integer('STUCK_IN_FLIGHT_SECONDS', env),
    tls,
  };
  // A claim must outlive its claimant: the trigger may run to its timeout,
  // and a step can spend its whole call budget. A shorter lease lets a second
  // attempt start while the first can still create.
  const neededSeconds = config.advanceTimeoutSeconds + Math.ceil(stepCallBudgetMs(config) / 1000);
  if (config.claimLeaseSeconds <= neededSeconds) {
    throw new Error(
      `CLAIM_LEASE_SECONDS (${config.claimLeaseSeconds}) must exceed ADVANCE_TIMEOUT_SECONDS (${config.advanceTimeoutSeconds}) ` +
        `plus a step's worst-case food-service time (${Math.ceil(stepCallBudgetMs(config) / 1000)} s with RPC_DEADLINE_MS ` +
        `${config.rpcDeadlineMs} and CREATE_DEADLINE_MS ${config.createDeadlineMs}): set it above ${neededSeconds}`,
    );
  }
  return config;
}
