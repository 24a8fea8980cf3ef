// Runs one measured piece of the bench in a process of its own and returns
// what it printed as `BENCH_RESULT {json}`; section 1's lifecycle is one.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import type { LifecycleParams, LifecycleResult } from './lifecycle';

export function runChild<T>(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs: number; onProgress?: (line: string) => void },
): Promise<T> {
  return new Promise((resolve, reject) => {
    // grpc-js sets the TLS server name to the IP it dials, which Node deprecates (DEP0123): noise, as in `npm start`.
    const child = spawn(process.execPath, ['--disable-warning=DEP0123', ...args], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line.trim()) options.onProgress?.(line);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) {
        reject(
          new Error(
            `${args.join(' ')} ended with ${signal ?? `exit code ${code}`}: ${err.trim().slice(-2000) || out.trim().slice(-2000)}`,
          ),
        );
        return;
      }
      resolve(JSON.parse(line.slice('BENCH_RESULT '.length)) as T);
    });
  });
}

/** Section 1's lifecycle, in a process of its own (lifecycle-child.ts). */
export function runLifecycle(
  params: Omit<LifecycleParams, 'log'>,
  log: (line: string) => void,
): Promise<LifecycleResult> {
  return runChild<LifecycleResult>(
    [
      '-r',
      'ts-node/register/transpile-only',
      path.join(__dirname, 'lifecycle-child.ts'),
      JSON.stringify(params),
    ],
    { timeoutMs: params.timeoutMs + 90_000, onProgress: log },
  );
}
