import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { DEFAULT_CERTS_DIR } from '../src/certs';
import { ConfigError, parseConfig } from '../src/config';
import { parseDuration } from '../src/duration';
import { startFoodService } from '../src/server';
import { testCerts, waitFor } from './helpers';

describe('command line', () => {
  describe('parseDuration', () => {
    const cases: [string, number | undefined][] = [
      ['0', 0],
      ['500ms', 500],
      ['10s', 10_000],
      ['1m', 60_000],
      ['1m30s', 90_000],
      ['1.5s', 1500],
      ['2h', 7_200_000],
      ['', undefined],
      ['10', undefined],
      ['10x', undefined],
      ['s', undefined],
      ['-1s', undefined],
      ['1s ', undefined],
    ];
    for (const [text, expected] of cases) {
      it(`${JSON.stringify(text)} → ${expected}`, () =>
        assert.equal(parseDuration(text), expected));
    }
  });

  describe('parseConfig', () => {
    it("defaults to the real binary's port and interval, with generated certificates", () => {
      const config = parseConfig([]);
      assert.equal(config.help, false);
      assert.deepEqual(config.tls, { certsDir: DEFAULT_CERTS_DIR });
      assert.equal(config.clientCaFile, undefined);
      assert.deepEqual(config.service, {
        host: '127.0.0.1',
        port: 9000,
        controllerIntervalMs: 10_000,
        seed: 1,
        rejectRate: 0.1,
        advanceRate: 1,
        ordersPerSecond: 0,
        cancelRate: 0,
        failRate: 0,
        latencyMs: 0,
        finalOrderUpdates: 'accept',
        defaultPageSize: 50,
        maxPageSize: 1000,
        statsPort: 9001,
        statsIntervalMs: 10_000,
        debug: false,
      });
    });

    it('reads every flag, in both --flag value and --flag=value forms', () => {
      const config = parseConfig([
        '--host',
        '::1',
        '--port=0',
        '--tls-cert',
        's.crt',
        '--tls-key=s.key',
        '--client-ca',
        'ca.crt',
        '--controller-interval',
        '500ms',
        '--seed',
        '42',
        '--reject-rate',
        '0',
        '--advance-rate',
        '0.5',
        '--orders-per-second',
        '2.5',
        '--cancel-rate',
        '1',
        '--fail-rate',
        '0.25',
        '--latency',
        '20ms',
        '--final-order-updates',
        'refuse',
        '--stats-port',
        '0',
        '--stats-interval',
        '0',
        '--debug',
      ]);
      assert.deepEqual(config.tls, { certFile: 's.crt', keyFile: 's.key' });
      assert.equal(config.clientCaFile, 'ca.crt');
      assert.deepEqual(config.service, {
        host: '::1',
        port: 0,
        controllerIntervalMs: 500,
        seed: 42,
        rejectRate: 0,
        advanceRate: 0.5,
        ordersPerSecond: 2.5,
        cancelRate: 1,
        failRate: 0.25,
        latencyMs: 20,
        finalOrderUpdates: 'refuse',
        defaultPageSize: 50,
        maxPageSize: 1000,
        statsPort: 0,
        statsIntervalMs: 0,
        debug: true,
      });
      assert.deepEqual(parseConfig(['--certs-dir', 'x']).tls, { certsDir: 'x' });
      assert.equal(parseConfig(['-h']).help, true);
    });

    const errors: [string[], RegExp][] = [
      [
        ['--controller-interval', '10'],
        /^--controller-interval: "10" is not a duration like 500ms, 10s or 1m$/,
      ],
      [['--latency=fast'], /^--latency: "fast" is not a duration/],
      [['--reject-rate', '1.5'], /^--reject-rate: "1.5" is not a rate between 0 and 1$/],
      [['--fail-rate', 'x'], /^--fail-rate: "x" is not a rate between 0 and 1$/],
      [['--cancel-rate='], /^--cancel-rate: "" is not a rate/],
      [['--port', '70000'], /^--port: "70000" is not a port number 0\.\.65535$/],
      [['--stats-port', '1.5'], /^--stats-port: "1.5" is not a port number/],
      [['--seed', '1e400'], /^--seed: "1e400" is not an integer$/],
      [
        ['--final-order-updates', 'maybe'],
        /^--final-order-updates: "maybe" is not accept or refuse$/,
      ],
      [['--orders-per-second', '-2'], /^Option '--orders-per-second' argument is ambiguous/],
      [['--orders-per-second=-2'], /^--orders-per-second: "-2" is not a non-negative number$/],
      [['--tls-cert', 's.crt'], /^--tls-cert s\.crt needs --tls-key as well/],
      [['--tls-key', 's.key'], /^--tls-key s\.key needs --tls-cert as well/],
      [
        ['--tls-cert', 'a', '--tls-key', 'b', '--certs-dir', 'c'],
        /--certs-dir .* cannot be combined with --tls-cert/,
      ],
      [['--bogus'], /Unknown option '--bogus'/],
      [['serve'], /Unexpected argument 'serve'/],
      [['--port'], /Option '--port <value>' argument missing/],
    ];
    for (const [argv, message] of errors) {
      it(`rejects ${argv.join(' ')}`, () => {
        assert.throws(
          () => parseConfig(argv),
          (err: unknown) => {
            assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
            assert.match(err.message, message);
            return true;
          },
        );
      });
    }
  });

  describe('startFoodService', () => {
    it('rejects out-of-range options, naming them', async () => {
      const tls = { cert: Buffer.from('x'), key: Buffer.from('y') };
      await assert.rejects(
        startFoodService({ tls, rejectRate: 2 }),
        /option rejectRate must be between 0 and 1, got 2/,
      );
      await assert.rejects(
        startFoodService({ tls, finalOrderUpdates: 'ignore' as 'accept' }),
        /option finalOrderUpdates must be accept or refuse, got ignore/,
      );
      await assert.rejects(
        startFoodService({ tls, defaultPageSize: 2000 }),
        /defaultPageSize must be a positive integer no larger than maxPageSize \(1000\)/,
      );
      await assert.rejects(
        startFoodService({ tls: { cert: Buffer.alloc(0), key: Buffer.alloc(0) } }),
        /option tls must be a certificate and a key/,
      );
    });
  });

  describe('main.ts as a process', () => {
    const main = path.resolve(__dirname, '..', 'src', 'main.ts');

    interface Run {
      code: number | null;
      stdout: string;
      stderr: string;
    }

    /** Runs main.ts; `whenOutput` can act on stdout as it arrives (e.g. send a signal). Killed after 15 s. */
    function run(
      args: string[],
      whenOutput?: (stdout: string, child: ReturnType<typeof spawn>) => void,
    ): Promise<Run> {
      return new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['-r', 'ts-node/register/transpile-only', main, ...args],
          {
            cwd: path.resolve(__dirname, '..', '..'),
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          whenOutput?.(stdout, child);
        });
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(killer);
          resolve({ code, stdout, stderr });
        });
      });
    }

    it('prints the usage for --help and exits 0; a bad flag exits 2 naming it', async () => {
      const [help, bad] = await Promise.all([run(['--help']), run(['--reject-rate', '7'])]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^usage: food-service \[flags\]/);
      assert.equal(bad.code, 2);
      assert.match(
        bad.stderr,
        /^food-service: --reject-rate: "7" is not a rate between 0 and 1\n\nusage: food-service/,
      );
      assert.equal(bad.stdout, '');
    });

    it('serves until SIGTERM, then stops cleanly and prints the final stats', async () => {
      const certs = testCerts();
      let statsUrl: string | undefined;
      let signalled = false;
      const result = await run(
        [
          '--port',
          '0',
          '--stats-port',
          '0',
          '--stats-interval',
          '0',
          '--orders-per-second',
          '50',
          '--tls-cert',
          certs.serverCert,
          '--tls-key',
          certs.serverKey,
        ],
        (stdout, child) => {
          const match = /stats: (http:\S+)/.exec(stdout);
          if (match && !signalled) {
            signalled = true;
            statsUrl = match[1];
            void waitFor(
              'placed orders in /stats',
              async () => {
                const stats = (await (await fetch(match[1])).json()) as { ordersCreated: number };
                return stats.ordersCreated > 0 ? true : undefined;
              },
              { timeoutMs: 5000, intervalMs: 50 },
            ).finally(() => child.kill('SIGTERM'));
          }
        },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.ok(statsUrl);
      assert.match(
        result.stdout,
        /^food service listening on 127\.0\.0\.1:\d+ \(TLS\)\n {2}clients trust: the CA that issued /,
      );
      assert.match(
        result.stdout,
        /SIGTERM: stopping\nfinal stats up=[\d.]+s \| .*orders created=[1-9]/,
      );
    });
  });
});
