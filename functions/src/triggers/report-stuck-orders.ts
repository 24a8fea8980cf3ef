import * as logger from 'firebase-functions/logger';
import { onSchedule } from 'firebase-functions/v2/scheduler';

import { DEPLOYMENT, loadStuckThresholds, loadWatchSettings } from '../config';
import { reportStuckOrders as report } from '../operations/health-report';

/**
 * The stuck-order report, once a minute, on its own rather than inside the
 * poll: it must still run when the food service cannot be reached (that is
 * when orders stop moving) or the poller does not run at all (it watches the
 * poller's heartbeat too), it needs no food-service secrets, and its
 * cadence is the alert's, not the poll's (which may be every second).
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
