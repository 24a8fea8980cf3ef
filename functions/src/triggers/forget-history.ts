import { onDocumentDeleted } from 'firebase-functions/v2/firestore';
import * as logger from 'firebase-functions/logger';

import { DEPLOYMENT } from '../config';
import { store } from '../store/db';
import { deleteHistory } from '../store/relations';
import { RELATIONS } from '../store/schema';

/**
 * When a relation is deleted (by its TTL policy, RETENTION_DAYS after it
 * finished with nothing left for a person), its history goes with it. The
 * history never expires on its own: a possible orphan is derived from its
 * attempts. Retried until it succeeds; deleting again is harmless.
 */
export const forgetHistory = onDocumentDeleted(
  { ...DEPLOYMENT, document: `${RELATIONS}/{orderId}`, retry: true },
  async (event) => {
    const relation = `${RELATIONS}/${event.params.orderId}`;
    const { named, listed } = await deleteHistory(store().doc(relation), event.data?.data());
    logger.info('relation deleted; its history deleted with it', { relation, named, listed });
  },
);
