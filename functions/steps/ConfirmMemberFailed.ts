// ConfirmMemberFailed: the second observation, a grace window after the first. A member that answers
// now (a reboot, a short partition) is refused: only a member failed at both observations is replaced.
// First, the failed members of runs waiting for this run's lock that fail too are taken in
// (functions/cluster/takeIn.ts): their replacements are prepared and every member is observed again.

import { assessFailure } from '../cluster/assessFailure.ts';
import { takeIn } from '../cluster/takeIn.ts';
import type { Step } from '../workflow/step.ts';

export const ConfirmMemberFailed: Step = async (context, deps) => {
  const taken = await takeIn(context, deps);
  if (taken) return taken;
  const result = await assessFailure(context, deps, 'second');
  return { ...result, output: { ...result.output, takenIn: false } };
};
