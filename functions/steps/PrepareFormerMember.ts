// PrepareFormerMember: the entry of the restore's re-add loop (statemachine/restoreSpec.ts), restore-only.
// On its first visit after VerifyRestoredMember it makes a member slot (statemachine/members.ts) of every
// former member but the restored one, in the former member list's order, and loads the first; on each later
// visit it loads the next (enterLoop, phase `readd`). The loop's body is the replacement's own add path
// (certificates, ports, package, configure, add, start, promote, verify), which reads the slot as it reads a
// replacement's member:
// - the failed member is the former member, already gone from the restored cluster (a cluster of one): no
//   member to remove, nothing to stop or back up here (failedMember null, failedMemberRemoved true);
// - the new member goes on the same host when FenceFormerMembers fenced it on the host (its etcd stopped, its
//   static pod in pods-stopped, its data stored off the host and checked; InstallEtcd stores the data again
//   before it empties the directory), else on the spare pool's next free host, chosen as the replacement's
//   ValidateInput chooses one (chooseReplacement) and that answers on the host; with neither,
//   NoHostToReAddError before any re-add;
// - survivors: the restored member, and each re-added member once it has joined (enterLoop).
// A former member re-added on its own host has its network fence lifted when it is loaded: the fence on the
// host holds it now (issue 24 §4), and its new member must reach the others. Recorded in `fenced`
// (networkLifted). The cluster's ID and version are those of the restored member (a restored snapshot is a
// new cluster). Deterministic on its input: a retry loads the same member, and lifts a lifted fence no more.

import { ClusterUnhealthyError, HostUnreachableError, WorkflowError } from '../errors.ts';
import { describeEtcdHost } from '../hosts/etcdHost.ts';
import { compareEtcdVersions } from '../cluster/etcdVersion.ts';
import { inventoryOf, need } from '../cluster/need.ts';
import { hostNamed, liftNetworkFence, type RestoreStep } from '../cluster/restoreFacts.ts';
import type { EtcdMember, Host, Inventory } from '../ports.ts';
import { chooseReplacement } from './ValidateInput.ts';
import { clientUrl, peerUrl } from '../../statemachine/cluster.ts';
import type { MemberRef, MemberSlot, WorkflowContext } from '../../statemachine/context.ts';
import { enterLoop, loadSlot, slotLabel } from '../../statemachine/members.ts';
import type { FencedHost, FormerMemberReAdd, RestoreContext } from '../../statemachine/restoreContext.ts';

/** A former member has no host to be added back on: not fenced on the host, and no spare is free. Nothing was re-added. */
export class NoHostToReAddError extends WorkflowError {
  override readonly name: string = 'NoHostToReAddError';
}

/** The same host where it was fenced on the host (and not powered off); otherwise a spare. */
const onItsOwnHost = (fence: FencedHost | undefined): boolean =>
  fence !== undefined && fence.how.includes('on-host') && !fence.how.includes('stopped-instance');

/**
 * The spare pool's next free host that answers: a spare that runs nothing (powered off, its agent gone) is
 * passed over, named in `unreachable`, rather than taken for a re-add that could only fail while the restored
 * member runs alone. Whether it may take a member (no etcd of this cluster or another) is InstallEtcd's check.
 */
async function answeringSpare(
  inventory: Inventory,
  former: Host,
  deps: Parameters<RestoreStep>[1],
  list: () => Promise<EtcdMember[] | null>,
  taken: string[],
  unreachable: string[],
): Promise<Host | undefined> {
  for (;;) {
    const chosen = await chooseReplacement(inventory, null, former, deps, list, [...taken, ...unreachable]);
    if (chosen.choice !== 'spare' || !chosen.host) return undefined;
    try {
      await describeEtcdHost(deps.runner, chosen.host);
      return chosen.host;
    } catch (error) {
      if (!(error instanceof HostUnreachableError)) throw error;
      unreachable.push(chosen.host.name);
    }
  }
}

/** Every former member but the restored one as a slot of the re-add loop, each with the host it is added back on. */
async function makeSlots(context: RestoreContext, restored: Host, list: () => Promise<EtcdMember[] | null>, deps: Parameters<RestoreStep>[1]) {
  const inventory = inventoryOf(context);
  const formers = need(context.formerMembers, 'formerMembers').filter((m) => m.host !== restored.name);
  const fenced = context.fenced ?? [];
  const taken = [restored.name, ...formers.map((m) => m.host)];
  const slots: MemberSlot[] = [];
  const reAdds: FormerMemberReAdd[] = [];
  const none: string[] = [];
  const unreachable: string[] = [];
  for (const former of formers) {
    const host = hostNamed(inventory, former.host);
    let on: Host | undefined;
    let how: FormerMemberReAdd['how'] = 'same-host';
    if (onItsOwnHost(fenced.find((f) => f.host === former.host))) on = host;
    else {
      on = await answeringSpare(inventory, host, deps, list, taken, unreachable);
      how = 'spare';
    }
    if (!on) {
      none.push(former.host);
      continue;
    }
    taken.push(on.name);
    reAdds.push({ former: former.host, on: on.name, how });
    slots.push({
      failed: former.host,
      failedHost: host,
      replacement: on,
      replacementChoice: how === 'spare' ? 'spare' : 'named',
      failedMember: null,
      failedMemberRemoved: true,
      failedHostReachable: false,
    });
  }
  if (none.length > 0) {
    throw new NoHostToReAddError(
      `no host to add ${none.join(', ')} back on: not fenced on the host (its etcd stopped and its data stored), and no host of the spare pool is free` +
        `${unreachable.length > 0 ? ` (${unreachable.join(', ')} do not answer)` : ''}; ` +
        `the restored member runs alone and nothing was re-added: add spares to the pool, or bring the former host back, then run the restore again`,
    );
  }
  if (slots.length === 0) throw new NoHostToReAddError(`${restored.name} was the only former member: there is no member to add back`);
  // The CA host added back on its own host goes first: every re-add issues its certificates there, and its
  // network fence (on AWS a quarantine group that SSM does not pass) is lifted only when it is loaded.
  const ca = context.caHost?.name;
  const first = slots.findIndex((slot) => slot.replacement?.name === ca && slot.failedHost?.name === ca);
  if (first > 0) {
    slots.unshift(...slots.splice(first, 1));
    reAdds.unshift(...reAdds.splice(first, 1));
  }
  return { slots, reAdds };
}

/** The member fields the loop loads (members.ts), which never touch the run's options. */
type Loaded = Omit<Partial<WorkflowContext>, 'options'> & Pick<Partial<RestoreContext>, 'reAdds'>;

export const PrepareFormerMember: RestoreStep = async (context, deps) => {
  let entered: Loaded;
  if (context.memberPhase === 'readd') {
    entered = need(enterLoop(context, 'readd'), 'members');
  } else {
    const inventory = inventoryOf(context);
    const restoredMember = need(context.restoredMember, 'restoredMember');
    const forced = need(context.forced, 'forced');
    const restored = hostNamed(inventory, restoredMember.host);
    const url = clientUrl(restored);
    const etcd = deps.etcd([restored], [url]);
    const [status] = await etcd.status([url]);
    if (!status || 'error' in status || status.memberId !== restoredMember.memberId) {
      throw new ClusterUnhealthyError(
        `${restored.name}: the restored member ${restoredMember.memberId} does not answer at ${url}${status && 'error' in status ? ` (${status.error})` : ''}`,
      );
    }
    let listed: EtcdMember[] | null | undefined;
    const list = async () => {
      if (listed === undefined) listed = await etcd.memberList().catch(() => null);
      return listed;
    };
    const { slots, reAdds } = await makeSlots(context, restored, list, deps);
    const survivor: MemberRef = { id: restoredMember.memberId, name: forced.name, peerURL: peerUrl(restored), clientURL: url };
    entered = {
      members: slots,
      memberIndex: 0,
      memberPhase: 'readd',
      anotherMember: slots.length > 1,
      ...loadSlot(slots[0]!),
      survivors: [survivor],
      clusterId: status.clusterId,
      clusterVersion: status.version,
      learnerSupported: compareEtcdVersions(status.version, '3.4.0') >= 0,
      reAdds,
    };
  }

  const index = need(entered.memberIndex, 'memberIndex');
  const slots = need(entered.members, 'members');
  const slot = slots[index]!;
  const host = need(slot.replacement, 'replacement');
  const label = slotLabel(slot, index, slots.length);
  if (slot.failedHost?.name !== host.name) {
    return { output: entered, detail: `${label}: re-added on ${host.name} from the spare pool (the former host was not fenced on the host)` };
  }
  const lifted = await liftNetworkFence(deps, host, need(context.fenced, 'fenced'), 'PrepareFormerMember');
  return {
    output: { ...entered, fenced: lifted.fenced },
    detail: `${label}: re-added on its own host, fenced on the host (etcd stopped, data stored off the host); its network fence ${lifted.changed ? 'lifted' : 'already lifted'}`,
  };
};
