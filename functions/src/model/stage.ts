// Where an order is in the lifecycle. The stage is the orchestrator's progress, written only by the
// trigger; the food service's statuses beside it are written only by the poller.
export const STAGES = [
  'NEW',
  'PREPARATION',
  'IN_FLIGHT',
  'DELIVERED',
  'REJECTED',
  'CANCELLED',
] as const;
export type Stage = (typeof STAGES)[number];

/** The stages in which the orchestrator still moves an order; every other stage is an outcome. */
export const ACTIVE_STAGES = [
  'NEW',
  'PREPARATION',
  'IN_FLIGHT',
] as const satisfies readonly Stage[];
export type ActiveStage = (typeof ACTIVE_STAGES)[number];
export type Outcome = Exclude<Stage, ActiveStage>;

/** The outcomes the finishing step records, as the shipment ended. */
export const FINISHES = ['DELIVERED', 'REJECTED'] as const satisfies readonly Outcome[];
export type Finish = (typeof FINISHES)[number];

export function isFinish(value: unknown): value is Finish {
  return typeof value === 'string' && (FINISHES as readonly string[]).includes(value);
}

export function isStage(value: unknown): value is Stage {
  return typeof value === 'string' && (STAGES as readonly string[]).includes(value);
}

export function isActiveStage(stage: unknown): stage is ActiveStage {
  return typeof stage === 'string' && (ACTIVE_STAGES as readonly string[]).includes(stage);
}

export function isTerminal(stage: Stage): stage is Outcome {
  return !isActiveStage(stage);
}
