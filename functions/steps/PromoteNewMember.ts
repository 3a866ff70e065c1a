// PromoteNewMember: `member promote` once the learner has caught up, one etcdctl call per try. etcd
// refuses while the learner lags (LearnerNotReadyError): the step asks again every quarter second for
// up to memberStartSeconds, so the promotion follows the catch-up closely; after that the state's retry
// policy waits it out. etcd's answer for a member that already votes (MemberNotLearnerError: an earlier
// attempt promoted it) ends the step as done.

import { LearnerNotReadyError, MemberNotLearnerError } from '../errors.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import type { Step } from '../workflow/step.ts';

const PROMOTE_POLL_MS = 250;

export const PromoteNewMember: Step = async (context, deps) => {
  const newId = need(context.newMemberId, 'newMemberId');
  const etcd = etcdOf(context, deps);
  const deadline = deps.now().getTime() + deps.waits.memberStartSeconds * 1000;
  for (let refusals = 0; ; refusals++) {
    try {
      await etcd.promoteMember(newId);
      const waited = refusals > 0 ? ` (etcd refused ${refusals} time(s) while it caught up)` : '';
      return { output: {}, detail: `member ${newId} promoted to a voting member${waited}` };
    } catch (error) {
      if (error instanceof MemberNotLearnerError) return { output: {}, detail: `member ${newId} already votes`, skipped: true };
      if (!(error instanceof LearnerNotReadyError) || deps.now().getTime() >= deadline) throw error;
    }
    await deps.sleep(PROMOTE_POLL_MS);
  }
};
