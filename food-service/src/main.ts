// The simulator's command line: `npm run food-service -- [flags]`. Runs until
// Ctrl-C or SIGTERM, then stops cleanly and prints the final stats.
import * as fs from 'node:fs';
import { ensureCerts } from './certs';
import { ConfigError, parseConfig, USAGE, type CliConfig } from './config';
import { startFoodService, type FoodServiceOptions } from './server';
import { formatStatsLine } from './stats';

export interface Console {
  out: (line: string) => void;
  err: (line: string) => void;
}

interface LoadedTls {
  tls: FoodServiceOptions['tls'];
  /** What to tell clients to trust. */
  trust: string;
  /** Client certificate and key for mTLS, when generated here. */
  clientPair?: string;
}

function readFlagFile(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(
      `--${flag}: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function loadTls(config: CliConfig): LoadedTls {
  const clientCa =
    config.clientCaFile === undefined ? undefined : readFlagFile('client-ca', config.clientCaFile);
  if ('certFile' in config.tls) {
    return {
      tls: {
        cert: readFlagFile('tls-cert', config.tls.certFile),
        key: readFlagFile('tls-key', config.tls.keyFile),
        clientCa,
      },
      trust: `the CA that issued ${config.tls.certFile}`,
    };
  }
  const certs = ensureCerts(config.tls.certsDir);
  return {
    tls: {
      cert: fs.readFileSync(certs.serverCert),
      key: fs.readFileSync(certs.serverKey),
      clientCa,
    },
    trust: certs.caCert,
    clientPair: `${certs.clientCert}, ${certs.clientKey}`,
  };
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Runs the simulator until a signal; resolves to the process exit code. */
export async function main(
  argv: readonly string[],
  io: Console = { out: console.log, err: console.error },
): Promise<number> {
  let config: CliConfig;
  let loaded: LoadedTls;
  try {
    config = parseConfig(argv);
    if (config.help) {
      io.out(USAGE);
      return 0;
    }
    loaded = loadTls(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`food-service: ${err.message}\n\n${USAGE}`);
    return 2;
  }

  const service = await startFoodService({ ...config.service, tls: loaded.tls, log: io.out });
  io.out(
    `food service listening on ${service.address} (TLS${loaded.tls.clientCa ? ', client certificates required' : ''})`,
  );
  io.out(`  clients trust: ${loaded.trust}`);
  if (loaded.clientPair && loaded.tls.clientCa)
    io.out(`  client certificate: ${loaded.clientPair}`);
  io.out(`  stats: ${service.statsUrl ?? 'off'}`);

  const signal = await waitForSignal();
  io.out(`${signal}: stopping`);
  await service.stop();
  io.out(`final ${formatStatsLine(service.stats())}`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`food-service: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
