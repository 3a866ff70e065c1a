// CompensateNewMember: the new member could not join after its retries. Remove the member again so the
// cluster is back to a healthy shape, then stop and disable etcd on the new host (a removed member
// cannot rejoin: etcd refuses its ID), and record exactly what remains.
// It changes nothing, and stops at once (retried by no rule), when the cluster has no quorum
// (QuorumLostError: no membership change can succeed) or when the new member's vote is one the cluster
// needs now (RefusedError: it started and votes, and another member died meanwhile; removing it would
// lose quorum). RecordClusterState then describes the cluster as it is.

import { HostUnreachableError, MemberNotFoundError, QuorumLostError, RefusedError } from '../errors.ts';
import { quorumForRemoval, quorumNow } from '../../statemachine/quorum.ts';
import { clusterIdentity, refuseIfMemberOnHost } from '../hosts/etcdHost.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { observeWithoutFailed } from '../cluster/observe.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';
import { isStarted, memberById, memberByPeerUrl, peerUrl } from '../../statemachine/cluster.ts';

export const CompensateNewMember: Step = async (context, deps) => {
  const remaining: string[] = [];
  const done: string[] = [];
  const host = context.replacement;
  const etcd = etcdOf(context, deps);
  const observation = await observeWithoutFailed(context, deps);
  const quorum = quorumNow(observation.health);
  if (!quorum.has) throw new QuorumLostError(`CompensateNewMember changes nothing: ${quorum.text}`);
  const members = observation.members;
  // Only the member this run added: its recorded ID, or (the add's answer lost in a crash) the one
  // unstarted member at the new host's peer URL. Never a started member this run did not add.
  const url = host ? peerUrl(host) : null;
  const unstartedAtUrl =
    url === null
      ? undefined
      : memberByPeerUrl(
          members.filter((m) => !isStarted(m)),
          url,
        );
  const added = (context.newMemberId ? memberById(members, context.newMemberId) : undefined) ?? (context.newMemberId ? undefined : unstartedAtUrl);
  if (host) refuseIfMemberOnHost(members, host, added?.id, 'CompensateNewMember');
  if (added) {
    const verdict = quorumForRemoval(observation.health, added.id);
    if (!verdict.ok) throw new RefusedError(`CompensateNewMember leaves member ${added.id} in place: ${verdict.reason}; its vote is one the cluster needs now`);
    try {
      await etcd.removeMember(added.id);
      done.push(`removed member ${added.id}`);
    } catch (error) {
      if (!(error instanceof MemberNotFoundError)) throw error;
    }
  } else {
    done.push('no member had been added');
  }
  if (host) {
    try {
      const { clusterId } = await clusterIdentity(context, deps);
      const r = await runScript<{ stopped: boolean }>(deps.runner, {
        host,
        script: 'CompensateNewMember',
        // A retry after the member was removed still names it: its etcd may still answer as that member.
        args: [clusterId, ...(added ? [added.id] : context.newMemberId ? [context.newMemberId] : [])],
        timeoutSeconds: 60,
      });
      done.push(r.stopped ? `stopped etcd on ${host.name}` : `etcd was not running on ${host.name}`);
    } catch (error) {
      if (!(error instanceof HostUnreachableError)) throw error;
      remaining.push(`${host.name} is unreachable: make sure etcd is stopped and disabled there before it returns`);
    }
  }
  // A restore's re-add (memberPhase readd) names no failed member in its request: the former member's host does.
  const restoring = context.memberPhase === 'readd';
  const failed = context.failedMember?.id ?? (restoring ? context.failedHost?.name : undefined) ?? context.request.failed;
  remaining.push(
    `the ${restoring ? 'former' : 'failed'} member ${failed} is ${context.failedMember ? 'removed' : 'gone'} and has no replacement: the cluster runs with ${members.length - (added ? 1 : 0)} members`,
    `fix the cause (${context.error?.Error ?? 'see the step errors'}: ${context.error?.Cause ?? ''}) and run the ${restoring ? 'restore' : 'replacement'} again`,
  );
  if (host) remaining.push(`${host.name}: /var/lib/etcd may hold data of the removed member; the next run uploads it to the artifact store before emptying it`);
  return { output: { remaining: [...(context.remaining ?? []), ...remaining], memberAdded: false }, detail: done.join('; ') };
};
