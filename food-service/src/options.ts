// Defaults and validation for startFoodService's options, so a bad value
// fails at start with its name rather than as odd behaviour later.
import { FINAL_ORDER_UPDATES } from './order-service';
import type { FoodServiceOptions } from './server';

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 9000,
  controllerIntervalMs: 10_000,
  seed: 1,
  rejectRate: 0.1,
  advanceRate: 1,
  ordersPerSecond: 0,
  cancelRate: 0,
  failRate: 0,
  latencyMs: 0,
  defaultPageSize: 50,
  maxPageSize: 1000,
  statsIntervalMs: 0,
  finalOrderUpdates: 'accept',
} as const;

export type ResolvedOptions = Required<Omit<FoodServiceOptions, 'statsPort'>> &
  Pick<FoodServiceOptions, 'statsPort'>;

export function isRate(value: number): boolean {
  return value >= 0 && value <= 1;
}

function check(ok: boolean, name: string, expected: string, value: unknown): void {
  if (!ok)
    throw new RangeError(`food service option ${name} must be ${expected}, got ${String(value)}`);
}

const isPort = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 65535;
const isNonNegative = (n: number): boolean => Number.isFinite(n) && n >= 0;
const isPositiveInteger = (n: number): boolean => Number.isInteger(n) && n > 0;

export function resolveOptions(options: FoodServiceOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    ...DEFAULTS,
    debug: false,
    log: (line: string) => console.log(line),
    ...withoutUndefined(options),
    tls: options.tls,
  };
  check(
    Boolean(resolved.tls?.cert?.length && resolved.tls.key?.length),
    'tls',
    'a certificate and a key',
    'none',
  );
  check(isPort(resolved.port), 'port', 'an integer 0..65535', resolved.port);
  check(
    resolved.statsPort === undefined || isPort(resolved.statsPort),
    'statsPort',
    'an integer 0..65535',
    resolved.statsPort,
  );
  check(Number.isInteger(resolved.seed), 'seed', 'an integer', resolved.seed);
  for (const name of ['rejectRate', 'advanceRate', 'cancelRate', 'failRate'] as const) {
    check(isRate(resolved[name]), name, 'between 0 and 1', resolved[name]);
  }
  for (const name of [
    'controllerIntervalMs',
    'ordersPerSecond',
    'latencyMs',
    'statsIntervalMs',
  ] as const) {
    check(isNonNegative(resolved[name]), name, 'a non-negative number', resolved[name]);
  }
  check(
    FINAL_ORDER_UPDATES.includes(resolved.finalOrderUpdates),
    'finalOrderUpdates',
    FINAL_ORDER_UPDATES.join(' or '),
    resolved.finalOrderUpdates,
  );
  check(
    isPositiveInteger(resolved.maxPageSize),
    'maxPageSize',
    'a positive integer',
    resolved.maxPageSize,
  );
  check(
    isPositiveInteger(resolved.defaultPageSize) && resolved.defaultPageSize <= resolved.maxPageSize,
    'defaultPageSize',
    `a positive integer no larger than maxPageSize (${resolved.maxPageSize})`,
    resolved.defaultPageSize,
  );
  return resolved;
}

/** Drops keys set to undefined, so they fall back to the defaults instead of erasing them. */
function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
