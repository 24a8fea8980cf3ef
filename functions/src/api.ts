// The deployable's one door for the tools around it: the ops CLI (ops/), the
// local runner and its board (local/), the benchmarks (bench/) and the food
// service's client tests. They import this module (or its compiled
// lib/api.js) and nothing else of functions/src, so what they lean on is
// named here and the rest can change freely; `firebase deploy` loads index.ts.
// functions/test/layers.test.ts fails on an import past this door.

export { describeError } from './describe-error';

// Settings, read the way the functions read them.
export {
  INT_PARAMS,
  loadRetentionDays,
  loadStuckThresholds,
  loadWatchSettings,
  STRING_PARAMS,
} from './config';

// The domain model.
export { type PollerStatus, type ProblemReason, type StuckThresholds } from './model/health';
export { isActiveStage, isTerminal, STAGES, type Stage } from './model/stage';

// The food service's client.
export { FoodClient } from './food/client';
export type { TlsMaterial } from './food/credentials';
export {
  CALL_KINDS,
  FAILURE_TABLE,
  FoodServiceError,
  isOverReceiveLimit,
  type FailureCode,
} from './food/errors';
export type { FoodMethod } from './food/types';

// Firestore: the handle, and the documents the tools read and write.
export { db, standaloneFirestore, useFirestore } from './store/db';
export { killSwitchRef, readKillSwitch, setKillSwitch } from './store/controls';
export { readHealthSummary } from './store/health';
export { relationRef } from './store/relations';
export { newRelation } from './store/schema';

// What an operator asks and does: status, lists, repairs.
export { pollerStatus } from './poller/watch';
export {
  parseHandledFlag,
  RepairRefused,
  resolveOrphan,
  retryRelation,
} from './operations/repairs';
export {
  BadRequest,
  listRelations,
  listRequestOf,
  orderReport,
  parseOrderName,
  plainJson,
  type ListRequest,
  type RelationView,
} from './operations/status';

// The poller, run by hand: the benchmarks time it in a process of their own.
export { observeShard, type PollSummary } from './poller/poll';
export { minuteShape, pollNow, runScheduledPolls, runSlotTask } from './poller/schedule';
export { parseShard } from './poller/shards';
export { runtimeDeps } from './triggers/deps';
