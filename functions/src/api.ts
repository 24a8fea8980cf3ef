// The one door for the tools around the deployable (ops/, local/, bench/, the food service's
// tests): they import only this (or lib/api.js; the bench also lib/index.js), so the rest of
// functions/src can change freely.
// docs/ARCHITECTURE.md#layers; functions/test/layers.test.ts fails on a reach past it.

export { describeError } from './describe-error';

// Settings, read the way the functions read them.
export {
  INT_PARAMS,
  loadRetentionDays,
  loadStuckThresholds,
  loadWatchSettings,
  STRING_PARAMS,
} from './config';

export { type PollerStatus, type ProblemReason, type StuckThresholds } from './model/health';
export { isActiveStage, isTerminal, STAGES, type Stage } from './model/stage';

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

export { db, standaloneFirestore, useFirestore } from './store/db';
export { firestoreNow, killSwitchRef, readKillSwitch, setKillSwitch } from './store/controls';
export { readHealthSummary } from './store/health';
export { relationRef } from './store/relations';
export { newRelation } from './store/schema';

export { pollerStatus } from './poller/heartbeat';
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
export { pollNow, runScheduledPolls, runSlotTask } from './poller/schedule';
export { parseShard } from './poller/shards';
export { runtimeDeps } from './triggers/deps';
