// RestoreFromSnapshot: no former member has usable data, so the chosen verified snapshot becomes a cluster
// of one, as OpenShift 3.11's "Restoring etcd" does by hand (RestoreFromSnapshot.sh: etcd stopped, the old
// data kept aside, `etcdctl snapshot restore` with an --initial-cluster of the host alone, etcd.conf to
// match, a start). The host: the first former member, in the member list's order, that FenceFormerMembers
// fenced on the host (it answered: its etcd is stopped and its data stored off the host and checked).
// Never without a network fence: every other former member's fence is read again first, and one that does
// not hold refuses the step with nothing changed. The snapshot reaches the host through a download URL on
// the script's stdin, with the sha256 and revision its run recorded as arguments. Then, read through the
// host itself (DescribeRestorePoint.sh): one member, leading itself, at the snapshot's revision or later.
// Then the host's network fence is lifted (restoreFacts.ts liftNetworkFence): the host is fenced on the host
// and now runs the new cluster of one (a new cluster ID, which no former member can join), and every later
// step needs it on the network as the forced survivor is: VerifyRestoredMember reads it, the re-added members
// peer with it, masters and flanneld reach it. Recorded in `fenced` (networkLifted).
// Writes the record VerifyRestoredMember reads (`forced`, as ForceNewCluster does). Idempotent: once the
// snapshot is in place on the host, the script only verifies, and a fence already lifted is left so.

import { ClusterUnhealthyError, InvalidInputError, RefusedError } from '../errors.ts';
import { inventoryOf, need } from '../cluster/need.ts';
import { hostNamed, liftNetworkFence, type ClusterOfOneReport, type RestoreStep } from '../cluster/restoreFacts.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { ForcedCluster } from '../../statemachine/restoreContext.ts';
import type { DescribedRestorePoint } from '../../statemachine/restorePolicy.ts';

type RestoreResult = ClusterOfOneReport & { restoredBefore: boolean };

const HEX64 = /^[0-9a-f]{64}$/;

export const RestoreFromSnapshot: RestoreStep = async (context, deps) => {
  const survivor = need(context.survivor, 'survivor');
  if (survivor.kind !== 'snapshot') {
    throw new InvalidInputError('survivor', `the survivor is member ${survivor.host}: a member's data is forced, not restored from a snapshot`);
  }
  if (!HEX64.test(survivor.sha256) || !Number.isSafeInteger(survivor.revision) || survivor.revision < 0) {
    throw new InvalidInputError(
      'survivor',
      `snapshot ${survivor.key} has no sha256 and revision fit for a host: ${survivor.sha256.slice(0, 70)}, ${survivor.revision}`,
    );
  }
  const inventory = inventoryOf(context);
  const formers = need(context.formerMembers, 'formerMembers');
  const fenced = need(context.fenced, 'fenced');

  // The first former member whose etcd was stopped and whose data was stored off the host.
  const onHost = formers.map((m) => fenced.find((f) => f.host === m.host)).find((f) => f?.how.includes('on-host'));
  if (!onHost) {
    throw new RefusedError(
      `no former member was fenced on the host (reachable, its etcd stopped and its data stored): there is no host to restore snapshot ${survivor.key} on; nothing was changed`,
    );
  }
  const host = hostNamed(inventory, onHost.host);

  // Without a network fence in place around every other former member, a restore never starts a cluster.
  const open: string[] = [];
  for (const other of formers.filter((m) => m.host !== host.name)) {
    const state = await deps.securityGroups.describeFence(hostNamed(inventory, other.host));
    if (!state.fenced) open.push(`${other.host}${state.reason ? ` (${state.reason})` : ''}`);
  }
  if (open.length > 0) {
    throw new RefusedError(
      `not fenced on the network: ${open.join(', ')}; snapshot ${survivor.key} is not restored on ${host.name} while a former member could still form a majority; nothing was changed`,
    );
  }

  const wait = deps.waits.memberStartSeconds;
  const restored = await runScript<RestoreResult>(deps.runner, {
    host,
    script: 'RestoreFromSnapshot',
    args: [context.runId, survivor.sha256, String(survivor.revision), String(wait)],
    secrets: { SNAPSHOT_URL: await deps.artifacts.downloadUrl(survivor.key, deps.waits.urlTtlSeconds) },
    // The stop, the download, the restore, the start waited for.
    timeoutSeconds: 2 * wait + 600,
  });

  // Read through the host itself: the network fence around it may still hold.
  const point = await runScript<DescribedRestorePoint>(deps.runner, { host, script: 'DescribeRestorePoint', timeoutSeconds: 300 });
  if (point.etcd !== 'running' || point.source !== 'endpoint' || point.memberId !== restored.memberId) {
    throw new ClusterUnhealthyError(
      `${host.name}: after the restore DescribeRestorePoint read ${point.source === 'endpoint' ? `member ${point.memberId}` : `etcd ${point.etcd}, from its ${point.source}`}, not member ${restored.memberId} answering`,
    );
  }
  if (point.members !== 1 || point.leaderId !== restored.memberId) {
    throw new ClusterUnhealthyError(
      `${host.name}: after the restore its endpoint counts ${point.members ?? 'no'} members with leader ${point.leaderId ?? 'none'}, not ${restored.memberId} alone and leading`,
    );
  }
  if (point.revision === null || point.revision < survivor.revision) {
    throw new ClusterUnhealthyError(
      `${host.name}: after the restore member ${restored.memberId} is at revision ${point.revision ?? 'unknown'}, below the snapshot's ${survivor.revision}`,
    );
  }

  // The fence around this host has done its work: the old majority cannot form without it.
  const lifted = await liftNetworkFence(deps, host, fenced, 'RestoreFromSnapshot');

  const result: ForcedCluster = {
    host: host.name,
    memberId: restored.memberId,
    clusterId: restored.clusterId,
    name: restored.name,
    peerUrl: restored.peerUrl,
    revision: point.revision,
    raftIndex: point.raftIndex ?? restored.raftIndex,
    did: restored.did,
    peerUrlUpdated: restored.peerUrlUpdated,
    // The host's data before the restore, as FenceFormerMembers stored it (kept on the host as well).
    backupKey: onHost.backupKey ?? '',
    backupBytes: onHost.backupBytes ?? 0,
    backupSha256: onHost.backupSha256 ?? '',
  };
  const done = restored.did.length === 0 ? 'verified only (restored before)' : `did ${restored.did.join(', ')}`;
  const backup = onHost.backupKey ? `its data before the restore stored as ${onHost.backupKey} and kept on the host` : 'its data directory was empty';
  const network = lifted.changed ? 'its network fence lifted' : 'its network fence already lifted';
  return {
    output: { forced: result, fenced: lifted.fenced },
    detail: `${host.name}: snapshot ${survivor.key} (run ${survivor.runId}, revision ${survivor.revision}) restored as member ${restored.memberId} alone at revision ${point.revision}; ${done}; ${backup}; ${network}`,
    ...(restored.did.length === 0 && restored.restoredBefore && !lifted.changed ? { skipped: true } : {}),
  };
};
