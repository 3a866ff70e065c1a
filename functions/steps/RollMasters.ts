// RollMasters: one master at a time, etcdClientInfo.urls in master-config.yaml names exactly the live
// members; `master-restart api`, `master-restart controllers`; wait until that master's API is healthy
// before the next one. A master that cannot be reached (the failed host itself, or another master that
// is down) is left in `remaining` with the exact change it still needs, as is a master on a host that the
// network fence holds (a former member after a restore of quorum): 2379 is closed to and from it, so its
// API could never reach the members, and it keeps out of every client's list until it is re-added or
// unfenced. Every master's config and fence are read at once first (reads change nothing); the writes and
// restarts go one master at a time.

import { getEtcdClientUrls, setEtcdClientUrls } from '../config/masterConfig.ts';
import { HostUnreachableError, MasterUnhealthyError } from '../errors.ts';
import { inventoryOf } from '../cluster/need.ts';
import { readHostFile, writeArgs, type HostFile } from '../hosts/hostFile.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import { liveEndpointList, liveMemberHostnames } from '../cluster/liveEndpoints.ts';
import type { Step } from '../workflow/step.ts';
import { MASTER_CONFIG_PATH } from '../config/paths.ts';

export const RollMasters: Step = async (context, deps) => {
  const masters = inventoryOf(context)
    .hosts.filter((h) => h.roles.includes('master'))
    .sort((a, b) => a.name.localeCompare(b.name));
  const [live, reads, fenced] = await Promise.all([
    liveMemberHostnames(context, deps),
    Promise.allSettled(masters.map((master) => readHostFile(deps.runner, master, MASTER_CONFIG_PATH))),
    // A fence that cannot be read (none configured on this target) is taken as none: the master is rolled as before.
    Promise.all(
      masters.map((master) =>
        deps.securityGroups.describeFence(master).then(
          (state) => state.fenced,
          () => false,
        ),
      ),
    ),
  ]);
  const urls = live.map((h) => `https://${h}:2379`).join(', ');
  const done: string[] = [];
  const remaining: string[] = [];
  let changed = false;
  for (const [i, master] of masters.entries()) {
    if (fenced[i]) {
      remaining.push(
        `${master.name} is fenced on the network (2379/2380 closed to and from it): its API cannot reach the members; once it is re-added or unfenced, set etcdClientInfo.urls in ${MASTER_CONFIG_PATH} to ${urls} and run master-restart api and controllers`,
      );
      continue;
    }
    try {
      const read = unwrap(reads[i]!);
      if (read === null) {
        remaining.push(`${master.name}: ${MASTER_CONFIG_PATH} is missing; set etcdClientInfo.urls by hand`);
        continue;
      }
      const next = setEtcdClientUrls(read.text, liveEndpointList(getEtcdClientUrls(read.text), live));
      // The write (with the restart marker, only over the content read) and the restart: one command.
      const result = await runScript<{ restarted: boolean; written?: { changed: boolean } }>(deps.runner, {
        host: master,
        script: 'RollMasters',
        args: [String(deps.waits.masterHealthSeconds), ...writeArgs(read, next)],
        timeoutSeconds: deps.waits.masterHealthSeconds + 120,
        // The step's own meaning of "not ready yet": the API did not become healthy, which its retry
        // rule waits on longer, and which on the failed host itself is left in `remaining`.
        exits: { [SCRIPT_EXIT.notReady]: (m) => new MasterUnhealthyError(m) },
      });
      done.push(`${master.name}${result.restarted ? ' (restarted)' : ''}`);
      changed ||= result.restarted || result.written?.changed === true;
      deps.log(`  ${master.name}: etcdClientInfo.urls = ${live.map((h) => `https://${h}:2379`).join(',')}; API healthy`);
    } catch (error) {
      // The failed host whose API cannot become healthy (cut off from the members: a partition): the
      // membership change stands and the cluster is whole; its master is left for a person, not a failure.
      if (error instanceof MasterUnhealthyError && master.name === context.failedHost?.name) {
        remaining.push(
          `${master.name} (the replaced member's host): etcdClientInfo.urls in ${MASTER_CONFIG_PATH} now names ${urls}, ` +
            `but its API is not healthy after master-restart (${error.message.replace(/^RollMasters on [^:]+: /, '')}); restore its network to the members, then run master-restart api and controllers there`,
        );
        continue;
      }
      // The failed host, or any master that is down: the membership change stands; say what is left.
      if (!(error instanceof HostUnreachableError)) throw error;
      remaining.push(
        `${master.name} is unreachable: when it returns, set etcdClientInfo.urls in ${MASTER_CONFIG_PATH} to ${urls} and run master-restart api and controllers`,
      );
    }
  }
  return {
    output: remaining.length ? { remaining: [...(context.remaining ?? []), ...remaining] } : {},
    detail: `masters rolled one at a time: ${done.join(', ') || 'none'}${remaining.length ? `; left: ${remaining.length}` : ''}`,
    ...(!changed && remaining.length === 0 ? { skipped: true } : {}),
  };
};

/** The value of a settled read, or its error thrown here, inside the master's own try. */
function unwrap(read: PromiseSettledResult<HostFile | null>): HostFile | null {
  if (read.status === 'rejected') throw read.reason;
  return read.value;
}
