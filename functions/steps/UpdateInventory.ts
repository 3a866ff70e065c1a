// UpdateInventory: on the installer host, the Ansible inventory's [etcd] group loses the failed host
// and gains the new one, which leaves [new_etcd] after the scaleup playbook; nothing else in the file
// changes (runbook 37.2.2 step 9, 37.2.1 step 3). One command: WriteHostFile.sh join-etcd-group reads,
// edits and writes the inventory there (the workflow's edit ported to the shell, lib/inventoryEdit.sh); an
// inventory in a form the host's edit declines is read and edited here, then written, as before.

import { joinEtcdGroup } from '../config/inventory.ts';
import { ConfigEditError, HostUnreachableError } from '../errors.ts';
import { need } from '../cluster/need.ts';
import { editHostFile } from '../hosts/hostFile.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { Host } from '../ports.ts';
import { hostname } from '../validate.ts';
import type { Step } from '../workflow/step.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { INVENTORY_PATH } from '../config/paths.ts';

/**
 * The edit made on the installer host: whether the inventory changed, null when there is none, undefined
 * when the host's edit declined its form or a name is no hostname (the edit is then made here).
 */
async function joinOnHost(deps: StepDeps, installer: Host, add: string, remove: string[]): Promise<boolean | null | undefined> {
  let names: string[];
  try {
    names = [add, ...remove].map((h, i) => hostname(`hosts[${i}]`, h));
  } catch {
    return undefined;
  }
  const result = await runScript<{ changed?: boolean; absent?: boolean; unedited?: string }>(deps.runner, {
    host: installer,
    script: 'WriteHostFile',
    args: ['join-etcd-group', ...names],
  });
  if (result.absent === true) return null;
  if (result.unedited !== undefined) {
    deps.log(`  ${installer.name}: ${INVENTORY_PATH} edited by the workflow itself (the host's edit declined it: ${result.unedited})`);
    return undefined;
  }
  return result.changed === true;
}

export const UpdateInventory: Step = async (context, deps) => {
  const installer = need(context.installerHost, 'installerHost');
  const replacement = need(context.replacement, 'replacement');
  const remove = context.failedHost ? [context.failedHost.hostname] : [];
  let changed: boolean | null;
  try {
    const onHost = await joinOnHost(deps, installer, replacement.hostname, remove);
    changed =
      onHost !== undefined
        ? onHost
        : await editHostFile(deps.runner, installer, INVENTORY_PATH, (text) => joinEtcdGroup(text, { remove, add: replacement.hostname }));
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
