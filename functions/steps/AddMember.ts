// AddMember: `member add <hostname> https://<new ip>:2380` through a surviving member, as a learner
// where every member runs etcd 3.4 or later (runbook 37.2.2 step 7). A member already added for this
// peer URL (an earlier attempt whose answer was lost) is found and reused, never added twice.

import { MemberAlreadyExistsError, RefusedError } from '../errors.ts';
import { joinsAsLearner } from '../../statemachine/context.ts';
import { quorumForRemoval } from '../../statemachine/quorum.ts';
import { etcdOf, need, observe, peerUrl } from './cluster.ts';
import type { Step } from './stepResult.ts';

export const AddMember: Step = async (context, deps) => {
  const replacement = need(context.replacement, 'replacement');
  const url = peerUrl(replacement);
  const seen = await observe(context, deps, { assumeDown: context.failedMember ? [context.failedMember.id] : [] });
  const existing = seen.members.find((m) => m.peerURLs.includes(url));
  if (existing) {
    return {
      output: { newMemberId: existing.id, addedAsLearner: existing.isLearner, memberAdded: true },
      detail: `member ${existing.id} for ${url} already added${existing.isLearner ? ' as a learner' : ''}`,
      skipped: true,
    };
  }
  const verdict = quorumForRemoval(seen.health, null);
  if (!verdict.ok) throw new RefusedError(`not adding a member: ${verdict.reason}`);
  const learner = joinsAsLearner(context);
  const etcd = etcdOf(context, deps);
  try {
    const member = await etcd.addMember(url, { learner });
    return {
      output: { newMemberId: member.id, addedAsLearner: learner, memberAdded: true },
      detail: `added ${replacement.hostname} ${url} as member ${member.id}${learner ? ' (learner)' : ''}`,
    };
  } catch (error) {
    if (!(error instanceof MemberAlreadyExistsError)) throw error;
    const again = (await etcd.memberList()).find((m) => m.peerURLs.includes(url));
    if (!again) throw error;
    return { output: { newMemberId: again.id, addedAsLearner: again.isLearner, memberAdded: true }, detail: `member ${again.id} for ${url} was already added` };
  }
};
