// Google's Firestore emulator as a child process on a loopback port, for the
// tests and the benchmark. It is the same emulator `firebase
// emulators:start` runs, so transactions, preconditions and trigger events
// behave as they do there.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as readline from 'node:readline';

import { findFirestoreEmulator, findJava } from './google-tools';

/** A port the OS says is free now, for servers that cannot report the ephemeral port they got. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

const START_MS = 60_000;
const STOP_MS = 10_000;

export interface GoogleFirestore {
  /** host:port, for FIRESTORE_EMULATOR_HOST. */
  readonly host: string;
  readonly projectId: string;
  /** What runs: the Java and the emulator, for banners. */
  readonly description: string;
  /** Deletes every document of the project (which fires delete events for watched collections). */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

export interface GoogleFirestoreOptions {
  projectId: string;
  /** host:port the emulator posts trigger events to (the tests' receiver, helpers/trigger-events.ts). */
  functionsEmulator?: string;
  port?: number;
  /** Lines the emulator prints; by default they are kept and shown only if it fails to start. */
  log?: (line: string) => void;
}

const alive = new Set<ChildProcess>();
// A test run or a bench that exits without stopping it must not leave a JVM behind.
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

export async function startGoogleFirestore(
  options: GoogleFirestoreOptions,
): Promise<GoogleFirestore> {
  const java = findJava();
  const emulator = findFirestoreEmulator();
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const args = [
    '-Duser.language=en',
    '-jar',
    emulator.path,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--project_id',
    options.projectId,
  ];
  if (options.functionsEmulator) args.push('--functions_emulator', options.functionsEmulator);
  const child = spawn(java.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  alive.add(child);
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      if (options.log) options.log(line);
      else if (output.length < 200) output.push(line);
    });
  }
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  void exited.then(() => alive.delete(child));

  const base = `http://${host}`;
  const deadline = Date.now() + START_MS;
  for (;;) {
    const exitCode = child.exitCode ?? child.signalCode;
    if (exitCode !== null) {
      throw new Error(
        `the Firestore emulator exited (${exitCode}) before it served ${base}:\n${output.join('\n')}`,
      );
    }
    if (
      await fetch(base, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `the Firestore emulator did not serve ${base} within ${START_MS / 1000} s:\n${output.join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    host,
    projectId: options.projectId,
    description: `Google's Firestore emulator (${emulator.source}; Java ${java.major})`,
    async clear() {
      const response = await fetch(
        `${base}/emulator/v1/projects/${options.projectId}/databases/(default)/documents`,
        { method: 'DELETE' },
      );
      if (!response.ok)
        throw new Error(
          `clearing the Firestore emulator failed: ${response.status} ${await response.text()}`,
        );
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
