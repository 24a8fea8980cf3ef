// The embedded Firestore: @firestore-emulator/server, a Node implementation of
// the Firestore gRPC API that firebase-admin reaches via FIRESTORE_EMULATOR_HOST.
// No Java, no download. See DESIGN.md for what it does not do (isolated
// transactions, preconditions, BulkWriter).
import { FirestoreServer } from '@firestore-emulator/server';
import * as net from 'node:net';

export interface EmbeddedFirestore {
  /** host:port for FIRESTORE_EMULATOR_HOST. */
  readonly host: string;
  readonly port: number;
  /** Drops every document of every project. */
  clear(): void;
  stop(): void;
}

/** A port the OS says is free now; the emulator's own start() does not report an ephemeral port. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export async function startEmbeddedFirestore(port?: number): Promise<EmbeddedFirestore> {
  const server = new FirestoreServer();
  const chosen = port ?? (await freePort());
  try {
    await server.start(chosen);
  } catch (error) {
    throw new Error(`embedded Firestore could not listen on port ${chosen}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    host: `127.0.0.1:${chosen}`,
    port: chosen,
    clear: () => server.state.clear(),
    stop: () => server.stop(),
  };
}
