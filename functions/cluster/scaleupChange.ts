// The scaleup playbook's inventory change for this run (PrepareInventory makes it, CheckScaleupPlaybook
// checks it beforehand, RestoreInventory recognises it), and where the run keeps the inventory as it was.

import type { WorkflowContext } from '../../statemachine/context.ts';
import type { ScaleupInventoryChange } from '../config/inventory.ts';
import { INVENTORY_PATH } from '../config/paths.ts';
import { need } from './need.ts';

export function scaleupChange(context: WorkflowContext): ScaleupInventoryChange {
  const failed = context.failedHost;
  return {
    failed: failed ? [...new Set([failed.hostname, failed.name, failed.ip])] : [],
    add: need(context.replacement, 'replacement').hostname,
    first: need(context.caHost, 'caHost').hostname,
  };
}

/** The copy of the inventory PrepareInventory.sh keeps before the run's first edit. */
export const inventoryCopyPath = (runId: string) => `${INVENTORY_PATH}.before-${runId}`;
