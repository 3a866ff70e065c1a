// StartNewMember: on the new host, unpack the bundle into an emptied /etc/etcd (the data directory is
// uploaded first if it held anything), `systemctl enable etcd` and `systemctl restart etcd` (not
// `enable --now`, which leaves an etcd already active from an earlier life running); then wait until the member
// list shows it started under its hostname (runbook: new host steps 4-7). The bundle is then deleted
// from the artifact store. A host that runs any other member of the cluster is refused before anything
// is stopped or emptied there.

import { NewMemberCatchingUpError, NewMemberFailedError, NoSpaceLeftError, QuorumLostError, ScriptFailedError, type WorkflowError } from '../errors.ts';
import { quorumNow } from '../../statemachine/quorum.ts';
import { clusterIdentity, ETCD_WAL_SEGMENT_BYTES, refuseIfMemberOnHost } from '../hosts/etcdHost.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { clientUrl } from '../../statemachine/cluster.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { observeWithoutFailed } from '../cluster/observe.ts';
import { expectedInitialCluster } from './ConfigureNewMember.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import { addToStartedSeconds } from '../../statemachine/voterWindow.ts';
import type { Host } from '../ports.ts';
import type { Step } from '../workflow/step.ts';

/**
 * Once a voting member stopped answering while the new one starts: how often the step looks at the
 * cluster, and for how long quorum must be lost, beyond what the new member's own vote could bring
 * back, before the step stops (QuorumLostError).
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
  // The start's secrets need a one-time key on the new host (SSM): made while the member list is read.
  deps.runner.prepareSecrets?.(host, 'StartNewMember');
  // The list AddMember read right after it added this member, else (an add this run did not make in
  // this context: a resumed run whose AddMember was skipped) the list as it stands.
  const recorded = context.membersAfterAdd?.newMemberId === newId ? context.membersAfterAdd.members : undefined;
  const members = recorded ?? (await etcd.memberList());
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
  // Started means: listed under its name, and, without a learner, caught up: its endpoint answers
  // `endpoint health`, a read through the leader that it serves only once it has applied the log. (etcd
  // 3.2 lists the name as soon as the others commit it, while the member itself may replay the log for
  // minutes.) A learner catches up before PromoteNewMember promotes it; it serves no such read before.
  // etcd serves clients only once it has caught up, so until it answers, progress is its data directory
  // growing on the host. The wait runs on the new host itself (lib/awaitMember.sh), in the start's own
  // command: it ends after `wait` seconds without growth, `wait` seconds after the member first answers
  // without being healthy, or at the attempt's budget. While it waits it asks the voting members that
  // answered at the last look for their status every 5 s; when one does not answer, the step looks at the
  // whole cluster (the quorum check below) and, quorum holding, waits on with a second host command.
  const learner = context.addedAsLearner === true;
  const started0 = deps.now().getTime();
  const budget = started0 + deps.waits.memberCatchUpSeconds * 1000;
  const self = clientUrl(host);
  const memberUrls = need(context.survivors, 'survivors')
    .map((s) => s.clientURL)
    .filter((url) => url !== '' && url !== self);
  const waitArgs = (watch: string[]) => [self, memberUrls.join(','), watch.length > 0 ? watch.join(',') : '-', learner ? 'learner' : 'voter'];
  const secondsLeft = () => Math.max(0, Math.ceil((budget - deps.now().getTime()) / 1000));
  const exits = { [SCRIPT_EXIT.notReady]: (m: string) => new NewMemberFailedError(m) };
  let result = await runScript<{ started: 'now' | 'already'; backedUpData: boolean } & AwaitResult>(deps.runner, {
    host,
    script: 'StartNewMember',
    args: [host.hostname, clusterId, newId, String(wait), ...waitArgs(memberUrls), String(secondsLeft())],
    secrets: { BUNDLE_URL: bundleUrl, BACKUP_UPLOAD_URL: backupUrl },
    timeoutSeconds: wait + 120 + secondsLeft(),
    // The step's own meaning of "not ready yet": etcd did not start listening, which its retry rule tries once more.
    exits,
  });
  const started = { started: result.started, backedUpData: result.backedUpData };
  let lostSince: number | null = null;
  for (;;) {
    const done = verdict(result, newId, host, wait, deps.waits.memberCatchUpSeconds);
    if (done === 'started') break;
    if (done !== 'doubt') throw done;
    // A voting member stopped answering while this one starts: unless this member's own vote is the one
    // missing (a voter without a learner), nothing it does can bring quorum back. Stop, do not wait it out.
    const observation = await observeWithoutFailed(context, deps);
    const q = quorumNow(observation.health, learner ? undefined : newId);
    const now = deps.now().getTime();
    lostSince = q.has || q.restorable ? null : (lostSince ?? now);
    if (lostSince !== null && now - lostSince >= QUORUM_LOSS_CONFIRM_MS) {
      throw new QuorumLostError(
        `member ${newId} cannot join: ${q.text}, for ${Math.round((now - lostSince) / 1000)} s, and its own vote would not bring it back`,
      );
    }
    if (lostSince !== null) {
      await deps.sleep(QUORUM_CHECK_EVERY_MS);
      continue; // look again before the verdict: quorum must stay lost for QUORUM_LOSS_CONFIRM_MS
    }
    const answering = new Set(observation.health.filter((h) => h.healthy && !h.isLearner && h.id !== newId).map((h) => h.id));
    const watch = observation.members.filter((m) => answering.has(m.id)).flatMap((m) => m.clientURLs.slice(0, 1));
    const left = secondsLeft();
    result = {
      ...started,
      ...(await runScript<AwaitResult>(deps.runner, {
        host,
        script: 'DescribeEtcdHost',
        args: ['await-member', host.hostname, newId, ...waitArgs(watch), String(wait), String(left)],
        timeoutSeconds: left + 60,
      })),
    };
  }
  // The bundle holds the member's private keys: once the member runs, no copy stays in the store.
  await deps.artifacts.delete(need(context.bundleKey, 'bundleKey'));
  const window = addToStartedSeconds({ ...context, newMemberStartedAt: context.newMemberStartedAt ?? deps.now().toISOString() });
  return {
    output: { newMemberStartedAt: context.newMemberStartedAt ?? deps.now().toISOString() },
    detail:
      `${host.name}: etcd ${started.started === 'now' ? 'started' : 'was already running'} as member ${newId}${started.backedUpData ? '; its earlier data directory was uploaded first' : ''}` +
      (window !== null ? `; it voted ${window.toFixed(1)} s before it had caught up (no learner)` : ''),
  };
};

/** What the host-side wait printed last (functions/scripts/lib/awaitMember.sh). */
interface AwaitResult {
  state?: 'caughtUp' | 'removed' | 'noProgress' | 'unhealthy' | 'budget' | 'doubt';
  named?: boolean;
  answered?: boolean;
  dataBytes?: number;
  sizeBytes?: number;
  availableBytes?: number;
  down?: string | null;
}

/** The wait's end as the step reads it: started, a look at the cluster (doubt), or the named error. */
function verdict(result: AwaitResult, newId: string, host: Host, wait: number, catchUpSeconds: number): 'started' | 'doubt' | WorkflowError {
  switch (result.state) {
    case 'caughtUp':
      return 'started';
    case 'doubt':
      return 'doubt';
    case 'removed':
      return new NewMemberFailedError(`member ${newId} is no longer in the member list`);
    case 'budget':
      return new NewMemberCatchingUpError(
        `member ${newId} is still catching up after ${catchUpSeconds}s (${result.dataBytes ?? -1} bytes of data on ${host.name}); it goes on, and the next attempt waits for it`,
      );
    case 'unhealthy':
      return new NewMemberFailedError(`member ${newId} answers but its endpoint has not been healthy for ${wait}s`);
    case 'noProgress':
      return (
        noSpaceLeft(host, result) ??
        new NewMemberFailedError(
          `member ${newId} has not answered, and its data directory on ${host.name} has not grown, for ${wait}s (${result.named ? 'listed under its name' : 'it still shows as unstarted'})`,
        )
      );
    default:
      return new ScriptFailedError(host.name, 'StartNewMember', 0, `the wait printed no known state: ${JSON.stringify(result.state ?? null)}`);
  }
}

/** A new member that stopped answering because its disk is full is named so, with df's numbers (read by the wait on its host). */
function noSpaceLeft(host: Host, result: AwaitResult): NoSpaceLeftError | null {
  const available = result.availableBytes ?? Number.NaN;
  const size = result.sizeBytes ?? 0;
  if (!(size > 0) || !Number.isFinite(available) || available >= ETCD_WAL_SEGMENT_BYTES) return null;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return new NoSpaceLeftError(
    `no space left on /var/lib/etcd on ${host.name}: ${mib(available)} free of ${mib(size)} (df; ${mib(result.dataBytes ?? 0)} in /var/lib/etcd), ` +
      `and etcd needs ${mib(ETCD_WAL_SEGMENT_BYTES)} for each WAL file: free space there or give the host a larger disk, then run the replacement again`,
  );
}
