// loadConfig reads the params from process.env (the CLI fills it at run time,
// tests and the local stack fill it themselves). Other test files rely on
// process.env, so every test here restores it exactly.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  claimLeaseSeconds,
  foodCallBound,
  INT_PARAMS,
  isLoopbackHost,
  loadConfig,
  STRING_PARAMS,
  stepCallBudgetMs,
  type Config,
  type IntParamName,
} from '../src/config';

const INT_NAMES = Object.keys(INT_PARAMS) as IntParamName[];
const NAMES = [
  'FOOD_SERVICE_ADDRESS',
  'FUNCTIONS_REGION',
  ...INT_NAMES,
  'FOOD_SERVICE_CA',
  'FOOD_SERVICE_CLIENT_CERT',
  'FOOD_SERVICE_CLIENT_KEY',
  // Set by the CLI during deploy-time discovery only; secrets refuse to load then.
  'FUNCTIONS_CONTROL_API',
  // Where the functions run: set by the emulators and the local stack, never in production.
  'FUNCTIONS_EMULATOR',
  'FIRESTORE_EMULATOR_HOST',
] as const;

const CA = '-----BEGIN CERTIFICATE-----\nMIIBca-secret-ca-material\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBclient-secret-cert\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEclient-secret-key\n-----END PRIVATE KEY-----\n';

/** PAGE_SIZE → pageSize: the Config field each param fills. */
const fieldOf = (name: IntParamName) =>
  name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Omit<
    Config,
    'address' | 'tls'
  >;
const INTS = INT_NAMES.map((name) => ({
  name,
  field: fieldOf(name),
  min: INT_PARAMS[name].min,
  max: INT_PARAMS[name].max,
  fallback: INT_PARAMS[name].default,
}));

/** A CA and no mTLS, and an address: what most tests start from (unset secrets make firebase-functions log a warning). */
const TLS = {
  FOOD_SERVICE_CA: CA,
  FOOD_SERVICE_CLIENT_CERT: 'none',
  FOOD_SERVICE_CLIENT_KEY: 'none',
  FOOD_SERVICE_ADDRESS: 'food.internal:443',
} as const;

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

  it('uses the defaults for everything but the CA and the address', () => {
    set({ FOOD_SERVICE_CA: CA, FOOD_SERVICE_ADDRESS: 'food.internal:443' });
    assert.deepEqual(loadConfig(), {
      address: 'food.internal:443',
      region: 'us-central1',
      pollIntervalSeconds: 30,
      pageSize: 500,
      rpcDeadlineMs: 5_000,
      createDeadlineMs: 30_000,
      maxConcurrency: 32,
      shardSize: 2_000,
      advanceTimeoutSeconds: 120,
      maxAmbiguousRetries: 1,
      stuckNewSeconds: 180,
      stuckPreparationSeconds: 300,
      stuckInFlightSeconds: 300,
      advanceMaxInstances: 10,
      advanceConcurrency: 20,
      foodMaxInFlight: 10,
      retentionDays: 30,
      pauseCheckSeconds: 10,
      faultRetryLimit: 10,
      pollerDownIntervals: 3,
      killSwitchAlertSeconds: 1800,
      tls: { caPem: CA },
    });
  });

  it('uses the defaults for empty or blank values', () => {
    set({ ...TLS });
    for (const { name } of INTS) set({ [name]: ' ' });
    const config = loadConfig();
    for (const { field, fallback } of INTS) assert.equal(config[field], fallback, field);
  });

  describe('FOOD_SERVICE_ADDRESS', () => {
    it('is required: there is no default to fall back on, and the error says where to set it', () => {
      for (const missing of [undefined, '', '   ']) {
        delete process.env.FOOD_SERVICE_ADDRESS;
        set({ FOOD_SERVICE_CA: CA });
        if (missing !== undefined) set({ FOOD_SERVICE_ADDRESS: missing });
        assert.throws(
          () => loadConfig(),
          /FOOD_SERVICE_ADDRESS is not set: .*functions\/\.env\.<project>/,
          JSON.stringify(missing),
        );
      }
    });

    const LOOPBACK = [
      '127.0.0.1:9000',
      '127.8.9.10:443',
      'localhost:9000',
      'LOCALHOST:1',
      'food.localhost:443',
      '[::1]:9000',
      '0.0.0.0:9000',
      '[::]:1',
      '[::ffff:127.0.0.1]:9000',
    ];

    it('refuses loopback outside the emulators, naming the value and why', () => {
      for (const address of LOOPBACK) {
        set({ ...TLS, FOOD_SERVICE_ADDRESS: address });
        assert.throws(
          () => loadConfig(),
          new RegExp(
            `FOOD_SERVICE_ADDRESS is ${address.replace(/[[\].]/g, '\\$&')}, a loopback address: deployed, that is this function's own container`,
          ),
          address,
        );
      }
    });

    it('allows loopback in the Functions emulator and wherever a Firestore emulator is used (npm start, the tests)', () => {
      for (const local of [
        { FUNCTIONS_EMULATOR: 'true' },
        { FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080' },
      ]) {
        for (const address of LOOPBACK) {
          delete process.env.FUNCTIONS_EMULATOR;
          delete process.env.FIRESTORE_EMULATOR_HOST;
          set({ ...TLS, ...local, FOOD_SERVICE_ADDRESS: address });
          assert.equal(loadConfig().address, address, `${address} with ${JSON.stringify(local)}`);
        }
      }
    });

    it('accepts real hosts, including ones that merely look like loopback', () => {
      for (const address of [
        'food.example.com:443',
        '10.0.0.7:9000',
        '[2001:db8::1]:443',
        'localhostel.example.com:443',
        '128.0.0.1:1',
      ]) {
        set({ ...TLS, FOOD_SERVICE_ADDRESS: address });
        assert.equal(loadConfig().address, address);
      }
    });

    it('must be host:port', () => {
      for (const bad of ['food.example.com', 'food.example.com:', ':443', 'a b:1', 'host:port']) {
        set({ ...TLS, FOOD_SERVICE_ADDRESS: bad });
        assert.throws(
          () => loadConfig(),
          new RegExp(`FOOD_SERVICE_ADDRESS must be host:port, got "${bad}"`),
          bad,
        );
      }
    });

    it('is refused at the deploy prompt when it is loopback (the regex the CLI applies to typed answers)', () => {
      const prompt = new RegExp(STRING_PARAMS.FOOD_SERVICE_ADDRESS.validationRegex);
      for (const address of [
        '127.0.0.1:9000',
        'localhost:9000',
        '0.0.0.0:9000',
        '[::1]:9000',
        'food.example.com',
        '',
      ]) {
        assert.ok(!prompt.test(address), `the prompt accepts ${address}`);
      }
      for (const address of ['food.example.com:443', '10.0.0.7:9000', '[2001:db8::1]:443'])
        assert.ok(prompt.test(address), address);
    });
  });

  it('knows loopback hosts', () => {
    for (const host of [
      'localhost',
      '127.0.0.1',
      '127.255.0.1',
      '::1',
      '[::1]',
      '0.0.0.0',
      '::',
      'x.localhost',
    ])
      assert.ok(isLoopbackHost(host), host);
    for (const host of ['example.com', '10.0.0.1', '::2', '[2001:db8::1]', '1.2.7.0'])
      assert.ok(!isLoopbackHost(host), host);
  });

  it('bounds the food-service calls in flight across every instance: the triggers, plus one instance of each poller', () => {
    assert.deepEqual(foodCallBound({ advanceMaxInstances: 10, foodMaxInFlight: 10 }), {
      triggers: 100,
      pollers: 90,
      total: 190,
    });
    assert.deepEqual(foodCallBound({ advanceMaxInstances: 1, foodMaxInFlight: 3 }), {
      triggers: 3,
      pollers: 27,
      total: 30,
    });
  });

  it('reads every value that is set', () => {
    set({
      ...TLS,
      FOOD_SERVICE_ADDRESS: ' food.internal:443 ',
      FUNCTIONS_REGION: 'europe-west1',
      ADVANCE_MAX_INSTANCES: '3',
      ADVANCE_CONCURRENCY: '4',
      FOOD_MAX_IN_FLIGHT: '5',
      RETENTION_DAYS: '7',
      PAUSE_CHECK_SECONDS: '0',
      FAULT_RETRY_LIMIT: '4',
      POLLER_DOWN_INTERVALS: '5',
      KILL_SWITCH_ALERT_SECONDS: '600',
      POLL_INTERVAL_SECONDS: '15',
      PAGE_SIZE: '100',
      RPC_DEADLINE_MS: '2500',
      CREATE_DEADLINE_MS: '20000',
      MAX_CONCURRENCY: '8',
      SHARD_SIZE: '300',
      ADVANCE_TIMEOUT_SECONDS: '60',
      MAX_AMBIGUOUS_RETRIES: '2',
      STUCK_NEW_SECONDS: '60',
      STUCK_PREPARATION_SECONDS: '600',
      STUCK_IN_FLIGHT_SECONDS: '900',
    });
    assert.deepEqual(loadConfig(), {
      address: 'food.internal:443',
      region: 'europe-west1',
      pollIntervalSeconds: 15,
      pageSize: 100,
      rpcDeadlineMs: 2_500,
      createDeadlineMs: 20_000,
      maxConcurrency: 8,
      shardSize: 300,
      advanceTimeoutSeconds: 60,
      maxAmbiguousRetries: 2,
      stuckNewSeconds: 60,
      stuckPreparationSeconds: 600,
      stuckInFlightSeconds: 900,
      advanceMaxInstances: 3,
      advanceConcurrency: 4,
      foodMaxInFlight: 5,
      retentionDays: 7,
      pauseCheckSeconds: 0,
      faultRetryLimit: 4,
      pollerDownIntervals: 5,
      killSwitchAlertSeconds: 600,
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
      set({
        FOOD_SERVICE_CA: CA,
        FOOD_SERVICE_CLIENT_CERT: CERT,
        FOOD_SERVICE_CLIENT_KEY: KEY,
        FOOD_SERVICE_ADDRESS: 'food.internal:443',
      });
      for (const bad of [
        String(min - 1),
        String(max + 1),
        '-5',
        '1.5',
        '12abc',
        'abc',
        'NaN',
        'Infinity',
        '1e99',
        '1e1',
        '0x10',
      ]) {
        set({ [name]: bad });
        assert.throws(
          () => loadConfig(),
          (err: Error) => {
            assert.ok(err.message.includes(name), `the message names ${name}: ${err.message}`);
            assert.ok(
              err.message.includes(`"${bad}"`),
              `the message quotes ${bad}: ${err.message}`,
            );
            for (const secret of [CA, CERT, KEY, 'secret'])
              assert.ok(!err.message.includes(secret), `a secret leaked: ${err.message}`);
            return true;
          },
          `${name}=${bad}`,
        );
      }
    });
  }

  it("derives the claim lease: longer than the trigger timeout plus a step's worst-case call time, with a minute's margin, 300 s by default", () => {
    set({ ...TLS });
    assert.equal(claimLeaseSeconds(loadConfig()), 300);
    for (const [timeout, rpc, create] of [
      [10, 100, 1_000],
      [120, 5_000, 30_000],
      [540, 60_000, 120_000],
    ] as const) {
      set({
        ADVANCE_TIMEOUT_SECONDS: String(timeout),
        RPC_DEADLINE_MS: String(rpc),
        CREATE_DEADLINE_MS: String(create),
      });
      const lease = claimLeaseSeconds(loadConfig());
      const needed =
        timeout + stepCallBudgetMs({ rpcDeadlineMs: rpc, createDeadlineMs: create }) / 1000;
      assert.ok(lease >= needed + 60 && lease < needed + 120, `${lease} s for ${needed} s`);
      assert.equal(lease % 60, 0);
    }
  });

  it('budgets a step as a read, a create and three rounds of a read and an update, reads with their retries', () => {
    // A read: 3 attempts of 1 s plus waits of 100 and 200 ms. A step: that, the create, and 3 × (read + update).
    assert.equal(
      stepCallBudgetMs({ rpcDeadlineMs: 1000, createDeadlineMs: 10_000 }),
      3300 + 10_000 + 3 * (3300 + 1000),
    );
  });

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
      (err: Error) =>
        /FOOD_SERVICE_CA/.test(err.message) &&
        ![CERT, KEY, 'secret', ' \n '].some((s) => err.message.includes(s)),
    );
    set({ FOOD_SERVICE_CA: CA, FOOD_SERVICE_ADDRESS: 'food.internal:443', PAGE_SIZE: '0' });
    assert.throws(
      () => loadConfig(),
      (err: Error) =>
        /PAGE_SIZE/.test(err.message) &&
        ![CA, CERT, KEY, 'secret', 'BEGIN'].some((s) => err.message.includes(s)),
    );
  });

  it('leaves the client certificate and key out when they are "none" or empty', () => {
    for (const absent of [undefined, '', '  ', 'none', 'NONE', ' None\n']) {
      delete process.env.FOOD_SERVICE_CLIENT_CERT;
      delete process.env.FOOD_SERVICE_CLIENT_KEY;
      set({ FOOD_SERVICE_CA: CA, FOOD_SERVICE_ADDRESS: 'food.internal:443' });
      if (absent !== undefined)
        set({ FOOD_SERVICE_CLIENT_CERT: absent, FOOD_SERVICE_CLIENT_KEY: absent });
      const { tls } = loadConfig();
      assert.deepEqual(tls, { caPem: CA }, JSON.stringify(absent));
      assert.ok(!('certPem' in tls) && !('keyPem' in tls), 'the keys are absent, not undefined');
    }
  });

  it('passes the client certificate and key through when both are set', () => {
    set({
      FOOD_SERVICE_CA: CA,
      FOOD_SERVICE_CLIENT_CERT: CERT,
      FOOD_SERVICE_CLIENT_KEY: KEY,
      FOOD_SERVICE_ADDRESS: 'food.internal:443',
    });
    assert.deepEqual(loadConfig().tls, { caPem: CA, certPem: CERT, keyPem: KEY });
  });

  it('does not leak the environment it was given into other tests', () => {
    // The afterEach restores; this checks the beforeEach cleared what the last test set.
    for (const name of NAMES) assert.equal(process.env[name], undefined, name);
  });
});

describe("the README's configuration table", () => {
  it('states every param with the default, range and meaning from config.ts, and nothing else', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1),
    );
    const rows = new Map(
      [...section.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/gm)].map(
        ([, name, fallback, range, meaning]) => [
          name,
          { fallback: fallback.trim(), range: range.trim(), meaning: meaning.trim() },
        ],
      ),
    );
    for (const [name, param] of Object.entries(INT_PARAMS)) {
      const row = rows.get(name);
      assert.ok(row, `README lists ${name}`);
      assert.deepEqual(
        row,
        {
          fallback: String(param.default),
          range: `${param.min}–${param.max}`,
          meaning: param.description,
        },
        name,
      );
    }
    for (const [name, param] of Object.entries(STRING_PARAMS)) {
      const row = rows.get(name);
      assert.ok(row, `README lists ${name}`);
      assert.deepEqual(
        row,
        {
          fallback: param.default === null ? '(required)' : `\`${param.default}\``,
          range: param.format,
          meaning: param.description,
        },
        name,
      );
    }
    assert.deepEqual(
      [...rows.keys()].sort(),
      [...Object.keys(STRING_PARAMS), ...INT_NAMES].sort(),
      'no param in the table that config.ts does not declare',
    );
  });
});
