// No split brain after a restore of etcd quorum: a former member that powers on again with its old data
// could, with another former member, form a majority of the old membership and accept writes. The network
// fence (SecurityGroupPort.fence: 2379/2380 closed to and from it, outside the host) already keeps it from
// reaching any etcd port; the next observation (the AWS health probe, `etcd-replace probe` on the sandbox)
// finds such a host and fences it on the host as well: FenceFormerMember.sh stops its etcd, moves its static
// pod to pods-stopped, uploads its data and confirms the upload (fenceOnHost.ts). Fencing a host that is no
// member is safe, so this needs no approval.
//
// Which hosts: the inventory's etcd and master hosts (and spares: a spare a run made a member is one of
// them), each looked at in turn:
// - a member, by any identity the member list gives (name, peer or client URL): never touched;
// - not fenced on the network: no restore holds it; left;
// - fenced, no member, and it does not answer (powered off, agent offline): the network fence alone holds it;
// - fenced, no member, it answers: DescribeEtcdHost.sh (read-only) says whether its etcd runs, its pod
//   manifest is back in pods/ or its unit enabled, and the store says whether its data is stored under
//   this membership's key since; any of these gets FenceFormerMember.sh; otherwise it is fenced on the
//   host already and still down, and is reported, not fenced again.
// The member list is read only through hosts the network fence does not hold: a fenced former member's own
// etcd knows only the old membership, in which it is still a member. When no member list can be read,
// no host is touched.
//
// The fence on the host runs under an ID of the current membership (`former-` and 16 hex digits of the
// sorted member IDs' sha256): its marker on the host and the key of its data in the store
// (runs/<ID>/fence-<hostname>.tgz) are the same for every observation until the membership changes, so a
// host fenced once is found stored the next time.

import { createHash } from 'node:crypto';
import { errorMessage, HostUnreachableError, RefusedError } from '../errors.ts';
import type { EtcdMember, FenceState, Host, SecurityGroupPort } from '../ports.ts';
import { membersOfHost } from '../../statemachine/memberIdentity.ts';
import { describeEtcdHost, type EtcdHostFacts } from '../hosts/etcdHost.ts';
import { fenceOnHost, type FenceOnHostDeps } from './fenceOnHost.ts';
import { restoreKey } from './restoreFacts.ts';

export type ReturnedAction = 'fenced-on-host' | 'still-fenced-on-network' | 'left';

/** One host as the observation found it and left it. */
export interface ReturnedHost {
  host: string;
  action: ReturnedAction;
  reason: string;
  /** This observation changed the host: stopped its etcd, moved its pod, disabled its unit or stored its data. */
  changed: boolean;
  /** Where its data is in the artifact store, when it is fenced on the host with data. */
  backupKey?: string;
  /** The fence on the host was tried and failed: the observation did not do its job for this host. */
  failed?: boolean;
}

/** What a fenced host that is no member says of itself (DescribeEtcdHost.sh), or that it does not answer. */
export type HostLook =
  | { answers: false; reason: string }
  | { answers: true; facts: Pick<EtcdHostFacts, 'staticPod' | 'unitActive' | 'unitEnabled' | 'listening' | 'running' | 'dataDirEmpty'> };

/** The hosts a restore may have left as former members: etcd, master and spare hosts. */
export function formerMemberCandidates(hosts: readonly Host[]): Host[] {
  return hosts.filter((h) => h.roles.includes('etcd') || h.roles.includes('master') || h.roles.includes('spare'));
}

/** The ID the fence on the host runs under while the membership is `members` (a valid run ID). */
export function formerFenceId(members: readonly Pick<EtcdMember, 'id'>[]): string {
  const ids = members.map((m) => m.id).sort();
  return `former-${createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16)}`;
}

/** The first look, before anything is asked of the host: a member, a host no fence holds, or a former member to look at. */
export function classifyHost(
  host: Host,
  fence: FenceState,
  members: readonly EtcdMember[],
): { kind: 'member' | 'not-fenced'; result: ReturnedHost } | { kind: 'former' } {
  const identities = membersOfHost([...members], host);
  if (identities.length > 0) {
    const by = identities.map((i) => `${i.by} ${i.value}`).join(', ');
    const fenced = fence.fenced ? '; it is fenced on the network, which an operator should look at' : '';
    return { kind: 'member', result: { host: host.name, action: 'left', reason: `a member (${by}): never touched${fenced}`, changed: false } };
  }
  if (!fence.fenced) {
    const why = fence.reason ? ` (${fence.reason})` : '';
    return {
      kind: 'not-fenced',
      result: { host: host.name, action: 'left', reason: `no member, not fenced on the network${why}: no restore holds it`, changed: false },
    };
  }
  return { kind: 'former' };
}

/** Why a former member that answers must be fenced on the host; empty when it is fenced there already and still down. */
export function reasonsToFence(look: Extract<HostLook, { answers: true }>, stored: boolean): string[] {
  const f = look.facts;
  const reasons: string[] = [];
  if (f.running) reasons.push(`its etcd answers (member ${f.running.memberId}, ${f.running.members} member(s), leader ${f.running.leaderId})`);
  else if (f.listening || f.unitActive) reasons.push('its etcd runs');
  if (f.staticPod) reasons.push('its static pod manifest is back in pods/');
  if (f.unitEnabled) reasons.push('etcd.service is enabled');
  if (!stored && !f.dataDirEmpty) reasons.push('its data is not stored since it came back');
  return reasons;
}

/** What to do with a fenced host that is no member, given how it answers and whether its data is stored. */
export function decideFormerHost(
  host: Host,
  look: HostLook,
  stored: { key: string; present: boolean },
): { fence: true; reason: string } | { fence: false; result: ReturnedHost } {
  if (!look.answers) {
    return {
      fence: false,
      result: { host: host.name, action: 'still-fenced-on-network', reason: `does not answer (${look.reason}); the network fence holds it`, changed: false },
    };
  }
  const reasons = reasonsToFence(look, stored.present);
  if (reasons.length > 0) return { fence: true, reason: reasons.join(', ') };
  const data = look.facts.dataDirEmpty ? 'its data directory empty' : `its data stored (${stored.key})`;
  return {
    fence: false,
    result: {
      host: host.name,
      action: 'fenced-on-host',
      reason: `fenced on the host already and still down: etcd stopped, no pod manifest in pods/, ${data}`,
      changed: false,
      ...(look.facts.dataDirEmpty ? {} : { backupKey: stored.key }),
    },
  };
}

/**
 * The member list through the first of `hosts` that gives one (etcd and master hosts before spares, which
 * may have no etcdctl or certificate yet), each asked on its own: `ask(host)` lists the members with
 * etcdctl on that host. Throws the last host's error when none does.
 */
export async function firstMemberList(hosts: readonly Host[], ask: (via: Host) => Promise<EtcdMember[]>): Promise<{ members: EtcdMember[]; via: Host }> {
  const ordered = [...hosts.filter((h) => !h.roles.includes('spare')), ...hosts.filter((h) => h.roles.includes('spare'))];
  let last: unknown = new RefusedError('no host to read the member list through');
  for (const via of ordered) {
    try {
      return { members: await ask(via), via };
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

export interface ReturnedHostsDeps extends FenceOnHostDeps {
  securityGroups: Pick<SecurityGroupPort, 'describeFence' | 'stopHost'>;
  log: (message: string) => void;
}

export interface ReturnedHostsObservation {
  /** The member list as the hosts the network fence does not hold give it; null when none could. */
  members: EtcdMember[] | null;
  /** Why there is no member list. */
  membersError?: string;
  /** The hosts the network fence does not hold: the member list was read through them. */
  unfenced: Host[];
  /** The ID the fence on the host ran under. */
  fenceId?: string;
  hosts: ReturnedHost[];
}

/** Asks the host what its etcd is; a host the runner cannot reach does not answer. */
async function look(deps: ReturnedHostsDeps, host: Host): Promise<HostLook> {
  try {
    return { answers: true, facts: await describeEtcdHost(deps.runner, host) };
  } catch (error) {
    if (error instanceof HostUnreachableError) return { answers: false, reason: error.message };
    throw error;
  }
}

/** FenceFormerMember.sh on a host that must be fenced, and what came of it. */
async function fence(deps: ReturnedHostsDeps, host: Host, fenceId: string, why: string): Promise<ReturnedHost> {
  try {
    const { fence: done, changed } = await fenceOnHost({ runId: fenceId, powerOffUnreachable: false }, deps, host);
    if (done.notOnHost === 'unreachable')
      return {
        host: host.name,
        action: 'still-fenced-on-network',
        reason: `stopped answering before it was fenced on the host (${done.notOnHostReason ?? ''})`,
        changed,
      };
    if (done.notOnHost === 'not-backed-up')
      return {
        host: host.name,
        action: 'fenced-on-host',
        reason: `${why}: etcd stopped and its pod moved to pods-stopped; its data NOT backed up (the host cannot reach the artifact store), the next observation tries again`,
        changed,
        failed: true,
      };
    const data = done.backupKey ? `its data backed up (${done.backupBytes} bytes, ${done.backupKey})` : 'its data directory empty';
    return {
      host: host.name,
      action: 'fenced-on-host',
      reason: `${why}: etcd stopped, its pod moved to pods-stopped, ${data}`,
      changed,
      ...(done.backupKey ? { backupKey: done.backupKey } : {}),
    };
  } catch (error) {
    if (error instanceof RefusedError)
      return { host: host.name, action: 'left', reason: `${why}; not fenced on the host: ${error.message}`, changed: false, failed: true };
    return { host: host.name, action: 'left', reason: `${why}; the fence on the host failed: ${errorMessage(error)}`, changed: false, failed: true };
  }
}

/**
 * One observation: each candidate's network fence, the member list through the hosts no fence holds
 * (`memberList`), then each fenced host that is no member looked at and, where needed, fenced on the host.
 */
export async function fenceReturnedHosts(
  deps: ReturnedHostsDeps,
  input: { hosts: readonly Host[]; memberList: (unfenced: Host[]) => Promise<EtcdMember[]> },
): Promise<ReturnedHostsObservation> {
  // A host whose fence cannot be read is neither asked for the member list nor touched.
  const fences = new Map<string, FenceState | { error: string }>();
  for (const host of input.hosts) {
    try {
      fences.set(host.name, await deps.securityGroups.describeFence(host));
    } catch (error) {
      fences.set(host.name, { error: errorMessage(error) });
    }
  }
  const fenceOf = (host: Host) => fences.get(host.name) ?? { error: 'not read' };
  const unfenced = input.hosts.filter((h) => {
    const network = fenceOf(h);
    return 'fenced' in network && !network.fenced;
  });
  let members: EtcdMember[];
  try {
    if (unfenced.length === 0) throw new RefusedError('no host is known to be outside the network fence');
    members = await input.memberList(unfenced);
  } catch (error) {
    const why = errorMessage(error);
    deps.log(`former members: no member list (${why}); no host is touched`);
    return {
      members: null,
      membersError: why,
      unfenced,
      hosts: input.hosts.map((h): ReturnedHost => {
        const network = fenceOf(h);
        const unread = 'error' in network ? `its network fence could not be read (${network.error}), and ` : '';
        return {
          host: h.name,
          action: 'left',
          reason: `${unread}the member list could not be read (${why}): not touched`,
          changed: false,
          ...(unread ? { failed: true } : {}),
        };
      }),
    };
  }
  const fenceId = formerFenceId(members);
  const hosts: ReturnedHost[] = [];
  for (const host of input.hosts) {
    const network = fenceOf(host);
    if ('error' in network) {
      hosts.push({
        host: host.name,
        action: 'left',
        reason: `its network fence could not be read (${network.error}): not touched`,
        changed: false,
        failed: true,
      });
      continue;
    }
    const first = classifyHost(host, network, members);
    if (first.kind !== 'former') {
      hosts.push(first.result);
      continue;
    }
    const key = restoreKey.fence(fenceId, host.hostname);
    let seen: HostLook;
    let present = false;
    try {
      seen = await look(deps, host);
      if (seen.answers) present = (await deps.artifacts.head(key)) !== null;
    } catch (error) {
      hosts.push({
        host: host.name,
        action: 'left',
        reason: `fenced on the network, no member; it could not be looked at: ${errorMessage(error)}`,
        changed: false,
        failed: true,
      });
      continue;
    }
    const decision = decideFormerHost(host, seen, { key, present });
    const result = decision.fence ? await fence(deps, host, fenceId, decision.reason) : decision.result;
    if (result.changed || result.failed) deps.log(`former member ${result.host}: ${result.action}: ${result.reason}`);
    hosts.push(result);
  }
  return { members, unfenced, fenceId, hosts };
}

/** One line per host, as the probe prints and logs it. */
export function describeReturnedHost(h: ReturnedHost): string {
  const done =
    h.action === 'fenced-on-host'
      ? h.changed
        ? 'fenced on the host now'
        : 'fenced on the host'
      : h.action === 'still-fenced-on-network'
        ? 'still fenced on the network'
        : 'left';
  return `${h.host}: ${done}${h.failed ? ' (FAILED)' : ''}: ${h.reason}`;
}
