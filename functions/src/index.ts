// The deployable entry point: `firebase deploy` loads this module to discover
// the functions, so it only wires exports and does no work at import time.
export { advanceRelation } from './triggers/advance-relation';
export { forgetHistory } from './triggers/forget-history';
export { ops } from './triggers/ops-api';
export { pollFoodService, pollFoodServiceNow, pollSlot } from './triggers/poll-food-service';
export { observeShard } from './triggers/observe-shard';
export { reportStuckOrders } from './triggers/report-stuck-orders';
