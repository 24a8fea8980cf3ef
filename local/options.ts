// The flags of `npm start`. Parsing is separate from running so bad input is
// reported before anything starts, with the flag, the value and the usage.
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { describeError } from '../functions/src/api';

/** The flags as parsed; USAGE says what each one means. */
export type StartOptions = ReturnType<typeof parseOptions>;

/** Whether the fault proxy goes between the functions and the food service. */
export const usesFaultProxy = (faults: StartOptions['faults']): boolean =>
  faults.dropRate > 0 || faults.handshakeCutRate > 0 || faults.proxyLatencyMs > 0;

export const USAGE = `usage: npm start -- [flags]

Runs the official Firebase emulator suite (Functions, Google's Firestore and
Pub/Sub emulators, Cloud Tasks, the Emulator UI when its bundle is there) on
the deployable build, with the food-service simulator, the poll clock and a
live board. Needs Java 21+ and Google's Firestore emulator (npm run tools).

  --poll-interval SECONDS    seconds between polls, 1-3600 (default 2)
  --duration SECONDS         run this long, drain, print the final summary, and
                             exit 0 only if the invariants held
  --orders-per-second N      simulator: the customers' load, 0-1000 (default 1)
  --cancel-rate R            simulator: share of orders cancelled (default 0.1)
  --reject-rate R            simulator: share of deliveries rejected (default 0.1)
  --controller-interval MS   simulator: ms per kitchen or drone step (default 1500)
  --seed N                   simulator and fault proxy: seed (default 1)
  --fail-rate R              fault: share of simulator calls failing UNAVAILABLE
  --drop-rate R              fault proxy: share of replies dropped with their
                             connection, after the work was done
  --handshake-cut-rate R     fault proxy: share of TLS handshakes cut short
  --proxy-latency MS         fault proxy: delay every reply by MS
  --board-port PORT          the live board's port, 0 = any (default 3000)
  --free-ports               every emulator and the simulator on free ports, to
                             run beside another run
  --project ID               a demo- project of the run's own (default: .firebaserc's)
  --shard-size N             SHARD_SIZE for the functions (5-5000): a small one
                             makes polls fan out to observeShard tasks
  --import DIR               load the emulators' data from DIR (an earlier export)
  --export-on-exit DIR       write the emulators' data to DIR when the run stops
  -h, --help                 show this help
`;

export class UsageError extends Error {}

const NUMBERS = {
  'poll-interval': { fallback: 2, min: 1, max: 3600, integer: true },
  duration: { fallback: undefined, min: 1, max: 86_400, integer: false },
  'orders-per-second': { fallback: 1, min: 0, max: 1000, integer: false },
  'cancel-rate': { fallback: 0.1, min: 0, max: 1, integer: false },
  'reject-rate': { fallback: 0.1, min: 0, max: 1, integer: false },
  'controller-interval': { fallback: 1500, min: 10, max: 600_000, integer: true },
  seed: { fallback: 1, min: 0, max: 2 ** 31, integer: true },
  'fail-rate': { fallback: 0, min: 0, max: 1, integer: false },
  'drop-rate': { fallback: 0, min: 0, max: 1, integer: false },
  'handshake-cut-rate': { fallback: 0, min: 0, max: 1, integer: false },
  'proxy-latency': { fallback: 0, min: 0, max: 600_000, integer: true },
  'board-port': { fallback: 3000, min: 0, max: 65_535, integer: true },
  'shard-size': { fallback: undefined, min: 5, max: 5000, integer: true },
} as const;
type NumberFlag = keyof typeof NUMBERS;
const STRINGS = ['project', 'import', 'export-on-exit'] as const;
type StringFlag = (typeof STRINGS)[number];

/** Returns the options, or throws UsageError naming the flag and the bad value. Paths are taken from `cwd` (where npm was run). */
export function parseOptions(
  argv: readonly string[],
  cwd: string = process.env.INIT_CWD ?? process.cwd(),
) {
  let values: Partial<Record<NumberFlag | StringFlag, string>> & {
    help?: boolean;
    'free-ports'?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(
          [...Object.keys(NUMBERS), ...STRINGS].map((flag) => [flag, { type: 'string' as const }]),
        ),
        'free-ports': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(describeError(error));
  }
  const number = <F extends NumberFlag>(flag: F): number | (typeof NUMBERS)[F]['fallback'] => {
    const { fallback, min, max, integer } = NUMBERS[flag];
    const raw = values[flag]?.trim();
    if (raw === undefined) return fallback;
    const parsed = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
    if (
      Number.isNaN(parsed) ||
      parsed < min ||
      parsed > max ||
      (integer && !Number.isInteger(parsed))
    ) {
      throw new UsageError(
        `--${flag} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`,
      );
    }
    return parsed;
  };
  // A real project here would let emulated functions reach production services that are not emulated.
  if (values.project !== undefined && !/^demo-[a-z0-9-]{1,24}$/.test(values.project)) {
    throw new UsageError(
      `--project must be a demo- project id (demo- and up to 24 of a-z, 0-9, -), got "${values.project}"`,
    );
  }
  const dir = (flag: 'import' | 'export-on-exit') =>
    values[flag] === undefined ? undefined : path.resolve(cwd, values[flag]);
  return {
    help: values.help ?? false,
    project: values.project,
    pollIntervalSeconds: number('poll-interval'),
    durationSeconds: number('duration'),
    ordersPerSecond: number('orders-per-second'),
    cancelRate: number('cancel-rate'),
    rejectRate: number('reject-rate'),
    controllerIntervalMs: number('controller-interval'),
    seed: number('seed'),
    boardPort: number('board-port'),
    freePorts: values['free-ports'] ?? false,
    shardSize: number('shard-size'),
    importDir: dir('import'),
    exportDir: dir('export-on-exit'),
    faults: {
      failRate: number('fail-rate'),
      dropRate: number('drop-rate'),
      handshakeCutRate: number('handshake-cut-rate'),
      proxyLatencyMs: number('proxy-latency'),
    },
  };
}
