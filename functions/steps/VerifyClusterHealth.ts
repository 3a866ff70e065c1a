// VerifyClusterHealth: the member list (every member started and voting, the failed one gone, the new
// one in, an odd count; between two adds of a run that replaces several, the count of the moment), then the runbook's v2 cluster-health and v3 endpoint health across every
// member, both in one command on a member (VerifyClusterHealth.sh; either failing is ClusterUnhealthyError).
// The command runs on the first member host that can be reached: a surviving member whose host is down
// is a member the checks report unhealthy, not a reason to skip them.

import { ClusterUnhealthyError, HostUnreachableError } from '../errors.ts';
import { etcdOf, viaHosts } from '../cluster/etcdPort.ts';
import { inventoryOf, need } from '../cluster/need.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';
import { clientUrlOfMember, isStarted, memberById } from '../../statemachine/cluster.ts';

export const VerifyClusterHealth: Step = async (context, deps) => {
  const inventory = inventoryOf(context);
  const newId = need(context.newMemberId, 'newMemberId');
  const etcd = etcdOf(context, deps, { includeReplacement: true });
  const members = await etcd.memberList();
  const problems: string[] = [];
  if (!memberById(members, newId)) problems.push(`new member ${newId} is missing`);
  if (context.failedMember && members.some((m) => m.id === context.failedMember!.id)) problems.push(`failed member ${context.failedMember.id} is still listed`);
  for (const m of members) {
    if (!isStarted(m)) problems.push(`member ${m.id} has not started`);
    if (m.isLearner) problems.push(`member ${m.id} is still a learner`);
  }
  // A run that replaces several checks the count once the last new member has joined: between two adds it is even.
  if (members.length % 2 === 0 && context.anotherMember !== true) problems.push(`${members.length} members: the count must be odd`);
  const endpoints = members.map((m) => clientUrlOfMember(inventory, m)).filter((e): e is string => e !== null);
  if (problems.length) throw new ClusterUnhealthyError(problems.join('; '));

  const hosts = viaHosts(context);
  if (hosts.length === 0) throw new ClusterUnhealthyError('no member host to run the health checks on');
  let unreachable: HostUnreachableError | undefined;
  for (const host of hosts) {
    try {
      await runScript(deps.runner, {
        host,
        script: 'VerifyClusterHealth',
        args: [endpoints.join(',')],
        // The step's own meaning of "not ready yet": the cluster is not healthy, which its retry rule waits on.
        exits: { [SCRIPT_EXIT.notReady]: (m) => new ClusterUnhealthyError(m) },
      });
      unreachable = undefined;
      break;
    } catch (error) {
      if (!(error instanceof HostUnreachableError)) throw error;
      unreachable ??= error;
    }
  }
  if (unreachable) throw unreachable;
  return {
    output: {},
    detail: `${members.length} members started and voting; cluster-health (v2) and endpoint health (v3) pass on ${endpoints.length} endpoints`,
  };
};
