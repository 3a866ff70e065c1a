// One observation of the failure, shared by CheckClusterHealth and ConfirmMemberFailed: which member
// failed (matched exactly), whether it is really down, whether quorum holds now and after the change,
// and whether the run can end with an odd member count. Refusals carry their precise reason.

import { EtcdUnavailableError, InvalidInputError, RefusedError } from '../errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { matchMembers } from '../../statemachine/matchMember.ts';
import { DISASTER_RECOVERY_GUIDANCE, endsOdd, quorumForRemoval } from '../../statemachine/quorum.ts';
import { compareVersions, hostOfMember, inventoryOf, memberRef, need, observe, oldestVersion, peerUrl } from './cluster.ts';
import type { StepDeps } from './deps.ts';
import type { StepResult } from './stepResult.ts';

export async function assessFailure(context: WorkflowContext, deps: StepDeps, observation: 'first' | 'second'): Promise<StepResult> {
  const inventory = inventoryOf(context);
  const replacement = need(context.replacement, 'replacement');
  const seen = await observe(context, deps);

  const matches = matchMembers(seen.members, { text: context.request.failed, ...(context.failedHost ? { host: context.failedHost } : {}) });
  if (matches.length > 1) {
    throw new InvalidInputError('failed', `"${context.request.failed}" matches ${matches.length} members (${matches.map((m) => m.id).join(', ')}); name one by member ID`);
  }
  const failed = matches[0] ?? null;
  const failedHost = context.failedHost ?? (failed ? hostOfMember(inventory, failed) : undefined);
  if (!failed && !context.failedHost) {
    throw new InvalidInputError('failed', `no member and no host matches "${context.request.failed}" exactly`);
  }
  if (failedHost?.roles.includes('ca') && !context.options.caBackupKey) {
    throw new RefusedError(
      `${failedHost.name} is the etcd CA host: its /etc/etcd/ca is needed to sign the new member's certificates. ` +
        'Put a backup of /etc/etcd/ca (a .tgz of the directory) into the artifact store and run again with options.caBackupKey ' +
        '(CLI: --ca-backup-key KEY): a surviving member then restores it, but only if its ca.crt is the CA the cluster already trusts. ' +
        'A new CA is never created silently.',
    );
  }

  const failedHealth = failed ? seen.health.find((h) => h.id === failed.id) : undefined;
  if (failedHealth?.healthy) {
    throw new RefusedError(
      `member ${failed!.name || failed!.id} (${failed!.id}) answers health checks at the ${observation} observation: refusing to remove a healthy member. ` +
        'If it was rebooting it has recovered; nothing needs replacing.',
    );
  }

  const verdict = quorumForRemoval(seen.health, failed?.id ?? null);
  if (!verdict.ok) throw new RefusedError(`${verdict.reason}.\n${DISASTER_RECOVERY_GUIDANCE}`);
  if (seen.leaderIds.length !== 1) {
    // An election after the leader died takes seconds (election timeout 2500 ms): a retryable state.
    throw new EtcdUnavailableError(`the members that answer do not agree on one leader yet (${seen.leaderIds.join(', ') || 'none'})`);
  }

  const replacementPeer = peerUrl(replacement);
  const replacementMember = seen.members.find((m) => m.peerURLs.includes(replacementPeer));
  const strayLearners = seen.members.filter((m) => m.isLearner && m !== replacementMember);
  if (strayLearners.length > 0) {
    throw new RefusedError(`learner member(s) ${strayLearners.map((m) => m.id).join(', ')} are in the cluster; finish or remove them before replacing another member`);
  }
  const others = seen.members.filter((m) => m !== failed && m !== replacementMember);
  const unhealthyOthers = others.filter((m) => !seen.health.find((h) => h.id === m.id)?.healthy);
  if (!endsOdd(seen.members.length, failed ? 1 : 0, replacementMember ? 0 : 1)) {
    throw new RefusedError(`the cluster would end with ${seen.members.length - (failed ? 1 : 0) + (replacementMember ? 0 : 1)} members: an etcd cluster must end with an odd count`);
  }
  if (unhealthyOthers.length > 0) {
    // etcd's strict reconfiguration check refuses `member add` (learner or not) unless the leader is
    // connected to every voting member: with another member down the run would remove the failed
    // member and then fail to add its replacement, leaving the cluster a member short.
    const names = unhealthyOthers.map((m) => `${m.name || 'unstarted'} (${m.id})`).join(', ');
    throw new RefusedError(
      `member(s) ${names} do not answer either at the ${observation} observation: etcd refuses to add a member while any voting member is unreachable, ` +
        `so replacing ${failed ? failed.name || failed.id : context.request.failed} now would remove it and then fail to add its replacement. ` +
        'Bring the other member(s) back first, or remove one of the failed members by hand (etcdctl member remove <id>) and run again for the other.',
    );
  }

  // Followers first, the leader last: etcdctl runs through the first survivor and the snapshot is taken
  // from it, which keeps both off the leader, the member that sends the new member its data.
  const survivors = others
    .filter((m) => seen.health.find((h) => h.id === m.id)?.healthy)
    .sort((a, b) => Number(a.id === seen.leaderIds[0]) - Number(b.id === seen.leaderIds[0]))
    .map((m) => memberRef(m, inventory));
  const version = oldestVersion(seen);
  const learnerSupported = version !== null && compareVersions(version, '3.4.0') >= 0;
  const peerUrlsOnLocalhost = survivors.some((s) => /^https?:\/\/(localhost|127\.)/.test(s.peerURL));
  const observedAt = [...(context.failureObservedAt ?? []), deps.now().toISOString()];

  // The CA host failed and a CA backup is configured: a surviving member takes over as the CA host.
  let caHost = context.caHost;
  if (failedHost && caHost?.name === failedHost.name) {
    const key = context.options.caBackupKey!;
    if (!(await deps.artifacts.head(key))) throw new InvalidInputError('options.caBackupKey', `no CA backup at ${key} in the artifact store`);
    caHost = survivors.map((s) => hostOfMember(inventory, s)).find((h) => h !== undefined);
    if (!caHost) throw new RefusedError('no surviving member host can take over as the CA host');
  }

  return {
    output: {
      failedMember: failed ? memberRef(failed, inventory) : null,
      ...(failedHost ? { failedHost } : {}),
      ...(caHost ? { caHost } : {}),
      survivors,
      learnerSupported,
      peerUrlsOnLocalhost,
      failureObservedAt: observation === 'first' ? observedAt.slice(-1) : observedAt,
      ...(observation === 'first' ? { confirmFailureAfter: new Date(deps.now().getTime() + context.options.graceSeconds * 1000).toISOString() } : {}),
      ...(replacementMember ? { newMemberId: replacementMember.id, memberAdded: true, addedAsLearner: replacementMember.isLearner } : {}),
    },
    detail:
      `${failed ? `member ${failed.id} (${failed.name || 'unnamed'}) does not answer` : 'the failed member is no longer in the member list'}; ` +
      `${verdict.reason}; oldest version ${version ?? 'unknown'}`,
  };
}
