// Server-Sent Events to the board's browsers: one open response per client,
// each message written to all of them. A client that stops reading is cut
// off rather than buffered without bound; its EventSource reconnects and
// starts again from a fresh snapshot.
import type { ServerResponse } from 'node:http';

/** Bytes a client may leave unread before it is dropped. */
const MAX_BUFFERED = 1 << 20;
/** How long the browser waits before reconnecting. */
const RETRY_MS = 2000;

export class EventStreams {
  private readonly clients = new Set<ServerResponse>();

  get size(): number {
    return this.clients.size;
  }

  /** Takes over `res` as an event stream; `first` is sent to it alone, before anything else. */
  open(res: ServerResponse, first: { event: string; data: unknown }): void {
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

  private write(res: ServerResponse, message: string): void {
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
