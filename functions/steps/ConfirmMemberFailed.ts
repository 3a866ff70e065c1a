// ConfirmMemberFailed: the second observation, a grace window after the first. A member that answers
// now (a reboot, a short partition) is refused: only a member failed at both observations is replaced.

import { assessFailure } from '../cluster/assessFailure.ts';
import type { Step } from '../workflow/step.ts';

export const ConfirmMemberFailed: Step = (context, deps) => assessFailure(context, deps, 'second');
