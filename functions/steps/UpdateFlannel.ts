// UpdateFlannel: FLANNEL_ETCD_ENDPOINTS in /etc/sysconfig/flanneld on every host that has it names
// exactly the live members; flanneld restarts. Hosts are independent, so they are done in parallel.
// One command per host: UpdateFlannel.sh reads, edits and writes the file there (the workflow's rule and
// edit ported to the shell, lib/etcdEndpoints.sh) and restarts flanneld. A file in a form the host's edit
// declines is read and edited here, then written and restarted as before: two commands for that host.

import { getFlannelEndpoints, setFlannelEndpoints } from '../config/flanneld.ts';
import { HostUnreachableError } from '../errors.ts';
import type { Host } from '../ports.ts';
import { inventoryOf } from '../cluster/need.ts';
import { readHostFile, writeArgs } from '../hosts/hostFile.ts';
import { runScript } from '../hosts/hostScript.ts';
import { liveEndpointList, liveMemberHostnames } from '../cluster/liveEndpoints.ts';
import { hostname } from '../validate.ts';
import type { Step } from '../workflow/step.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { FLANNELD_PATH } from '../config/paths.ts';

type Outcome = 'updated' | 'unchanged' | 'absent';

/** The live hostnames as UpdateFlannel.sh takes them, or null when one is no hostname (the edit is then made here, which names it). */
function shellHostnames(live: string[]): string | null {
  try {
    return live.length > 0 ? live.map((h, i) => hostname(`live[${i}]`, h)).join(',') : null;
  } catch {
    return null;
  }
}

/** The edit made here over the file read, written and restarted by UpdateFlannel.sh in one command. */
async function editHere(deps: StepDeps, host: Host, live: string[]): Promise<Outcome> {
  const read = await readHostFile(deps.runner, host, FLANNELD_PATH);
  if (read === null) return 'absent';
  const next = setFlannelEndpoints(read.text, liveEndpointList(getFlannelEndpoints(read.text), live));
  // The write (with the restart marker, only over the content read) and the restart: one command.
  const result = await runScript<{ restarted: boolean }>(deps.runner, { host, script: 'UpdateFlannel', args: writeArgs(read, next) });
  return result.restarted ? 'updated' : 'unchanged';
}

export const UpdateFlannel: Step = async (context, deps) => {
  const live = await liveMemberHostnames(context, deps);
  const onHost = shellHostnames(live);
  const hosts = inventoryOf(context).hosts.filter((h) => h.roles.includes('master') || h.roles.includes('node'));
  const outcomes = await Promise.all(
    hosts.map(async (host: Host): Promise<{ host: string; state: Outcome | 'unreachable' }> => {
      try {
        if (onHost === null) return { host: host.name, state: await editHere(deps, host, live) };
        const result = await runScript<{ restarted?: boolean; absent?: boolean; unedited?: string }>(deps.runner, {
          host,
          script: 'UpdateFlannel',
          args: ['live', onHost],
        });
        if (result.absent === true) return { host: host.name, state: 'absent' };
        if (result.unedited === undefined) return { host: host.name, state: result.restarted ? 'updated' : 'unchanged' };
        deps.log(`  ${host.name}: ${FLANNELD_PATH} edited by the workflow itself (the host's edit declined it: ${result.unedited})`);
        return { host: host.name, state: await editHere(deps, host, live) };
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
