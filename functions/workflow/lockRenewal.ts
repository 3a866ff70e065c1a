// The cluster lock lives exactly as long as the run: every step that may change the cluster first
// proves the run still holds it, and renews it while it runs. A run that has lost its lock stops
// before its next step (LockLostError, which the workflow routes to Refused), so it never makes
// another membership change under someone else's lock.
//
// Before the step: the lock must name this run (LockLostError otherwise), and is taken again
// re-entrantly, which extends it and records the process now running the run (a resume in a new
// process takes over its own lock from the dead one, never another run's). During the step: renewed
// every third of its lifetime (at most every minute), so a step longer than the lifetime keeps it.
// A renewal that finds the lock gone is logged; the next step stops the run.

import { LockHeldError, LockLostError, errorMessage } from '../errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import type { TaskSpec } from '../../statemachine/spec.ts';
import type { StepDeps } from './stepDeps.ts';
import type { LockOwner } from '../ports.ts';

type LockDeps = Pick<StepDeps, 'lock' | 'waits' | 'log' | 'pid' | 'execution'>;

/** Who holds the lock for this run: the run, its starter, and the process or execution running it now. */
export function lockOwner(context: WorkflowContext, deps: Pick<StepDeps, 'pid' | 'execution'>): LockOwner {
  return {
    runId: context.runId,
    startedBy: context.request.startedBy,
    ...(deps.pid !== undefined ? { pid: deps.pid } : {}),
    ...(deps.execution !== undefined ? { execution: deps.execution } : {}),
  };
}

/** Proves the run holds its cluster's lock and extends it; LockLostError when it does not. */
export async function holdLock(context: WorkflowContext, deps: LockDeps): Promise<void> {
  const cluster = context.request.cluster;
  const current = await deps.lock.current(cluster);
  if (current === null || current.runId !== context.runId) {
    throw new LockLostError(
      `run ${context.runId} no longer holds the lock of cluster ${cluster}: ${current ? `run ${current.runId} (started by ${current.startedBy}) holds it since ${current.acquiredAt}` : 'nobody holds it'}; it stops before changing anything more`,
    );
  }
  try {
    await deps.lock.acquire(cluster, lockOwner(context, deps), deps.waits.lockTtlSeconds);
  } catch (error) {
    if (error instanceof LockHeldError) throw new LockLostError(`run ${context.runId} lost the lock of cluster ${cluster}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Runs `step` holding the lock, when the task holds it (TaskSpec.holdsLock); plainly otherwise. */
export async function withLockHeld<T>(task: Pick<TaskSpec, 'name' | 'holdsLock'>, context: WorkflowContext, deps: LockDeps, step: () => Promise<T>): Promise<T> {
  if (!task.holdsLock) return step();
  await holdLock(context, deps);
  const everyMs = Math.min(60, deps.waits.lockTtlSeconds / 3) * 1000;
  const timer = setInterval(() => {
    deps.lock.renew(context.request.cluster, context.runId, deps.waits.lockTtlSeconds).catch((error: unknown) => {
      deps.log(`${task.name}: could not renew the lock of ${context.request.cluster}: ${errorMessage(error)}`);
    });
  }, everyMs);
  timer.unref();
  try {
    return await step();
  } finally {
    clearInterval(timer);
  }
}
