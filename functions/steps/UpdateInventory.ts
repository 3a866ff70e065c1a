// UpdateInventory: on the installer host, the Ansible inventory's [etcd] group loses the failed host
// and gains the new one, which leaves [new_etcd] after the scaleup playbook; nothing else in the file
// changes (runbook 37.2.2 step 9, 37.2.1 step 3).

import { joinEtcdGroup } from '../config/inventory.ts';
import { ConfigEditError, HostUnreachableError } from '../errors.ts';
import { need } from '../cluster/need.ts';
import { editHostFile } from '../hosts/hostFile.ts';
import type { Step } from '../workflow/step.ts';
import { INVENTORY_PATH } from '../config/paths.ts';

export const UpdateInventory: Step = async (context, deps) => {
  const installer = need(context.installerHost, 'installerHost');
  const replacement = need(context.replacement, 'replacement');
  const remove = context.failedHost ? [context.failedHost.hostname] : [];
  let changed: boolean | null;
  try {
    changed = await editHostFile(deps.runner, installer, INVENTORY_PATH, (text) => joinEtcdGroup(text, { remove, add: replacement.hostname }));
  } catch (error) {
    // The installer host may be the failed host itself: the inventory is for later scale-ups, not for
    // this replacement, so it is left to the operator with the exact edit.
    if (!(error instanceof HostUnreachableError) || installer.name !== context.failedHost?.name) throw error;
    return {
      output: {
        remaining: [
          ...(context.remaining ?? []),
          `${installer.name} (the installer host) is unreachable: in ${INVENTORY_PATH}, [etcd] must drop ${remove[0]} and list ${replacement.hostname}`,
        ],
      },
      detail: `${installer.name} is unreachable; the inventory edit is left in remaining`,
      skipped: true,
    };
  }
  if (changed === null) throw new ConfigEditError(`${INVENTORY_PATH} does not exist on ${installer.name}`);
  return {
    output: {},
    detail: `${INVENTORY_PATH} on ${installer.name}: [etcd] ${changed ? 'now' : 'already'} lists ${replacement.hostname}${remove.length ? ` without ${remove[0]}` : ''}`,
    ...(changed ? {} : { skipped: true }),
  };
};
