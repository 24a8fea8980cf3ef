import { onDocumentWritten } from 'firebase-functions/v2/firestore';
import * as logger from 'firebase-functions/logger';

import { PARAMS, DEPLOYMENT, FOOD_SERVICE_SECRETS } from '../config';
import { advance } from '../order/lifecycle';
import { store } from '../store/db';
import { RELATIONS } from '../store/schema';
import { runtimeDeps } from './deps';

/**
 * No redelivery (retry: false): the poller wakes a relation whose retry fell due or whose event
 * was lost (docs/ARCHITECTURE.md#level-triggered-triggers). The timeout is a param because the
 * claim lease must outlast it; instances and concurrency bound the food calls (foodCallBound).
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
