// RollMasters: one master at a time, etcdClientInfo.urls in master-config.yaml names exactly the live
// members; `master-restart api`, `master-restart controllers`; wait until that master's API is healthy
// before the next one. A master that cannot be reached (the failed host itself, or another master that
// is down) is left in `remaining` with the exact change it still needs.

import { getEtcdClientUrls, setEtcdClientUrls } from '../config/masterConfig.ts';
import { HostUnreachableError, MasterUnhealthyError } from '../errors.ts';
import { inventoryOf } from './cluster.ts';
import { editHostFile } from './hostFile.ts';
import { runScript } from './hostScript.ts';
import { liveEndpointList, liveMemberHostnames } from './liveEndpoints.ts';
import type { Step } from './stepResult.ts';

export const MASTER_CONFIG_PATH = '/etc/origin/master/master-config.yaml';

export const RollMasters: Step = async (context, deps) => {
  const masters = inventoryOf(context).hosts.filter((h) => h.roles.includes('master')).sort((a, b) => a.name.localeCompare(b.name));
  const live = await liveMemberHostnames(context, deps);
  const done: string[] = [];
  const remaining: string[] = [];
  for (const master of masters) {
    try {
      const changed = await editHostFile(deps.runner, master, MASTER_CONFIG_PATH, (text) => setEtcdClientUrls(text, liveEndpointList(getEtcdClientUrls(text), live)), { restart: true });
      if (changed === null) {
        remaining.push(`${master.name}: ${MASTER_CONFIG_PATH} is missing; set etcdClientInfo.urls by hand`);
        continue;
      }
      const result = await runScript<{ restarted: boolean }>(deps.runner, {
        host: master,
        script: 'RollMasters',
        args: [String(deps.waits.masterHealthSeconds)],
        timeoutSeconds: deps.waits.masterHealthSeconds + 120,
        exits: { 4: (m) => new MasterUnhealthyError(m) },
      });
      done.push(`${master.name}${result.restarted ? ' (restarted)' : ''}`);
      deps.log(`  ${master.name}: etcdClientInfo.urls = ${live.map((h) => `https://${h}:2379`).join(',')}; API healthy`);
    } catch (error) {
      // The failed host, or any master that is down: the membership change stands; say what is left.
      if (!(error instanceof HostUnreachableError)) throw error;
      remaining.push(`${master.name} is unreachable: when it returns, set etcdClientInfo.urls in ${MASTER_CONFIG_PATH} to ${live.map((h) => `https://${h}:2379`).join(', ')} and run master-restart api and controllers`);
    }
  }
  return {
    output: remaining.length ? { remaining: [...(context.remaining ?? []), ...remaining] } : {},
    detail: `masters rolled one at a time: ${done.join(', ') || 'none'}${remaining.length ? `; left: ${remaining.length}` : ''}`,
  };
};
