// A stand-in for Cloud Tasks, for the task-queue functions the local host
// runs, as the trigger receiver stands in for Eventarc. firebase-admin's
// taskQueue().enqueue() sends its CreateTask call here (the host points
// CLOUD_TASKS_EMULATOR_HOST at it, as the Functions emulator does at the
// Cloud Tasks emulator), and each task is dispatched to its function over
// HTTP with Cloud Tasks' headers, keeping what the function's own options
// ask of the queue: at most maxConcurrentDispatches at once, maxAttempts
// tries with minBackoffSeconds between them, and a task name created once.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { describeError } from '../functions/src/describe-error';

/** What a task-queue function's __endpoint.taskQueueTrigger says of its queue. */
export interface QueueOptions {
  retryConfig?: { maxAttempts?: number | null; minBackoffSeconds?: number | null };
  rateLimits?: { maxConcurrentDispatches?: number | null };
}

/** Delivers one task's body to its function; resolves with the HTTP status it answered. */
export type Dispatch = (body: string, headers: Record<string, string>) => Promise<number>;

interface Queue {
  dispatch: Dispatch;
  maxAttempts: number;
  backoffMs: number;
  concurrency: number;
  running: number;
  waiting: Array<() => void>;
}

export interface TaskQueues {
  /** host:port, for CLOUD_TASKS_EMULATOR_HOST. */
  readonly address: string;
  register(name: string, options: QueueOptions, dispatch: Dispatch): void;
  counts(): { enqueued: number; duplicates: number; dispatched: number; failed: number; pending: number };
  /** Resolves once no task is waiting or running; rejects after `timeoutMs`. */
  settle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A token that says who sends the task, as Cloud Tasks' OIDC token does. The
 * task handler decodes it without checking the signature (the platform has
 * checked it by then), so an unsigned one is enough here.
 */
function unsignedToken(): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const email = 'local-cloud-tasks@localhost';
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: 'local', sub: email, uid: email, email })}.`;
}

export async function startTaskQueues(log: (line: string) => void): Promise<TaskQueues> {
  const queues = new Map<string, Queue>();
  const names = new Set<string>();
  const counts = { enqueued: 0, duplicates: 0, dispatched: 0, failed: 0, pending: 0 };
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();

  async function run(name: string, queue: Queue, taskName: string, body: string, attempt: number): Promise<void> {
    if (queue.running >= queue.concurrency) await new Promise<void>((resolve) => queue.waiting.push(resolve));
    else queue.running++;
    let status = 0;
    try {
      status = await queue.dispatch(body, {
        'content-type': 'application/json',
        authorization: `Bearer ${unsignedToken()}`,
        'x-cloudtasks-queuename': name,
        'x-cloudtasks-taskname': taskName,
        'x-cloudtasks-taskretrycount': String(attempt - 1),
        'x-cloudtasks-taskexecutioncount': String(attempt - 1),
      });
    } catch (error) {
      log(`task ${taskName} could not be dispatched: ${describeError(error)}`);
    } finally {
      const next = queue.waiting.shift();
      if (next) next();
      else queue.running--;
    }
    if (status >= 200 && status < 300) {
      counts.dispatched++;
      counts.pending--;
    } else if (attempt < queue.maxAttempts && !stopped) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        void run(name, queue, taskName, body, attempt + 1);
      }, queue.backoffMs);
      timers.add(timer);
    } else {
      counts.failed++;
      counts.pending--;
      log(`task ${taskName} failed ${attempt} time(s) (last answer ${status || 'none'}); Cloud Tasks would give up on it too`);
    }
  }

  const server = http.createServer((request, response) => {
    const match = /^\/projects\/[^/]+\/locations\/[^/]+\/queues\/([^/]+)\/tasks$/.exec(request.url ?? '');
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answer = (status: number, body: object) =>
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const queue = match && queues.get(match[1]);
      if (request.method !== 'POST' || !match || !queue) {
        answer(404, { error: { status: 'NOT_FOUND', message: `no task queue for ${request.url}` } });
        return;
      }
      let task: { name?: string; httpRequest?: { body?: string } };
      try {
        task = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { task: typeof task }).task;
      } catch {
        answer(400, { error: { status: 'INVALID_ARGUMENT', message: 'the body is not a CreateTask request' } });
        return;
      }
      const taskName = task.name ?? `${match[1]}-${counts.enqueued + counts.duplicates + 1}`;
      if (names.has(taskName)) {
        counts.duplicates++;
        answer(409, { error: { status: 'ALREADY_EXISTS', message: `task ${taskName} exists` } });
        return;
      }
      names.add(taskName);
      counts.enqueued++;
      counts.pending++;
      answer(200, { ...task, name: taskName });
      void run(match[1], queue, taskName, Buffer.from(task.httpRequest?.body ?? '', 'base64').toString('utf8'), 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    register(name, options, dispatch) {
      queues.set(name, {
        dispatch,
        maxAttempts: options.retryConfig?.maxAttempts ?? 3,
        backoffMs: (options.retryConfig?.minBackoffSeconds ?? 10) * 1000,
        concurrency: options.rateLimits?.maxConcurrentDispatches ?? 1000,
        running: 0,
        waiting: [],
      });
    },
    counts: () => ({ ...counts }),
    async settle(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (counts.pending > 0) {
        if (Date.now() > deadline) throw new Error(`${counts.pending} task(s) still pending after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
