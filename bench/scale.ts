// Section 4 of the bench: one poll at scale (A = 100,000 by default), in one
// instance and fanned out to observeShard tasks. The poll and each task run in
// processes of their own, as function instances would; the tasks go through
// firebase-tools' own Cloud Tasks emulator (as the tests' driver runs it),
// which keeps the queue's limits from the function's own options (at most
// maxConcurrentDispatches at once), and each dispatch starts a task process.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { startTaskQueues } from '../functions/test/helpers/driver';
import { describeError, type PollSummary } from '../functions/src/api';
import type { FirestoreKind } from './lifecycle';
import type { Ops } from './ops';
import {
  callsSince,
  FUNCTIONS_DIR,
  openWorld,
  PROJECT_ID,
  type ChildRun,
  type PollCalls,
  type PollTarget,
} from './world';

/** observeShard's queue options, as firebase-functions declares them. */
interface QueueOptions {
  rateLimits?: { maxConcurrentDispatches?: number };
  [option: string]: unknown;
}

/** One process's share: the poll, or one task. */
export interface ProcessCost {
  wallMs: number;
  peakRssMb: number;
  firestore: Ops;
  emptyQueries: number;
  /** Time spent waiting on Firestore queries (RunQuery), start to status, summed over concurrent calls. */
  queryMs: number;
  queries: number;
  calls: PollCalls;
  summary: PollSummary;
}

export interface ScaleResult {
  firestoreKind: FirestoreKind;
  active: number;
  shardSize: number;
  /** Every shard observed by the poll's own instance, one after another. */
  single: ProcessCost;
  fanOut: {
    /** The scheduled poll: listing, planning, enqueueing. */
    poll: ProcessCost;
    tasks: ProcessCost[];
    /** Each task's payload as Cloud Tasks carried it, in bytes: what it bills, per 32 KiB. */
    taskBytes: number[];
    /** From the poll's start until the last task finished. */
    wallMs: number;
    /** The food-service calls of the poll and all its tasks (a task's own `calls` include those of tasks running beside it). */
    calls: PollCalls;
    /** What the queue allowed at once (observeShard's maxConcurrentDispatches). */
    maxConcurrentDispatches: number;
    /** Dispatches that failed (should be none; the queue tries them again). */
    failedTasks: number;
  };
}

export interface ScaleParams {
  target: PollTarget;
  active: number;
  shardSize: number;
  pageSize: number;
  maxConcurrency: number;
  log: (line: string) => void;
}

function cost(run: ChildRun<PollSummary>): ProcessCost {
  return {
    wallMs: run.wallMs,
    peakRssMb: run.peakRssMb,
    firestore: run.firestore.ops,
    emptyQueries: run.firestore.emptyQueries,
    queryMs: run.firestore.calls.RunQuery?.totalMs ?? 0,
    queries: run.firestore.calls.RunQuery?.count ?? 0,
    calls: run.calls,
    summary: run.result,
  };
}

/** observeShard's queue options, as deployed: read from the compiled function, not copied. */
function observeShardQueue(): QueueOptions {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled function's manifest
  const { observeShard } = require(path.join(FUNCTIONS_DIR, 'lib', 'index.js')) as {
    observeShard: { __endpoint: { taskQueueTrigger?: QueueOptions } };
  };
  const options = observeShard.__endpoint.taskQueueTrigger;
  if (!options) throw new Error('observeShard is not a task-queue function');
  return options;
}

export async function scaleBench(params: ScaleParams): Promise<ScaleResult> {
  const { target, active, shardSize, log } = params;
  const world = await openWorld(target, params);
  const taskDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-shards-'));
  try {
    log(`  scale on ${target.kind}: A = ${active}, SHARD_SIZE = ${shardSize}`);
    await world.seedActive(active, log);
    const env = { SHARD_SIZE: String(shardSize) };

    const single = await world.run<PollSummary>('orchestrator', env);
    log(
      `    one instance: ${(single.wallMs / 1000).toFixed(1)} s, ${single.peakRssMb.toFixed(0)} MB, ${single.result.shardsInline} shards observed in turn`,
    );

    const queueOptions = observeShardQueue();
    const tasks: ProcessCost[] = [];
    const taskBytes: number[] = [];
    let taskFailures = 0;
    // Where the Cloud Tasks emulator dispatches each task: a process of its own runs the shard.
    const dispatch = async (body: string): Promise<number> => {
      taskBytes.push(Buffer.byteLength(body));
      const file = path.join(taskDir, `task-${tasks.length + taskFailures}-${Date.now()}.json`);
      fs.writeFileSync(file, JSON.stringify((JSON.parse(body) as { data: unknown }).data));
      try {
        tasks.push(cost(await world.run<PollSummary>('shard', env, [file])));
        if (tasks.length % 10 === 0) log(`    ${tasks.length} tasks done`);
        return 204;
      } catch (error) {
        taskFailures++;
        log(`    a task failed: ${describeError(error)}`);
        return 500;
      } finally {
        fs.rmSync(file, { force: true });
      }
    };
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on(
        'end',
        () =>
          void dispatch(Buffer.concat(chunks).toString('utf8')).then((status) =>
            response.writeHead(status).end(),
          ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/observeShard`;
    const queues = await startTaskQueues(PROJECT_ID, [
      { name: 'observeShard', options: queueOptions, uri },
    ]);
    try {
      const started = performance.now();
      const callsBefore = world.simulator.stats();
      const poll = await world.run<PollSummary>('orchestrator', {
        ...env,
        CLOUD_TASKS_EMULATOR_HOST: queues.host,
      });
      // Until the queue is empty and no dispatch runs, bounded by the longest a run at scale may take.
      for (
        const deadline = Date.now() + 3_600_000;
        queues.active();
        await new Promise((resolve) => setTimeout(resolve, 200))
      ) {
        if (Date.now() > deadline) throw new Error('the shards did not finish within an hour');
      }
      const wallMs = performance.now() - started;
      const calls = callsSince(callsBefore, world.simulator.stats());
      log(
        `    fanned out: the poll ${(poll.wallMs / 1000).toFixed(1)} s, ${poll.result.shards} tasks, all done after ${(wallMs / 1000).toFixed(1)} s`,
      );
      return {
        firestoreKind: target.kind,
        active,
        shardSize,
        single: cost(single),
        fanOut: {
          poll: cost(poll),
          tasks,
          taskBytes,
          wallMs,
          calls,
          maxConcurrentDispatches: queueOptions.rateLimits?.maxConcurrentDispatches ?? 0,
          failedTasks: taskFailures,
        },
      };
    } finally {
      await queues.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  } finally {
    fs.rmSync(taskDir, { recursive: true, force: true });
    await world.close();
  }
}
