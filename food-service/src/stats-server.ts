// Stats over plain HTTP on a side port, for dashboards, scripts and people:
// GET /stats → JSON, GET /healthz → 200.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostPort } from './host-port';
import type { FoodServiceStats } from './stats';

export interface StatsServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startStatsServer(
  host: string,
  port: number,
  stats: () => FoodServiceStats,
): Promise<StatsServer> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('method not allowed\n');
    } else if (path === '/stats') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(`${JSON.stringify(stats(), null, 2)}\n`);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('not found: try /stats or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`stats server cannot listen on ${host}:${port}: ${err.message}`)),
    );
    server.listen(port, host, resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${hostPort(host, bound)}/stats`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
