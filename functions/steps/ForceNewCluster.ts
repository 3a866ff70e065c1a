// ForceNewCluster: the survivor becomes a cluster of one, as OpenShift 3.11's "Restoring etcd quorum" does
// by hand (ForceNewCluster.sh: ETCD_FORCE_NEW_CLUSTER=true in etcd.conf, a start, alone in the member
// list, the flag removed, a restart, a peer URL on localhost fixed). Never without a network fence: every
// other former member's fence is read again first, and one that does not hold refuses the step with
// nothing changed. Then `backup` stops etcd and uploads /var/lib/etcd; the step checks the upload in the
// store; `force` takes the host from wherever it is to the end (a run killed anywhere finishes when
// started again) and verifies one healthy member at the chosen revision or later. Last, the member list
// read through the survivor must name exactly that one member. Idempotent: once forced, the script only
// verifies.

import { ArtifactStoreError, ClusterUnhealthyError, InvalidInputError, RefusedError } from '../errors.ts';
import { inventoryOf, need } from '../cluster/need.ts';
import { backupArgs, hostNamed, othersThanSurvivor, restoreKey, type ClusterOfOneReport, type HostBackup, type RestoreStep } from '../cluster/restoreFacts.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import { clientUrl } from '../../statemachine/cluster.ts';
import type { ForcedCluster } from '../../statemachine/restoreContext.ts';

type ForceResult = ClusterOfOneReport & { markedBefore: boolean };

export const ForceNewCluster: RestoreStep = async (context, deps) => {
  const survivor = need(context.survivor, 'survivor');
  if (survivor.kind !== 'member') {
    throw new InvalidInputError(
      'survivor',
      `the survivor is snapshot ${survivor.key}: a snapshot is restored, not forced; ForceNewCluster forces a member's own data`,
    );
  }
  const inventory = inventoryOf(context);
  const host = hostNamed(inventory, survivor.host);

  // Without a network fence in place around every other former member, a restore never forces.
  const others = othersThanSurvivor(need(context.formerMembers, 'formerMembers'), survivor);
  const open: string[] = [];
  for (const other of others) {
    const state = await deps.securityGroups.describeFence(hostNamed(inventory, other.host));
    if (!state.fenced) open.push(`${other.host}${state.reason ? ` (${state.reason})` : ''}`);
  }
  if (open.length > 0) {
    throw new RefusedError(
      `not fenced on the network: ${open.join(', ')}; the survivor ${host.name} is not forced while a former member could still form a majority; nothing was changed`,
    );
  }

  const key = restoreKey.force(context.runId, host.hostname);
  const backedUp = await runScript<{ stopped: boolean; kind: string; backup: HostBackup }>(deps.runner, {
    host,
    script: 'ForceNewCluster',
    args: ['backup', context.runId],
    secrets: { UPLOAD_URL: await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds) },
    timeoutSeconds: 600,
    exits: { [SCRIPT_EXIT.uploadCannotLeaveHost]: (m) => new ArtifactStoreError(`${m}; the data could not leave the host, so nothing is forced`) },
  });
  const backup = backedUp.backup;
  if (backup.empty === true)
    throw new RefusedError(`${host.name}: its data directory is empty: there is no member to force a cluster from; nothing was forced`);
  const [bytes, sha256, manifest] = backupArgs(host, 'ForceNewCluster', backup);
  if (!backup.marked) {
    const stored = await deps.artifacts.head(key);
    if (!stored || stored.size !== backup.bytes) {
      throw new ArtifactStoreError(
        `${host.name}: the upload of its data is not whole: the host wrote ${backup.bytes} bytes, the store holds ${stored?.size ?? 'nothing'}; nothing was forced`,
      );
    }
  }

  const wait = deps.waits.memberStartSeconds;
  const forced = await runScript<ForceResult>(deps.runner, {
    host,
    script: 'ForceNewCluster',
    args: ['force', context.runId, bytes, sha256, manifest, String(survivor.revision), String(wait)],
    // Up to two starts, each waited for, and the stops between them.
    timeoutSeconds: 3 * wait + 120,
  });

  const members = await deps.etcd([host], [clientUrl(host)]).memberList();
  if (members.length !== 1 || members[0]?.id !== forced.memberId) {
    throw new ClusterUnhealthyError(
      `${host.name}: after the force the member list names ${members.map((m) => `${m.id} (${m.name || 'not started'})`).join(', ') || 'no member'}, not ${forced.memberId} alone`,
    );
  }
  if (survivor.memberId !== null && forced.memberId !== survivor.memberId) {
    throw new ClusterUnhealthyError(`${host.name}: the forced member is ${forced.memberId}, not the survivor's member ${survivor.memberId}`);
  }

  const result: ForcedCluster = {
    host: host.name,
    memberId: forced.memberId,
    clusterId: forced.clusterId,
    name: forced.name,
    peerUrl: forced.peerUrl,
    revision: forced.revision,
    raftIndex: forced.raftIndex,
    did: forced.did,
    peerUrlUpdated: forced.peerUrlUpdated,
    backupKey: key,
    backupBytes: Number(bytes),
    backupSha256: sha256,
  };
  const done = forced.did.length === 0 ? 'verified only (forced before)' : `did ${forced.did.join(', ')}`;
  const peer = forced.peerUrlUpdated ? `; peer URL updated to ${forced.peerUrl}` : '';
  return {
    output: { forced: result },
    detail: `${host.name}: member ${forced.memberId} alone in the member list at revision ${forced.revision} (chosen ${survivor.revision}); ${done}${peer}; its data before the force backed up (${bytes} bytes) as ${key}`,
    ...(forced.did.length === 0 && forced.markedBefore && !backedUp.stopped ? { skipped: true } : {}),
  };
};
