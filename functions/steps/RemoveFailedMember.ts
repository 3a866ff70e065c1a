// RemoveFailedMember: `member remove <id>` through a surviving member (runbook 37.1 step 1).
// Checks first: a member already gone is not removed twice; quorum is re-checked just before.

import { RefusedError } from '../errors.ts';
import { quorumForRemoval } from '../../statemachine/quorum.ts';
import { etcdOf, observe } from './cluster.ts';
import type { Step } from './stepResult.ts';

export const RemoveFailedMember: Step = async (context, deps) => {
  const failed = context.failedMember;
  if (!failed) return { output: {}, detail: 'the failed member was not in the member list', skipped: true };
  // Observed down twice already: only the others are asked, so a powered-off host costs no timeout here.
  const seen = await observe(context, deps, { assumeDown: [failed.id] });
  if (!seen.members.some((m) => m.id === failed.id)) {
    return { output: {}, detail: `member ${failed.id} already removed`, skipped: true };
  }
  const verdict = quorumForRemoval(seen.health, failed.id);
  if (!verdict.ok) throw new RefusedError(`not removing ${failed.id}: ${verdict.reason}`);
  await etcdOf(context, deps).removeMember(failed.id);
  return { output: {}, detail: `removed member ${failed.id} (${failed.name || 'unnamed'}); ${verdict.reason}` };
};
