// Receives the trigger events Google's Firestore emulator sends, the way the
// Functions emulator does: the Firestore emulator is started with
// --functions_emulator pointing here, each trigger is registered with it, and
// it POSTs one binary-mode CloudEvent per matching write (ce-* headers, the
// DocumentEventData protobuf base64-encoded in the body). The events are the
// ones production functions get, so handlers run the exported function itself
// on them and firebase-functions decodes them with its own code.
//
// The emulator posts one event at a time and waits for the answer, across all
// triggers. This receiver answers at once and hands the event on, so slow
// handlers do not hold back the others (Eventarc delivers concurrently too).
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A CloudEvent as the Functions runtime hands it to a v2 function: attributes, and the protobuf data. */
export interface FirestoreCloudEvent {
  specversion: string;
  id: string;
  type: string;
  source: string;
  subject?: string;
  time: string;
  datacontenttype?: string;
  /** e.g. relations/abc */
  document: string;
  database: string;
  namespace: string;
  project: string;
  location: string;
  data: Buffer;
  [attribute: string]: unknown;
}

export interface FirestoreTrigger {
  /** How the trigger is known to the emulator, e.g. "us-central1-advanceRelation". */
  id: string;
  /** e.g. google.cloud.firestore.document.v1.written */
  eventType: string;
  /** A path pattern, e.g. "relations/{orderId}". */
  document: string;
}

export interface FirestoreTarget {
  host: string;
  projectId: string;
}

export interface TriggerEventReceiver {
  /** host:port, for the Firestore emulator's --functions_emulator. */
  readonly address: string;
  /** Registers `trigger` with the emulator; each of its events goes to `handle`. */
  register(
    firestore: FirestoreTarget,
    trigger: FirestoreTrigger,
    handle: (event: FirestoreCloudEvent) => void,
  ): Promise<void>;
  /** Stops handing events to the trigger's handler (the emulator may still send them; they are dropped). */
  unregister(triggerId: string): void;
  /**
   * Resolves once every event the emulator queued before the call has arrived:
   * it writes a document that a trigger of the receiver's own watches, and
   * waits for that document's event, which the emulator sends after the others.
   */
  barrier(firestore: FirestoreTarget, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const WRITTEN = 'google.cloud.firestore.document.v1.written';
const BARRIERS = 'localEventBarriers';
const BARRIER_TRIGGER = 'local-event-barrier';

/** The event's attributes from its ce-* headers, and its data from the base64 body. */
export function cloudEvent(headers: http.IncomingHttpHeaders, body: Buffer): FirestoreCloudEvent {
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('ce-') && typeof value === 'string') attributes[name.slice(3)] = value;
  }
  for (const required of ['id', 'type', 'source', 'document']) {
    if (typeof attributes[required] !== 'string')
      throw new Error(`the event has no ce-${required} header`);
  }
  return {
    ...attributes,
    data: Buffer.from(body.toString('latin1'), 'base64'),
  } as FirestoreCloudEvent;
}

async function registerWithEmulator(
  firestore: FirestoreTarget,
  trigger: FirestoreTrigger,
): Promise<void> {
  const url = `http://${firestore.host}/emulator/v1/projects/${firestore.projectId}/eventarcTrigger?eventarcTriggerId=${encodeURIComponent(trigger.id)}`;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      eventType: trigger.eventType,
      database: '(default)',
      namespace: '(default)',
      document: { value: trigger.document, matchType: 'PATH_PATTERN' },
    }),
  });
  if (!response.ok)
    throw new Error(
      `registering ${trigger.id} with the Firestore emulator failed: ${response.status} ${await response.text()}`,
    );
}

export async function startTriggerEventReceiver(
  onError: (error: unknown) => void = console.error,
): Promise<TriggerEventReceiver> {
  const handlers = new Map<string, (event: FirestoreCloudEvent) => void>();
  const barriers = new Map<string, () => void>();
  const barrierRegistered = new Set<string>();

  const server = http.createServer((request, response) => {
    const match = /^\/functions\/projects\/[^/]+\/triggers\/([^/?]+)/.exec(request.url ?? '');
    if (request.method !== 'POST' || !match) {
      response.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"status":"acknowledged"}');
      try {
        const event = cloudEvent(request.headers, Buffer.concat(chunks));
        const triggerId = decodeURIComponent(match[1]);
        if (triggerId === BARRIER_TRIGGER) barriers.get(event.document)?.();
        else handlers.get(triggerId)?.(event);
      } catch (error) {
        onError(error);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    address,
    async register(firestore, trigger, handle) {
      await registerWithEmulator(firestore, trigger);
      handlers.set(trigger.id, handle);
    },
    unregister(triggerId) {
      handlers.delete(triggerId);
    },
    async barrier(firestore, timeoutMs = 30_000) {
      const key = `${firestore.host}/${firestore.projectId}`;
      if (!barrierRegistered.has(key)) {
        await registerWithEmulator(firestore, {
          id: BARRIER_TRIGGER,
          eventType: WRITTEN,
          document: `${BARRIERS}/{id}`,
        });
        barrierRegistered.add(key);
      }
      const document = `${BARRIERS}/${randomUUID()}`;
      const arrived = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          barriers.delete(document);
          reject(
            new Error(
              `the Firestore emulator sent no event for ${document} within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        barriers.set(document, () => {
          clearTimeout(timer);
          barriers.delete(document);
          resolve();
        });
      });
      const url = `http://${firestore.host}/v1/projects/${firestore.projectId}/databases/(default)/documents/${document}`;
      const written = await fetch(url, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: '{"fields":{}}',
      });
      if (!written.ok)
        throw new Error(
          `writing the barrier ${document} failed: ${written.status} ${await written.text()}`,
        );
      await arrived;
    },
    async stop() {
      handlers.clear();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
