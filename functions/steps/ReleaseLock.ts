// ReleaseLock: release the cluster lock this run holds (a no-op when it holds none). Only the run's
// owner releases it: the lock port leaves alone a lock of this run that another live process or
// running execution holds (and, like every step, this one first proves the run is this process's or
// execution's own: functions/workflow/lockRenewal.ts, proveRunOwner).

import type { Step } from '../workflow/step.ts';
import { lockOwner } from '../workflow/lockRenewal.ts';

export const ReleaseLock: Step = async (context, deps) => {
  await deps.lock.release(context.request.cluster, context.runId, lockOwner(context, deps));
  return { output: {}, detail: `lock on ${context.request.cluster} released` };
};
