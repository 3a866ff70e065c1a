// RemoveFailedMember: `member remove <id>` through a surviving member (runbook 37.1 step 1).
// Acts only on a failure this execution confirmed a short while ago (statemachine/confirmation.ts):
// a resumed run (another process, a redrive) or a stale confirmation observes the member again first,
// and a member that answers now is refused (exit 3) with nothing removed. A member already gone is
// done only when it is the very member (by ID) this run confirmed failed: "not found" alone is not "done".
// On a fresh confirmation the removal is one host command: guarded by the view the run predicts (its
// survivors answering, the failed member listed and not asked), judged by the same quorum verdict; a
// host that sees another view removes nothing, and the step then observes and judges as below.

import { RefusedError } from '../errors.ts';
import { confirmationStale } from '../../statemachine/confirmation.ts';
import { quorumForRemoval } from '../../statemachine/quorum.ts';
import { executionOf } from '../cluster/assessFailure.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { observe } from '../cluster/observe.ts';
import { changeIfPredicted, listedMember, predictView } from '../cluster/guardedChange.ts';
import type { EtcdMember } from '../ports.ts';
import type { Step } from '../workflow/step.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { ListedMember, WorkflowContext } from '../../statemachine/context.ts';
import { failedMemberIds } from '../../statemachine/members.ts';

export const RemoveFailedMember: Step = async (context, deps) => {
  const failed = need(context.failedMember, 'failedMember');
  const label = `${failed.name || 'unnamed'} (${failed.id})`;
  if (context.failedMemberRemoved === true) {
    return { output: {}, detail: `member ${label} was removed earlier by ${context.removedByRun ? `run ${context.removedByRun}` : 'this run'}`, skipped: true };
  }
  const confirmedHere = context.failureConfirmation?.memberId === failed.id;
  const stale = confirmationStale(context.failureConfirmation, {
    memberId: failed.id,
    execution: executionOf(deps),
    at: deps.now(),
    graceSeconds: context.options.graceSeconds,
  });
  // Confirmed by this execution just now: only the others are asked, so a powered-off host costs no timeout.
  // In a run that replaces several, the others it confirmed failed are not asked either.
  const assumeDown = [...new Set([failed.id, ...failedMemberIds(context)])];
  if (!stale) {
    const removed = await removeIfPredicted(context, deps, failed.id, assumeDown);
    if (removed !== null) {
      return {
        output: { failedMemberRemoved: true, membersAfterRemoval: membersAfter(removed.members, failed.id) },
        detail: `removed member ${failed.id} (${failed.name || 'unnamed'}); ${removed.reason}`,
      };
    }
  }
  const seen = await observe(context, deps, stale ? {} : { assumeDown });
  if (!seen.members.some((m) => m.id === failed.id)) {
    if (!confirmedHere) throw new RefusedError(`member ${label} is not in the member list and this run never confirmed its failure: not removing anything`);
    return {
      output: { failedMemberRemoved: true, membersAfterRemoval: membersAfter(seen.members, failed.id) },
      detail: `member ${label}, confirmed failed by this run, is no longer in the member list: an earlier attempt of this run removed it`,
      skipped: true,
    };
  }
  let reconfirmed = '';
  if (stale) {
    if (seen.health.find((h) => h.id === failed.id)?.healthy) {
      throw new RefusedError(
        `member ${label} answers health checks again when observed before its removal (${stale}): refusing to remove a healthy member; nothing was removed. ` +
          'If it was partitioned or rebooting it has recovered and nothing needs replacing; if it fails again, start a new run.',
      );
    }
    reconfirmed = `; observed again before removal (${stale}): still not answering`;
  }
  const verdict = quorumForRemoval(seen.health, failed.id);
  if (!verdict.ok) throw new RefusedError(`not removing ${failed.id}: ${verdict.reason}`);
  await etcdOf(context, deps).removeMember(failed.id);
  return {
    output: {
      failedMemberRemoved: true,
      membersAfterRemoval: membersAfter(seen.members, failed.id),
      ...(stale ? { failureConfirmation: { memberId: failed.id, execution: executionOf(deps), observedAt: deps.now().toISOString() } } : {}),
    },
    detail: `removed member ${failed.id} (${failed.name || 'unnamed'}); ${verdict.reason}${reconfirmed}`,
  };
};

/**
 * The removal guarded by the predicted view, when that view passes the quorum verdict: the verdict's
 * reason on the view the host saw once it removed the member, and that view's member list; null when
 * nothing was removed.
 */
async function removeIfPredicted(
  context: WorkflowContext,
  deps: StepDeps,
  failedId: string,
  assumeDown: string[],
): Promise<{ reason: string; members: EtcdMember[] } | null> {
  const predicted = predictView(context, assumeDown);
  if (!predicted || !quorumForRemoval(predicted.health, failedId).ok) return null;
  const done = await changeIfPredicted(context, deps, predicted, { remove: failedId });
  return done ? { reason: quorumForRemoval(done.observation.health, failedId).reason, members: done.observation.members } : null;
}

/** The member list once `removedId` is gone, as the step observed it: ConfigureNewMember's (membersAfterRemoval). */
function membersAfter(members: EtcdMember[], removedId: string): ListedMember[] {
  return members.filter((m) => m.id !== removedId).map(listedMember);
}
