// The README's quick start stays true: every npm command in it exists, and
// every flag it passes is one the entry accepts; and its lines for a plain
// `npx firebase emulators:start` are run as a newcomer runs them, after
// `npm install`, and move orders with no prompt. A renamed script, flag or
// file must fail here, not on their machine. (The README's configuration
// table is checked against functions/src/config.ts by functions/test/config.test.ts.)
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { parseConfig } from '../../food-service/src/config';
import { freePort } from '../../functions/test/helpers/firestore-emulator';
import { parseClockFlags } from '../clock';
import { parseOptions } from '../options';

const ROOT = path.resolve(__dirname, '..', '..');

/** npm's own commands the quick start may use without a script of that name. */
const BUILT_INS = new Set(['install', 'ci']);

/**
 * The parser of each script that takes flags, run on the words after `--`; it
 * throws on an unknown flag or a bad value. A script whose flags the quick
 * start shows must have one here.
 */
const PARSERS: Record<string, (args: string[]) => unknown> = {
  start: (args) => parseOptions(args, ROOT),
  clock: (args) => parseClockFlags(args),
  'food-service': (args) => parseConfig(args),
  tools: (args) => {
    if (args.some((arg) => arg !== '--env'))
      throw new Error(`npm run tools takes --env only, got ${args.join(' ')}`);
  },
};

/** The shell lines of the code blocks between `## Quick start` and the next `## ` heading. */
export function quickStartLines(readme: string): string[] {
  const start = readme.search(/^## Quick start$/m);
  if (start < 0) return [];
  const rest = readme.slice(start + 1);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const lines: string[] = [];
  for (const [, lang, body] of section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    const shell = ['sh', 'bash', 'shell', 'console'].includes(lang);
    for (const line of body.split('\n')) {
      // Output blocks are read only where a line is a prompt: their text may name commands.
      if (line.startsWith('$ ')) lines.push(line.slice(2));
      else if (shell) lines.push(line);
    }
  }
  return lines;
}

/** Each `npm …` command on the lines, as its words, without comments and up to `&&`, `;` or `|`. */
export function npmCommands(lines: string[]): string[][] {
  const commands: string[][] = [];
  for (const line of lines) {
    const code = line.replace(/(^|\s)#.*$/, '');
    for (const part of code.split(/&&|;|\|/)) {
      const words = part.trim().split(/\s+/).filter(Boolean);
      const at = words.indexOf('npm');
      if (at >= 0) commands.push(words.slice(at + 1));
    }
  }
  return commands;
}

/** What is wrong with the quick start's npm commands, given the root package.json's scripts. */
export function quickStartProblems(readme: string, scripts: Record<string, string>): string[] {
  const problems: string[] = [];
  const commands = npmCommands(quickStartLines(readme));
  if (commands.length === 0) problems.push('the quick start has no npm command in a code block');
  for (const words of commands) {
    const shown = `npm ${words.join(' ')}`;
    const [command, ...rest] = words;
    let script: string;
    let args: string[];
    if (command === 'run' || command === 'run-script') {
      [script, ...args] = rest;
      if (!script) {
        problems.push(`${shown}: which script?`);
        continue;
      }
    } else if (command === 'start' || command === 'test') {
      script = command;
      args = rest;
    } else if (BUILT_INS.has(command)) {
      if (rest.length > 0)
        problems.push(`${shown}: the quick start should install exactly what the lockfiles say`);
      continue;
    } else {
      problems.push(`${shown}: not a command this test knows; add it here if npm has it`);
      continue;
    }
    if (!(script in scripts)) {
      problems.push(`${shown}: package.json has no "${script}" script`);
      continue;
    }
    const separator = args.indexOf('--');
    const before = separator < 0 ? args : args.slice(0, separator);
    const after = separator < 0 ? [] : args.slice(separator + 1);
    if (before.length > 0) {
      problems.push(
        `${shown}: npm takes ${before.join(' ')} for itself; the script's flags go after \`--\``,
      );
    }
    if (after.length === 0) continue;
    const parse = PARSERS[script];
    if (!parse) {
      problems.push(
        `${shown}: passes flags to "${script}", whose parser this test does not know; add it to PARSERS`,
      );
      continue;
    }
    try {
      const parsed = parse(after) as { help?: boolean } | undefined;
      if (parsed?.help && !after.some((arg) => arg === '--help' || arg === '-h'))
        problems.push(`${shown}: parsed as a request for help`);
    } catch (error) {
      problems.push(`${shown}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return problems;
}

describe("the README's quick start", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const { scripts } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };

  it('uses only npm commands that exist, with flags their entry accepts', () => {
    assert.deepEqual(quickStartProblems(readme, scripts), []);
  });

  it('installs, starts and tests, the way a newcomer begins', () => {
    const commands = npmCommands(quickStartLines(readme)).map((words) =>
      words[0] === 'run' ? words[1] : words[0],
    );
    for (const command of ['install', 'start', 'test'])
      assert.ok(commands.includes(command), `the quick start runs npm ${command}`);
    assert.ok(
      'start' in scripts && 'test' in scripts,
      'start and test are scripts, not npm defaults',
    );
  });

  it('is checked for real: a missing script, an unknown or bad flag, and a flag npm would swallow are each reported', () => {
    const made = [
      '# x',
      '## Quick start',
      '```sh',
      'npm install',
      'npm run no-such-script',
      'npm start -- --no-such-flag 1     # a comment',
      'npm start -- --duration 0',
      'npm start --duration 30',
      'npm run tools -- --verbose',
      '```',
      '```',
      '$ npm run also-missing',
      'npm run in-output-not-checked',
      '```',
      '## Next',
      '```sh',
      'npm run after-the-section',
      '```',
    ].join('\n');
    const problems = quickStartProblems(made, scripts);
    const expected = [
      /^npm run no-such-script: package.json has no "no-such-script" script$/,
      /^npm start -- --no-such-flag 1: .*no-such-flag/,
      /^npm start -- --duration 0: --duration must be a number from 1 /,
      /^npm start --duration 30: npm takes --duration 30 for itself/,
      /^npm run tools -- --verbose: npm run tools takes --env only/,
      /^npm run also-missing: package.json has no "also-missing" script$/,
    ];
    assert.equal(problems.length, expected.length, problems.join('\n'));
    expected.forEach((pattern, i) => assert.match(problems[i], pattern));
  });
});

/** The code block of the quick start that runs a plain `npx firebase emulators:start`: its lines, without comments. */
export function plainCliLines(readme: string): string[] {
  const start = readme.search(/^## Quick start$/m);
  const rest = readme.slice(start + 1);
  const section = rest.slice(0, rest.search(/^## /m));
  const block = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)]
    .map(([, body]) => body)
    .find((body) => /npx firebase emulators:start/.test(body));
  return (block ?? '')
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter(Boolean);
}

/** A process of the newcomer's, in its own group so that it and what it started can be stopped together. */
interface Started {
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

function startShell(command: string, cwd: string, env: NodeJS.ProcessEnv): Started {
  const child = spawn('sh', ['-c', command], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    async stop() {
      const group = (signal: NodeJS.Signals) => {
        try {
          process.kill(-(child.pid ?? 0), signal);
        } catch {
          // Already gone.
        }
      };
      group('SIGINT');
      const timer = setTimeout(() => group('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A copy of the repository as a fresh clone has it after `npm install`, for
 * the plain CLI: the committed files (firebase.json, .firebaserc, rules,
 * indexes, functions/.env and .env.local), the build and the modules
 * `npm install` made, and the functions/.secret.local it wrote. Only what two
 * runs on one machine cannot share differs: free ports, a demo project and
 * the simulator's port of its own.
 */
function newcomerCopy(
  dir: string,
  ports: Record<string, number>,
  project: string,
  simulator: number,
): void {
  const own = new Set(['firebase.json', '.firebaserc', 'functions', '.git', 'artifacts']);
  const ownInFunctions = new Set(['.env', '.env.local', '.secret.local']);
  for (const entry of fs.readdirSync(ROOT))
    if (!own.has(entry)) fs.symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
  const functions = path.join(dir, 'functions');
  fs.mkdirSync(functions);
  for (const entry of fs.readdirSync(path.join(ROOT, 'functions'))) {
    if (!ownInFunctions.has(entry))
      fs.symlinkSync(path.join(ROOT, 'functions', entry), path.join(functions, entry));
  }
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'firebase.json'), 'utf8')) as {
    emulators: Record<string, unknown>;
  };
  for (const [name, settings] of Object.entries(config.emulators)) {
    if (typeof settings === 'object' && settings !== null && name in ports)
      (settings as { port: number }).port = ports[name];
  }
  // The Firestore emulator's websocket for the Emulator UI has a default port too.
  (config.emulators.firestore as { websocketPort: number }).websocketPort =
    ports.firestoreWebsocket;
  fs.writeFileSync(path.join(dir, 'firebase.json'), JSON.stringify(config, null, 2));
  fs.writeFileSync(
    path.join(dir, '.firebaserc'),
    JSON.stringify({ projects: { default: project } }),
  );
  fs.copyFileSync(path.join(ROOT, 'functions', '.env'), path.join(functions, '.env'));
  fs.copyFileSync(
    path.join(ROOT, 'functions', '.secret.local'),
    path.join(functions, '.secret.local'),
  );
  const local = fs.readFileSync(path.join(ROOT, 'functions', '.env.local'), 'utf8');
  assert.match(
    local,
    /^FOOD_SERVICE_ADDRESS=127\.0\.0\.1:9000$/m,
    "functions/.env.local names the simulator's usual address",
  );
  fs.writeFileSync(
    path.join(functions, '.env.local'),
    local.replace('127.0.0.1:9000', `127.0.0.1:${simulator}`),
  );
}

/** Relations by stage, read through the Firestore emulator's REST API as an admin. */
async function stages(firestorePort: number, project: string): Promise<Record<string, number>> {
  const url = `http://127.0.0.1:${firestorePort}/v1/projects/${project}/databases/(default)/documents/relations?pageSize=300`;
  const response = await fetch(url, {
    headers: { authorization: 'Bearer owner' },
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await response.json()) as {
    documents?: Array<{ fields: { stage?: { stringValue?: string } } }>;
  };
  const counts: Record<string, number> = {};
  for (const doc of body.documents ?? []) {
    const stage = doc.fields.stage?.stringValue ?? '?';
    counts[stage] = (counts[stage] ?? 0) + 1;
  }
  return counts;
}

describe("the README's plain `npx firebase emulators:start`, as a newcomer runs it", function () {
  this.timeout(300_000);
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const started: Started[] = [];
  let dir: string;
  after(async () => {
    for (const process of started.reverse()) await process.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says it in three lines: the simulator, the emulators with the tools line, and the clock', () => {
    const lines = plainCliLines(readme);
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[0], /^npm run food-service -- /);
    assert.match(
      lines[1],
      /^eval "\$\(npm run -s tools -- --env\)" && npx firebase emulators:start$/,
    );
    assert.match(lines[2], /^npm run clock$/);
  });

  it('moves orders to DELIVERED with no prompt, after npm install left functions/.secret.local', async () => {
    assert.ok(
      fs.existsSync(path.join(ROOT, 'functions', '.secret.local')),
      'npm install (postinstall: npm run certs) writes functions/.secret.local',
    );
    const [simulatorLine, emulatorsLine, clockLine] = plainCliLines(readme);
    const names = [
      'functions',
      'firestore',
      'firestoreWebsocket',
      'pubsub',
      'hub',
      'logging',
      'eventarc',
      'tasks',
      'ui',
    ];
    const ports: Record<string, number> = {};
    for (const name of names) ports[name] = await freePort();
    const [simulator, stats] = [await freePort(), await freePort()];
    const project = `demo-readme-${randomUUID().slice(0, 8)}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'newcomer-'));
    newcomerCopy(dir, ports, project, simulator);
    // The newcomer's shell: no emulator or project of anyone else's, no terminal (so a prompt would fail the CLI).
    const env = { ...process.env };
    for (const name of [
      'FIRESTORE_EMULATOR_HOST',
      'GCLOUD_PROJECT',
      'FIREBASE_EMULATORS_PATH',
      'CLOUD_TASKS_EMULATOR_HOST',
    ])
      delete env[name];

    started.push(
      startShell(`${simulatorLine} --port ${simulator} --stats-port ${stats}`, dir, env),
    );
    const emulators = startShell(emulatorsLine, dir, env);
    started.push(emulators);
    const ready = Date.now() + 150_000;
    while (!/All emulators ready/.test(emulators.output())) {
      assert.ok(
        Date.now() < ready && emulators.child.exitCode === null,
        `the emulators did not get ready:\n${emulators.output()}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const url = `http://127.0.0.1:${ports.functions}/${project}/us-central1/pollFoodServiceNow`;
    const clock = startShell(`${clockLine} -- --url ${url}`, dir, env);
    started.push(clock);

    let counts: Record<string, number> = {};
    const moved = Date.now() + 90_000;
    while (!((counts.DELIVERED ?? 0) >= 3) && Date.now() < moved) {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      counts = await stages(ports.firestore, project);
    }
    const output = emulators.output();
    assert.ok(
      (counts.DELIVERED ?? 0) >= 3,
      `orders did not reach DELIVERED: ${JSON.stringify(counts)}\n${clock.output()}\n${output}`,
    );
    assert.match(clock.output(), /\[clock\] poll 200 in \d+ ms: listed \d+/);
    assert.match(
      output,
      /Loaded environment variables from functions\/\.env, functions\/\.env\.local/,
    );
    assert.match(output, /firestore: Env variable override detected/);
    assert.match(output, /pubsub: Env variable override detected/);
    assert.doesNotMatch(
      output,
      /Prompting for parameters|non-interactive mode|Setup required|[Dd]ownloading/,
    );
    assert.doesNotMatch(
      output,
      /MetadataLookupWarning/,
      'the tools line silences the metadata-server probe',
    );
  });
});
