// The command line: flags in, validated settings out. Kept apart from main so
// every flag and message can be tested without starting a process.
import { parseArgs } from 'node:util';
import { DEFAULT_CERTS_DIR } from './certs';
import { parseDuration } from './duration';
import { DEFAULTS, isRate } from './options';
import { FINAL_ORDER_UPDATES, type FinalOrderUpdates } from './order-service';
import type { FoodServiceOptions } from './server';

/** A flag or value that is wrong; main prints it with the usage and exits 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Where the server's certificate comes from: given files, or generated into a folder on first run. */
export type TlsSource = { certFile: string; keyFile: string } | { certsDir: string };

export interface CliConfig {
  help: boolean;
  tls: TlsSource;
  /** Set: clients must present a certificate signed by this CA. */
  clientCaFile: string | undefined;
  service: Required<Omit<FoodServiceOptions, 'tls' | 'log'>>;
}

const CLI_DEFAULTS = { statsPort: 9001, statsIntervalMs: 10_000 } as const;

export const USAGE = `usage: food-service [flags]

A simulator of the food service (food.v1 OrderService, KitchenService and
DroneService over gRPC with TLS) for developing and testing the orchestrator.

  --host HOST                  address to listen on (default ${DEFAULTS.host})
  --port PORT                  gRPC port, 0 = any free port (default ${DEFAULTS.port})
  --tls-cert FILE              server certificate (PEM); needs --tls-key
  --tls-key FILE               server private key (PEM); needs --tls-cert
  --certs-dir DIR              without --tls-cert/--tls-key: where development certificates
                               are generated on first run (default ${DEFAULT_CERTS_DIR})
  --client-ca FILE             require client certificates signed by this CA (mTLS)
  --controller-interval DUR    how often kitchens and drones advance, 0 = never (default 10s)
  --seed N                     seed for every random decision (default ${DEFAULTS.seed})
  --reject-rate R              share of deliveries the customer rejects, 0..1 (default ${DEFAULTS.rejectRate})
  --advance-rate R             chance an item advances on a tick, 0..1 (default ${DEFAULTS.advanceRate})
  --orders-per-second N        simulated customers place this many orders per second (default ${DEFAULTS.ordersPerSecond})
  --cancel-rate R              share of orders the customer cancels before delivery, 0..1 (default ${DEFAULTS.cancelRate})
  --fail-rate R                share of calls failing with UNAVAILABLE, 0..1 (default ${DEFAULTS.failRate})
  --latency DUR                added to every call (default 0)
  --final-order-updates MODE   UpdateOrder on a DELIVERED, REJECTED or CANCELLED order: accept
                               overwrites it, as the real service does (no optimistic concurrency);
                               refuse answers FAILED_PRECONDITION (default ${DEFAULTS.finalOrderUpdates})
  --stats-port PORT            HTTP port for GET /stats and /healthz, 0 = any free port (default ${CLI_DEFAULTS.statsPort})
  --stats-interval DUR         print a stats line this often, 0 = never (default 10s)
  --debug                      log every call
  -h, --help                   show this help

Durations are Go-style: 500ms, 10s, 1m30s, 0.`;

const FLAGS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'certs-dir': { type: 'string' },
  'client-ca': { type: 'string' },
  'controller-interval': { type: 'string' },
  seed: { type: 'string' },
  'reject-rate': { type: 'string' },
  'advance-rate': { type: 'string' },
  'orders-per-second': { type: 'string' },
  'cancel-rate': { type: 'string' },
  'fail-rate': { type: 'string' },
  latency: { type: 'string' },
  'final-order-updates': { type: 'string' },
  'stats-port': { type: 'string' },
  'stats-interval': { type: 'string' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flag = keyof typeof FLAGS;

function invalid(flag: Flag, value: string, expected: string): ConfigError {
  return new ConfigError(`--${flag}: ${JSON.stringify(value)} is not ${expected}`);
}

/** A number from a flag value; strict, so `12abc` or an empty value is an error rather than NaN or 0. */
function number(flag: Flag, value: string, expected: string, ok: (n: number) => boolean): number {
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n) || !ok(n)) throw invalid(flag, value, expected);
  return n;
}

function parseFlags(
  argv: readonly string[],
): ReturnType<typeof parseArgs<{ options: typeof FLAGS; strict: true }>>['values'] {
  try {
    return parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false })
      .values;
  } catch (err) {
    // parseArgs' messages already name the flag, e.g. "Unknown option '--bogus'".
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
}

export function parseConfig(argv: readonly string[]): CliConfig {
  const flags = parseFlags(argv);
  const read = <T>(flag: Flag, fallback: T, convert: (value: string) => T): T => {
    const value = flags[flag];
    return typeof value === 'string' ? convert(value) : fallback;
  };
  const rate = (flag: Flag, fallback: number): number =>
    read(flag, fallback, (v) => number(flag, v, 'a rate between 0 and 1', isRate));
  const port = (flag: Flag, fallback: number): number =>
    read(flag, fallback, (v) =>
      number(flag, v, 'a port number 0..65535', (n) => Number.isInteger(n) && n >= 0 && n <= 65535),
    );
  const duration = (flag: Flag, fallback: number): number =>
    read(
      flag,
      fallback,
      (v) => parseDuration(v) ?? failWith(invalid(flag, v, 'a duration like 500ms, 10s or 1m')),
    );
  const file = (flag: Flag): string | undefined =>
    read<string | undefined>(flag, undefined, (v) =>
      v === '' ? failWith(invalid(flag, v, 'a file name')) : v,
    );

  const certFile = file('tls-cert');
  const keyFile = file('tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      certFile === undefined
        ? `--tls-key ${keyFile} needs --tls-cert as well (give both, or neither to use generated certificates)`
        : `--tls-cert ${certFile} needs --tls-key as well (give both, or neither to use generated certificates)`,
    );
  }
  const certsDir = file('certs-dir');
  if (certFile !== undefined && certsDir !== undefined) {
    throw new ConfigError(
      '--certs-dir is for generated certificates and cannot be combined with --tls-cert/--tls-key',
    );
  }

  return {
    help: flags.help ?? false,
    tls:
      certFile !== undefined && keyFile !== undefined
        ? { certFile, keyFile }
        : { certsDir: certsDir ?? DEFAULT_CERTS_DIR },
    clientCaFile: file('client-ca'),
    service: {
      host: read('host', DEFAULTS.host, (v) =>
        v === '' ? failWith(invalid('host', v, 'a host name or IP address')) : v,
      ),
      port: port('port', DEFAULTS.port),
      controllerIntervalMs: duration('controller-interval', DEFAULTS.controllerIntervalMs),
      seed: read('seed', DEFAULTS.seed, (v) =>
        number('seed', v, 'an integer', Number.isSafeInteger),
      ),
      rejectRate: rate('reject-rate', DEFAULTS.rejectRate),
      advanceRate: rate('advance-rate', DEFAULTS.advanceRate),
      ordersPerSecond: read('orders-per-second', DEFAULTS.ordersPerSecond, (v) =>
        number('orders-per-second', v, 'a non-negative number', (n) => n >= 0),
      ),
      cancelRate: rate('cancel-rate', DEFAULTS.cancelRate),
      failRate: rate('fail-rate', DEFAULTS.failRate),
      latencyMs: duration('latency', DEFAULTS.latencyMs),
      finalOrderUpdates: read<FinalOrderUpdates>(
        'final-order-updates',
        DEFAULTS.finalOrderUpdates,
        (v) =>
          FINAL_ORDER_UPDATES.find((mode) => mode === v) ??
          failWith(invalid('final-order-updates', v, FINAL_ORDER_UPDATES.join(' or '))),
      ),
      defaultPageSize: DEFAULTS.defaultPageSize,
      maxPageSize: DEFAULTS.maxPageSize,
      statsPort: port('stats-port', CLI_DEFAULTS.statsPort),
      statsIntervalMs: duration('stats-interval', CLI_DEFAULTS.statsIntervalMs),
      debug: flags.debug ?? false,
    },
  };
}

function failWith(error: ConfigError): never {
  throw error;
}
