// PrepareInventory: on the installer host, the inventory the scaleup playbook reads (runbook 37.2.1 step
// 1): `new_etcd` under [OSEv3:children], [new_etcd] with the new host, [etcd] without the failed host and
// with the CA host first. The inventory as it was is kept beside it first, once per run
// (PrepareInventory.sh: /etc/ansible/hosts.before-RUN_ID), for RestoreInventory. Every other line stays.

import { ConfigEditError } from '../errors.ts';
import { need } from '../cluster/need.ts';
import { scaleupChange } from '../cluster/scaleupChange.ts';
import { prepareScaleupInventory } from '../config/inventory.ts';
import { INVENTORY_PATH } from '../config/paths.ts';
import { editHostFile } from '../hosts/hostFile.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';

export const PrepareInventory: Step = async (context, deps) => {
  const installer = need(context.installerHost, 'installerHost');
  const change = scaleupChange(context);
  const kept = await runScript<{ copy: string; kept: boolean }>(deps.runner, { host: installer, script: 'PrepareInventory', args: [context.runId] });
  const changed = await editHostFile(deps.runner, installer, INVENTORY_PATH, (text) => prepareScaleupInventory(text, change));
  if (changed === null) throw new ConfigEditError(`${INVENTORY_PATH} does not exist on ${installer.name}`);
  return {
    output: {},
    detail:
      `${INVENTORY_PATH} on ${installer.name}: [new_etcd] ${changed ? 'now lists' : 'already lists'} ${change.add}, [etcd] starts with ${change.first}` +
      `${change.failed.length ? ` without ${change.failed[0]}` : ''}; the inventory before the run ${kept.kept ? 'kept' : 'was kept'} in ${kept.copy}`,
    ...(changed ? {} : { skipped: true }),
  };
};
