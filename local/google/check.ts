// `npm run tools`: says which Java and which of Google's emulators this
// machine offers, and prints the `export` line that lets a plain
// `npx firebase emulators:start` use them (Java 21+ first on PATH, the
// emulators as firebase-tools' binary overrides, so it downloads nothing). It
// exits 1 when one that the tests need is missing; CI runs it first, so a
// missing tool fails the run loudly instead of being skipped.
// `npm run tools -- --env` prints the export line alone, for `eval`.
import * as path from 'node:path';

import {
  findFirestoreEmulator,
  findJava,
  findPubsubEmulator,
  hasEmulatorUi,
  MissingTool,
  uiBundleDir,
  type EmulatorBinary,
  type Java,
} from '../../functions/test/helpers/google-tools';

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** The shell line that hands the found tools to a plain `firebase emulators:start`. */
export function exportLine(
  java: Java,
  firestore: EmulatorBinary,
  pubsub: EmulatorBinary | undefined,
): string {
  const vars = [
    `PATH=${quote(java.binDir)}:"$PATH"`,
    `JAVA_HOME=${quote(path.dirname(java.binDir))}`,
    `FIRESTORE_EMULATOR_BINARY_PATH=${quote(firestore.path)}`,
    ...(pubsub ? [`PUBSUB_EMULATOR_BINARY_PATH=${quote(pubsub.path)}`] : []),
    // A demo project needs no Google credentials: no probe of the GCE metadata server for them (and no warnings).
    'METADATA_SERVER_DETECTION=none',
  ];
  return `export ${vars.join(' ')}`;
}

export type EmulatorTools = { java?: Java; firestore?: EmulatorBinary; pubsub?: EmulatorBinary };

/** Java and Google's emulators as this machine offers them (nothing is downloaded), with a line for each: where, or MISSING and why. */
export function lookForTools(env: NodeJS.ProcessEnv = process.env): {
  tools: EmulatorTools;
  missing: MissingTool[];
  lines: string[];
} {
  const tools: EmulatorTools = {};
  const missing: MissingTool[] = [];
  const lines: string[] = [];
  const look = <K extends keyof EmulatorTools>(
    key: K,
    label: string,
    find: (env: NodeJS.ProcessEnv) => NonNullable<EmulatorTools[K]>,
  ) => {
    try {
      const tool = (tools[key] = find(env));
      lines.push(
        `${label.padEnd(18)}${'major' in tool ? `Java ${tool.major} at ${tool.bin}` : tool.path} (from ${tool.source})`,
      );
    } catch (error) {
      if (!(error instanceof MissingTool)) throw error;
      missing.push(error);
      // npm start runs without Pub/Sub: nothing fires the scheduled poll in the emulators anyway.
      lines.push(
        `${label.padEnd(18)}MISSING: ${error.message}${key === 'pubsub' ? '; npm start leaves it out (its clock polls)' : ''}`,
      );
    }
  };
  look('java', 'Java 21+', findJava);
  look('firestore', 'Firestore', findFirestoreEmulator);
  look('pubsub', 'Pub/Sub', findPubsubEmulator);
  return { tools, missing, lines };
}

function main(argv: string[]): number {
  const { tools, missing, lines } = lookForTools();
  lines.push(
    `${'Emulator UI'.padEnd(18)}${
      hasEmulatorUi()
        ? `${uiBundleDir()} (npm start runs it; for a plain emulators:start set emulators.ui.enabled in firebase.json)`
        : 'not downloaded (needs internet once: npx firebase setup:emulators:ui); everything else runs without it'
    }`,
  );
  const line =
    tools.java && tools.firestore
      ? exportLine(tools.java, tools.firestore, tools.pubsub)
      : undefined;
  if (argv.includes('--env')) {
    if (line) console.log(line);
    else for (const text of lines.filter((l) => l.includes('MISSING:'))) console.error(text);
    return line ? 0 : 1;
  }
  for (const text of lines) console.log(text);
  if (line) console.log(`\nFor a plain \`npx firebase emulators:start\` in this shell:\n${line}`);
  return missing.length === 0 ? 0 : 1;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
