// Runs the lifecycle section in a process of its own: a scheduled invocation
// keeps polling until its minute is up, as it would when deployed, and must
// not leak into the next section's counts.
//
// usage: lifecycle-child.ts '<LifecycleParams without log, as JSON>'
// Progress goes to stderr; the result is printed as one line: BENCH_RESULT {json}.
import * as path from 'node:path';

import { routeStructuredLogs } from '../functions/test/helpers/logs';
import type { LifecycleParams } from './lifecycle';

const params = JSON.parse(process.argv[2] ?? '{}') as Omit<LifecycleParams, 'log'>;
routeStructuredLogs(path.resolve(__dirname, '..', 'artifacts', 'bench-functions.log'));
// Loaded after the logs are routed: firebase-functions' logger keeps the console methods it finds when it loads.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
const { lifecycleBench } = require('./lifecycle') as typeof import('./lifecycle');
lifecycleBench({ ...params, log: (line) => process.stderr.write(`${line}\n`) }).then(
  (result) => {
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
