// One observation of a run that replaces several failed members (CheckClusterHealth, ConfirmMemberFailed):
// every failed member matched exactly and not answering, every other voting member answering, quorum now
// and after each removal in turn (the members leave one at a time, all before the first add), and an odd
// member count at the end. It writes what it found into every member's slot (statemachine/members.ts).

import { EtcdUnavailableError, InvalidInputError, RefusedError } from '../errors.ts';
import type { MemberSlot, WorkflowContext } from '../../statemachine/context.ts';
import { matchMembers } from '../../statemachine/matchMember.ts';
import { currentSlots, loadSlot } from '../../statemachine/members.ts';
import { DISASTER_RECOVERY_GUIDANCE, endsOdd, quorumForRemoval, type MemberHealth } from '../../statemachine/quorum.ts';
import { hostOfMember } from '../../statemachine/cluster.ts';
import type { EtcdMember } from '../ports.ts';
import { describeEtcdHost } from '../hosts/etcdHost.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { StepResult } from '../workflow/step.ts';
import { memberRef } from './memberRef.ts';
import { inventoryOf, need } from './need.ts';
import { observe } from './observe.ts';
import { canTakeIn, describeSilentVoters, silentVoters } from './silentVoters.ts';
import {
  executionOf,
  observedOutput,
  survivorFacts,
  notAMember,
  pastRemovalOf,
  refuseReplacementRunningClusterEtcd,
  replacementIdentity,
} from './assessFailure.ts';

/**
 * Removing `ids` one at a time, in order: the verdict of the first removal that would cost quorum (quorum
 * now included), or of the last one when every removal keeps it.
 */
export function quorumForRemovals(health: MemberHealth[], ids: string[]): ReturnType<typeof quorumForRemoval> {
  let left = health;
  let verdict = quorumForRemoval(left, null);
  for (const id of ids) {
    verdict = quorumForRemoval(left, id);
    if (!verdict.ok) return verdict;
    left = left.filter((h) => h.id !== id);
  }
  return verdict;
}

export async function assessSeveral(context: WorkflowContext, deps: StepDeps, observation: 'first' | 'second'): Promise<StepResult> {
  const inventory = inventoryOf(context);
  const slots = currentSlots(context);
  const replacements = slots.map((s) => need(s.replacement, 'replacement'));
  // The first observation also asks every replacement host what etcd it runs, at the same time.
  const facts =
    observation === 'first'
      ? replacements.map((r) =>
          describeEtcdHost(deps.runner, r).then(
            (f) => ({ f }),
            (error: unknown) => ({ error }),
          ),
        )
      : [];
  const seen = await observe(context, deps);

  const ours: EtcdMember[] = [];
  for (const [i, slot] of slots.entries()) {
    const mine = replacementIdentity({ ...context, ...loadSlot(slot) }, seen.members, replacements[i]!);
    if (mine) ours.push(mine);
    else if (facts[i]) {
      const answer = await facts[i];
      if ('error' in answer) throw answer.error;
      refuseReplacementRunningClusterEtcd(replacements[i]!, answer.f, seen);
    }
  }

  const failed: EtcdMember[] = [];
  // Members an earlier run of the same request removed and ended without their replacement (its record
  // says so, and they are no member now): this run adds their replacements.
  const unfinished = new Map<number, { runId: string; member: MemberSlot['failedMember'] }>();
  for (const [i, slot] of slots.entries()) {
    const matches = matchMembers(seen.members, { text: slot.failed, ...(slot.failedHost ? { host: slot.failedHost } : {}) });
    if (matches.length > 1) {
      throw new InvalidInputError(
        'failed',
        `"${slot.failed}" matches ${matches.length} members (${matches.map((m) => m.id).join(', ')}); name one by member ID`,
      );
    }
    const match = matches[0];
    if (!match && slot.failedMemberRemoved === true && slot.failedMember) {
      unfinished.set(i, { runId: context.removedByRun ?? context.runId, member: slot.failedMember });
      continue;
    }
    if (!match) {
      if (observation === 'second' && slot.failedMember) {
        throw new RefusedError(
          `member ${slot.failedMember.name || slot.failedMember.id} (${slot.failedMember.id}) left the member list between the two observations, ` +
            'and this run removed nothing: another actor is changing membership. Nothing was changed; check the cluster and run again.',
        );
      }
      const named = { ...context, request: { ...context.request, failed: slot.failed }, ...loadSlot(slot) };
      const past = await pastRemovalOf(named, deps);
      if (past && past.outcome !== 'succeeded' && !seen.members.some((m) => m.id === past.member.id)) {
        unfinished.set(i, { runId: past.runId, member: { ...past.member, clientURL: '' } });
        continue;
      }
      throw new InvalidInputError('failed', await notAMember(named, deps));
    }
    if (failed.includes(match)) throw new InvalidInputError('failed', `two of the failed members named are the same member ${match.id}: name each once`);
    failed.push(match);
  }
  const label = (m: EtcdMember) => `${m.name || m.id} (${m.id})`;

  const matchedOf = (i: number) => failed[i - [...unfinished.keys()].filter((k) => k < i).length];
  for (const [i, slot] of slots.entries()) {
    const matched = unfinished.has(i) ? undefined : matchedOf(i);
    const host = slot.failedHost ?? (matched ? hostOfMember(inventory, matched) : undefined);
    if (host?.roles.includes('ca')) {
      // The CA host and a second failed member at once: the CA backup path serves one-member runs.
      throw new RefusedError(
        `${host.name} is the etcd CA host and fails with ${slots.length - 1} other member(s): replace it in a run of its own (with --ca-backup-key), after the others. Nothing was changed.`,
      );
    }
  }
  const answering = failed.filter((m) => seen.health.find((h) => h.id === m.id)?.healthy);
  if (answering.length > 0) {
    throw new RefusedError(
      `member(s) ${answering.map(label).join(', ')} answer health checks at the ${observation} observation: refusing to remove a healthy member; nothing was changed.`,
    );
  }

  const verdict = quorumForRemovals(
    seen.health,
    failed.map((m) => m.id),
  );
  if (!verdict.ok) throw new RefusedError(`${verdict.reason}.\n${DISASTER_RECOVERY_GUIDANCE}`);
  if (seen.leaderIds.length !== 1) {
    throw new EtcdUnavailableError(`the members that answer do not agree on one leader yet (${seen.leaderIds.join(', ') || 'none'})`);
  }
  const stray = seen.members.filter((m) => m.isLearner && !ours.includes(m));
  if (stray.length > 0) {
    throw new RefusedError(`learner member(s) ${stray.map((m) => m.id).join(', ')} are in the cluster; finish or remove them before replacing another member`);
  }
  const others = seen.members.filter((m) => !failed.includes(m) && !ours.includes(m));
  const silent = others.filter((m) => !seen.health.find((h) => h.id === m.id)?.healthy);
  const silentIds = silentVoters(
    observation,
    silent,
    failed.map((m) => m.id),
    seen.health,
    canTakeIn(context, silent, slots.length),
    () =>
      new RefusedError(
        `member(s) ${silent.map((m) => `${m.name || 'unstarted'} (${m.id})`).join(', ')} do not answer either at the ${observation} observation, and this run names ` +
          `${failed.map(label).join(', ')} as failed: etcd adds a member only while every voting member answers. Name every failed member in the run ` +
          '(--failed once per member), or bring the others back first. Nothing was changed.',
      ),
  );
  const end = seen.members.length - failed.length + (slots.length - ours.length);
  if (!endsOdd(seen.members.length, failed.length, slots.length - ours.length)) {
    // (a member an earlier run removed counts as removed already: the cluster is that much short now)
    throw new RefusedError(`the cluster would end with ${end} members: an etcd cluster must end with an odd count. Nothing was changed.`);
  }

  const { survivors, version, learnerSupported, peerUrlsOnLocalhost } = survivorFacts(seen, others, inventory);
  const observedAt = [...(context.failureObservedAt ?? []), deps.now().toISOString()];
  const updated: MemberSlot[] = slots.map((slot, i) => {
    const earlier = unfinished.get(i);
    if (earlier) return { ...slot, failedMember: earlier.member ?? null, failedMemberRemoved: true };
    const member = matchedOf(i)!;
    const host = slot.failedHost ?? hostOfMember(inventory, member);
    return {
      ...slot,
      failedMember: memberRef(member, inventory),
      ...(host ? { failedHost: host } : {}),
      ...(observation === 'second' ? { failureConfirmation: { memberId: member.id, execution: executionOf(deps), observedAt: observedAt.at(-1)! } } : {}),
    };
  });
  const index = context.memberIndex ?? 0;
  const earlierRuns = [...new Set([...unfinished.values()].map((u) => u.runId))].filter((r) => r !== context.runId);
  return {
    output: {
      members: updated,
      ...(earlierRuns.length > 0 ? { removedByRun: earlierRuns[0] } : {}),
      ...loadSlot(updated[index]!),
      ...observedOutput(context, deps, seen, { survivors, version, learnerSupported, peerUrlsOnLocalhost }, observedAt, observation),
      silentVoters: silentIds,
    },
    detail: `${
      unfinished.size > 0
        ? `${[...unfinished.values()].map((u) => `${u.member?.name || u.member?.id} (removed by run ${u.runId})`).join(', ')} no longer a member and without a replacement: this run adds one; `
        : ''
    }members ${failed.map(label).join(', ') || 'none'} do not answer; removed one at a time: ${verdict.reason}; the cluster ends with ${end} members; oldest version ${version ?? 'unknown'}${describeSilentVoters(silent)}`,
  };
}
