// AddMember: `member add <hostname> https://<new ip>:2380` through a surviving member, as a learner
// where every member runs etcd 3.4 or later (runbook 37.2.2 step 7). Only after this run removed the
// failed member (its record: failedMemberRemoved). A member already added for this peer URL is reused
// only when this run's record names it (newMemberId), or when it is unstarted (an attempt of this run
// whose answer was lost: the replacement was no member at this run's observations, and the run holds
// the cluster's lock). A started member on that URL is someone else's: refused, never taken over.

import { EtcdUnhealthyClusterError, MemberAlreadyExistsError, RefusedError } from '../errors.ts';
import { replacesSeveral } from '../../statemachine/members.ts';
import { joinsAsLearner } from '../../statemachine/context.ts';
import { quorumForRemoval } from '../../statemachine/quorum.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { observeWithoutFailed } from '../cluster/observe.ts';
import type { Step } from '../workflow/step.ts';
import { isStarted, memberByPeerUrl, peerUrl } from '../../statemachine/cluster.ts';

export const AddMember: Step = async (context, deps) => {
  const replacement = need(context.replacement, 'replacement');
  const url = peerUrl(replacement);
  if (context.failedMemberRemoved !== true) {
    throw new RefusedError(
      `not adding ${replacement.name}: this run has not removed the failed member (its record says nothing was removed), so adding would change the member count it checked`,
    );
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
  const learner = joinsAsLearner(context);
  // A run that replaces several adds each new member only once every voting member answers (etcd 3.2's
  // isConnectedFullySince; the member before this one may still be settling): retried as etcd's own refusal is.
  const silent = seen.health.filter((h) => !h.isLearner && !h.healthy);
  if (replacesSeveral(context) && !learner && silent.length > 0) {
    throw new EtcdUnhealthyClusterError(
      `not adding ${replacement.hostname} yet: voting member(s) ${silent.map((h) => h.name || h.id).join(', ')} do not answer`,
    );
  }
  const etcd = etcdOf(context, deps);
  try {
    const member = await etcd.addMember(url, { learner });
    return {
      output: { newMemberId: member.id, addedAsLearner: learner, memberAdded: true, memberAddedAt: deps.now().toISOString() },
      detail: `added ${replacement.hostname} ${url} as member ${member.id}${learner ? ' (learner)' : ''}`,
    };
  } catch (error) {
    if (!(error instanceof MemberAlreadyExistsError)) throw error;
    const again = memberByPeerUrl(await etcd.memberList(), url);
    if (!again || isStarted(again)) throw error;
    return { output: { newMemberId: again.id, addedAsLearner: again.isLearner, memberAdded: true }, detail: `member ${again.id} for ${url} was already added` };
  }
};
