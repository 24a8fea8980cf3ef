// The poll clock: what Cloud Scheduler is in production. The emulators never
// fire a scheduled function on a timer, so this POSTs to pollFoodServiceNow,
// which runs exactly the poll pollFoodService runs, under the same lease,
// every poll interval. `npm start` runs it; beside a plain
// `npx firebase emulators:start`, `npm run clock` does.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { describeError } from '../functions/src/api';
import { readProjectConfig } from './project';

export const CLOCK_FUNCTION = 'pollFoodServiceNow';
/** pollFoodServiceNow's timeoutSeconds is 120; a poll that outlives it will not answer. */
const POLL_REQUEST_MS = 130_000;

/** What the clock saw: polls answered 200, skipped with 409 (lease held), and failed (any other answer, or none). */
export type ClockCounts = Record<'ok' | 'skipped' | 'failed', number>;

export type PollResponse = { status: number; body: unknown };

/** One poll: what Cloud Scheduler's invocation does in production, through the HTTPS function. */
export async function postPoll(url: string, signal?: AbortSignal): Promise<PollResponse> {
  const timeout = AbortSignal.timeout(POLL_REQUEST_MS);
  const response = await fetch(url, {
    method: 'POST',
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    // The emulator answers some errors in plain text; keep it as is.
    return { status: response.status, body: text };
  }
}

/** One short line per poll: the status and the numbers that say whether orders are moving. */
export function describePoll({ status, body }: PollResponse): string {
  const run = (typeof body === 'object' && body !== null ? body : {}) as {
    polls?: Array<Record<string, number | undefined>>;
    failedPolls?: number;
    skipped?: string;
    paused?: string;
  };
  const poll = run.polls?.[0];
  if (status === 200 && poll) {
    const extra = (
      [
        ['shards', 'shards'],
        ['shardsInline', 'shards observed here'],
        ['vanished', 'vanished'],
        ['foreign', 'foreign'],
        ['lookupFailures', 'lookup failures'],
      ] as const
    )
      .filter(([key]) => Number(poll[key]) > 0)
      .map(([key, label]) => `, ${label} ${poll[key]}`)
      .join('');
    const n = (key: string) => poll[key] ?? '?';
    return `poll ${status} in ${n('durationMs')} ms: listed ${n('listed')}, active relations ${n('activeRelations')}, created ${n('created')}, observed ${n('observed')}, nudged ${n('nudged')}${extra}`;
  }
  if (status === 409)
    return `poll ${status}: skipped, ${run.skipped ?? 'another poll holds the lease'}`;
  if (status === 503) return `poll ${status}: paused, ${run.paused ?? 'the kill switch is on'}`;
  if (status === 502)
    return `poll ${status}: the poll failed (${run.failedPolls ?? '?'}); the functions log says why, and the next poll tries again`;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return `poll ${status}: ${text.replace(/\s+/g, ' ').slice(0, 200)}`;
}

/** Polls every interval, measured from each poll's start, never two at once, until `signal` aborts; counts the answers. */
export async function runClock(
  url: string,
  intervalSeconds: number,
  signal: AbortSignal,
  counts: ClockCounts,
  log: (line: string) => void,
): Promise<void> {
  log(`[clock] POST ${url} every ${intervalSeconds} s (the emulators have no Cloud Scheduler)`);
  while (!signal.aborted) {
    const started = Date.now();
    try {
      const response = await postPoll(url, signal);
      if (response.status === 200) counts.ok++;
      else if (response.status === 409) counts.skipped++;
      else counts.failed++;
      log(`[clock] ${describePoll(response)}`);
    } catch (error) {
      if (signal.aborted) return;
      counts.failed++;
      log(`[clock] poll failed: ${describeError(error)}`);
    }
    await sleep(Math.max(0, started + intervalSeconds * 1000 - Date.now()), undefined, {
      signal,
    }).catch(() => undefined);
  }
}

/** pollFoodServiceNow's URL in the Functions emulator that firebase.json and .firebaserc describe. */
export function defaultClockUrl(): string {
  const { projectId, firebaseJson } = readProjectConfig();
  const { host, port } = firebaseJson.emulators?.functions as { host: string; port: number };
  return `http://${host}:${port}/${projectId}/us-central1/${CLOCK_FUNCTION}`;
}

const USAGE = `usage: npm run clock -- [--interval SECONDS] [--url URL]

POSTs to ${CLOCK_FUNCTION} every interval (default 5 s, the POLL_INTERVAL_SECONDS of
functions/.env.local) until Ctrl-C; the URL defaults to the Functions emulator of
firebase.json and .firebaserc's project.
`;

/** The flags of `npm run clock`; throws on an unknown flag or a bad value. */
export function parseClockFlags(argv: readonly string[]): {
  intervalSeconds: number;
  url: string | undefined;
  help: boolean;
} {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      interval: { type: 'string' },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const intervalSeconds = Number(values.interval ?? 5);
  if (!Number.isInteger(intervalSeconds) || intervalSeconds < 1 || intervalSeconds > 3600) {
    throw new Error(
      `--interval must be a whole number of seconds from 1 to 3600, got "${values.interval}"`,
    );
  }
  if (
    values.url !== undefined &&
    !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+\//.test(values.url)
  ) {
    throw new Error(`--url must be a Functions emulator's URL on loopback, got "${values.url}"`);
  }
  return { intervalSeconds, url: values.url, help: values.help ?? false };
}

function main(argv: string[]): void {
  let flags: ReturnType<typeof parseClockFlags>;
  try {
    flags = parseClockFlags(argv);
  } catch (error) {
    process.stderr.write(`clock: ${describeError(error)}\n\n${USAGE}`);
    process.exit(2);
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  void runClock(
    flags.url ?? defaultClockUrl(),
    flags.intervalSeconds,
    stop.signal,
    { ok: 0, skipped: 0, failed: 0 },
    console.log,
  );
}

if (require.main === module) main(process.argv.slice(2));
