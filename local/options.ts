// The flags of `npm start`, each also settable by an environment variable.
// Parsing is separate from running so bad input is reported before anything
// starts, with the flag, the value and the usage.
import { parseArgs } from 'node:util';
import { describeError } from '../functions/src/describe-error';

export interface LocalOptions {
  /** An existing food service (host:port) instead of the simulator, with the CA that signed it. */
  foodService?: { address: string; caFile: string };
  /** An already running Firestore emulator (host:port) instead of starting Google's. */
  firestore?: string;
  /** Run on the embedded Node Firestore even where Google's emulator is available. */
  embeddedFirestore: boolean;
  pollIntervalSeconds: number;
  ordersPerSecond: number;
  boardPort: number;
  /** Run this long, then drain, summarise and exit by the invariants. */
  durationSeconds?: number;
  /** How long kitchens and drones take per step in the simulator. */
  controllerIntervalMs: number;
  cancelRate: number;
  rejectRate: number;
  seed: number;
  faults: {
    /** Share of trigger events delivered twice. */
    duplicateRate: number;
    /** Deliveries wait a random 0..reorderMs, so events overtake each other. */
    reorderMs: number;
    /** Share of food-service calls failing with UNAVAILABLE (simulator only). */
    failRate: number;
    /** Fault proxy: share of server→client chunks dropped with their connection (the server may have done the work). */
    dropRate: number;
    /** Fault proxy: share of new connections cut after the TLS ClientHello. */
    handshakeCutRate: number;
    /** Fault proxy: added to every server→client chunk. */
    proxyLatencyMs: number;
  };
}

/** Whether the fault proxy goes between the functions and the food service. */
export function usesFaultProxy(faults: LocalOptions['faults']): boolean {
  return faults.dropRate > 0 || faults.handshakeCutRate > 0 || faults.proxyLatencyMs > 0;
}

export const USAGE = `usage: npm start -- [flags]

Runs the orchestrator locally in one process tree: Google's Firestore emulator
(Java 21+; without it, an embedded Node Firestore), the food-service simulator,
the deployable functions from functions/lib (poll clock and document
triggers), and a live board. Every flag can also be set with the environment
variable named after it.

  --food-service HOST:PORT   use this food service instead of the simulator   FOOD_SERVICE_ADDRESS
  --food-ca FILE             the CA (PEM) that signed its certificate          FOOD_SERVICE_CA_FILE
  --firestore HOST:PORT      use this running Firestore emulator instead of    FIRESTORE_EMULATOR_HOST
                             starting Google's
  --embedded-firestore       use the embedded Node Firestore even where Java   EMBEDDED_FIRESTORE=1
                             21+ is found (it does not isolate transactions)
  --poll-interval SECONDS    seconds between polls, 1 and up (default 2)       POLL_INTERVAL_SECONDS
  --orders-per-second N      the simulated customers' load (default 1)        ORDERS_PER_SECOND
  --board-port PORT          the live board's port, 0 = any (default 3000)     BOARD_PORT
  --duration SECONDS         run this long, drain, print the final summary,    DURATION_SECONDS
                             and exit 0 only if the invariants held
  --controller-interval MS   simulator: ms per kitchen/drone step (default 1500) CONTROLLER_INTERVAL_MS
  --cancel-rate R            simulator: share of orders cancelled (default 0.1) CANCEL_RATE
  --reject-rate R            simulator: share of deliveries rejected (default 0.1) REJECT_RATE
  --seed N                   simulator: seed (default 1)                       SEED
  --duplicate-rate R         fault: share of trigger events delivered twice    DUPLICATE_RATE
  --reorder-ms MS            fault: delay each delivery by up to MS, so        REORDER_MS
                             events arrive out of order
  --fail-rate R              fault: share of simulator calls failing with      FAIL_RATE
                             UNAVAILABLE
  --drop-rate R              fault proxy: share of server replies dropped with DROP_RATE
                             their connection, after the work was done
  --handshake-cut-rate R     fault proxy: share of TLS handshakes cut short    HANDSHAKE_CUT_RATE
  --proxy-latency MS         fault proxy: delay every server reply by MS;      PROXY_LATENCY_MS
                             past the functions' RPC deadline, calls end
                             DEADLINE_EXCEEDED with the work done
                             Any of these three puts a TCP fault proxy between
                             the functions and the food service.
  -h, --help                 show this help
`;

export class UsageError extends Error {}

type Flag =
  | 'food-service'
  | 'food-ca'
  | 'firestore'
  | 'poll-interval'
  | 'orders-per-second'
  | 'board-port'
  | 'duration'
  | 'controller-interval'
  | 'cancel-rate'
  | 'reject-rate'
  | 'seed'
  | 'duplicate-rate'
  | 'reorder-ms'
  | 'fail-rate'
  | 'drop-rate'
  | 'handshake-cut-rate'
  | 'proxy-latency';

const ENV: Record<Flag, string> = {
  'food-service': 'FOOD_SERVICE_ADDRESS',
  'food-ca': 'FOOD_SERVICE_CA_FILE',
  firestore: 'FIRESTORE_EMULATOR_HOST',
  'poll-interval': 'POLL_INTERVAL_SECONDS',
  'orders-per-second': 'ORDERS_PER_SECOND',
  'board-port': 'BOARD_PORT',
  duration: 'DURATION_SECONDS',
  'controller-interval': 'CONTROLLER_INTERVAL_MS',
  'cancel-rate': 'CANCEL_RATE',
  'reject-rate': 'REJECT_RATE',
  seed: 'SEED',
  'duplicate-rate': 'DUPLICATE_RATE',
  'reorder-ms': 'REORDER_MS',
  'fail-rate': 'FAIL_RATE',
  'drop-rate': 'DROP_RATE',
  'handshake-cut-rate': 'HANDSHAKE_CUT_RATE',
  'proxy-latency': 'PROXY_LATENCY_MS',
};

const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/;

/** Returns the options, or throws UsageError naming the flag and the bad value. `help` means print USAGE. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): LocalOptions | 'help' {
  let values: Partial<Record<Flag | 'help' | 'embedded-firestore', string | boolean>>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        'embedded-firestore': { type: 'boolean' },
        ...Object.fromEntries((Object.keys(ENV) as Flag[]).map((flag) => [flag, { type: 'string' as const }])),
      },
    }));
  } catch (error) {
    throw new UsageError(describeError(error));
  }
  if (values.help) return 'help';

  const raw = (flag: Flag): string | undefined => {
    const value = values[flag] ?? env[ENV[flag]];
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  };
  const source = (flag: Flag) => (values[flag] !== undefined ? `--${flag}` : ENV[flag]);
  const bad = (flag: Flag, value: string, expected: string) => new UsageError(`${source(flag)} must be ${expected}, got "${value}"`);

  const number = (flag: Flag, fallback: number, min: number, max: number, integer: boolean): number => {
    const value = raw(flag);
    if (value === undefined) return fallback;
    const parsed = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (Number.isNaN(parsed) || parsed < min || parsed > max || (integer && !Number.isInteger(parsed))) {
      throw bad(flag, value, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    }
    return parsed;
  };
  const hostPort = (flag: Flag): string | undefined => {
    const value = raw(flag);
    if (value !== undefined && !HOST_PORT.test(value)) throw bad(flag, value, 'HOST:PORT');
    return value;
  };

  const address = hostPort('food-service');
  const caFile = raw('food-ca');
  if (Boolean(address) !== Boolean(caFile)) {
    throw new UsageError('--food-service and --food-ca go together: an existing food service needs the CA that signed its certificate');
  }
  const duration = raw('duration') === undefined ? undefined : number('duration', 0, 1, 86_400, false);

  return {
    ...(address && caFile ? { foodService: { address, caFile } } : {}),
    ...(hostPort('firestore') ? { firestore: hostPort('firestore') } : {}),
    embeddedFirestore: values['embedded-firestore'] === true || /^(1|true|yes)$/i.test(env.EMBEDDED_FIRESTORE ?? ''),
    pollIntervalSeconds: number('poll-interval', 2, 1, 3600, true),
    ordersPerSecond: number('orders-per-second', 1, 0, 1000, false),
    boardPort: number('board-port', 3000, 0, 65_535, true),
    ...(duration !== undefined ? { durationSeconds: duration } : {}),
    controllerIntervalMs: number('controller-interval', 1500, 10, 600_000, true),
    cancelRate: number('cancel-rate', 0.1, 0, 1, false),
    rejectRate: number('reject-rate', 0.1, 0, 1, false),
    seed: number('seed', 1, 0, 2 ** 31, true),
    faults: {
      duplicateRate: number('duplicate-rate', 0, 0, 1, false),
      reorderMs: number('reorder-ms', 0, 0, 60_000, true),
      failRate: number('fail-rate', 0, 0, 1, false),
      dropRate: number('drop-rate', 0, 0, 1, false),
      handshakeCutRate: number('handshake-cut-rate', 0, 0, 1, false),
      proxyLatencyMs: number('proxy-latency', 0, 0, 600_000, true),
    },
  };
}
