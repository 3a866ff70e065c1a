// CheckClusterHealth: the first observation of the failed member and of quorum (runbook 37.1 step 1).

import { assessFailure } from './assessFailure.ts';
import type { Step } from './stepResult.ts';

export const CheckClusterHealth: Step = (context, deps) => assessFailure(context, deps, 'first');
