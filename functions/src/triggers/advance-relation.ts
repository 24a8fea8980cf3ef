import { onDocumentWritten } from 'firebase-functions/v2/firestore';
import * as logger from 'firebase-functions/logger';

import { FOOD_SERVICE_SECRETS } from '../config';
import { advance } from '../orchestration/advance';
import { RELATIONS } from '../orchestration/relation';
import { db } from '../store/db';
import { runtimeDeps } from './deps';

/**
 * Advances a relation whenever it is written. Failed steps are not retried by
 * redelivery (retry: false): the step records its error with a retry time,
 * and the poller wakes the relation when that time comes, so a retry never
 * depends on an event that may be lost, and never loops.
 */
export const advanceRelation = onDocumentWritten(
  {
    document: `${RELATIONS}/{orderId}`,
    secrets: FOOD_SERVICE_SECRETS,
    timeoutSeconds: 120,
    retry: false,
  },
  async (event) => {
    if (!event.data?.after.exists) return;
    const ref = db().collection(RELATIONS).doc(event.params.orderId);
    const result = await advance(ref, event.id, runtimeDeps());
    logger.debug('advanceRelation', { relation: ref.path, eventId: event.id, result });
  },
);
