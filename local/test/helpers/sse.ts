// A Server-Sent Events client over plain node:http, for the board's tests:
// it keeps every message and lets a test wait, bounded, for the one it expects.
import * as http from 'node:http';

export interface SseMessage {
  event: string;
  data: unknown;
}

export class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  private buffer = '';
  private waiters = new Set<() => void>();

  private constructor(
    private readonly request: http.ClientRequest,
    readonly response: http.IncomingMessage,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.receive(chunk));
  }

  /** Resolves once the response headers arrived, whatever the status. */
  static open(url: string, timeoutMs = 5000): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get(
        url,
        { headers: { accept: 'text/event-stream' }, timeout: timeoutMs },
        (response) => resolve(new SseClient(request, response)),
      );
      request.on('timeout', () =>
        request.destroy(new Error(`no response from ${url} within ${timeoutMs} ms`)),
      );
      request.on('error', reject);
    });
  }

  /** The first message from index `from` on that satisfies `match`; rejects after `timeoutMs`. */
  async next(
    match: (message: SseMessage) => boolean,
    { from = 0, timeoutMs = 5000 } = {},
  ): Promise<SseMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching event within ${timeoutMs} ms; got ${this.messages.map((m) => m.event).join(', ') || 'none'}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        this.waiters.add(done);
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  }

  close(): void {
    this.request.destroy();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('event: ')) event = line.slice('event: '.length);
        else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
      }
      if (data.length > 0) this.messages.push({ event, data: JSON.parse(data.join('\n')) });
    }
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }
}
