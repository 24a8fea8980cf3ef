// `npm run ops -- …` as a person runs it (its entry point, as npm would), against the test emulator.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { PROJECT_ID } from '../setup';

const ROOT = path.resolve(__dirname, '..', '..', '..');

export function ops(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'ops/main.ts', ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      FIRESTORE_EMULATOR_HOST: String(process.env.FIRESTORE_EMULATOR_HOST),
      GCLOUD_PROJECT: PROJECT_ID,
      METADATA_SERVER_DETECTION: 'none',
    },
    timeout: 60_000,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}
