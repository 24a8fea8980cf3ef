import { onDocumentWritten } from 'firebase-functions/v2/firestore';
import * as logger from 'firebase-functions/logger';

import { advanceTimeoutSeconds, FOOD_SERVICE_SECRETS } from '../config';
import { advance } from '../orchestration/lifecycle';
import { RELATIONS } from '../store/schema';
import { runtimeDeps } from './deps';

/**
 * Advances a relation whenever it is written. Failed steps are not retried by
 * redelivery (retry: false): the step records its error with a retry time,
 * and the poller wakes the relation when that time comes, so a retry never
 * depends on an event that may be lost, and never loops. The timeout is a
 * param because the claim lease must outlast it (CLAIM_LEASE_SECONDS).
 */
export const advanceRelation = onDocumentWritten(
  {
    document: `${RELATIONS}/{orderId}`,
    secrets: FOOD_SERVICE_SECRETS,
    timeoutSeconds: advanceTimeoutSeconds,
    retry: false,
  },
  async (event) => {
    const after = event.data?.after;
    if (!after?.exists) return;
    const result = await advance(after.ref, event.id, runtimeDeps());
    logger.debug('advanceRelation', { relation: after.ref.path, eventId: event.id, result });
  },
);
