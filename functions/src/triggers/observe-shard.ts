import * as logger from 'firebase-functions/logger';
import { onTaskDispatched } from 'firebase-functions/v2/tasks';

import { DEPLOYMENT, FOOD_SERVICE_SECRETS, POLLER_MAX_INSTANCES } from '../config';
import { observeShard as observe } from '../poller/poll';
import { parseShard } from '../poller/shards';
import { runtimeDeps } from './deps';

const SHARD_TIMEOUT_SECONDS = 120;

/** A redelivered or duplicate task changes nothing twice (docs/ARCHITECTURE.md#fan-out). */
export const observeShard = onTaskDispatched(
  {
    ...DEPLOYMENT,
    // A failed shard is tried again soon; the next poll covers it anyway.
    retryConfig: { maxAttempts: 3, minBackoffSeconds: 10, maxBackoffSeconds: 60 },
    // Each instance keeps up to FOOD_MAX_IN_FLIGHT calls in flight: six at once bound the shards'
    // calls, and a minute's shards still finish well within the minute.
    rateLimits: {
      maxConcurrentDispatches: POLLER_MAX_INSTANCES.observeShard,
      maxDispatchesPerSecond: 10,
    },
    maxInstances: POLLER_MAX_INSTANCES.observeShard,
    secrets: FOOD_SERVICE_SECRETS,
    timeoutSeconds: SHARD_TIMEOUT_SECONDS,
    memory: '512MiB',
  },
  async (request) => {
    const shard = parseShard(request.data);
    if (typeof shard === 'string') {
      // It would fail the same way on every retry; the next poll covers its range anyway.
      logger.error('observeShard got a task it cannot read; dropped', {
        problem: shard,
        task: request.id,
      });
      return;
    }
    const summary = await observe(
      runtimeDeps(() => SHARD_TIMEOUT_SECONDS),
      shard,
    );
    logger.info('shard observed', { ...summary, after: shard.after, upTo: shard.upTo });
  },
);
