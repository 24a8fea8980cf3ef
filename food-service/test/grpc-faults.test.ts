// What @grpc/grpc-js reports for each network fault, seen through the
// orchestrator's own FoodClient with no client-level retry, and whether the
// server did the work. A create may be sent again only after a failure that
// PROVES nothing reached the server; this file pins which failures do, so a
// change in grpc-js's wording (or in Node's) fails here first.
//
// The rule, read from grpc-js 1.14 and checked below:
// - UNAVAILABLE "No connection established. Last error: …" is the picker's
//   answer when no connection is ready: the call was never put on a
//   connection, so none of it left the client. Proof.
// - DEADLINE_EXCEEDED "Deadline exceeded after …,Waiting for LB pick": the
//   deadline passed before the call was put on a connection. Proof.
// - Everything that happens to a call already on a connection is ambiguous:
//   "Connection dropped", "read ECONNRESET", "Deadline exceeded after
//   …,remote_addr=…". The same words come back whether or not the server did
//   the work (case b3 shows it).
//
// `FAULT_MAP=1` prints every case as observed.
import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FoodClient, type TlsMaterial } from '../../functions/src/api';
import { ensureCerts, type CertPaths } from '../src/certs';
import { startFaultProxy, type FaultProxy } from '../src/fault-proxy';
import { startFoodService, type FoodService, type FoodServiceOptions } from '../src/server';
import { makeBadCerts, type BadCerts } from './bad-certs';
import { testCerts, waitFor } from './helpers';

interface Observed {
  code: string;
  details: string;
  message: string;
}

interface Row extends Observed {
  case: string;
  workDone: string;
  provesNotSent: boolean;
}

/**
 * grpc-js's own error behind whatever the client threw: the deepest error in
 * the cause chain with a numeric code, string details and metadata
 * (FoodServiceError wraps it and has a code and details of its own).
 */
function serviceError(error: unknown): grpc.ServiceError {
  let found: grpc.ServiceError | undefined;
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const candidate = current as Partial<grpc.ServiceError>;
    if (
      typeof candidate.code === 'number' &&
      typeof candidate.details === 'string' &&
      candidate.metadata !== undefined
    ) {
      found = current as grpc.ServiceError;
    }
    current = current.cause;
  }
  if (!found) throw error;
  return found;
}

async function failure(call: Promise<unknown>): Promise<Observed> {
  const error = await call.then(
    (value) => assert.fail(`expected the call to fail, it returned ${JSON.stringify(value)}`),
    (e: unknown) => serviceError(e),
  );
  return { code: grpc.status[error.code], details: error.details, message: error.message };
}

/** The rule above, as code: does this failure prove that nothing of the call reached the server? */
function provesNotSent({ code, details }: Observed): boolean {
  if (code === 'UNAVAILABLE') return /^No connection established\. Last error: /.test(details);
  if (code === 'DEADLINE_EXCEEDED') {
    // remote_addr is there once the call was put on a connection; earlier attempts (transparent retries) are not ours to judge.
    return (
      /,(Waiting for LB pick|waiting for name resolution|waiting for metadata filters)$/.test(
        details,
      ) && !/remote_addr=|previous attempts/.test(details)
    );
  }
  return false;
}

const ISO_TIME = String.raw`\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)`;
const NO_CONNECTION = (lastError: string): RegExp =>
  new RegExp(`^No connection established\\. Last error: ${lastError}\\. Resolution note: $`, 's');
/** grpc-js names each phase that took a millisecond or more, so these pieces come and go with timing. */
const PHASES = String.raw`(,(name resolution|metadata filters|time to current attempt start|LB pick): \d+\.\d+s)*`;
const DEADLINE_ON_A_CONNECTION = new RegExp(
  String.raw`^Deadline exceeded after \d+\.\d+s${PHASES},remote_addr=127\.0\.0\.1:\d+$`,
);
const DEADLINE_BEFORE_A_CONNECTION = new RegExp(
  String.raw`^Deadline exceeded after \d+\.\d+s${PHASES},Waiting for LB pick$`,
);

describe('what gRPC reports for each network fault (real FoodClient, no client retry)', function () {
  this.timeout(30_000);

  const rows: Row[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  let certs: CertPaths;
  let trusted: TlsMaterial;

  before(() => {
    certs = testCerts();
    trusted = { caPem: fs.readFileSync(certs.caCert, 'utf8') };
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  after(() => {
    if (process.env.FAULT_MAP) for (const row of rows) console.log(JSON.stringify(row));
  });

  const service = async (options: Partial<FoodServiceOptions> = {}): Promise<FoodService> => {
    const started = await startFoodService({
      port: 0,
      controllerIntervalMs: 0,
      log: () => undefined,
      tls: { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) },
      ...options,
    });
    cleanups.push(() => started.stop());
    return started;
  };
  const proxy = async (target: string): Promise<FaultProxy> => {
    const started = await startFaultProxy({ target });
    cleanups.push(() => started.stop());
    return started;
  };
  const client = (
    address: string,
    { deadlineMs = 2000, tls = trusted }: { deadlineMs?: number; tls?: TlsMaterial } = {},
  ): FoodClient => {
    // createDeadlineMs: where the client has one, creates get the same deadline (ignored where it has none).
    const options = {
      address,
      tls,
      deadlineMs,
      createDeadlineMs: deadlineMs,
      retry: { maxAttempts: 1 },
    };
    const created = new FoodClient(options);
    cleanups.push(() => created.close());
    return created;
  };
  /** Pins one case: the code, the details, grpc-js's message, the work done, and whether it proves nothing was sent. */
  const pin = (
    name: string,
    observed: Observed,
    expected: { code: string; details: RegExp; workDone: string; provesNotSent: boolean },
  ): void => {
    rows.push({
      case: name,
      ...observed,
      workDone: expected.workDone,
      provesNotSent: provesNotSent(observed),
    });
    assert.equal(observed.code, expected.code, `${name}: ${observed.details}`);
    assert.match(observed.details, expected.details, name);
    assert.equal(
      observed.message,
      `${grpc.status[observed.code as keyof typeof grpc.status]} ${observed.code}: ${observed.details}`,
    );
    assert.equal(
      provesNotSent(observed),
      expected.provesNotSent,
      `${name}: proves nothing was sent?`,
    );
  };

  it('a. nothing listens on the port: refused before anything is sent', async () => {
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const { port } = free.address() as net.AddressInfo;
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const observed = await failure(client(`127.0.0.1:${port}`).createKitchenOrder());
    pin('a. connection refused', observed, {
      code: 'UNAVAILABLE',
      details: NO_CONNECTION(`Error: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`),
      workDone: 'no server',
      provesNotSent: true,
    });
  });

  describe('b. the connection drops while a create is on it', () => {
    const cutAround = async (
      when: 'served' | 'before serving',
      cutWith: 'close' | 'reset',
    ): Promise<{ observed: Observed; created: number; recovered: boolean }> => {
      const food = await service();
      const p = await proxy(food.address);
      p.setFaults({ cutWith });
      const c = client(p.address);
      await c.listOrders({}); // the connection is up and the call goes on it
      if (when === 'served') {
        food.onServed((method) => {
          if (method === 'CreateKitchenOrder') p.cutAll();
        });
      } else {
        food.onCall((method) => {
          if (method !== 'CreateKitchenOrder') return;
          p.cutAll();
          throw new Error('cut before serving'); // the handler never runs
        });
      }
      const observed = await failure(c.createKitchenOrder());
      food.onServed(undefined);
      food.onCall(undefined);
      const created = food.stats().kitchenOrdersCreated;
      const recovered = (await c.listOrders({})).orders !== undefined; // a new connection, by itself
      return { observed, created, recovered };
    };

    let afterServed: Observed | undefined;

    it('b1. cut (FIN) after the server created the kitchen order: "Connection dropped", work done', async () => {
      const { observed, created, recovered } = await cutAround('served', 'close');
      afterServed = observed;
      pin('b1. dropped after the create was served (FIN)', observed, {
        code: 'UNAVAILABLE',
        details: /^Connection dropped$/,
        workDone: 'yes',
        provesNotSent: false,
      });
      assert.equal(created, 1, 'the kitchen order exists although the client saw UNAVAILABLE');
      assert.ok(recovered);
    });

    it('b2. cut (RST) after the server created the kitchen order: "read ECONNRESET", work done', async () => {
      const { observed, created } = await cutAround('served', 'reset');
      pin('b2. dropped after the create was served (RST)', observed, {
        code: 'UNAVAILABLE',
        details: /^read ECONNRESET$/,
        workDone: 'yes',
        provesNotSent: false,
      });
      assert.equal(created, 1);
    });

    it('b3. cut (FIN) before the server did anything: the very same status, no work done', async () => {
      const { observed, created } = await cutAround('before serving', 'close');
      pin('b3. dropped before the create was served (FIN)', observed, {
        code: 'UNAVAILABLE',
        details: /^Connection dropped$/,
        workDone: 'no',
        provesNotSent: false,
      });
      assert.equal(created, 0);
      if (afterServed) assert.deepEqual(observed, afterServed, 'the client cannot tell b1 from b3');
    });
  });

  describe('c. the deadline passes', () => {
    it('c1. the reply is held back (proxy latency) past the deadline: work done before the deadline', async () => {
      const food = await service();
      const p = await proxy(food.address);
      const c = client(p.address, { deadlineMs: 500 });
      await c.listOrders({});
      p.setFaults({ latencyMs: 1500 });
      const observed = await failure(c.createKitchenOrder());
      pin('c1. reply delayed past the deadline (proxy)', observed, {
        code: 'DEADLINE_EXCEEDED',
        details: DEADLINE_ON_A_CONNECTION,
        workDone: 'yes',
        provesNotSent: false,
      });
      assert.equal(food.stats().kitchenOrdersCreated, 1);
    });

    it('c2. the handler is slow (simulator latency): the work is done after the client gave up', async () => {
      const food = await service();
      const c = client(food.address, { deadlineMs: 300 });
      await c.listOrders({});
      food.setFaults({ latencyMs: 800 });
      const observed = await failure(c.createKitchenOrder());
      assert.equal(food.stats().kitchenOrdersCreated, 0, 'not yet');
      await waitFor(
        'the late create',
        () => (food.stats().kitchenOrdersCreated === 1 ? true : undefined),
        { timeoutMs: 3000 },
      );
      pin('c2. slow handler past the deadline', observed, {
        code: 'DEADLINE_EXCEEDED',
        details: DEADLINE_ON_A_CONNECTION,
        workDone: 'yes, after the deadline',
        provesNotSent: false,
      });
    });

    it('c3. the connection is not up before the deadline (handshake held back): "Waiting for LB pick", nothing sent', async () => {
      const food = await service();
      const p = await proxy(food.address);
      p.setFaults({ latencyMs: 1000 });
      const c = client(p.address, { deadlineMs: 300 });
      const observed = await failure(c.createKitchenOrder());
      pin('c3. deadline before a connection was up', observed, {
        code: 'DEADLINE_EXCEEDED',
        details: DEADLINE_BEFORE_A_CONNECTION,
        workDone: 'no',
        provesNotSent: true,
      });
      // The handshake completes later; the call that gave up is never sent on it.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(food.stats().kitchenOrdersCreated, 0);
      assert.equal(food.stats().calls.CreateKitchenOrder.ok, 0);
    });
  });

  describe('d. the TLS handshake is cut short (the proxy closes after the ClientHello)', () => {
    const cutHandshake = async (cutWith: 'close' | 'reset') => {
      const food = await service();
      const p = await proxy(food.address);
      p.setFaults({ cutWith });
      p.cutNextHandshakes(1);
      const c = client(p.address);
      const observed = await failure(c.createKitchenOrder());
      assert.equal(p.stats().cuts.handshake, 1);
      return { food, p, c, observed };
    };

    it('d1. with a FIN: "Client network socket disconnected before secure TLS connection was established"; the next call, during the reconnect back-off, gets the same without a new connection', async () => {
      const { food, p, c, observed } = await cutHandshake('close');
      pin('d1. handshake cut (FIN)', observed, {
        code: 'UNAVAILABLE',
        details: NO_CONNECTION(
          'Error: Client network socket disconnected before secure TLS connection was established',
        ),
        workDone: 'no',
        provesNotSent: true,
      });
      const accepted = p.stats().connections.accepted;
      const again = await failure(c.createKitchenOrder());
      pin('d1. next call during the back-off', again, {
        code: 'UNAVAILABLE',
        details: new RegExp(`^${escape(observed.details)}$`),
        workDone: 'no',
        provesNotSent: true,
      });
      assert.equal(p.stats().connections.accepted, accepted, 'no new connection was even tried');
      assert.equal(food.stats().kitchenOrdersCreated, 0);
    });

    it('d2. with a RST: "read ECONNRESET", but from the picker, so nothing was sent', async () => {
      const { food, observed } = await cutHandshake('reset');
      pin('d2. handshake cut (RST)', observed, {
        code: 'UNAVAILABLE',
        details: NO_CONNECTION('Error: read ECONNRESET'),
        workDone: 'no',
        provesNotSent: true,
      });
      assert.equal(food.stats().kitchenOrdersCreated, 0);
    });
  });

  describe('e. the server restarts on the same port', () => {
    const restart = async (port: number): Promise<FoodService> => service({ port });

    it('e1–e3. while it is down: refused; just back, within the back-off: still refused; then served', async () => {
      const first = await service();
      const c = client(first.address);
      await c.listOrders({});
      await first.stop();
      const down = await failure(c.createKitchenOrder());
      pin('e1. server stopped', down, {
        code: 'UNAVAILABLE',
        details: NO_CONNECTION(`Error: connect ECONNREFUSED 127\\.0\\.0\\.1:${first.port}`),
        workDone: 'no',
        provesNotSent: true,
      });
      const second = await restart(first.port);
      const stale = await failure(c.createKitchenOrder());
      pin('e2. server back, client still in its reconnect back-off', stale, {
        code: 'UNAVAILABLE',
        details: NO_CONNECTION(`Error: connect ECONNREFUSED 127\\.0\\.0\\.1:${first.port}`),
        workDone: 'no',
        provesNotSent: true,
      });
      assert.equal(second.stats().kitchenOrdersCreated, 0);
      await waitFor(
        'the client to reconnect',
        async () =>
          await c.listOrders({}).then(
            () => true,
            () => undefined,
          ),
        { timeoutMs: 5000, intervalMs: 200 },
      );
      await c.createKitchenOrder();
      assert.equal(second.stats().kitchenOrdersCreated, 1);
    });

    it('e4. restarted between two calls, with no call failing in between: the next call is served, once', async () => {
      const first = await service();
      const c = client(first.address);
      await c.listOrders({});
      await first.stop(); // a graceful stop: GOAWAY, so the client knows its connection is gone
      const second = await restart(first.port);
      const created = await c.createKitchenOrder();
      assert.match(created.name, /^kitchenorders\//);
      assert.equal(second.stats().kitchenOrdersCreated, 1);
      rows.push({
        case: 'e4. restarted between calls',
        code: 'OK',
        details: '',
        message: '',
        workDone: 'yes (once)',
        provesNotSent: false,
      });
    });
  });

  describe('f. certificate failures: permanent, and nothing is sent', () => {
    let bad: BadCerts;
    let other: CertPaths;
    before(() => {
      bad = makeBadCerts(certs);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'food-service-other-ca-'));
      process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
      other = ensureCerts(dir);
    });
    const pem = (file: string): string => fs.readFileSync(file, 'utf8');

    const refused = async (
      name: string,
      options: { server?: Partial<FoodServiceOptions>; tls?: TlsMaterial },
      lastError: string,
    ): Promise<void> => {
      const food = await service(options.server);
      const observed = await failure(
        client(food.address, { tls: options.tls }).createKitchenOrder(),
      );
      pin(name, observed, {
        code: 'UNAVAILABLE',
        details: NO_CONNECTION(lastError),
        workDone: 'no',
        provesNotSent: true,
      });
      assert.equal(food.stats().kitchenOrdersCreated, 0);
    };

    it('f1. unknown CA: the client trusts another CA', () =>
      refused(
        'f1. unknown CA',
        { tls: { caPem: pem(other.caCert) } },
        'Error: unable to verify the first certificate',
      ));

    it('f2. self-signed server certificate', () =>
      refused(
        'f2. self-signed',
        { server: { tls: bad.selfSigned } },
        'Error: self-signed certificate',
      ));

    it('f3. expired server certificate', () =>
      refused('f3. expired', { server: { tls: bad.expired } }, 'Error: certificate has expired'));

    it('f4. the certificate does not name 127.0.0.1', () =>
      refused(
        'f4. name mismatch',
        { server: { tls: bad.wrongName } },
        "Error \\[ERR_TLS_CERT_ALTNAME_INVALID\\]: Hostname/IP does not match certificate's altnames: IP: 127\\.0\\.0\\.1 is not in the cert's list: ",
      ));

    const mtls = (): Partial<FoodServiceOptions> => ({
      tls: {
        cert: fs.readFileSync(certs.serverCert),
        key: fs.readFileSync(certs.serverKey),
        clientCa: fs.readFileSync(certs.caCert),
      },
    });

    it('f5. mTLS: the client presents no certificate (TLS 1.3 alert 116)', () =>
      refused(
        'f5. mTLS, no client certificate',
        { server: mtls() },
        `[0-9A-F]+:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:[^\\n]*:SSL alert number 116\\n ${ISO_TIME}`,
      ));

    it('f6. mTLS: the client presents a certificate from another CA; the server just closes, so it reads like any failed connect', () =>
      refused(
        'f6. mTLS, client certificate from another CA',
        {
          server: mtls(),
          tls: { ...trusted, certPem: pem(other.clientCert), keyPem: pem(other.clientKey) },
        },
        `Failed to connect ${ISO_TIME}`,
      ));

    it('f7. (control) mTLS with the right client certificate is served', async () => {
      const food = await service(mtls());
      await client(food.address, {
        tls: { ...trusted, certPem: pem(certs.clientCert), keyPem: pem(certs.clientKey) },
      }).createKitchenOrder();
      assert.equal(food.stats().kitchenOrdersCreated, 1);
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
