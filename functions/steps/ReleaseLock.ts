// ReleaseLock: release the cluster lock this run holds (a no-op when it holds none). Only the run's
// owner releases it: the lock port leaves alone a lock of this run that another live process or
// running execution holds (and, like every step, this one first proves the run is this process's or
// execution's own: functions/workflow/lockRenewal.ts, proveRunOwner). First it records itself as the
// lock's last holder, with the members it replaced and whether it succeeded: a run that waited for the
// lock, and that this run took in, finds itself covered when it gets the lock after all (AcquireLock).

import type { Step } from '../workflow/step.ts';
import { lockOwner } from '../workflow/lockRenewal.ts';
import { coveredIdentities } from '../../statemachine/members.ts';

export const ReleaseLock: Step = async (context, deps) => {
  const cluster = context.request.cluster;
  if ((await deps.lock.current(cluster))?.runId === context.runId) {
    await deps.lock.recordLastHolder(cluster, {
      runId: context.runId,
      covers: coveredIdentities(context),
      succeeded: context.error === undefined,
      releasedAt: deps.now().toISOString(),
    });
  }
  await deps.lock.release(cluster, context.runId, lockOwner(context, deps));
  return { output: {}, detail: `lock on ${cluster} released` };
};
