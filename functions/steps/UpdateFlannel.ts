// UpdateFlannel: FLANNEL_ETCD_ENDPOINTS in /etc/sysconfig/flanneld on every host that has it names
// exactly the live members; flanneld restarts. Hosts are independent, so they are done in parallel.

import { getFlannelEndpoints, setFlannelEndpoints } from '../config/flanneld.ts';
import { HostUnreachableError } from '../errors.ts';
import type { Host } from '../ports.ts';
import { inventoryOf } from '../cluster/need.ts';
import { readHostFile, writeArgs } from '../hosts/hostFile.ts';
import { runScript } from '../hosts/hostScript.ts';
import { liveEndpointList, liveMemberHostnames } from '../cluster/liveEndpoints.ts';
import type { Step } from '../workflow/step.ts';
import { FLANNELD_PATH } from '../config/paths.ts';

export const UpdateFlannel: Step = async (context, deps) => {
  const live = await liveMemberHostnames(context, deps);
  const hosts = inventoryOf(context).hosts.filter((h) => h.roles.includes('master') || h.roles.includes('node'));
  const outcomes = await Promise.all(
    hosts.map(async (host: Host): Promise<{ host: string; state: 'updated' | 'unchanged' | 'absent' | 'unreachable' }> => {
      try {
        const read = await readHostFile(deps.runner, host, FLANNELD_PATH);
        if (read === null) return { host: host.name, state: 'absent' };
        const next = setFlannelEndpoints(read.text, liveEndpointList(getFlannelEndpoints(read.text), live));
        // The write (with the restart marker, only over the content read) and the restart: one command.
        const result = await runScript<{ restarted: boolean }>(deps.runner, { host, script: 'UpdateFlannel', args: writeArgs(read, next) });
        return { host: host.name, state: result.restarted ? 'updated' : 'unchanged' };
      } catch (error) {
        if (error instanceof HostUnreachableError) return { host: host.name, state: 'unreachable' };
        throw error;
      }
    }),
  );
  const remaining = outcomes
    .filter((o) => o.state === 'unreachable')
    .map(
      (o) =>
        `${o.host} is unreachable: when it returns, set FLANNEL_ETCD_ENDPOINTS in ${FLANNELD_PATH} to ${live.map((h) => `https://${h}:2379`).join(',')} and restart flanneld`,
    );
  const by = (state: string) => outcomes.filter((o) => o.state === state).map((o) => o.host);
  return {
    output: remaining.length ? { remaining: [...(context.remaining ?? []), ...remaining] } : {},
    detail: `flanneld updated on ${by('updated').join(', ') || 'none'}; already right on ${by('unchanged').join(', ') || 'none'}; no flannel on ${by('absent').join(', ') || 'none'}`,
    ...(by('updated').length === 0 && remaining.length === 0 ? { skipped: true } : {}),
  };
};
