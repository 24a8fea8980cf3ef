import { onDocumentWritten } from 'firebase-functions/v2/firestore';
import * as logger from 'firebase-functions/logger';

import { PARAMS, DEPLOYMENT, FOOD_SERVICE_SECRETS } from '../config';
import { advance } from '../order/lifecycle';
import { store } from '../store/db';
import { RELATIONS } from '../store/schema';
import { runtimeDeps } from './deps';

/**
 * Advances a relation whenever it is written. Failed steps are not retried by
 * redelivery (retry: false): the step records its error with a retry time,
 * and the poller wakes the relation when that time comes, so a retry never
 * depends on an event that may be lost, and never loops. The timeout is a
 * param because the claim lease must outlast it (CLAIM_LEASE_SECONDS).
 * Instances and concurrency are params too: with FOOD_MAX_IN_FLIGHT they
 * bound what a burst of writes can ask of the food service (config.ts,
 * foodCallBound). An event that finds no instance free is not redelivered
 * (retry: false); the poller wakes its relation once it has stalled.
 */
export const advanceRelation = onDocumentWritten(
  {
    ...DEPLOYMENT,
    document: `${RELATIONS}/{orderId}`,
    secrets: FOOD_SERVICE_SECRETS,
    timeoutSeconds: PARAMS.ADVANCE_TIMEOUT_SECONDS,
    retry: false,
    maxInstances: PARAMS.ADVANCE_MAX_INSTANCES,
    concurrency: PARAMS.ADVANCE_CONCURRENCY,
    // Concurrency above 1 needs a whole CPU.
    cpu: 1,
  },
  async (event) => {
    const after = event.data?.after;
    if (!after?.exists) return;
    const result = await advance(
      store().doc(after.ref.path),
      event.id,
      runtimeDeps((config) => config.advanceTimeoutSeconds),
    );
    logger.debug('advanceRelation', { relation: after.ref.path, eventId: event.id, result });
  },
);
