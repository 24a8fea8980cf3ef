// Where an order is in the lifecycle the orchestrator drives. The stage is
// progress the orchestrator made, written only by the relation trigger; the
// statuses the food service reports live beside it, written only by the poller.
export const STAGES = [
  'NEW',
  'PREPARATION',
  'IN_FLIGHT',
  'DELIVERED',
  'REJECTED',
  'CANCELLED',
] as const;
export type Stage = (typeof STAGES)[number];

export type Outcome = Extract<Stage, 'DELIVERED' | 'REJECTED' | 'CANCELLED'>;

/** The outcomes the finishing step records, as the shipment ended. */
export const FINISHES = ['DELIVERED', 'REJECTED'] as const satisfies readonly Outcome[];
export type Finish = (typeof FINISHES)[number];

export function isStage(value: unknown): value is Stage {
  return typeof value === 'string' && (STAGES as readonly string[]).includes(value);
}

export function isTerminal(stage: Stage): stage is Outcome {
  switch (stage) {
    case 'NEW':
    case 'PREPARATION':
    case 'IN_FLIGHT':
      return false;
    case 'DELIVERED':
    case 'REJECTED':
    case 'CANCELLED':
      return true;
    default: {
      const unreachable: never = stage;
      throw new Error(`unknown stage ${String(unreachable)}`);
    }
  }
}
