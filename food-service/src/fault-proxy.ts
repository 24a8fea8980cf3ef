// A TCP proxy in front of the food service that breaks the network on
// purpose, where gRPC cannot tell what happened: a reply lost with its
// connection after the server did the work, a TLS handshake cut short, a reply
// that arrives after the deadline. TLS passes through untouched (the proxy
// never decrypts), so the client still verifies the real server certificate.
//
// The simulator's own faults (failRate) refuse a call before serving it; the
// faults here happen on the wire, so they include the ambiguous cases.
import * as net from 'node:net';
import { hostPort } from './host-port';
import { createRandom } from './random';

/** How the proxy closes a connection it cuts: a FIN (`close`) or a TCP RST (`reset`). */
export type CutWith = 'close' | 'reset';

export interface ProxyFaults {
  /** Share of server→client data chunks that, instead of being forwarded, close both sides. The server may have done the work. */
  dropRate: number;
  /** Share of new connections closed after their first client bytes (the TLS ClientHello), which are never forwarded. */
  handshakeCutRate: number;
  /** Added to every server→client chunk. */
  latencyMs: number;
  /** How cuts close the connections. */
  cutWith: CutWith;
}

export interface FaultProxyOptions extends Partial<ProxyFaults> {
  /** The food service, `host:port`. */
  target: string;
  host?: string; // default '127.0.0.1'
  port?: number; // default 0 (any free port)
  seed?: number; // default 1: which chunks and connections the rates hit
  maxConnections?: number; // default 256; more are closed at once and counted as refused
  maxDelayedBytes?: number; // default 1 MiB per connection held back by latency; above it the server side is paused
}

export interface FaultProxyStats {
  connections: {
    accepted: number;
    open: number;
    /** Closed at once: maxConnections were already open. */
    refused: number;
    /** The proxy could not reach the target, so it reset the client's connection. */
    targetUnreachable: number;
  };
  /** Bytes forwarded each way, and the most server→client bytes latency held back at once on one connection. */
  bytes: { clientToServer: number; serverToClient: number; delayedPeak: number };
  cuts: {
    /** Server→client chunks that closed both sides instead of being forwarded (dropRate). */
    reply: number;
    /** Connections closed after their first client bytes (handshakeCutRate, cutNextHandshakes). */
    handshake: number;
    /** Connections cut by cutAll(). */
    manual: number;
  };
}

export interface FaultProxy {
  /** '127.0.0.1:<port>': dial this instead of the target. */
  readonly address: string;
  readonly port: number;
  readonly target: string;
  stats(): FaultProxyStats;
  faults(): ProxyFaults;
  setFaults(faults: Partial<ProxyFaults>): void;
  /** The next `count` new connections are cut after their first client bytes, whatever the rate. */
  cutNextHandshakes(count?: number): void;
  /** Cuts every live connection now; returns how many. For a test hook: "right after the server did the work". */
  cutAll(): number;
  stop(): Promise<void>;
}

const DEFAULT_FAULTS: ProxyFaults = {
  dropRate: 0,
  handshakeCutRate: 0,
  latencyMs: 0,
  cutWith: 'close',
};

export function checkProxyFaults(faults: Partial<ProxyFaults>): void {
  for (const name of ['dropRate', 'handshakeCutRate'] as const) {
    const value = faults[name];
    if (value !== undefined && !(value >= 0 && value <= 1))
      throw new RangeError(`fault proxy ${name} must be between 0 and 1, got ${value}`);
  }
  const { latencyMs, cutWith } = faults;
  if (latencyMs !== undefined && !(Number.isFinite(latencyMs) && latencyMs >= 0)) {
    throw new RangeError(`fault proxy latencyMs must be a non-negative number, got ${latencyMs}`);
  }
  if (cutWith !== undefined && cutWith !== 'close' && cutWith !== 'reset') {
    throw new RangeError(`fault proxy cutWith must be 'close' or 'reset', got ${String(cutWith)}`);
  }
}

function parseTarget(target: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(target);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535)
    throw new RangeError(`fault proxy target must be host:port, got ${JSON.stringify(target)}`);
  return { host: match[1] ?? match[2], port };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`fault proxy ${name} must be a positive integer, got ${value}`);
  return value;
}

/** One client connection and, unless its handshake is cut, its connection to the target. */
interface Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket | undefined;
  /** Server→client chunks held back by latency, oldest first, each with the time it may go. */
  readonly delayed: Array<{ chunk: Buffer; due: number }>;
  delayedBytes: number;
  timer: NodeJS.Timeout | undefined;
  /** The target finished sending: end the client once the delayed chunks are out. */
  upstreamEnded: boolean;
  linger: NodeJS.Timeout | undefined;
  closed: boolean;
}

/** How long a half-closed connection, or a silent one waiting for its handshake cut, may stay. */
const LINGER_MS = 5000;

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = parseTarget(options.target);
  const host = options.host ?? '127.0.0.1';
  const maxConnections = positiveInteger('maxConnections', options.maxConnections ?? 256);
  const maxDelayedBytes = positiveInteger(
    'maxDelayedBytes',
    options.maxDelayedBytes ?? 1024 * 1024,
  );
  let faults: ProxyFaults = { ...DEFAULT_FAULTS };
  const setFaults = (next: Partial<ProxyFaults>): void => {
    checkProxyFaults(next);
    faults = {
      dropRate: next.dropRate ?? faults.dropRate,
      handshakeCutRate: next.handshakeCutRate ?? faults.handshakeCutRate,
      latencyMs: next.latencyMs ?? faults.latencyMs,
      cutWith: next.cutWith ?? faults.cutWith,
    };
  };
  setFaults(options);
  // Separate streams, so extra traffic on one fault cannot shift the other's choices.
  const dropRandom = createRandom(options.seed ?? 1, 'proxy-drop');
  const handshakeRandom = createRandom(options.seed ?? 1, 'proxy-handshake');
  let handshakesToCut = 0;

  const links = new Set<Link>();
  const stats: FaultProxyStats = {
    connections: { accepted: 0, open: 0, refused: 0, targetUnreachable: 0 },
    bytes: { clientToServer: 0, serverToClient: 0, delayedPeak: 0 },
    cuts: { reply: 0, handshake: 0, manual: 0 },
  };

  const destroy = (socket: net.Socket | undefined, how: CutWith): void => {
    if (!socket || socket.destroyed) return;
    // A reset needs a connected socket; one still connecting can only be destroyed.
    if (how === 'reset' && !socket.connecting) socket.resetAndDestroy();
    else socket.destroy();
  };

  /** Closes both sides at once, dropping whatever is still held back. */
  const close = (link: Link, how: CutWith): void => {
    if (link.closed) return;
    link.closed = true;
    clearTimeout(link.timer);
    clearTimeout(link.linger);
    link.delayed.length = 0;
    link.delayedBytes = 0;
    destroy(link.client, how);
    destroy(link.upstream, how);
    links.delete(link);
  };

  /** After one side has finished, the other gets LINGER_MS to finish too; no connection lingers half-open for ever. */
  const linger = (link: Link): void => {
    link.linger ??= setTimeout(() => close(link, 'close'), LINGER_MS);
  };

  const endClient = (link: Link): void => {
    link.client.end();
    linger(link);
  };

  /** The target may send again once the client has room and the delay queue is under its bound. */
  const maybeResumeUpstream = (link: Link): void => {
    if (!link.closed && !link.client.writableNeedDrain && link.delayedBytes <= maxDelayedBytes)
      link.upstream?.resume();
  };

  const deliver = (link: Link, chunk: Buffer): void => {
    stats.bytes.serverToClient += chunk.length;
    if (!link.client.write(chunk)) link.upstream?.pause();
  };

  /** Sends the delayed chunks that are due, then waits for the next one. */
  const flush = (link: Link): void => {
    link.timer = undefined;
    const now = Date.now();
    while (!link.closed && link.delayed.length > 0 && link.delayed[0].due <= now) {
      const { chunk } = link.delayed.shift() as { chunk: Buffer };
      link.delayedBytes -= chunk.length;
      deliver(link, chunk);
    }
    if (link.closed) return;
    if (link.delayed.length > 0) {
      link.timer = setTimeout(() => flush(link), link.delayed[0].due - now);
    } else if (link.upstreamEnded) {
      endClient(link);
    }
    maybeResumeUpstream(link);
  };

  const fromServer = (link: Link, chunk: Buffer): void => {
    if (dropRandom.chance(faults.dropRate)) {
      stats.cuts.reply++;
      close(link, faults.cutWith);
      return;
    }
    if (faults.latencyMs === 0 && link.delayed.length === 0) {
      deliver(link, chunk);
      return;
    }
    link.delayed.push({ chunk, due: Date.now() + faults.latencyMs });
    link.delayedBytes += chunk.length;
    stats.bytes.delayedPeak = Math.max(stats.bytes.delayedPeak, link.delayedBytes);
    if (link.delayedBytes > maxDelayedBytes) link.upstream?.pause();
    if (link.timer === undefined)
      link.timer = setTimeout(() => flush(link), Math.max(0, link.delayed[0].due - Date.now()));
  };

  const newLink = (client: net.Socket, upstream: net.Socket | undefined): Link => {
    const link: Link = {
      client,
      upstream,
      delayed: [],
      delayedBytes: 0,
      timer: undefined,
      upstreamEnded: false,
      linger: undefined,
      closed: false,
    };
    links.add(link);
    // A client that resets is passed on as a reset; one that simply went away, as a close.
    client.on('error', () => close(link, 'reset'));
    client.on('close', () => close(link, 'close'));
    return link;
  };

  /** Reads the client's first bytes (its ClientHello) and closes, never reaching the target. */
  const cutHandshake = (client: net.Socket): void => {
    const link = newLink(client, undefined);
    client.once('data', () => {
      stats.cuts.handshake++;
      close(link, faults.cutWith);
    });
    client.on('end', () => close(link, 'close'));
    // A client that never says anything is not kept for ever.
    client.setTimeout(LINGER_MS, () => close(link, 'close'));
  };

  const forward = (client: net.Socket): void => {
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    upstream.setNoDelay(true);
    const link = newLink(client, upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
    });
    // A target that resets, or cannot be reached (nothing after accept can say "refused"), resets the client.
    upstream.on('error', () => {
      if (!connected) stats.connections.targetUnreachable++;
      close(link, 'reset');
    });
    // A target that closed cleanly has sent its 'end' first: what it sent still reaches the client.
    upstream.on('close', () => {
      if (!link.upstreamEnded) close(link, 'close');
    });

    client.on('data', (chunk: Buffer) => {
      stats.bytes.clientToServer += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('end', () => {
      upstream.end();
      linger(link);
    });

    upstream.on('data', (chunk: Buffer) => fromServer(link, chunk));
    client.on('drain', () => maybeResumeUpstream(link));
    upstream.on('end', () => {
      link.upstreamEnded = true;
      if (link.delayed.length === 0) endClient(link);
    });
  };

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    stats.connections.accepted++;
    if (links.size >= maxConnections) {
      stats.connections.refused++;
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    const cut = handshakesToCut > 0 || handshakeRandom.chance(faults.handshakeCutRate);
    if (cut) {
      if (handshakesToCut > 0) handshakesToCut--;
      cutHandshake(client);
    } else {
      forward(client);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new Error(`fault proxy cannot listen on ${host}:${options.port ?? 0}: ${err.message}`),
      ),
    );
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;

  let stopping: Promise<void> | undefined;
  return {
    address: hostPort(host, port),
    port,
    target: options.target,
    stats: () => ({
      connections: { ...stats.connections, open: links.size },
      bytes: { ...stats.bytes },
      cuts: { ...stats.cuts },
    }),
    faults: () => ({ ...faults }),
    setFaults,
    cutNextHandshakes: (count = 1) => {
      handshakesToCut += positiveInteger('cutNextHandshakes count', count);
    },
    cutAll: () => {
      const live = [...links];
      for (const link of live) close(link, faults.cutWith);
      stats.cuts.manual += live.length;
      return live.length;
    },
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const link of [...links]) close(link, 'close');
      });
      return stopping;
    },
  };
}

/** One line for a terminal. */
export function formatProxyStats(stats: FaultProxyStats): string {
  const { connections: c, bytes: b, cuts } = stats;
  return (
    `connections ${c.accepted} (${c.open} open, ${c.refused} refused, ${c.targetUnreachable} target unreachable)` +
    ` | bytes ${b.clientToServer} up, ${b.serverToClient} down` +
    ` | cuts: ${cuts.reply} replies dropped, ${cuts.handshake} handshakes, ${cuts.manual} manual`
  );
}
