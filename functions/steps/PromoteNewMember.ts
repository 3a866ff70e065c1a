// PromoteNewMember: `member promote` once the learner has caught up. etcd refuses while it lags
// (LearnerNotReadyError); the retry policy waits it out.

import { etcdOf, findMember, need } from './cluster.ts';
import type { Step } from './stepResult.ts';

export const PromoteNewMember: Step = async (context, deps) => {
  const newId = need(context.newMemberId, 'newMemberId');
  const etcd = etcdOf(context, deps);
  const member = findMember(await etcd.memberList(), newId);
  if (!member.isLearner) return { output: {}, detail: `member ${newId} already votes`, skipped: true };
  await etcd.promoteMember(newId);
  return { output: {}, detail: `member ${newId} promoted to a voting member` };
};
