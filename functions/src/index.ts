// The deployable: `firebase deploy` loads it to find the functions, so it does no work at import.
export { advanceRelation } from './triggers/advance-relation';
export { forgetHistory } from './triggers/forget-history';
export { ops } from './triggers/ops-api';
export { pollFoodService, pollFoodServiceNow, pollSlot } from './triggers/poll-food-service';
export { observeShard } from './triggers/observe-shard';
export { reportStuckOrders } from './triggers/report-stuck-orders';
