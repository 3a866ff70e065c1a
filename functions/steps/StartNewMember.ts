// StartNewMember: on the new host, unpack the bundle into an emptied /etc/etcd (the data directory is
// uploaded first if it held anything), `systemctl enable etcd` and `systemctl restart etcd` (not
// `enable --now`, which leaves an etcd already active from an earlier life running); then wait until the member
// list shows it started under its hostname (runbook: new host steps 4-7). The bundle is then deleted
// from the artifact store. A host that runs any other member of the cluster is refused before anything
// is stopped or emptied there.

import { NewMemberFailedError, RefusedError } from '../errors.ts';
import { clusterIdentity, refuseIfMemberOnHost } from './etcdHost.ts';
import { artifactKey, etcdOf, need } from './cluster.ts';
import { expectedInitialCluster } from './ConfigureNewMember.ts';
import { runScript } from './hostScript.ts';
import { addToStartedSeconds } from '../../statemachine/voterWindow.ts';
import type { Step } from './stepResult.ts';

export const StartNewMember: Step = async (context, deps) => {
  const host = need(context.replacement, 'replacement');
  const newId = need(context.newMemberId, 'newMemberId');
  const bundleUrl = await deps.artifacts.downloadUrl(need(context.bundleKey, 'bundleKey'), deps.waits.urlTtlSeconds);
  const backupUrl = await deps.artifacts.uploadUrl(artifactKey.replacementPriorData(context.runId, host.hostname), deps.waits.urlTtlSeconds);
  const wait = deps.waits.memberStartSeconds;
  const etcd = etcdOf(context, deps);
  const members = await etcd.memberList();
  // Never on a member: the cluster's word here, the host's own etcd in the script.
  refuseIfMemberOnHost(members, host, newId, 'StartNewMember');
  // The bundle's etcd.conf was written before the add: its ETCD_INITIAL_CLUSTER must be what the add made.
  const initialCluster = expectedInitialCluster(members, host);
  const entries = (list: string) => list.split(',').sort().join(',');
  if (context.initialCluster !== undefined && entries(initialCluster) !== entries(context.initialCluster)) {
    throw new NewMemberFailedError(`the member list changed since the new member's etcd.conf was written: ETCD_INITIAL_CLUSTER is ${context.initialCluster}, the cluster is now ${initialCluster}`);
  }
  const { clusterId } = await clusterIdentity(context, deps);
  const started = await runScript<{ started: 'now' | 'already'; backedUpData: boolean }>(deps.runner, {
    host,
    script: 'StartNewMember',
    args: [host.hostname, clusterId, newId, bundleUrl, backupUrl, String(wait)],
    timeoutSeconds: wait + 120,
    exits: { 3: (m) => new RefusedError(m), 4: (m) => new NewMemberFailedError(m) },
  });

  const deadline = deps.now().getTime() + wait * 1000;
  for (;;) {
    const member = (await etcd.memberList()).find((m) => m.id === newId);
    if (!member) throw new NewMemberFailedError(`member ${newId} is no longer in the member list`);
    if (member.name === host.hostname) {
      // The bundle holds the member's private keys: once the member runs, no copy stays in the store.
      await deps.artifacts.delete(need(context.bundleKey, 'bundleKey'));
      const window = addToStartedSeconds({ ...context, newMemberStartedAt: context.newMemberStartedAt ?? deps.now().toISOString() });
      return {
        output: { newMemberStartedAt: context.newMemberStartedAt ?? deps.now().toISOString() },
        detail: `${host.name}: etcd ${started.started === 'now' ? 'started' : 'was already running'} as member ${newId}${started.backedUpData ? '; its earlier data directory was uploaded first' : ''}` +
          (window !== null ? `; it voted ${window.toFixed(1)} s before it had started (no learner)` : ''),
      };
    }
    if (deps.now().getTime() > deadline) throw new NewMemberFailedError(`member ${newId} has not started within ${wait}s (it still shows as unstarted)`);
    await deps.sleep(250);
  }
};
