// The manifest the Firebase CLI reads from the build at deploy and in the
// emulator: firebase-functions' discovery binary loads lib/ in a process
// without secrets and writes it. For the deploy tests and for npm start,
// which writes a value for every param it declares.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const DISCOVERY_MS = 30_000;

/** A param as firebase-functions declares it in the manifest. */
export interface DeclaredParam {
  name: string;
  type: string;
  default?: unknown;
  input?: { text?: { validationRegex?: string } };
}

export interface Manifest {
  endpoints: Record<string, Record<string, unknown>>;
  params?: DeclaredParam[];
  [key: string]: unknown;
}

/** The build's manifest, and what discovery wrote to stderr (where firebase-functions warns of work done at import). */
export function discoverManifest(functionsDir: string): { manifest: Manifest; stderr: string } {
  const output = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), 'functions-manifest-')),
    'functions.json',
  );
  try {
    const result = spawnSync(
      process.execPath,
      [
        path.join(
          functionsDir,
          'node_modules',
          'firebase-functions',
          'lib',
          'bin',
          'firebase-functions.js',
        ),
        functionsDir,
      ],
      {
        cwd: functionsDir,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          FUNCTIONS_CONTROL_API: 'true',
          GCLOUD_PROJECT: 'demo-discovery',
          FUNCTIONS_MANIFEST_OUTPUT_PATH: output,
        },
        encoding: 'utf8',
        timeout: DISCOVERY_MS,
      },
    );
    if (result.status !== 0) {
      throw new Error(
        `could not load ${path.join(functionsDir, 'lib')} to read its manifest (is it built?): ${result.error?.message ?? result.stderr.trim()}`,
      );
    }
    return {
      manifest: JSON.parse(fs.readFileSync(output, 'utf8')) as Manifest,
      stderr: result.stderr,
    };
  } finally {
    fs.rmSync(path.dirname(output), { recursive: true, force: true });
  }
}
