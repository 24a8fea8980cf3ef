import { strict as assert } from 'node:assert';

import { parseOptions, UsageError, usesFaultProxy, type LocalOptions } from '../options';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseOptions(argv, env) as LocalOptions;

describe('npm start options', () => {
  it('has defaults that run the simulator and an embedded Firestore', () => {
    const options = parse([]);
    assert.equal(options.foodService, undefined);
    assert.equal(options.firestore, undefined);
    assert.equal(options.pollIntervalSeconds, 2);
    assert.equal(options.ordersPerSecond, 1);
    assert.equal(options.boardPort, 3000);
    assert.equal(options.durationSeconds, undefined);
    assert.deepEqual(options.faults, { duplicateRate: 0, reorderMs: 0, failRate: 0, dropRate: 0, handshakeCutRate: 0, proxyLatencyMs: 0 });
    assert.equal(usesFaultProxy(options.faults), false, 'no fault proxy unless asked for');
  });

  it('reads every flag, and the environment when a flag is absent', () => {
    const options = parse(['--poll-interval', '1', '--orders-per-second', '2.5', '--duration', '30', '--duplicate-rate', '0.3'], {
      BOARD_PORT: '0',
      FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080',
      FOOD_SERVICE_ADDRESS: 'localhost:9000',
      FOOD_SERVICE_CA_FILE: '/tmp/ca.crt',
      REORDER_MS: '50',
    });
    assert.equal(options.pollIntervalSeconds, 1);
    assert.equal(options.ordersPerSecond, 2.5);
    assert.equal(options.durationSeconds, 30);
    assert.equal(options.boardPort, 0);
    assert.equal(options.firestore, '127.0.0.1:8080');
    assert.deepEqual(options.foodService, { address: 'localhost:9000', caFile: '/tmp/ca.crt' });
    assert.deepEqual(options.faults, {
      duplicateRate: 0.3,
      reorderMs: 50,
      failRate: 0,
      dropRate: 0,
      handshakeCutRate: 0,
      proxyLatencyMs: 0,
    });
  });

  it("reads the fault proxy's flags and variables; any of them puts the proxy in", () => {
    const options = parse(['--drop-rate', '0.05', '--proxy-latency', '6000'], { HANDSHAKE_CUT_RATE: '0.2' });
    assert.deepEqual(options.faults, {
      duplicateRate: 0,
      reorderMs: 0,
      failRate: 0,
      dropRate: 0.05,
      handshakeCutRate: 0.2,
      proxyLatencyMs: 6000,
    });
    assert.equal(usesFaultProxy(options.faults), true);
    for (const [argv, env] of [
      [['--drop-rate', '0.1'], {}],
      [[], { HANDSHAKE_CUT_RATE: '1' }],
      [[], { PROXY_LATENCY_MS: '1' }],
    ] as const) {
      assert.equal(usesFaultProxy(parse([...argv], env).faults), true, `${argv.join(' ')} ${JSON.stringify(env)}`);
    }
    assert.equal(usesFaultProxy(parse(['--drop-rate', '0', '--proxy-latency', '0']).faults), false);
  });

  it('prefers the flag over the environment', () => {
    assert.equal(parse(['--poll-interval', '3'], { POLL_INTERVAL_SECONDS: '9' }).pollIntervalSeconds, 3);
  });

  it('rejects bad values with the flag or variable, the value and what was expected', () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['--poll-interval', '0'], {}, /--poll-interval must be an integer from 1 to 3600, got "0"/],
      [['--poll-interval', '1.5'], {}, /--poll-interval must be an integer/],
      [['--orders-per-second', 'lots'], {}, /--orders-per-second must be a number from 0 to 1000, got "lots"/],
      [[], { BOARD_PORT: '70000' }, /BOARD_PORT must be an integer from 0 to 65535, got "70000"/],
      [['--firestore', 'localhost'], {}, /--firestore must be HOST:PORT, got "localhost"/],
      [['--fail-rate', '2'], {}, /--fail-rate must be a number from 0 to 1/],
      [['--drop-rate', '1.5'], {}, /--drop-rate must be a number from 0 to 1, got "1.5"/],
      [[], { HANDSHAKE_CUT_RATE: 'often' }, /HANDSHAKE_CUT_RATE must be a number from 0 to 1, got "often"/],
      [['--proxy-latency', '2.5'], {}, /--proxy-latency must be an integer from 0 to 600000, got "2.5"/],
      [['--proxy-latency=-1'], {}, /--proxy-latency must be an integer from 0 to 600000, got "-1"/],
      [['--food-service', '127.0.0.1:9000'], {}, /--food-service and --food-ca go together/],
      [['--bogus'], {}, /Unknown option '--bogus'/],
    ];
    for (const [argv, env, message] of cases) {
      assert.throws(
        () => parseOptions(argv, env),
        (e: Error) => e instanceof UsageError && message.test(e.message),
        `${argv.join(' ')} ${JSON.stringify(env)}`,
      );
    }
  });

  it('asks for help', () => {
    assert.equal(parseOptions(['--help'], {}), 'help');
  });
});
