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

/**
 * Why the scaleup playbook cannot replace this member: its host is the installer host, where the playbook
 * runs. Null when it can. ValidateInput asks when the request names the host; CheckScaleupPlaybook asks
 * again once the observation has matched a member named by ID or URL to its host.
 */
export function installerIsFailedHost(context: Pick<WorkflowContext, 'installerHost' | 'failedHost' | 'inventory'>): string | null {
  const installer = context.installerHost;
  if (!installer || installer.name !== context.failedHost?.name) return null;
  const alsoCa = context.inventory?.hosts.find((h) => h.roles.includes('ca'))?.name === installer.name;
  return `the failed member's host ${installer.name} is the installer host, where the scaleup playbook runs: replace it with --add-method manual${alsoCa ? ' (and --ca-backup-key: it is the CA host too)' : ''}; nothing was changed`;
}
