// CheckClusterHealth: the first observation of the failed member and of quorum (runbook 37.1 step 1).

import { assessFailure } from '../cluster/assessFailure.ts';
import type { Step } from '../workflow/step.ts';

export const CheckClusterHealth: Step = (context, deps) => assessFailure(context, deps, 'first');
