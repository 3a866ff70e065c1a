// AddMember: `member add <hostname> https://<new ip>:2380` through a surviving member, as a learner
// where every member runs etcd 3.4 or later (runbook 37.2.2 step 7). Only after this run removed the
// failed member (its record: failedMemberRemoved). A member already added for this peer URL is reused
// only when this run's record names it (newMemberId), or when it is unstarted (an attempt of this run
// whose answer was lost: the replacement was no member at this run's observations, and the run holds
// the cluster's lock). A started member on that URL is someone else's: refused, never taken over.
// On the expected view the add is one host command: guarded by the view the run predicts (its survivors
// answering, the removed member gone, nothing on the replacement's URL), judged by the same verdicts; a
// host that sees another view adds nothing, and the step then observes and judges as below. That
// command reads the member list right after the add: StartNewMember checks it instead of reading again.

import { EtcdUnhealthyClusterError, MemberAlreadyExistsError, RefusedError } from '../errors.ts';
import { replacesSeveral } from '../../statemachine/members.ts';
import { joinsAsLearner, type WorkflowContext } from '../../statemachine/context.ts';
import { quorumForRemoval, type MemberHealth } from '../../statemachine/quorum.ts';
import { changeIfPredicted, listedMember, predictView } from '../cluster/guardedChange.ts';
import type { EtcdClusterPort, EtcdMember } from '../ports.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { observeWithoutFailed } from '../cluster/observe.ts';
import type { Step, StepResult } from '../workflow/step.ts';
import { isStarted, memberByPeerUrl, peerUrl } from '../../statemachine/cluster.ts';

export const AddMember: Step = async (context, deps) => {
  const result = await addMember(context, deps);
  // Whatever this step found or did, the list RemoveFailedMember left may no longer be the cluster's.
  return { ...result, output: { ...result.output, membersAfterRemoval: undefined } };
};

async function addMember(context: WorkflowContext, deps: StepDeps): Promise<StepResult> {
  const replacement = need(context.replacement, 'replacement');
  const url = peerUrl(replacement);
  if (context.failedMemberRemoved !== true) {
    throw new RefusedError(
      `not adding ${replacement.name}: this run has not removed the failed member (its record says nothing was removed), so adding would change the member count it checked`,
    );
  }
  const learner = joinsAsLearner(context);
  const etcd = etcdOf(context, deps);
  try {
    const guarded = await addIfPredicted(context, deps, url, learner);
    if (guarded) {
      const { added, membersAfter } = guarded;
      return {
        output: {
          newMemberId: added.id,
          addedAsLearner: learner,
          memberAdded: true,
          memberAddedAt: deps.now().toISOString(),
          ...(membersAfter ? { membersAfterAdd: { newMemberId: added.id, members: membersAfter.map(listedMember) } } : {}),
        },
        detail: `added ${replacement.hostname} ${url} as member ${added.id}${learner ? ' (learner)' : ''}`,
      };
    }
  } catch (error) {
    return alreadyAdded(error, etcd, url);
  }
  const seen = await observeWithoutFailed(context, deps);
  const existing = memberByPeerUrl(seen.members, url);
  if (existing) {
    const ours = (context.memberAdded === true && context.newMemberId === existing.id) || !isStarted(existing);
    if (!ours) {
      throw new RefusedError(`member ${existing.id} (${existing.name}) already runs on ${url}, and this run did not add it: not taking it over`);
    }
    return {
      output: { newMemberId: existing.id, addedAsLearner: existing.isLearner, memberAdded: true },
      detail: `member ${existing.id} for ${url} already added${existing.isLearner ? ' as a learner' : ''}`,
      skipped: true,
    };
  }
  const verdict = quorumForRemoval(seen.health, null);
  if (!verdict.ok) throw new RefusedError(`not adding a member: ${verdict.reason}`);
  const silent = silentVoters(context, seen.health, learner);
  if (silent.length > 0) {
    throw new EtcdUnhealthyClusterError(
      `not adding ${replacement.hostname} yet: voting member(s) ${silent.map((h) => h.name || h.id).join(', ')} do not answer`,
    );
  }
  try {
    const member = await etcd.addMember(url, { learner });
    return {
      output: { newMemberId: member.id, addedAsLearner: learner, memberAdded: true, memberAddedAt: deps.now().toISOString() },
      detail: `added ${replacement.hostname} ${url} as member ${member.id}${learner ? ' (learner)' : ''}`,
    };
  } catch (error) {
    return alreadyAdded(error, etcd, url);
  }
}

/**
 * A run that replaces several adds each new member only once every voting member answers (etcd 3.2's
 * isConnectedFullySince; the member before this one may still be settling): retried as etcd's own refusal is.
 */
function silentVoters(context: WorkflowContext, health: MemberHealth[], learner: boolean): MemberHealth[] {
  if (!replacesSeveral(context) || learner) return [];
  return health.filter((h) => !h.isLearner && !h.healthy);
}

/**
 * The add guarded by the predicted view, when that view passes the verdicts the observed one must pass
 * below: the new member and the member list read right after the add; null when nothing was added.
 */
async function addIfPredicted(
  context: WorkflowContext,
  deps: StepDeps,
  url: string,
  learner: boolean,
): Promise<{ added: EtcdMember; membersAfter?: EtcdMember[] } | null> {
  const predicted = predictView(context, context.failedMember ? [context.failedMember.id] : []);
  if (!predicted || !quorumForRemoval(predicted.health, null).ok || silentVoters(context, predicted.health, learner).length > 0) return null;
  const done = await changeIfPredicted(context, deps, predicted, { add: url, learner });
  if (!done?.result.added) return null;
  return { added: done.result.added, ...(done.result.membersAfter ? { membersAfter: done.result.membersAfter } : {}) };
}

/** "Already exists" from the add: the unstarted member on the URL is the one an attempt of this run made. */
async function alreadyAdded(error: unknown, etcd: EtcdClusterPort, url: string): Promise<StepResult> {
  if (!(error instanceof MemberAlreadyExistsError)) throw error;
  const again = memberByPeerUrl(await etcd.memberList(), url);
  if (!again || isStarted(again)) throw error;
  return { output: { newMemberId: again.id, addedAsLearner: again.isLearner, memberAdded: true }, detail: `member ${again.id} for ${url} was already added` };
}
