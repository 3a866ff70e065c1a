// One observation of the failure, shared by CheckClusterHealth and ConfirmMemberFailed: which member
// failed (matched exactly), whether it is really down, whether quorum holds now and after the change,
// and whether the run can end with an odd member count. Refusals carry their precise reason.

import { EtcdUnavailableError, InvalidInputError, RefusedError } from '../errors.ts';
import type { MemberRef, WorkflowContext } from '../../statemachine/context.ts';
import { matchMembers } from '../../statemachine/matchMember.ts';
import { DISASTER_RECOVERY_GUIDANCE, endsOdd, quorumForRemoval } from '../../statemachine/quorum.ts';
import { describePastRemoval, findPastRemoval, type PastRemoval } from '../../statemachine/pastRemoval.ts';
import { membersOfHost } from '../../statemachine/memberIdentity.ts';
import type { EtcdMember, Host, Inventory } from '../ports.ts';
import { compareEtcdVersions } from './etcdVersion.ts';
import { hostOfMember } from '../../statemachine/cluster.ts';
import { inventoryOf, need } from './need.ts';
import { memberRef } from './memberRef.ts';
import { type Observation, observe, oldestVersion } from './observe.ts';
import { describeEtcdHost, type EtcdHostFacts } from '../hosts/etcdHost.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { StepResult } from '../workflow/step.ts';
import { replacesSeveral } from '../../statemachine/members.ts';
import { assessSeveral } from './assessSeveral.ts';
import { canTakeIn, describeSilentVoters, silentVoters } from './silentVoters.ts';

export async function assessFailure(context: WorkflowContext, deps: StepDeps, observation: 'first' | 'second'): Promise<StepResult> {
  if (replacesSeveral(context)) return assessSeveral(context, deps, observation);
  const inventory = inventoryOf(context);
  // A replacement to be launched is known from ProvisionReplacement on: the second observation checks it.
  const replacement = context.replacementChoice === 'launched' ? context.replacement : need(context.replacement, 'replacement');
  // The first observation also asks the replacement host what etcd it runs: another host, so both
  // questions go out at once (the answer is read below, where it was asked before).
  const replacementFacts =
    observation === 'first' && replacement
      ? describeEtcdHost(deps.runner, replacement).then(
          (facts) => ({ facts }),
          (error: unknown) => ({ error }),
        )
      : undefined;
  const seen = await observe(context, deps);

  // Identities first, before any health verdict: a request naming the wrong hosts is bad input (exit 2)
  // whatever the cluster's health, and its refusal names that, not a consequence of it.
  const replacementMember = replacement ? replacementIdentity(context, seen.members, replacement) : undefined;
  if (replacementFacts && replacement && !replacementMember) {
    const answer = await replacementFacts;
    if ('error' in answer) throw answer.error;
    refuseReplacementRunningClusterEtcd(replacement, answer.facts, seen);
  }

  const matches = matchMembers(seen.members, { text: context.request.failed, ...(context.failedHost ? { host: context.failedHost } : {}) });
  if (matches.length > 1) {
    throw new InvalidInputError(
      'failed',
      `"${context.request.failed}" matches ${matches.length} members (${matches.map((m) => m.id).join(', ')}); name one by member ID`,
    );
  }
  const failed = matches[0] ?? null;
  // An earlier run removed the member and ended without its replacement (compensated, or stopped): by
  // that run's record, and with the cluster one member short, this run finishes the job.
  let unfinished: PastRemoval | null = null;
  if (!failed && context.failedMemberRemoved === true && context.removedByRun && context.failedMember) {
    unfinished = {
      runId: context.removedByRun,
      at: '',
      outcome: 'failed',
      member: { id: context.failedMember.id, name: context.failedMember.name, peerURL: context.failedMember.peerURL },
    };
  } else if (!failed) {
    const past = await pastRemovalOf(context, deps);
    if (past && past.outcome !== 'succeeded' && seen.members.length % 2 === 0 && !seen.members.some((m) => m.id === past.member.id)) unfinished = past;
  }
  if (!failed && !unfinished) {
    if (observation === 'second' && context.failedMember) {
      // A member of the first observation, gone before this run removed anything: someone else changed membership.
      throw new RefusedError(
        `member ${context.failedMember.name || context.failedMember.id} (${context.failedMember.id}) left the member list between the two observations, ` +
          'and this run removed nothing: another actor is changing membership. Nothing was changed; check the cluster and run again.',
      );
    }
    throw new InvalidInputError('failed', await notAMember(context, deps));
  }
  const failedHost = context.failedHost ?? (failed ? hostOfMember(inventory, failed) : undefined);
  const failedLabel = failed ? failed.name || failed.id : `${unfinished!.member.name || unfinished!.member.id} (removed by run ${unfinished!.runId})`;
  if (failedHost?.roles.includes('ca') && !context.options.caBackupKey) {
    throw new RefusedError(
      `${failedHost.name} is the etcd CA host: its /etc/etcd/ca is needed to sign the new member's certificates. ` +
        'Put a backup of /etc/etcd/ca (a .tgz of the directory) into the artifact store and run again with options.caBackupKey ' +
        '(CLI: --ca-backup-key KEY): a surviving member then restores it, but only if its ca.crt is the CA the cluster already trusts. ' +
        'A new CA is never created silently.',
    );
  }
  const failedHealth = failed ? seen.health.find((h) => h.id === failed.id) : undefined;
  if (failed && failedHealth?.healthy) {
    throw new RefusedError(
      `member ${failed.name || failed.id} (${failed.id}) answers health checks at the ${observation} observation: refusing to remove a healthy member. ` +
        'If it was rebooting it has recovered; nothing needs replacing.',
    );
  }

  const verdict = quorumForRemoval(seen.health, failed?.id ?? null);
  if (!verdict.ok) throw new RefusedError(`${verdict.reason}.\n${DISASTER_RECOVERY_GUIDANCE}`);
  if (seen.leaderIds.length !== 1) {
    // An election after the leader died takes seconds (election timeout 2500 ms): a retryable state.
    throw new EtcdUnavailableError(`the members that answer do not agree on one leader yet (${seen.leaderIds.join(', ') || 'none'})`);
  }

  const strayLearners = seen.members.filter((m) => m.isLearner && m !== replacementMember);
  if (strayLearners.length > 0) {
    throw new RefusedError(
      `learner member(s) ${strayLearners.map((m) => m.id).join(', ')} are in the cluster; finish or remove them before replacing another member`,
    );
  }
  const others = seen.members.filter((m) => m !== failed && m !== replacementMember);
  const unhealthyOthers = others.filter((m) => !seen.health.find((h) => h.id === m.id)?.healthy);
  const removing = failed ? 1 : 0;
  if (!endsOdd(seen.members.length, removing, replacementMember ? 0 : 1)) {
    throw new RefusedError(
      `the cluster would end with ${seen.members.length - removing + (replacementMember ? 0 : 1)} members: an etcd cluster must end with an odd count`,
    );
  }
  // etcd's strict reconfiguration check refuses `member add` (learner or not) unless the leader is
  // connected to every voting member: with another member down the run would remove the failed member
  // and then fail to add its replacement, leaving the cluster a member short.
  const silent = silentVoters(observation, unhealthyOthers, failed ? [failed.id] : [], seen.health, canTakeIn(context, unhealthyOthers, 1), () => {
    const names = unhealthyOthers.map((m) => `${m.name || 'unstarted'} (${m.id})`).join(', ');
    return new RefusedError(
      `member(s) ${names} do not answer either at the ${observation} observation: etcd refuses to add a member while any voting member is unreachable, ` +
        `so replacing ${failedLabel} now would remove it and then fail to add its replacement. ` +
        'Name every failed member in one run (--failed once per member; console and alarm input: failed as a list), which removes them all before the first add, or bring the other member(s) back first.',
    );
  });

  const { survivors, version, learnerSupported, peerUrlsOnLocalhost } = survivorFacts(seen, others, inventory);
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
      failedMember: failed ? memberRef(failed, inventory) : { ...unfinished!.member, clientURL: '' },
      ...(unfinished ? { failedMemberRemoved: true, removedByRun: unfinished.runId } : {}),
      ...(failedHost ? { failedHost } : {}),
      ...(caHost ? { caHost } : {}),
      ...observedOutput(context, deps, seen, { survivors, version, learnerSupported, peerUrlsOnLocalhost }, observedAt, observation),
      silentVoters: silent,
      // The second observation confirms the failure for this execution only, and only for a while (statemachine/confirmation.ts).
      ...(observation === 'second' && failed
        ? { failureConfirmation: { memberId: failed.id, execution: executionOf(deps), observedAt: observedAt.at(-1)! } }
        : {}),
    },
    detail:
      (failed
        ? `member ${failed.id} (${failed.name || 'unnamed'}) does not answer; `
        : `member ${failedLabel} is no longer a member and has no replacement: this run adds one; `) +
      `${verdict.reason}; oldest version ${version ?? 'unknown'}${describeSilentVoters(unhealthyOthers)}`,
  };
}

/**
 * The replacement must be no member by any identity (name, hostname, IP, peer or client URL): a member
 * named as the replacement would be emptied and restarted. The one exception is the member this run
 * added itself, by its record (AddMember's newMemberId). Returns that member, if any.
 */
export function replacementIdentity(context: WorkflowContext, members: EtcdMember[], replacement: Host): EtcdMember | undefined {
  const matches = membersOfHost(members, replacement);
  const ours = matches.find((m) => context.memberAdded === true && m.member.id === context.newMemberId)?.member;
  const foreign = matches.filter((m) => m.member !== ours);
  if (foreign.length > 0) {
    const list = foreign.map((m) => `member ${m.member.id} (${m.member.name || 'added, not started'}) by its ${m.by} ${m.value}`).join('; ');
    throw new InvalidInputError(
      'replacement',
      `${replacement.name} (${replacement.hostname}, ${replacement.ip}) is a member of the cluster: ${list}. ` +
        'The replacement must be a host that is no member: naming a member would empty and restart it. Nothing was changed.',
    );
  }
  return ours;
}

/**
 * The host side of the same rule, before anything changes: the replacement may not carry the etcd
 * static pod, nor run an etcd that belongs to this cluster (same cluster ID), member list or not.
 */
export function refuseReplacementRunningClusterEtcd(replacement: Host, facts: EtcdHostFacts, seen: Observation): void {
  const clusterIds = new Set([...seen.statuses.values()].flatMap((s) => ('error' in s || !s.clusterId ? [] : [s.clusterId])));
  const reasons = [
    ...(facts.staticPod ? ["it carries the etcd static pod (/etc/origin/node/pods/etcd.yaml): it is, or was made, a master running this cluster's etcd"] : []),
    ...(facts.running && clusterIds.has(facts.running.clusterId)
      ? [`its etcd runs as member ${facts.running.memberId} of this cluster (cluster ID ${facts.running.clusterId})`]
      : []),
  ];
  if (reasons.length > 0) {
    throw new InvalidInputError(
      'replacement',
      `${replacement.name} (${replacement.hostname}, ${replacement.ip}) cannot be the replacement: ${reasons.join('; ')}. Nothing was changed.`,
    );
  }
}

/** The cluster ID the answering members report (the first; they are one cluster) and their oldest version. */
/**
 * What the members that stay tell the run: the healthy ones as survivors (followers first, the leader last:
 * etcdctl runs through the first survivor and the snapshot is taken from it, which keeps both off the
 * leader, the member that sends the new member its data), the oldest version, whether a learner can be
 * added (etcd 3.4 on every member, and etcdctl 3.4 where the run adds and promotes it), and whether a
 * peer URL still names localhost.
 */
export function survivorFacts(
  seen: Observation,
  others: EtcdMember[],
  inventory: Inventory,
): { survivors: MemberRef[]; version: string | null; learnerSupported: boolean; peerUrlsOnLocalhost: boolean } {
  const survivors = others
    .filter((m) => seen.health.find((h) => h.id === m.id)?.healthy)
    .sort((a, b) => Number(a.id === seen.leaderIds[0]) - Number(b.id === seen.leaderIds[0]))
    .map((m) => memberRef(m, inventory));
  const version = oldestVersion(seen);
  const learnerSupported =
    version !== null &&
    compareEtcdVersions(version, '3.4.0') >= 0 &&
    (seen.etcdctlVersion === undefined || compareEtcdVersions(seen.etcdctlVersion, '3.4.0') >= 0);
  const peerUrlsOnLocalhost = survivors.some((s) => /^https?:\/\/(localhost|127\.)/.test(s.peerURL));
  return { survivors, version, learnerSupported, peerUrlsOnLocalhost };
}

/**
 * What either observation writes about the cluster, whatever the number of failed members: the survivors,
 * the cluster the run works on and what its members run (InstallEtcd pins the new member to it), learner
 * support, localhost peer URLs, when it observed, and after the first, when the second may confirm.
 */
export function observedOutput(
  context: WorkflowContext,
  deps: StepDeps,
  seen: Observation,
  facts: ReturnType<typeof survivorFacts>,
  observedAt: string[],
  observation: 'first' | 'second',
): Partial<WorkflowContext> {
  return {
    survivors: facts.survivors,
    ...clusterOf(seen, facts.version),
    learnerSupported: facts.learnerSupported,
    peerUrlsOnLocalhost: facts.peerUrlsOnLocalhost,
    failureObservedAt: observation === 'first' ? observedAt.slice(-1) : observedAt,
    ...(observation === 'first' ? { confirmFailureAfter: new Date(deps.now().getTime() + context.options.graceSeconds * 1000).toISOString() } : {}),
  };
}

export function clusterOf(seen: Observation, version: string | null): { clusterId?: string; clusterVersion?: string } {
  const clusterId = [...seen.statuses.values()].flatMap((s) => ('error' in s || !s.clusterId ? [] : [s.clusterId]))[0];
  return { ...(clusterId ? { clusterId } : {}), ...(version ? { clusterVersion: version } : {}) };
}

/** Why the failed member named is no member: never one, or removed by an earlier run (from the run record). */
export async function pastRemovalOf(context: WorkflowContext, deps: StepDeps): Promise<PastRemoval | null> {
  try {
    const runs = deps.pastRuns ? await deps.pastRuns() : [];
    return findPastRemoval(runs, { text: context.request.failed, ...(context.failedHost ? { host: context.failedHost } : {}) }, context.runId);
  } catch {
    return null; // the record cannot be read: the plain reason still holds
  }
}

export async function notAMember(context: WorkflowContext, deps: StepDeps): Promise<string> {
  const name = context.failedHost ? `${context.failedHost.name}` : `"${context.request.failed}"`;
  const past = await pastRemovalOf(context, deps);
  if (past) return `${name} is not a member; ${describePastRemoval(past)}. Nothing was changed.`;
  return context.failedHost
    ? `${name} is not a member of the cluster: no member has its name, hostname, IP or peer URL. Nothing was changed.`
    : `no member and no host matches "${context.request.failed}" exactly. Nothing was changed.`;
}

/** The identity of the execution running the step (StepDeps.execution); one shared value where the engine gives none. */
export function executionOf(deps: StepDeps): string {
  return deps.execution ?? 'unidentified-execution';
}
