// firebase-functions/logger writes one JSON line per entry, which Cloud
// Logging turns into structured logs. Locally those lines would bury what a
// person reads, so they go to a file (one JSON object per line, as in Cloud
// Logging's export). The logger keeps the console methods it found when it was
// loaded, so this must run before any function module is loaded.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function routeStructuredLogs(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '');
  for (const method of ['debug', 'info', 'log', 'warn', 'error'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const [line] = args;
      if (
        args.length === 1 &&
        typeof line === 'string' &&
        line.startsWith('{') &&
        line.includes('"severity"')
      ) {
        fs.appendFileSync(file, `${line}\n`);
      } else {
        original(...args);
      }
    };
  }
}
