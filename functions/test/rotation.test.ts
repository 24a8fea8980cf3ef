// Rotating the food-service credentials without a redeploy: the real Secret
// Manager client against a local stand-in (helpers/secret-manager.ts), the
// simulator moved to a new CA mid-run, and the exported functions carrying
// on with the secrets' latest versions. The secrets bound at "deploy" (the
// environment) never change.
import * as fs from 'node:fs';
import { strict as assert } from 'node:assert';

import type { CertPaths } from '../../food-service/src/certs';
import { SECRET_NAMES, tlsFromSecrets } from '../src/config';
import { CredentialRefresher } from '../src/food/credential-refresh';
import { secretManagerSource } from '../src/food/secret-source';
import { logEntries, logMark } from './helpers/ops';
import { freshCerts, testCerts } from './helpers/food-service';
import { startFakeSecretManager, type FakeSecretManager } from './helpers/secret-manager';
import { startStack, type Stack } from './helpers/stack';
import { PROJECT_ID } from './setup';

const pem = (file: string) => fs.readFileSync(file, 'utf8');
const serverTls = (certs: CertPaths, clientCa?: CertPaths) => ({
  cert: fs.readFileSync(certs.serverCert),
  key: fs.readFileSync(certs.serverKey),
  ...(clientCa ? { clientCa: fs.readFileSync(clientCa.caCert) } : {}),
});

describe('credential rotation: reading the latest secrets', () => {
  let secrets: FakeSecretManager;
  beforeEach(async () => (secrets = await startFakeSecretManager()));
  afterEach(async () => secrets.stop());

  it('looks at most once a minute, shares one look among concurrent failures, and hands over only what changed', async () => {
    const [first, second] = [pem(testCerts().caCert), pem(freshCerts().caCert)];
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CA', first);
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_CERT', 'none');
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_KEY', 'none');
    const source = secretManagerSource({
      projectId: PROJECT_ID,
      names: SECRET_NAMES,
      toTls: tlsFromSecrets,
      emulatorHost: secrets.host,
    });
    let now = 1_000_000;
    const refresher = new CredentialRefresher(source, 60_000, () => now);

    assert.equal(
      await refresher.check({ caPem: first }),
      null,
      'unchanged: the call fails as before',
    );
    assert.equal(secrets.accesses.get('FOOD_SERVICE_CA'), 1);
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CA', second);
    now += 59_000;
    assert.equal(
      await refresher.check({ caPem: first }),
      null,
      'within the minute: no look at all',
    );
    assert.equal(secrets.accesses.get('FOOD_SERVICE_CA'), 1);
    now += 1_000;
    const looks = await Promise.all(
      Array.from({ length: 5 }, () => refresher.check({ caPem: first })),
    );
    assert.deepEqual(
      looks,
      Array(5).fill({ caPem: second }),
      'the latest version, to every caller',
    );
    assert.equal(secrets.accesses.get('FOOD_SERVICE_CA'), 2, 'five concurrent failures, one look');
    assert.equal(secrets.accesses.get('FOOD_SERVICE_CLIENT_KEY'), 2);
    assert.equal(refresher.checks, 2);
  });

  it('fails as before, with a warning, when the secrets cannot be read', async () => {
    const source = secretManagerSource({
      projectId: PROJECT_ID,
      names: SECRET_NAMES,
      toTls: tlsFromSecrets,
      emulatorHost: secrets.host,
    });
    const mark = logMark();
    assert.equal(await new CredentialRefresher(source).check({ caPem: 'x' }), null);
    const warning = logEntries(mark).find((e) =>
      /could not read the food-service secrets/.test(String(e.message)),
    );
    assert.match(
      String(warning?.error),
      /FOOD_SERVICE_(CA|CLIENT_CERT|CLIENT_KEY)\/versions\/latest .*NOT_FOUND/,
    );
  });

  it('refuses a stand-in that is not on loopback', () => {
    const source = secretManagerSource({
      projectId: PROJECT_ID,
      names: SECRET_NAMES,
      toTls: tlsFromSecrets,
      emulatorHost: '10.0.0.1:9',
    });
    return assert.rejects(
      source.latest(),
      /SECRET_MANAGER_EMULATOR_HOST must be a loopback host:port, got "10\.0\.0\.1:9"/,
    );
  });
});

describe('credential rotation: the food service moves to a new CA mid-run', function () {
  // Orders driven to the end through several polls, ticks and trigger rounds.
  this.timeout(120_000);
  let stack: Stack | undefined;
  let secrets: FakeSecretManager;
  beforeEach(async () => (secrets = await startFakeSecretManager()));
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
    await secrets.stop();
    delete process.env.SECRET_MANAGER_EMULATOR_HOST;
  });

  /** Polls and settles until every order is DELIVERED, ticking the kitchens and drones; bounded. */
  async function untilDelivered(s: Stack, orders: string[]): Promise<void> {
    for (let round = 0; round < 12; round++) {
      const stages = await Promise.all(orders.map(async (o) => (await s.relation(o))?.stage));
      if (stages.every((stage) => stage === 'DELIVERED')) return;
      s.service.tick();
      await s.cycle();
    }
    const left = await Promise.all(
      orders.map(async (o) => `${o}: ${JSON.stringify((await s.relation(o))?.error ?? null)}`),
    );
    assert.fail(`orders not delivered after 12 rounds: ${left.join('; ')}`);
  }

  it('a new server certificate from a new CA: the first failing call reads the new CA, and every order finishes', async () => {
    const oldCa = pem(testCerts().caCert);
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CA', oldCa);
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_CERT', 'none');
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_KEY', 'none');
    stack = await startStack({
      proxy: {},
      service: { rejectRate: 0 },
      env: { SECRET_MANAGER_EMULATOR_HOST: secrets.host },
    });
    const before = stack.service.placeOrders(3);
    await stack.cycle();
    stack.service.tick();
    await stack.cycle();

    // The operators move the food service to a new CA (its connections drop, as in a restart)…
    const next = freshCerts();
    stack.service.rotateTls(serverTls(next));
    stack.proxy?.cutAll();
    // …and set the secret: `firebase functions:secrets:set FOOD_SERVICE_CA`. Nothing is redeployed.
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CA', pem(next.caCert));
    const after = stack.service.placeOrders(3);
    const mark = logMark();

    await untilDelivered(stack, [...before, ...after]);
    assert.equal(
      process.env.FOOD_SERVICE_CA,
      oldCa,
      'the secret bound at deploy is still the old CA',
    );
    const rotated = logEntries(mark).filter((e) => /credentials rotated/.test(String(e.message)));
    assert.equal(rotated.length, 1, 'one channel rebuild');
    assert.match(
      String(rotated[0].failure),
      /unable to verify the first certificate|self-signed|certificate/,
    );
    assert.equal(secrets.accesses.get('FOOD_SERVICE_CA'), 1, 'one look at the secrets');
    for (const order of [...before, ...after])
      assert.equal((await stack.relation(order))?.flagged, false, order);
    assert.equal(stack.service.stats().kitchenOrdersCreated, 6, 'nothing made twice');
  });

  it('under mTLS, a client CA the server no longer trusts ("Failed to connect"): the new client certificate is read, and orders finish', async () => {
    const certs = testCerts();
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CA', pem(certs.caCert));
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_CERT', pem(certs.clientCert));
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_KEY', pem(certs.clientKey));
    stack = await startStack({
      proxy: {},
      service: { rejectRate: 0, mtls: true },
      env: {
        SECRET_MANAGER_EMULATOR_HOST: secrets.host,
        FOOD_SERVICE_CLIENT_CERT: pem(certs.clientCert),
        FOOD_SERVICE_CLIENT_KEY: pem(certs.clientKey),
      },
    });
    const orders = stack.service.placeOrders(2);
    await stack.cycle();

    // The server now trusts only client certificates of a new CA; its own certificate stays.
    const clients = freshCerts();
    stack.service.rotateTls(serverTls(certs, clients));
    stack.proxy?.cutAll();
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_CERT', pem(clients.clientCert));
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_KEY', pem(clients.clientKey));
    const mark = logMark();

    await untilDelivered(stack, [...orders, ...stack.service.placeOrders(2)]);
    const rotated = logEntries(mark).filter((e) => /credentials rotated/.test(String(e.message)));
    assert.equal(rotated.length, 1);
    assert.match(String(rotated[0].failure), /Failed to connect/);
  });

  it('nothing new in the secrets: the call fails as today (the poll fails, the next one tries again), and the secrets are read once a minute at most', async () => {
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CA', pem(testCerts().caCert));
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_CERT', 'none');
    secrets.addVersion(PROJECT_ID, 'FOOD_SERVICE_CLIENT_KEY', 'none');
    stack = await startStack({ proxy: {}, env: { SECRET_MANAGER_EMULATOR_HOST: secrets.host } });
    await stack.cycle();
    stack.service.rotateTls(serverTls(freshCerts()));
    stack.proxy?.cutAll();
    const [order] = stack.service.placeOrders(1);
    // The poll cannot list: it fails, and the next one tries again.
    await assert.rejects(stack.pollNow(), /502/);
    await assert.rejects(stack.pollNow(), /502/);
    assert.equal(secrets.accesses.get('FOOD_SERVICE_CA'), 1, 'two failing polls, one look');
    assert.equal(await stack.relation(order), undefined);
  });
});
