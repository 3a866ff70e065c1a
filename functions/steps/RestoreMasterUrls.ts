// RestoreMasterUrls: the scaleup playbook did not add a member that started, but its masters play may
// have named the new host in etcdClientInfo.urls anyway (it runs on the masters even when the new host
// failed an earlier play). Every master goes back to the members that run, one at a time, exactly as
// RollMasters sets them; a master already right is left alone.

import { RollMasters } from './RollMasters.ts';
import type { Step } from '../workflow/step.ts';

export const RestoreMasterUrls: Step = async (context, deps) => {
  const rolled = await RollMasters(context, deps);
  return { ...rolled, detail: rolled.skipped ? 'every master already names only the members that run' : rolled.detail };
};
