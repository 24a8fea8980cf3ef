// The live board over plain HTTP on loopback: the page, a small JSON API, and
// Server-Sent Events that push every change the tracker sees. It has no
// authentication, so it refuses to listen anywhere but loopback, and it
// answers only requests addressed to a loopback name (a DNS-rebinding page
// cannot read it). A client that stops reading the events is cut off rather
// than buffered without bound; its EventSource reconnects and starts again
// from a fresh snapshot.
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

import type { RelationTracker, TrackerEvent } from './tracker';
import { describeError } from '../../functions/src/api';

export interface BoardOptions {
  /** A loopback address; 127.0.0.1 by default. */
  host?: string;
  /** 0 picks any free port. */
  port: number;
  tracker: RelationTracker;
  /** More figures for /api/summary and the page (e.g. the food service's stats): the summary's `extra`. */
  extra?: () => Record<string, unknown>;
  /**
   * Base URL of the ops HTTPS function (…/ops), on loopback: /api/orders/<id>
   * answers with its GET /orders/<id>, so a click on a card shows the
   * order's history. Without it, that route says so.
   */
  statusApi?: string;
}

export type Board = Awaited<ReturnType<typeof startBoard>>;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);
const LOOPBACK_NAMES = new Set(['127.0.0.1', '[::1]', 'localhost']);
const SUMMARY_INTERVAL_MS = 1000;
const SUMMARY_SOON_MS = 200;
const HEARTBEAT_INTERVAL_MS = 15_000;
const ORDER_ROUTE = '/api/orders/';
const STATUS_API_TIMEOUT_MS = 10_000;
/** The page loads nothing from elsewhere; the policy makes sure of it. */
const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
  'x-content-type-options': 'nosniff',
};

export async function startBoard(options: BoardOptions) {
  const { tracker, extra, statusApi } = options;
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK_HOSTS.has(host))
    throw new Error(`the board has no authentication and listens on loopback only, not ${host}`);
  if (statusApi !== undefined && !LOOPBACK_NAMES.has(new URL(statusApi).hostname)) {
    throw new Error(`the board reads the status API on loopback only, not ${statusApi}`);
  }

  // Read once: a missing file fails the start, not the first visitor.
  const [page, script] = await Promise.all(
    ['page.html', 'board.js'].map((file) => readFile(path.join(__dirname, file), 'utf8')),
  );
  const streams = new EventStreams();

  const summary = (): Record<string, unknown> => {
    try {
      return { ...tracker.summary(new Date()), extra: extra?.() ?? {} };
    } catch (error) {
      return { ...tracker.summary(new Date()), extra: { error: describeError(error) } };
    }
  };

  const routes = new Map<string, (res: http.ServerResponse) => void>([
    [
      '/',
      (res) =>
        res
          .writeHead(200, { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8' })
          .end(page),
    ],
    [
      '/board.js',
      (res) =>
        res
          .writeHead(200, { ...PAGE_HEADERS, 'content-type': 'text/javascript; charset=utf-8' })
          .end(script),
    ],
    ['/api/relations', (res) => json(res, 200, tracker.relations(new Date()))],
    ['/api/summary', (res) => json(res, 200, summary())],
    ['/api/transitions', (res) => json(res, 200, tracker.transitions())],
    [
      '/api/events',
      (res) =>
        streams.open(res, {
          event: 'snapshot',
          data: {
            relations: tracker.relations(new Date()),
            transitions: tracker.transitions(),
            summary: summary(),
          },
        }),
    ],
  ]);

  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const route = routes.get(pathname);
    if (!isLoopbackName(req.headers.host))
      json(res, 421, { error: 'the board answers only to 127.0.0.1, localhost or [::1]' });
    else if (req.method !== 'GET')
      json(
        res,
        405,
        { error: `${req.method ?? ''} not allowed; the board is read-only` },
        { allow: 'GET' },
      );
    else if (route) route(res);
    else if (pathname.startsWith(ORDER_ROUTE))
      void orderStatus(pathname.slice(ORDER_ROUTE.length), res);
    else
      json(res, 404, {
        error: `not found: ${pathname}`,
        routes: [...routes.keys(), `${ORDER_ROUTE}<id>`],
      });
  });

  /** The order's relation and history from the status API, passed on as it answered. */
  const orderStatus = async (id: string, res: http.ServerResponse): Promise<void> => {
    if (!statusApi)
      return json(res, 404, { error: 'this board has no status API to read an order from' });
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id))
      return json(res, 400, { error: `"${id}" is not an order id` });
    try {
      const answer = await fetch(`${statusApi}/orders/${id}`, {
        signal: AbortSignal.timeout(STATUS_API_TIMEOUT_MS),
      });
      json(res, answer.status, await answer.json());
    } catch (error) {
      json(res, 502, {
        error: `the status API did not answer: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  };

  // Counts follow changes within SUMMARY_SOON_MS, and one summary covers a burst of changes.
  let soon: NodeJS.Timeout | undefined;
  const sendSummary = (): void => {
    clearTimeout(soon);
    soon = undefined;
    if (streams.size > 0) streams.send('summary', summary());
  };
  const unsubscribe = tracker.subscribe((event: TrackerEvent) => {
    if (event.type === 'relation') streams.send('relation', event.view);
    else if (event.type === 'removed') streams.send('removed', { id: event.id });
    else streams.send('transition', event.transition);
    soon ??= setTimeout(sendSummary, SUMMARY_SOON_MS).unref();
  });
  // Periodic too, so the rate decays on the page when nothing happens.
  const timers = [
    setInterval(sendSummary, SUMMARY_INTERVAL_MS),
    setInterval(() => streams.heartbeat(), HEARTBEAT_INTERVAL_MS),
  ];
  // The runner's own lifetime decides when the process ends, not the board's timers.
  for (const timer of timers) timer.unref();
  const stopTimers = (): void => {
    unsubscribe();
    clearTimeout(soon);
    for (const timer of timers) clearInterval(timer);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, resolve);
    });
  } catch (error) {
    stopTimers();
    throw new Error(`the board cannot listen on ${host}:${options.port}: ${describeError(error)}`);
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        stopTimers();
        streams.closeAll();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function isLoopbackName(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  // Host is name[:port]; an IPv6 name keeps its brackets.
  const name = hostHeader.startsWith('[')
    ? hostHeader.slice(0, hostHeader.indexOf(']') + 1)
    : hostHeader.split(':')[0];
  return LOOPBACK_NAMES.has(name.toLowerCase());
}

function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...headers,
    })
    .end(`${JSON.stringify(body)}\n`);
}

// ---- Server-Sent Events: one open response per client, each message written to all of them.

/** Bytes a client may leave unread before it is dropped. */
const MAX_BUFFERED = 1 << 20;
/** How long the browser waits before reconnecting. */
const RETRY_MS = 2000;

export class EventStreams {
  private readonly clients = new Set<http.ServerResponse>();

  get size(): number {
    return this.clients.size;
  }

  /** Takes over `res` as an event stream; `first` is sent to it alone, before anything else. */
  open(res: http.ServerResponse, first: { event: string; data: unknown }): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies that buffer responses would hold events back.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    this.write(res, format(first.event, first.data));
  }

  send(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const message = format(event, data);
    for (const res of this.clients) this.write(res, message);
  }

  /** A comment line: keeps idle connections (and proxies) from timing out. */
  heartbeat(): void {
    for (const res of this.clients) this.write(res, ': heartbeat\n\n');
  }

  closeAll(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private write(res: http.ServerResponse, message: string): void {
    if (res.writableLength > MAX_BUFFERED) {
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(message);
  }
}

/** JSON.stringify never emits raw newlines, so each message is a single data line. */
function format(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
