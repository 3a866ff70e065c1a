// VerifyRestoredMember: after the force (or the restore of a snapshot), the restored member alone
// (OpenShift 3.11 "Restoring etcd quorum" step 3: "the member list shows it alone"), healthy, and
// holding at least the revision the restore chose, all read through the restored host itself: the
// member list through its etcd, its own endpoint status (a member that leads itself), and
// DescribeRestorePoint.sh on the host for its revision. Read-only. A member list of another size, a
// member that does not answer or has no leader is ClusterUnhealthyError (retried: it may still be
// starting); a revision below the chosen one is RestoredRevisionBehindError (not retried: it would
// lose more than the plan said).

import { ClusterUnhealthyError, WorkflowError } from '../errors.ts';
import { inventoryOf, need } from '../cluster/need.ts';
import { hostNamed, type RestoreStep } from '../cluster/restoreFacts.ts';
import { runScript } from '../hosts/hostScript.ts';
import { clientUrl } from '../../statemachine/cluster.ts';
import type { DescribedRestorePoint } from '../../statemachine/restorePolicy.ts';

/** The restored member holds less than the revision the restore chose: more would be lost than the plan stated. */
export class RestoredRevisionBehindError extends WorkflowError {
  override readonly name: string = 'RestoredRevisionBehindError';
}

export const VerifyRestoredMember: RestoreStep = async (context, deps) => {
  const survivor = need(context.survivor, 'survivor');
  // ForceNewCluster's record names the restored host and its member (RestoreFromSnapshot writes the same).
  const forced = need(context.forced, 'forced');
  const host = hostNamed(inventoryOf(context), forced.host);
  const url = clientUrl(host);
  const etcd = deps.etcd([host], [url]);

  const members = await etcd.memberList();
  const listed = members.map((m) => `${m.id} (${m.name || 'not started'}${m.isLearner ? ', learner' : ''})`).join(', ') || 'no member';
  const only = members[0];
  if (members.length !== 1 || only?.id !== forced.memberId || only.isLearner) {
    throw new ClusterUnhealthyError(`${host.name}: the member list through it names ${listed}, not ${forced.memberId} alone`);
  }
  const [status] = await etcd.status([url]);
  if (!status || 'error' in status) throw new ClusterUnhealthyError(`${host.name}: its etcd does not answer at ${url}${status ? ` (${status.error})` : ''}`);
  if (status.memberId !== forced.memberId) throw new ClusterUnhealthyError(`${host.name}: ${url} answers as member ${status.memberId}, not ${forced.memberId}`);
  if (status.leaderId !== forced.memberId) {
    throw new ClusterUnhealthyError(
      `${host.name}: member ${forced.memberId} does not lead itself (leader ${status.leaderId}): a cluster of one is not serving`,
    );
  }

  const point = await runScript<DescribedRestorePoint>(deps.runner, { host, script: 'DescribeRestorePoint', timeoutSeconds: 300 });
  if (point.etcd !== 'running' || point.source !== 'endpoint' || point.memberId !== forced.memberId || point.revision === null) {
    throw new ClusterUnhealthyError(
      `${host.name}: DescribeRestorePoint read ${point.source === 'endpoint' ? `member ${point.memberId}` : `etcd ${point.etcd}, from its ${point.source}`}, not member ${forced.memberId} answering with a revision`,
    );
  }
  if (point.members !== null && point.members !== 1)
    throw new ClusterUnhealthyError(`${host.name}: its endpoint status counts ${point.members} members, not 1`);
  const chosen = survivor.revision;
  if (point.revision < chosen) {
    throw new RestoredRevisionBehindError(
      `${host.name}: member ${forced.memberId} is at revision ${point.revision}, below the ${chosen} the restore chose: it holds less than the plan stated`,
    );
  }
  return {
    output: {
      restoredMember: {
        host: host.name,
        memberId: forced.memberId,
        revision: point.revision,
        raftIndex: point.raftIndex ?? status.raftIndex,
        chosenRevision: chosen,
        at: deps.now().toISOString(),
      },
    },
    detail: `${host.name}: member ${forced.memberId} alone in its member list, leading itself, at revision ${point.revision} (chosen ${chosen})`,
  };
};
