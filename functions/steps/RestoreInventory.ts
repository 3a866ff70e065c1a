// RestoreInventory: the scaleup did not add a member that started, so the inventory goes back to what it
// was before the run (the copy PrepareInventory kept), but only when it still holds exactly this run's
// edit: an inventory someone changed since is left as it is, and `remaining` says where the copy is.

import { need } from '../cluster/need.ts';
import { inventoryCopyPath, scaleupChange } from '../cluster/scaleupChange.ts';
import { joinEtcdGroup, prepareScaleupInventory } from '../config/inventory.ts';
import { INVENTORY_PATH } from '../config/paths.ts';
import { readHostFile, writeHostFile } from '../hosts/hostFile.ts';
import type { Step } from '../workflow/step.ts';

export const RestoreInventory: Step = async (context, deps) => {
  const installer = need(context.installerHost, 'installerHost');
  const copyPath = inventoryCopyPath(context.runId);
  const [copy, now] = await Promise.all([readHostFile(deps.runner, installer, copyPath), readHostFile(deps.runner, installer, INVENTORY_PATH)]);
  if (copy === null) return { output: {}, detail: `this run kept no copy of ${INVENTORY_PATH}: it did not edit it`, skipped: true };
  if (now !== null && now.text === copy.text)
    return { output: {}, detail: `${INVENTORY_PATH} on ${installer.name} is as it was before the run`, skipped: true };
  const change = scaleupChange(context);
  const prepared = prepareScaleupInventory(copy.text, change);
  const ours = [prepared, joinEtcdGroup(prepared, { remove: change.failed, add: change.add })];
  if (now === null || !ours.includes(now.text)) {
    const left = `${INVENTORY_PATH} on ${installer.name} has changed since this run edited it, so it was not put back: the inventory before the run is in ${copyPath}`;
    return { output: { remaining: [...(context.remaining ?? []), left] }, detail: left, skipped: true };
  }
  await writeHostFile(deps.runner, installer, INVENTORY_PATH, now, copy.text);
  return { output: {}, detail: `${INVENTORY_PATH} on ${installer.name} put back as it was before the run (from ${copyPath})` };
};
