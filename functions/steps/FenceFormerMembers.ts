// FenceFormerMembers: before the survivor is forced, every other former member is fenced, so that no old
// majority can form again and accept writes (split brain). First on the network, for every one of them,
// reachable or not: its security group closes 2379/2380 to and from it (SecurityGroupPort.fence), a
// fence outside the host that holds whatever the host does when it boots again; what the fence replaced
// (EC2: each interface's groups) is kept in the output, and in the log at once, to put back at unfence.
// Then on the host, for each one that answers: FenceFormerMember.sh stops its etcd (static pod to
// pods-stopped), uploads /var/lib/etcd, and, once the step has found the upload whole in the store,
// confirms it (the run's marker on the host). A host that does not answer keeps the network fence alone
// (with `fenceUnreachable: stop-instance`, it is powered off too). Idempotent: the fence state is read
// before any fence, and the script says "marked" for a host this run fenced already.

import { RefusedError } from '../errors.ts';
import { fenceOnHost } from '../cluster/fenceOnHost.ts';
import { observeQuorumLoss } from '../cluster/quorumObservation.ts';
import { inventoryOf, need } from '../cluster/need.ts';
import { hostNamed, othersThanSurvivor, type RestoreStep } from '../cluster/restoreFacts.ts';
import type { FenceState, Host } from '../ports.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { FencedHost } from '../../statemachine/restoreContext.ts';

type NetworkFence = Pick<FencedHost, 'networkAlready' | 'networkReason' | 'previous' | 'previousUnknown'>;

/** The network fence, as the step looked at it first (`state`); fenced when it is not; checked to hold afterwards. */
async function fenceNetwork(deps: StepDeps, host: Host, state: FenceState, earlier: FencedHost | undefined): Promise<NetworkFence> {
  if (state.fenced) {
    // Fenced by an earlier attempt of this run, or an instance that is gone. What an earlier attempt
    // replaced is in its record when that attempt ended; otherwise only in its log.
    const replaced = earlier?.previous ?? null;
    const unknown = replaced === null && Object.keys(state.groups ?? {}).length > 0;
    return {
      networkAlready: true,
      ...(state.reason ? { networkReason: state.reason } : {}),
      ...(replaced ? { previous: replaced } : {}),
      ...(unknown ? { previousUnknown: true } : {}),
    };
  }
  const fenced = await deps.securityGroups.fence(host);
  if (fenced.previous) deps.log(`${host.name}: fenced on the network; the security groups to put back: ${JSON.stringify(fenced.previous.groups)}`);
  else deps.log(`${host.name}: fenced on the network`);
  const now = await deps.securityGroups.describeFence(host);
  if (!now.fenced) {
    throw new RefusedError(
      `${host.name}: the network fence does not hold after it was set (${now.reason ?? 'ports 2379/2380 still open'}); the cluster is not forced`,
    );
  }
  return fenced.previous ? { previous: fenced.previous } : {};
}

function describeFenced(f: FencedHost): string {
  const network = f.networkAlready ? `already fenced on the network${f.networkReason ? ` (${f.networkReason})` : ''}` : 'fenced on the network';
  const groups = f.previous ? ', its groups kept to put back' : f.previousUnknown ? ', the groups it had are not in the record (see the log)' : '';
  const poweredOff = f.how.includes('stopped-instance') ? `, powered off${f.stoppedAlready ? ' already' : ''}` : '';
  const onHost = f.how.includes('on-host')
    ? f.backupKey
      ? `etcd stopped, data backed up (${f.backupBytes} bytes)`
      : 'etcd stopped, data directory empty'
    : f.notOnHost === 'not-backed-up'
      ? 'etcd stopped, data NOT backed up (the host cannot reach the store)'
      : `unreachable on the host${poweredOff}`;
  return `${f.host}: ${network}${groups}; ${onHost}`;
}

export const FenceFormerMembers: RestoreStep = async (context, deps) => {
  const survivor = need(context.survivor, 'survivor');
  const inventory = inventoryOf(context);
  const others = othersThanSurvivor(need(context.formerMembers, 'formerMembers'), survivor).map((m) => hostNamed(inventory, m.host));
  const earlier = new Map((context.fenced ?? []).map((f) => [f.host, f]));
  // The approval may have come long after the loss was confirmed: before the first fence, one more
  // observation, refused (nothing changed) when quorum is back. Once any fence is set, the observation
  // would count this run's own fences, so a rerun goes on fencing.
  const states = await Promise.all(others.map((host) => deps.securityGroups.describeFence(host)));
  if (!context.fenced && states.every((state) => !state.fenced)) {
    const { verdict } = await observeQuorumLoss(context, deps);
    deps.log(`before the first fence: ${verdict.reason}`);
  }
  // Every network fence first: it holds even for a host that is down, and before any host is touched.
  const network = new Map<string, NetworkFence>();
  for (const [i, host] of others.entries()) network.set(host.name, await fenceNetwork(deps, host, states[i]!, earlier.get(host.name)));
  const fenced: FencedHost[] = [];
  const powerOffUnreachable = context.options.fenceUnreachable === 'stop-instance';
  let changed = [...network.values()].some((n) => n.networkAlready !== true);
  for (const host of others) {
    const onHost = await fenceOnHost({ runId: context.runId, powerOffUnreachable }, deps, host);
    changed ||= onHost.changed;
    const { how, ...rest } = onHost.fence;
    fenced.push({ host: host.name, how: ['network', ...how], ...network.get(host.name)!, ...rest });
  }
  const remaining = fenced.flatMap((f) => {
    if (f.notOnHost === 'not-backed-up')
      return [`${f.host}: etcd is stopped but /var/lib/etcd was not backed up (the host cannot reach the artifact store); it stays fenced on the network`];
    if (f.previousUnknown) return [`${f.host}: the security groups it had before the network fence are not in the run record; the step's log names them`];
    return [];
  });
  return {
    output: { fenced, ...(remaining.length > 0 ? { remaining: [...new Set([...(context.remaining ?? []), ...remaining])] } : {}) },
    detail: fenced.length === 0 ? 'no former member other than the survivor' : fenced.map(describeFenced).join('; '),
    ...(changed ? {} : { skipped: true }),
  };
};
