import { startGoogleFirestore } from '../local/google/firestore-emulator';
import { requireFromFunctions } from '../local/functions-host';
import { PROJECT_ID } from '../local/stack';
import { scaleBench } from './scale';
async function main() {
  const emulator = await startGoogleFirestore({ projectId: PROJECT_ID });
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  process.env.GCLOUD_PROJECT = PROJECT_ID;
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const { initializeApp } = requireFromFunctions('firebase-admin/app') as typeof import('firebase-admin/app');
  const { getFirestore } = requireFromFunctions('firebase-admin/firestore') as typeof import('firebase-admin/firestore');
  const db = getFirestore(initializeApp({ projectId: PROJECT_ID }, 'x'));
  const target = { kind: 'google' as const, host: emulator.host, db, clear: () => emulator.clear() };
  const log = (l: string) => console.log(new Date().toISOString().slice(11, 19), l);
  const s = await scaleBench({ target, active: Number(process.argv[2]), shardSize: 2000, pageSize: 500, maxConcurrency: 32, log });
  console.log(
    JSON.stringify({
      ...s,
      fanOut: { ...s.fanOut, tasks: s.fanOut.tasks.map((t) => [Math.round(t.wallMs), Math.round(t.peakRssMb), t.firestore.reads]) },
    }),
  );
  await emulator.stop();
  process.exit(0);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
