// VerifyClusterHealth: the member list (every member started and voting, the failed one gone, the new
// one in, an odd count; between two adds of a run that replaces several, the count of the moment), then the runbook's v2 cluster-health and v3 endpoint health across every
// member, all in one command on a member (VerifyClusterHealth.sh ENDPOINTS MEMBERSHIP_ENDPOINTS; any
// of them failing is ClusterUnhealthyError). The checks run on the endpoints the list is expected to
// name (the survivors and the new member); the list, read first in the same command, is checked, and
// when its members' endpoints are not those, the checks run again on the list's own (a second command).
// The command runs on the first member host that can be reached: a surviving member whose host is down
// is a member the checks report unhealthy, not a reason to skip them.

import { parseEtcdctlJson, membersFromEtcdctl } from '../adapters/etcdctl.ts';
import { ClusterUnhealthyError, HostUnreachableError } from '../errors.ts';
import { viaHosts } from '../cluster/etcdPort.ts';
import { inventoryOf, need } from '../cluster/need.ts';
import { startedMemberHostnames } from '../cluster/liveEndpoints.ts';
import { scriptExitError, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import type { EtcdMember, Host } from '../ports.ts';
import type { Step } from '../workflow/step.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { clientUrl, clientUrlOfMember, isStarted, memberById } from '../../statemachine/cluster.ts';

/** The member list's problems, as the step names them (none: every member started and voting, the count right). */
function listProblems(context: WorkflowContext, members: EtcdMember[], newId: string): string[] {
  const problems: string[] = [];
  if (!memberById(members, newId)) problems.push(`new member ${newId} is missing`);
  if (context.failedMember && members.some((m) => m.id === context.failedMember!.id)) problems.push(`failed member ${context.failedMember.id} is still listed`);
  for (const m of members) {
    if (!isStarted(m)) problems.push(`member ${m.id} has not started`);
    if (m.isLearner) problems.push(`member ${m.id} is still a learner`);
  }
  // A run that replaces several checks the count once the last new member has joined: between two adds it is even.
  if (members.length % 2 === 0 && context.anotherMember !== true) problems.push(`${members.length} members: the count must be odd`);
  return problems;
}

/**
 * One VerifyClusterHealth.sh on `host`: the member list it printed (when asked for one), and the error
 * its exit means as the step reads it (none when it exited 0).
 */
async function verifyOn(
  deps: StepDeps,
  host: Host,
  endpoints: string[],
  membership: string[] | null,
): Promise<{ members: EtcdMember[] | null; error?: Error }> {
  const out = await deps.runner.run({
    host,
    script: 'VerifyClusterHealth',
    args: [endpoints.join(','), ...(membership ? [membership.join(',')] : [])],
    timeoutSeconds: 120,
  });
  const line = membership ? out.stdout.split('\n').find((l) => l.startsWith('{"members":')) : undefined;
  const members = line ? membersFromEtcdctl((parseEtcdctlJson(line) as { members: unknown }).members) : null;
  if (out.exitCode === SCRIPT_EXIT.ok) return { members };
  const detail = out.stderr.trim().split('\n').slice(-6).join(' | ').slice(0, 1000);
  // The step's own meaning of "not ready yet": the cluster is not healthy, which its retry rule waits on.
  const error =
    out.exitCode === SCRIPT_EXIT.notReady
      ? new ClusterUnhealthyError(`VerifyClusterHealth on ${host.name}: ${detail || `exit ${out.exitCode}`}`)
      : scriptExitError(host, 'VerifyClusterHealth', out.exitCode, detail);
  return { members, error };
}

export const VerifyClusterHealth: Step = async (context, deps) => {
  const inventory = inventoryOf(context);
  const newId = need(context.newMemberId, 'newMemberId');
  const hosts = viaHosts(context);
  if (hosts.length === 0) throw new ClusterUnhealthyError('no member host to run the health checks on');
  // What the list should name: the survivors and the new member (the endpoints the etcd port asks).
  const membership = [
    ...(context.survivors && context.survivors.length > 0 ? context.survivors.map((s) => s.clientURL) : hosts.map(clientUrl)),
    ...(context.replacement ? [clientUrl(context.replacement)] : []),
  ];
  const endpointsOf = (members: EtcdMember[]) => members.map((m) => clientUrlOfMember(inventory, m)).filter((e): e is string => e !== null);
  const same = (a: string[], b: string[]) => [...a].sort().join(',') === [...b].sort().join(',');

  let unreachable: HostUnreachableError | undefined;
  for (const host of hosts) {
    try {
      const { members, error } = await verifyOn(deps, host, membership, membership);
      // The list's own problems are named first: they say more than a health check that failed on them.
      const problems = members ? listProblems(context, members, newId) : [];
      if (problems.length) throw new ClusterUnhealthyError(problems.join('; '));
      if (!members) throw error ?? new ClusterUnhealthyError(`VerifyClusterHealth on ${host.name} printed no member list`);
      const endpoints = endpointsOf(members);
      // The checks ran on the endpoints expected; the list names others (an endpoint expected that is no
      // member, or one not expected): the checks that count are those on the list's own.
      if (!same(endpoints, membership)) {
        const again = await verifyOn(deps, host, endpoints, null);
        if (again.error) throw again.error;
      } else if (error) throw error;
      // The list just verified, for RollMasters and UpdateFlannel: no need to ask etcd for it again.
      return {
        output: { verifiedMembers: { newMemberId: newId, hostnames: startedMemberHostnames(inventory, members) } },
        detail: `${members.length} members started and voting; cluster-health (v2) and endpoint health (v3) pass on ${endpoints.length} endpoints`,
      };
    } catch (error) {
      if (!(error instanceof HostUnreachableError)) throw error;
      unreachable ??= error;
    }
  }
  throw unreachable ?? new ClusterUnhealthyError('no member host could run the health checks');
};
