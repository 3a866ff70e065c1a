// How long the cluster ran one failure away from losing quorum because of the replacement itself:
// without a learner (etcd 3.2 and 3.3), the new member votes from `member add` on, and until it has
// started it is a voter that does not answer. Read from the two instants the steps record. Pure.

import type { WorkflowContext } from './context.ts';

/** Seconds from the plain `member add` to the new member started and caught up; null on the learner path or before both are known. */
export function addToStartedSeconds(context: Pick<WorkflowContext, 'addedAsLearner' | 'memberAddedAt' | 'newMemberStartedAt'>): number | null {
  if (context.addedAsLearner !== false || !context.memberAddedAt || !context.newMemberStartedAt) return null;
  const ms = Date.parse(context.newMemberStartedAt) - Date.parse(context.memberAddedAt);
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms) / 1000 : null;
}
