// The cluster lock lives exactly as long as the run: every step that may change the cluster first
// proves the run still holds it, and renews it while it runs. A run that has lost its lock stops
// before its next step (LockLostError, which the workflow routes to Refused), so it never makes
// another membership change under someone else's lock.
//
// Before the step: the lock must name this run (LockLostError otherwise), and is taken again
// re-entrantly, which extends it and records the process now running the run (a resume in a new
// process takes over its own lock from the dead one, never another run's). During the step: renewed
// every third of its lifetime (at most every minute), so a step longer than the lifetime keeps it.
// A renewal that finds the lock gone is logged; the next step stops the run. The renewal stops with the
// step: when it ends, and when its signal aborts (a step that timed out), before compensation or the
// next try.
//
// A run has one owner at a time (a process on the sandbox, an execution on AWS). Before every step, the
// closing steps included, the run proves that no other live owner runs it (proveRunOwner): a lock that
// names this run but another live process or running execution means this one is not the owner, and
// LockLostError stops it before it deletes, terminates, releases or writes anything of that run.

import { LockHeldError, LockLostError, errorMessage } from '../errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import type { TaskSpec } from '../../statemachine/spec.ts';
import type { StepDeps } from './stepDeps.ts';
import type { LockOwner } from '../ports.ts';
import { coveredIdentities } from '../../statemachine/members.ts';

type LockDeps = Pick<StepDeps, 'lock' | 'waits' | 'log' | 'pid' | 'execution' | 'signal' | 'runOwner'>;

/** Who holds the lock for this run: the run, its starter, the process or execution running it now, and the failed members it covers. */
export function lockOwner(context: WorkflowContext, deps: Pick<StepDeps, 'pid' | 'execution'>): LockOwner {
  return {
    runId: context.runId,
    startedBy: context.request.startedBy,
    covers: coveredIdentities(context),
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

/** Each workflow's first step (the replacement's, the restore's) and AcquireLock: the steps before its lock. */
const BEFORE_LOCK = new Set(['ValidateInput', 'ValidateRestoreRequest', 'AcquireLock']);

/**
 * Proves this process (or execution) owns the run: the run's own owner claim where there is one
 * (StepDeps.runOwner, the sandbox), and no other live owner holding the run's lock. LockLostError
 * naming the owner otherwise: the step does nothing.
 */
export async function proveRunOwner(context: WorkflowContext, deps: LockDeps, task?: Pick<TaskSpec, 'name'>): Promise<void> {
  await deps.runOwner?.prove();
  // Before the lock is taken: ValidateInput (ValidateRestoreRequest) changes nothing, and AcquireLock refuses the lock another
  // live owner of the run holds itself (LockHeldError, which ends the run Refused with no closing step).
  if (task && BEFORE_LOCK.has(task.name)) return;
  const other = await deps.lock.heldElsewhere?.(context.request.cluster, lockOwner(context, deps));
  if (other) {
    const who = other.pid !== undefined ? `pid ${other.pid}${other.host ? ` on ${other.host}` : ''}` : (other.execution ?? `run ${other.runId}`);
    throw new LockLostError(
      `run ${context.runId} is in progress in ${who} (its lock of cluster ${context.request.cluster}, since ${other.acquiredAt}): this ${deps.execution ?? 'process'} changes and records nothing of it`,
    );
  }
}

/**
 * proveRunOwner, then holdLock: where the lock can extend itself for its own owner in one write
 * (LockPort.extendOwn, DynamoDB), that write proves and extends at once; whenever it finds anything
 * else, the lock is read and judged as before.
 */
async function proveAndHold(context: WorkflowContext, deps: LockDeps, task: Pick<TaskSpec, 'name'>): Promise<void> {
  if (deps.lock.extendOwn && !BEFORE_LOCK.has(task.name)) {
    await deps.runOwner?.prove();
    if (await deps.lock.extendOwn(context.request.cluster, lockOwner(context, deps), deps.waits.lockTtlSeconds)) return;
  }
  await proveRunOwner(context, deps, task);
  await holdLock(context, deps);
}

/**
 * Runs `step` as the run's owner (proveRunOwner), holding the lock when the task holds it
 * (TaskSpec.holdsLock). The renewal stops when the step ends or its signal (StepDeps.signal) aborts.
 */
export async function withLockHeld<T>(
  task: Pick<TaskSpec, 'name' | 'holdsLock'>,
  context: WorkflowContext,
  deps: LockDeps,
  step: () => Promise<T>,
): Promise<T> {
  if (!task.holdsLock) {
    await proveRunOwner(context, deps, task);
    return step();
  }
  await proveAndHold(context, deps, task);
  const everyMs = Math.min(60, deps.waits.lockTtlSeconds / 3) * 1000;
  const stop = () => clearInterval(timer);
  const timer = setInterval(() => {
    if (deps.signal?.aborted) return stop();
    deps.lock.renew(context.request.cluster, context.runId, deps.waits.lockTtlSeconds).catch((error: unknown) => {
      deps.log(`${task.name}: could not renew the lock of ${context.request.cluster}: ${errorMessage(error)}`);
    });
  }, everyMs);
  timer.unref();
  deps.signal?.addEventListener('abort', stop, { once: true });
  try {
    return await step();
  } finally {
    stop();
    deps.signal?.removeEventListener('abort', stop);
  }
}
