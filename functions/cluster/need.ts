// What a step needs from the run state, or a loud InvalidInputError when an earlier step did not write it.

import { InvalidInputError } from '../errors.ts';
import type { Inventory } from '../ports.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';

export function need<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new InvalidInputError(what, `${what} is not known at this step (run state is incomplete)`);
  return value;
}

export function inventoryOf(context: WorkflowContext): Inventory {
  return need(context.inventory, 'inventory');
}
