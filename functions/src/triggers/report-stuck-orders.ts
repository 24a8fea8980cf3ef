import * as logger from 'firebase-functions/logger';
import { onSchedule } from 'firebase-functions/v2/scheduler';

import { DEPLOYMENT, loadStuckThresholds, loadWatchSettings } from '../config';
import { reportStuckOrders as report } from '../operations/health-report';

/**
 * Its own function, not the poll's: it must run when the food service is unreachable or the poller
 * is down (it watches its heartbeat), needs no food-service secrets, and keeps the alert's cadence.
 */
export const reportStuckOrders = onSchedule(
  {
    ...DEPLOYMENT,
    schedule: 'every 1 minutes',
    timeoutSeconds: 60,
    // One report at a time; a missed minute is made up by the next one.
    maxInstances: 1,
    retryCount: 0,
    memory: '256MiB',
  },
  async () => {
    const summary = await report({
      thresholds: loadStuckThresholds(),
      watch: loadWatchSettings(),
      now: () => new Date(),
    });
    logger.debug('reportStuckOrders', { counts: summary.counts });
  },
);
