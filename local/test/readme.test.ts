// The README's quick start stays true: every npm command in it exists, and
// every flag it passes is one the entry accepts. A newcomer runs these lines
// first, so a renamed script or flag must fail here, not on their machine.
// (The README's configuration table is checked against functions/src/config.ts
// by functions/test/config.test.ts.)
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { parseFlags } from '../emulators';
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
  start: (args) => parseOptions(args, {}),
  emulators: (args) => parseFlags(args),
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
      if (rest.length > 0) problems.push(`${shown}: the quick start should install exactly what the lockfiles say`);
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
      problems.push(`${shown}: npm takes ${before.join(' ')} for itself; the script's flags go after \`--\``);
    }
    if (after.length === 0) continue;
    const parse = PARSERS[script];
    if (!parse) {
      problems.push(`${shown}: passes flags to "${script}", whose parser this test does not know; add it to PARSERS`);
      continue;
    }
    try {
      const parsed = parse(after);
      if (parsed === 'help' && !after.some((arg) => arg === '--help' || arg === '-h')) {
        problems.push(`${shown}: parsed as a request for help`);
      }
    } catch (error) {
      problems.push(`${shown}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return problems;
}

describe("the README's quick start", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const { scripts } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

  it('uses only npm commands that exist, with flags their entry accepts', () => {
    assert.deepEqual(quickStartProblems(readme, scripts), []);
  });

  it('installs, starts and tests, the way a newcomer begins', () => {
    const commands = npmCommands(quickStartLines(readme)).map((words) => (words[0] === 'run' ? words[1] : words[0]));
    for (const command of ['install', 'start', 'test']) assert.ok(commands.includes(command), `the quick start runs npm ${command}`);
    assert.ok('start' in scripts && 'test' in scripts, 'start and test are scripts, not npm defaults');
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
      'npm run emulators -- --poll-interval 5 --free-ports',
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
      /^npm run tools -- --verbose: passes flags to "tools", whose parser this test does not know/,
      /^npm run also-missing: package.json has no "also-missing" script$/,
    ];
    assert.equal(problems.length, expected.length, problems.join('\n'));
    expected.forEach((pattern, i) => assert.match(problems[i], pattern));
  });
});
