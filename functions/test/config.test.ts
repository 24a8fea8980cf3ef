// loadConfig reads the params from process.env (the CLI fills it at run time,
// tests and the local stack fill it themselves). Other test files rely on
// process.env, so every test here restores it exactly.
import { strict as assert } from 'node:assert';

import { loadConfig } from '../src/config';

const NAMES = [
  'FOOD_SERVICE_ADDRESS',
  'POLL_INTERVAL_SECONDS',
  'PAGE_SIZE',
  'RPC_DEADLINE_MS',
  'MAX_CONCURRENCY',
  'CLAIM_LEASE_SECONDS',
  'FOOD_SERVICE_CA',
  'FOOD_SERVICE_CLIENT_CERT',
  'FOOD_SERVICE_CLIENT_KEY',
  // Set by the CLI during deploy-time discovery only; secrets refuse to load then.
  'FUNCTIONS_CONTROL_API',
] as const;

const CA = '-----BEGIN CERTIFICATE-----\nMIIBca-secret-ca-material\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBclient-secret-cert\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEclient-secret-key\n-----END PRIVATE KEY-----\n';

const INTS = [
  { name: 'POLL_INTERVAL_SECONDS', field: 'pollIntervalSeconds', min: 1, max: 3600, fallback: 60 },
  { name: 'PAGE_SIZE', field: 'pageSize', min: 1, max: 1000, fallback: 500 },
  { name: 'RPC_DEADLINE_MS', field: 'rpcDeadlineMs', min: 100, max: 60_000, fallback: 5_000 },
  { name: 'MAX_CONCURRENCY', field: 'maxConcurrency', min: 1, max: 256, fallback: 32 },
  { name: 'CLAIM_LEASE_SECONDS', field: 'claimLeaseSeconds', min: 1, max: 3600, fallback: 180 },
] as const;

/** A CA and no mTLS: what most tests start from (unset secrets make firebase-functions log a warning). */
const TLS = { FOOD_SERVICE_CA: CA, FOOD_SERVICE_CLIENT_CERT: 'none', FOOD_SERVICE_CLIENT_KEY: 'none' } as const;

function set(values: Partial<Record<(typeof NAMES)[number], string>>): void {
  Object.assign(process.env, values);
}

describe('loadConfig', () => {
  let saved: NodeJS.ProcessEnv;

  beforeEach(() => {
    saved = { ...process.env };
    for (const name of NAMES) delete process.env[name];
  });

  afterEach(() => {
    for (const name of Object.keys(process.env)) {
      if (!(name in saved)) delete process.env[name];
    }
    Object.assign(process.env, saved);
  });

  it('uses the defaults for everything but the CA', () => {
    set({ FOOD_SERVICE_CA: CA });
    assert.deepEqual(loadConfig(), {
      address: '127.0.0.1:9000',
      pollIntervalSeconds: 60,
      pageSize: 500,
      rpcDeadlineMs: 5_000,
      maxConcurrency: 32,
      claimLeaseSeconds: 180,
      tls: { caPem: CA },
    });
  });

  it('uses the defaults for empty or blank values', () => {
    set({ ...TLS, FOOD_SERVICE_ADDRESS: '  ' });
    for (const { name } of INTS) set({ [name]: ' ' });
    const config = loadConfig();
    assert.equal(config.address, '127.0.0.1:9000');
    for (const { field, fallback } of INTS) assert.equal(config[field], fallback, field);
  });

  it('reads every value that is set', () => {
    set({
      ...TLS,
      FOOD_SERVICE_ADDRESS: ' food.internal:443 ',
      POLL_INTERVAL_SECONDS: '15',
      PAGE_SIZE: '100',
      RPC_DEADLINE_MS: '2500',
      MAX_CONCURRENCY: '8',
      CLAIM_LEASE_SECONDS: '600',
    });
    assert.deepEqual(loadConfig(), {
      address: 'food.internal:443',
      pollIntervalSeconds: 15,
      pageSize: 100,
      rpcDeadlineMs: 2_500,
      maxConcurrency: 8,
      claimLeaseSeconds: 600,
      tls: { caPem: CA },
    });
  });

  for (const { name, field, min, max } of INTS) {
    it(`accepts ${name} at both ends of ${min}-${max}`, () => {
      set({ ...TLS });
      for (const value of [min, max]) {
        set({ [name]: String(value) });
        assert.equal(loadConfig()[field], value);
      }
    });

    it(`rejects ${name} out of range or not an integer, naming it and the value`, () => {
      set({ FOOD_SERVICE_CA: CA, FOOD_SERVICE_CLIENT_CERT: CERT, FOOD_SERVICE_CLIENT_KEY: KEY });
      for (const bad of [String(min - 1), String(max + 1), '-5', '1.5', '12abc', 'abc', 'NaN', 'Infinity', '1e99', '1e1', '0x10']) {
        set({ [name]: bad });
        assert.throws(
          () => loadConfig(),
          (err: Error) => {
            assert.ok(err.message.includes(name), `the message names ${name}: ${err.message}`);
            assert.ok(err.message.includes(`"${bad}"`), `the message quotes ${bad}: ${err.message}`);
            for (const secret of [CA, CERT, KEY, 'secret']) assert.ok(!err.message.includes(secret), `a secret leaked: ${err.message}`);
            return true;
          },
          `${name}=${bad}`,
        );
      }
    });
  }

  it('requires FOOD_SERVICE_CA, naming it', () => {
    for (const missing of [undefined, '', '   ', '\n']) {
      delete process.env.FOOD_SERVICE_CA;
      if (missing !== undefined) set({ FOOD_SERVICE_CA: missing });
      assert.throws(() => loadConfig(), /FOOD_SERVICE_CA/, JSON.stringify(missing));
    }
  });

  it('never puts secret values in its errors', () => {
    set({ FOOD_SERVICE_CA: ' \n ', FOOD_SERVICE_CLIENT_CERT: CERT, FOOD_SERVICE_CLIENT_KEY: KEY });
    assert.throws(
      () => loadConfig(),
      (err: Error) => /FOOD_SERVICE_CA/.test(err.message) && ![CERT, KEY, 'secret', ' \n '].some((s) => err.message.includes(s)),
    );
    set({ FOOD_SERVICE_CA: CA, PAGE_SIZE: '0' });
    assert.throws(
      () => loadConfig(),
      (err: Error) => /PAGE_SIZE/.test(err.message) && ![CA, CERT, KEY, 'secret', 'BEGIN'].some((s) => err.message.includes(s)),
    );
  });

  it('leaves the client certificate and key out when they are "none" or empty', () => {
    for (const absent of [undefined, '', '  ', 'none', 'NONE', ' None\n']) {
      delete process.env.FOOD_SERVICE_CLIENT_CERT;
      delete process.env.FOOD_SERVICE_CLIENT_KEY;
      set({ FOOD_SERVICE_CA: CA });
      if (absent !== undefined) set({ FOOD_SERVICE_CLIENT_CERT: absent, FOOD_SERVICE_CLIENT_KEY: absent });
      const { tls } = loadConfig();
      assert.deepEqual(tls, { caPem: CA }, JSON.stringify(absent));
      assert.ok(!('certPem' in tls) && !('keyPem' in tls), 'the keys are absent, not undefined');
    }
  });

  it('passes the client certificate and key through when both are set', () => {
    set({ FOOD_SERVICE_CA: CA, FOOD_SERVICE_CLIENT_CERT: CERT, FOOD_SERVICE_CLIENT_KEY: KEY });
    assert.deepEqual(loadConfig().tls, { caPem: CA, certPem: CERT, keyPem: KEY });
  });

  it('does not leak the environment it was given into other tests', () => {
    // The afterEach restores; this checks the beforeEach cleared what the last test set.
    for (const name of NAMES) assert.equal(process.env[name], undefined, name);
  });
});
