// Configuration as Firebase params. The CLI applies the defaults at deploy
// time and from .env files in the emulator; anything that runs the functions
// without the CLI (tests, the local stack) gets the same defaults from here,
// so there is one table of defaults. Values are read when a function runs,
// never at import time: deploy-time discovery has no secrets.
import { defineInt, defineSecret, defineString } from 'firebase-functions/params';

import type { TlsMaterial } from './food/credentials';

const DEFAULTS = {
  FOOD_SERVICE_ADDRESS: '127.0.0.1:9000',
  POLL_INTERVAL_SECONDS: 60,
  PAGE_SIZE: 500,
  RPC_DEADLINE_MS: 5_000,
  MAX_CONCURRENCY: 32,
  CLAIM_LEASE_SECONDS: 180,
} as const;

export const foodServiceAddress = defineString('FOOD_SERVICE_ADDRESS', {
  default: DEFAULTS.FOOD_SERVICE_ADDRESS,
  description: 'host:port of the food service (gRPC over TLS)',
});
export const pollIntervalSeconds = defineInt('POLL_INTERVAL_SECONDS', {
  default: DEFAULTS.POLL_INTERVAL_SECONDS,
  description: 'Seconds between polls (1-3600). Below 60, one scheduled invocation runs several polls.',
});
export const pageSize = defineInt('PAGE_SIZE', {
  default: DEFAULTS.PAGE_SIZE,
  description: 'ListOrders page size (1-1000)',
});
export const rpcDeadlineMs = defineInt('RPC_DEADLINE_MS', {
  default: DEFAULTS.RPC_DEADLINE_MS,
  description: 'Deadline of each food-service call attempt, in milliseconds (100-60000)',
});
export const maxConcurrency = defineInt('MAX_CONCURRENCY', {
  default: DEFAULTS.MAX_CONCURRENCY,
  description: 'Food-service calls a poll keeps in flight at once (1-256)',
});
export const claimLeaseSeconds = defineInt('CLAIM_LEASE_SECONDS', {
  default: DEFAULTS.CLAIM_LEASE_SECONDS,
  description: 'How long a claimed step is left to its claimant before another attempt may take over (must exceed the trigger timeout)',
});

export const foodServiceCa = defineSecret('FOOD_SERVICE_CA');
// Secret Manager refuses empty secrets, so "none" stands for "no mTLS".
export const foodServiceClientCert = defineSecret('FOOD_SERVICE_CLIENT_CERT');
export const foodServiceClientKey = defineSecret('FOOD_SERVICE_CLIENT_KEY');

/** Every secret a function that talks to the food service must be bound to. */
export const FOOD_SERVICE_SECRETS = [foodServiceCa, foodServiceClientCert, foodServiceClientKey];

export interface Config {
  address: string;
  pollIntervalSeconds: number;
  pageSize: number;
  rpcDeadlineMs: number;
  maxConcurrency: number;
  claimLeaseSeconds: number;
  tls: TlsMaterial;
}

function integer(name: keyof typeof DEFAULTS, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return DEFAULTS[name] as number;
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

/** Reads and checks every param; a missing or bad value fails with its name. */
export function loadConfig(): Config {
  const address = (process.env.FOOD_SERVICE_ADDRESS ?? '').trim() || DEFAULTS.FOOD_SERVICE_ADDRESS;
  const caPem = foodServiceCa.value();
  if (!caPem.trim()) {
    throw new Error('FOOD_SERVICE_CA is not set: it must hold the PEM of the CA that signed the food service certificate');
  }
  const certPem = optionalPem(foodServiceClientCert.value());
  const keyPem = optionalPem(foodServiceClientKey.value());
  return {
    address,
    pollIntervalSeconds: integer('POLL_INTERVAL_SECONDS', 1, 3600),
    pageSize: integer('PAGE_SIZE', 1, 1000),
    rpcDeadlineMs: integer('RPC_DEADLINE_MS', 100, 60_000),
    maxConcurrency: integer('MAX_CONCURRENCY', 1, 256),
    claimLeaseSeconds: integer('CLAIM_LEASE_SECONDS', 1, 3600),
    tls: { caPem, ...(certPem ? { certPem } : {}), ...(keyPem ? { keyPem } : {}) },
  };
}
