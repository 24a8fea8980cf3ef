// `npm run tools`: says which Java and which of Google's emulators this
// machine offers, and exits 1 when one that the tests need is missing. CI runs
// it first, so a missing tool fails the run loudly instead of being skipped.
import { findFirestoreEmulator, findJava, findPubsubEmulator, hasEmulatorUi, MissingTool } from './tools';

function report(label: string, find: () => string): boolean {
  try {
    console.log(`${label.padEnd(20)}${find()}`);
    return true;
  } catch (error) {
    if (!(error instanceof MissingTool)) throw error;
    console.log(`${label.padEnd(20)}MISSING: ${error.message}`);
    return false;
  }
}

const found = [
  report('Java 21+', () => {
    const java = findJava();
    return `Java ${java.major} at ${java.bin} (from ${java.source})`;
  }),
  report('Firestore emulator', () => {
    const emulator = findFirestoreEmulator();
    return `${emulator.path} (from ${emulator.source})`;
  }),
  report('Pub/Sub emulator', () => {
    const emulator = findPubsubEmulator();
    return `${emulator.path} (from ${emulator.source})`;
  }),
];
console.log(
  `${'Emulator UI'.padEnd(20)}${hasEmulatorUi() ? 'downloaded' : 'not downloaded (needs internet once; `npm run emulators` runs without it)'}`,
);
process.exitCode = found.every(Boolean) ? 0 : 1;
