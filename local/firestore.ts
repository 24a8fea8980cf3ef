// The embedded Firestore: @firestore-emulator/server, a Node implementation of
// the Firestore gRPC API that firebase-admin reaches via FIRESTORE_EMULATOR_HOST.
// No Java, no download. It does not isolate transactions, honour lastUpdateTime
// preconditions or offer BulkWriter, so it is only npm start's fallback.
import { FirestoreServer } from '@firestore-emulator/server';
import * as net from 'node:net';
import { describeError } from '../functions/src/describe-error';

/** Plain values as firebase-admin would read them; timestamps become Dates. */
export type PlainData = Record<string, unknown>;

/** One document write as the emulator applied it: `data` is null for a delete. */
export interface DocumentWrite {
  /** e.g. relations/abc or relations/abc/transitions/x */
  path: string;
  data: PlainData | null;
}

/** One billed document read: `path` is null for an aggregation (count), billed as one read. */
export interface DocumentRead {
  path: string | null;
}

export interface EmbeddedFirestore {
  /** host:port for FIRESTORE_EMULATOR_HOST. */
  readonly host: string;
  readonly port: number;
  /**
   * Calls `listener` once per document write, in the order the emulator
   * applies them. The emulator's own query listeners re-run the whole query
   * on every write and lose changes under bursts; this hook does neither.
   */
  onWrite(listener: (write: DocumentWrite) => void): () => void;
  /** Calls `listener` once per document a get, getAll or query returned (and once per aggregation). */
  onRead(listener: (read: DocumentRead) => void): () => void;
  /** Drops every document of every project. */
  clear(): void;
  stop(): void;
}

interface EmulatorField {
  type: string;
  value: unknown;
}

function plainValue(field: EmulatorField): unknown {
  switch (field.type) {
    case 'timestamp_value': {
      const { seconds, nanos } = field.value as { seconds: number; nanos: number };
      return new Date(Number(seconds) * 1000 + Math.floor(Number(nanos) / 1e6));
    }
    case 'map_value':
      return plainFields(field.value as Record<string, EmulatorField>);
    case 'array_value':
      return (field.value as EmulatorField[]).map(plainValue);
    default:
      return field.value;
  }
}

function plainFields(fields: Record<string, EmulatorField>): PlainData {
  return Object.fromEntries(Object.entries(fields).map(([key, field]) => [key, plainValue(field)]));
}

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

/** A streamed response of the Firestore API, as far as reads are concerned. */
interface ReadResponse {
  has_document?: boolean;
  document?: { name: string };
  has_found?: boolean;
  found?: { name: string };
  has_missing?: boolean;
  missing?: string;
  has_result?: boolean;
}

interface StreamCall {
  write(message: ReadResponse): boolean;
}

/** `projects/p/databases/(default)/documents/relations/x` → `relations/x` */
function documentPath(name: string): string {
  const marker = '/documents/';
  const at = name.indexOf(marker);
  return at < 0 ? name : name.slice(at + marker.length);
}

/**
 * Counts reads where the emulator answers them. Its service object is not
 * exported, so the gRPC handlers it registered are wrapped instead: every
 * document a response carries is one read, as Firestore bills them.
 */
function countReads(server: FirestoreServer, listeners: Set<(read: DocumentRead) => void>): void {
  const handlers = (server as unknown as { server: { handlers: Map<string, { func: (call: StreamCall) => unknown }> } }).server.handlers;
  const reads: Record<string, (message: ReadResponse) => Array<string | null>> = {
    BatchGetDocuments: (m) =>
      m.has_found && m.found ? [documentPath(m.found.name)] : m.has_missing && m.missing ? [documentPath(m.missing)] : [],
    RunQuery: (m) => (m.has_document && m.document ? [documentPath(m.document.name)] : []),
    RunAggregationQuery: (m) => (m.has_result ? [null] : []),
  };
  for (const [method, readsOf] of Object.entries(reads)) {
    const handler = handlers.get(`/google.firestore.v1.Firestore/${method}`);
    if (!handler) throw new Error(`the embedded Firestore has no ${method} handler to count reads on`);
    const serve = handler.func;
    handler.func = (call) => {
      const write = call.write.bind(call);
      call.write = (message) => {
        for (const path of readsOf(message)) for (const listener of listeners) listener({ path });
        return write(message);
      };
      return serve(call);
    };
  }
}

export async function startEmbeddedFirestore(port?: number): Promise<EmbeddedFirestore> {
  const server = new FirestoreServer();
  const readListeners = new Set<(read: DocumentRead) => void>();
  countReads(server, readListeners);
  const chosen = port ?? (await freePort());
  try {
    await server.start(chosen);
  } catch (error) {
    throw new Error(`embedded Firestore could not listen on port ${chosen}: ${describeError(error)}`);
  }
  const { emitter } = server.state;
  return {
    host: `127.0.0.1:${chosen}`,
    port: chosen,
    onWrite(listener) {
      type Event = { document: { getDocumentPath(): string; toJSON(): { fields: Record<string, EmulatorField> } } };
      const written = ({ document }: Event) => listener({ path: document.getDocumentPath(), data: plainFields(document.toJSON().fields) });
      const deleted = ({ document }: Event) => listener({ path: document.getDocumentPath(), data: null });
      emitter.on('create-document', written);
      emitter.on('update-document', written);
      emitter.on('delete-document', deleted);
      return () => {
        emitter.off('create-document', written);
        emitter.off('update-document', written);
        emitter.off('delete-document', deleted);
      };
    },
    onRead(listener) {
      readListeners.add(listener);
      return () => readListeners.delete(listener);
    },
    clear: () => server.state.clear(),
    stop: () => server.stop(),
  };
}
