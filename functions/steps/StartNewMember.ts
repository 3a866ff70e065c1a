// StartNewMember: on the new host, unpack the bundle into an emptied /etc/etcd (the data directory is
// uploaded first if it held anything), `systemctl enable etcd` and `systemctl restart etcd` (not
// `enable --now`, which leaves an etcd already active from an earlier life running); then wait until the member
// list shows it started under its hostname (runbook: new host steps 4-7). The bundle is then deleted
// from the artifact store. A host that runs any other member of the cluster is refused before anything
// is stopped or emptied there.

import { NewMemberCatchingUpError, NewMemberFailedError, NoSpaceLeftError, QuorumLostError } from '../errors.ts';
import { quorumNow } from '../../statemachine/quorum.ts';
import { clusterIdentity, ETCD_WAL_SEGMENT_BYTES, etcdDataBytes, etcdDataSpace, refuseIfMemberOnHost } from '../hosts/etcdHost.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { clientUrl } from '../../statemachine/cluster.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { observeWithoutFailed } from '../cluster/observe.ts';
import { expectedInitialCluster } from './ConfigureNewMember.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import { addToStartedSeconds } from '../../statemachine/voterWindow.ts';
import type { Host, HostRunner } from '../ports.ts';
import type { Step } from '../workflow/step.ts';

/** How often the wait asks the new member how far it has got. */
const PROGRESS_EVERY_MS = 2000;
/**
 * While the member has not started, how often the wait checks quorum, and for how long quorum must be
 * lost, beyond what the new member's own vote could bring back, before the step stops (QuorumLostError).
 */
const QUORUM_CHECK_EVERY_MS = 5000;
const QUORUM_LOSS_CONFIRM_MS = 5000;

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
    throw new NewMemberFailedError(
      `the member list changed since the new member's etcd.conf was written: ETCD_INITIAL_CLUSTER is ${context.initialCluster}, the cluster is now ${initialCluster}`,
    );
  }
  const { clusterId } = await clusterIdentity(context, deps);
  const started = await runScript<{ started: 'now' | 'already'; backedUpData: boolean }>(deps.runner, {
    host,
    script: 'StartNewMember',
    args: [host.hostname, clusterId, newId, String(wait)],
    secrets: { BUNDLE_URL: bundleUrl, BACKUP_UPLOAD_URL: backupUrl },
    timeoutSeconds: wait + 120,
    // The step's own meaning of "not ready yet": etcd did not start listening, which its retry rule tries once more.
    exits: { [SCRIPT_EXIT.notReady]: (m) => new NewMemberFailedError(m) },
  });

  // Started means: listed under its name, and, without a learner, caught up: its endpoint answers
  // `endpoint health`, a read through the leader that it serves only once it has applied the log. (etcd
  // 3.2 lists the name as soon as the others commit it, while the member itself may replay the log for
  // minutes.) A learner catches up before PromoteNewMember promotes it; it serves no such read before.
  // etcd serves clients only once it has caught up, so until it answers, progress is its data directory
  // growing on the host: the wait goes on while it grows, and fails after `wait` seconds without growth,
  // `wait` seconds after the member first answers without being healthy, or at the attempt's budget.
  const learner = context.addedAsLearner === true;
  const started0 = deps.now().getTime();
  const budget = started0 + deps.waits.memberCatchUpSeconds * 1000;
  let deadline = started0 + wait * 1000;
  let progress = { bytes: -1, answered: false, checkedAt: 0 };
  let quorum = { checkedAt: started0, lostSince: null as number | null };
  // Asked often at first (a small cluster's member starts in a second or two), then every 2 s: each
  // question is a host command (SSM on AWS), and a large replay takes minutes.
  let pause = 250;
  for (;;) {
    const member = (await etcd.memberList()).find((m) => m.id === newId);
    if (!member) throw new NewMemberFailedError(`member ${newId} is no longer in the member list`);
    const now = deps.now().getTime();
    const due = now - progress.checkedAt >= PROGRESS_EVERY_MS;
    const named = member.name === host.hostname;
    if (named && (learner || (await etcd.health([clientUrl(host)]))[0]?.healthy === true)) {
      // The bundle holds the member's private keys: once the member runs, no copy stays in the store.
      await deps.artifacts.delete(need(context.bundleKey, 'bundleKey'));
      const window = addToStartedSeconds({ ...context, newMemberStartedAt: context.newMemberStartedAt ?? deps.now().toISOString() });
      return {
        output: { newMemberStartedAt: context.newMemberStartedAt ?? deps.now().toISOString() },
        detail:
          `${host.name}: etcd ${started.started === 'now' ? 'started' : 'was already running'} as member ${newId}${started.backedUpData ? '; its earlier data directory was uploaded first' : ''}` +
          (window !== null ? `; it voted ${window.toFixed(1)} s before it had caught up (no learner)` : ''),
      };
    }
    if (now - quorum.checkedAt >= QUORUM_CHECK_EVERY_MS) {
      // A second member lost while this one starts: unless this member's own vote is the one missing
      // (a voter without a learner), nothing it does can bring quorum back. Stop, do not wait it out.
      const q = quorumNow((await observeWithoutFailed(context, deps)).health, learner ? undefined : newId);
      const lostSince = q.has || q.restorable ? null : (quorum.lostSince ?? now);
      quorum = { checkedAt: now, lostSince };
      if (lostSince !== null && now - lostSince >= QUORUM_LOSS_CONFIRM_MS) {
        throw new QuorumLostError(
          `member ${newId} cannot join: ${q.text}, for ${Math.round((now - lostSince) / 1000)} s, and its own vote would not bring it back`,
        );
      }
    }
    if (due && !progress.answered) {
      const [status] = await etcd.status([clientUrl(host)]);
      if (status && !('error' in status) && status.memberId === newId) {
        progress = { ...progress, answered: true, checkedAt: now };
        deadline = Math.min(budget, now + wait * 1000);
      } else {
        const bytes = await etcdDataBytes(deps.runner, host).catch(() => -1);
        if (bytes > progress.bytes) deadline = Math.min(budget, now + wait * 1000);
        progress = { ...progress, bytes: Math.max(bytes, progress.bytes), checkedAt: now };
      }
    }
    if (now > deadline && now >= budget) {
      throw new NewMemberCatchingUpError(
        `member ${newId} is still catching up after ${deps.waits.memberCatchUpSeconds}s (${progress.bytes} bytes of data on ${host.name}); it goes on, and the next attempt waits for it`,
      );
    }
    if (now > deadline) {
      if (!progress.answered) await failIfNoSpace(deps.runner, host);
      throw new NewMemberFailedError(
        progress.answered
          ? `member ${newId} answers but its endpoint has not been healthy for ${wait}s`
          : `member ${newId} has not answered, and its data directory on ${host.name} has not grown, for ${wait}s (${named ? 'listed under its name' : 'it still shows as unstarted'})`,
      );
    }
    await deps.sleep(pause);
    pause = Math.min(PROGRESS_EVERY_MS, Math.round(pause * 1.5));
  }
};

/** A new member that stopped answering because its disk is full is named so, with df's numbers. */
async function failIfNoSpace(runner: HostRunner, host: Host): Promise<void> {
  const space = await etcdDataSpace(runner, host).catch(() => null);
  if (space === null || !Number.isFinite(space.availableBytes) || space.availableBytes >= ETCD_WAL_SEGMENT_BYTES) return;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  throw new NoSpaceLeftError(
    `no space left on /var/lib/etcd on ${host.name}: ${mib(space.availableBytes)} free of ${mib(space.sizeBytes)} (df; ${mib(space.dataBytes)} in /var/lib/etcd), ` +
      `and etcd needs ${mib(ETCD_WAL_SEGMENT_BYTES)} for each WAL file: free space there or give the host a larger disk, then run the replacement again`,
  );
}
