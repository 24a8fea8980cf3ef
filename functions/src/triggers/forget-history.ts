import { onDocumentDeleted } from 'firebase-functions/v2/firestore';
import * as logger from 'firebase-functions/logger';

import { DEPLOYMENT } from '../config';
import { store } from '../store/db';
import { deleteHistory } from '../store/relations';
import { RELATIONS } from '../store/schema';

/**
 * A deleted relation's history goes with it; it never expires on its own, since possible orphans
 * are derived from its attempts. Retried: deleting again is harmless.
 */
export const forgetHistory = onDocumentDeleted(
  { ...DEPLOYMENT, document: `${RELATIONS}/{orderId}`, retry: true },
  async (event) => {
    const relation = `${RELATIONS}/${event.params.orderId}`;
    const { named, listed } = await deleteHistory(store().doc(relation), event.data?.data());
    logger.info('relation deleted; its history deleted with it', { relation, named, listed });
  },
);
