// A create step's look at the order before it makes anything: pure, so it is judged the same
// way in every attempt (docs/ARCHITECTURE.md#the-step-protocol).
import {
  isOverwritten,
  overwriteFlag,
  type OrderSeen,
  type OverwriteFlag,
} from '../model/overwrite';
import { CREATE_STEPS, type CreateStep, type Relation } from '../model/relation';

export type Look =
  | { action: 'go' }
  | { action: 'cancelled' }
  | {
      action: 'flag';
      code: OverwriteFlag['code'] | 'UNEXPECTED_STATUS';
      message: string;
      /** An overwrite's: the order's update_time that shows it. */
      orderUpdateTime?: string;
    };

/** Judged with every window the claim inherited; an adopted attempt may have moved the order on. */
export function judgeLook(
  relation: Relation,
  step: CreateStep,
  seen: OrderSeen,
  adopting: boolean,
): Look {
  const { from, to } = CREATE_STEPS[step];
  if (seen.status === 'CANCELLED') return { action: 'cancelled' };
  if (isOverwritten(relation, seen, 'every window'))
    return { action: 'flag', ...overwriteFlag(relation, seen) };
  if (seen.status === from || (adopting && seen.status === to)) return { action: 'go' };
  return {
    action: 'flag',
    code: 'UNEXPECTED_STATUS',
    message: `stage ${relation.stage}: the order is ${String(seen.status)} on the food service, where ${step} expects ${from}${adopting ? ` or ${to}` : ''}; nothing was made`,
  };
}
