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
export function exportLine(java: Java, firestore: EmulatorBinary, pubsub: EmulatorBinary | undefined): string {
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

function main(argv: string[]): number {
  const found: { java?: Java; firestore?: EmulatorBinary; pubsub?: EmulatorBinary } = {};
  const lines: string[] = [];
  const report = <T extends Java | EmulatorBinary>(label: string, find: () => T, say: (tool: T) => string): T | undefined => {
    try {
      const tool = find();
      lines.push(`${label.padEnd(20)}${say(tool)}`);
      return tool;
    } catch (error) {
      if (!(error instanceof MissingTool)) throw error;
      lines.push(`${label.padEnd(20)}MISSING: ${error.message}`);
      return undefined;
    }
  };
  const where = (tool: EmulatorBinary) => `${tool.path} (from ${tool.source})`;
  found.java = report(
    'Java 21+',
    () => findJava(),
    (java) => `Java ${java.major} at ${java.bin} (from ${java.source})`,
  );
  found.firestore = report('Firestore emulator', () => findFirestoreEmulator(), where);
  found.pubsub = report('Pub/Sub emulator', () => findPubsubEmulator(), where);
  lines.push(
    `${'Emulator UI'.padEnd(20)}${
      hasEmulatorUi()
        ? `${uiBundleDir()} (npm start runs it; for a plain emulators:start set emulators.ui.enabled in firebase.json)`
        : 'not downloaded (needs internet once: npx firebase setup:emulators:ui); everything else runs without it'
    }`,
  );
  const complete = found.java && found.firestore && found.pubsub;
  const line = found.java && found.firestore ? exportLine(found.java, found.firestore, found.pubsub) : undefined;
  if (argv.includes('--env')) {
    if (line) console.log(line);
    else for (const missing of lines.filter((l) => l.includes('MISSING:'))) console.error(missing);
    return line ? 0 : 1;
  }
  for (const text of lines) console.log(text);
  if (line) console.log(`\nFor a plain \`npx firebase emulators:start\` in this shell:\n${line}`);
  return complete ? 0 : 1;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
