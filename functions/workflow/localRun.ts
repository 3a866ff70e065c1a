// Runs a workflow in this process with XState: the model's machine, the real step code, the model's
// retry policies, and a run record saved after every transition so a killed run resumes where it was.
// One engine for every workflow (statemachine/spec.ts WorkflowSpec): the replacement (REPLACE_WORKFLOW,
// the default) and the quorum restore (statemachine/restoreSpec.ts), each with its own steps table. The
// run record names its workflow (RunRecord.workflow: the spec's id; absent for the replacement), so a
// resume rebuilds the same machine.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { createActor, toPromise } from 'xstate';
import { successReason } from '../../statemachine/earlierRun.ts';
import { buildMachine } from '../../statemachine/machine.ts';
import { REPLACE_WORKFLOW, TASKS, type TaskName, type TaskSpec, type WorkflowSpec } from '../../statemachine/spec.ts';
import { stepActors } from '../../statemachine/stepActors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { toRecordedError } from '../../statemachine/recordedError.ts';
import { memberOfFailedStep, memberOfStep } from '../../statemachine/members.ts';
import type { RunOutcome, RunRecord, RunStore, StepRecord } from '../ports.ts';
import type { StepDeps } from './stepDeps.ts';
import type { StepResult } from './step.ts';
import { proveRunOwner, withLockHeld } from './lockRenewal.ts';
import { withStepDeadline } from './stepDeadline.ts';
import { withKeysAhead } from '../hosts/keysAhead.ts';
import { InvalidInputError } from '../errors.ts';
import { absolutePath } from '../validate.ts';

export type ProgressEvent =
  | { type: 'step-start'; step: string; attempt: number }
  | { type: 'step-retry'; step: string; attempt: number; error: string; delaySeconds: number }
  | { type: 'step-end'; step: string; status: StepRecord['status']; ms: number; detail: string; attempts: number }
  | { type: 'state'; state: string }
  | { type: 'end'; record: RunRecord };

/** One try of a workflow's task: the step contract (functions/workflow/step.ts) over that workflow's context. */
export type WorkflowStep<C extends WorkflowContext = WorkflowContext> = (
  context: C,
  deps: StepDeps,
) => Promise<{ output: Partial<C>; detail: string; skipped?: boolean }>;

export interface LocalRunOptions<N extends string = TaskName, C extends WorkflowContext = WorkflowContext> {
  deps: StepDeps;
  /** The workflow to run; the replacement (REPLACE_WORKFLOW) when absent. Its id must be the one the record names (RunRecord.workflow). */
  workflow?: WorkflowSpec<N, C>;
  /** One step per task of the workflow. */
  steps: Readonly<Record<N, WorkflowStep<C>>>;
  runs: RunStore;
  target: RunRecord['target'];
  onProgress?: (event: ProgressEvent) => void;
  /** A hold before one step (rehearsals and tests); default: from the environment, stepHoldFromEnv. */
  hold?: StepHold<N> | null;
  /**
   * The run's owner claim (the sandbox: this process's). Proven before every step and every save of the
   * record: a process that does not own the run stops at once, changes nothing more and writes nothing
   * (runLocally rejects with the proof's error).
   */
  runOwner?: { prove: () => Promise<void> };
  /**
   * Stops the run where it is (an operator's `kill`): the running step is cancelled (its host commands
   * killed), nothing more is recorded, and runLocally rejects with the signal's reason. The record stays
   * at that step, so the same command takes it over.
   */
  signal?: AbortSignal;
  /** Per-step time limits (seconds) in place of the model's (TaskSpec.timeoutSeconds): rehearsals and tests of a timeout. */
  timeouts?: Partial<Record<N, number>>;
  /** How long a step that timed out may take to stop (its host commands killed) before the run goes on regardless. Default 30 s. */
  cancelGraceMs?: number;
}

/**
 * A rehearsal and test hook: the run waits before one step while a file exists, so a rehearsal (or a
 * test) can act at a known point of a real run: look at the cluster, take a contender's turn at the lock,
 * break something. Set both variables or neither:
 *   ETCD_REPLACE_HOLD_BEFORE_STEP  a state of the workflow (statemachine/spec.ts), e.g. AddMember
 *   ETCD_REPLACE_HOLD_FILE         an absolute path; the run waits while it exists (remove it to go on)
 * Before each try of that step the run proves it holds its lock and renews it while it waits, as during
 * any step (functions/workflow/lockRenewal.ts), then waits; the wait is not part of the step's timeout.
 * Never active unless both are set; one without the other, or an invalid value, is refused.
 */
export interface StepHold<N extends string = TaskName> {
  step: N;
  file: string;
}

export const HOLD_STEP_ENV = 'ETCD_REPLACE_HOLD_BEFORE_STEP';
export const HOLD_FILE_ENV = 'ETCD_REPLACE_HOLD_FILE';
const HOLD_POLL_MS = 100;

/**
 * The hold the environment asks for, before a task of `tasks` (the replacement's unless told); null when it
 * asks for none. InvalidInputError for a half-set or invalid pair.
 */
export function stepHoldFromEnv<N extends string = TaskName>(
  env: NodeJS.ProcessEnv = process.env,
  tasks: readonly TaskSpec<N>[] = TASKS as readonly TaskSpec<string>[] as readonly TaskSpec<N>[],
): StepHold<N> | null {
  const step = env[HOLD_STEP_ENV];
  const file = env[HOLD_FILE_ENV];
  const set = (value: string | undefined) => value !== undefined && value !== '';
  if (!set(step) && !set(file)) return null;
  if (!set(step) || !set(file)) {
    throw new InvalidInputError(
      set(step) ? HOLD_FILE_ENV : HOLD_STEP_ENV,
      `must be set with ${set(step) ? HOLD_STEP_ENV : HOLD_FILE_ENV} (the hold before a step needs both)`,
    );
  }
  const task = tasks.find((t) => t.name === step);
  if (!task) throw new InvalidInputError(HOLD_STEP_ENV, `must name a step of the workflow (${tasks.map((t) => t.name).join(', ')})`);
  return { step: task.name, file: absolutePath(HOLD_FILE_ENV, file) };
}

/** Waits while the hold's file exists, telling the log once. */
async function waitWhileHeld(hold: StepHold<string>, log: (message: string) => void): Promise<void> {
  if (!existsSync(hold.file)) return;
  log(`hold: ${hold.step} waits while ${hold.file} exists (${HOLD_STEP_ENV}, ${HOLD_FILE_ENV}); the run keeps its lock`);
  while (existsSync(hold.file)) await new Promise((resolve) => setTimeout(resolve, HOLD_POLL_MS));
  log(`hold: ${hold.file} is gone; ${hold.step} starts`);
}

const FINAL_OUTCOME: Record<string, RunOutcome> = { Succeeded: 'succeeded', Covered: 'succeeded', Failed: 'failed', Refused: 'refused' };

/** Whether the record is a run of `workflow`: a record that names no workflow is the replacement's. */
export function recordOfWorkflow(record: Pick<RunRecord, 'workflow'>, workflow: Pick<WorkflowSpec, 'id'>): boolean {
  return (record.workflow ?? REPLACE_WORKFLOW.id) === workflow.id;
}

/**
 * A new run record for a context about to start, in the workflow's start state. A replacement's record is
 * as it always was (no `workflow`; its request: failed, replacement, also, options); another workflow's
 * names it, and keeps its options as its request.
 */
export function newRunRecord<N extends string, C extends WorkflowContext>(
  context: C,
  target: RunRecord['target'],
  now: Date,
  workflow: WorkflowSpec<N, C> = REPLACE_WORKFLOW as unknown as WorkflowSpec<N, C>,
): RunRecord {
  const replacement = workflow.id === REPLACE_WORKFLOW.id;
  return {
    runId: context.runId,
    cluster: context.request.cluster,
    target,
    ...(replacement ? {} : { workflow: workflow.id }),
    startedBy: context.request.startedBy,
    request: replacement
      ? {
          failed: context.request.failed,
          replacement: context.request.replacement,
          ...(context.request.also ? { also: context.request.also } : {}),
          options: context.options,
        }
      : { options: context.options },
    outcome: 'running',
    startedAt: now.toISOString(),
    state: workflow.start,
    context: context as unknown as Record<string, unknown>,
    steps: [],
  };
}

/**
 * Runs (or resumes) the run the record describes, from `record.state` with `record.context`.
 * Resolves with the final record; never throws for a step's failure (that is the record's outcome).
 */
export async function runLocally<N extends string = TaskName, C extends WorkflowContext = WorkflowContext>(
  record: RunRecord,
  options: LocalRunOptions<N, C>,
): Promise<RunRecord> {
  const { runs, onProgress } = options;
  const workflow = options.workflow ?? (REPLACE_WORKFLOW as unknown as WorkflowSpec<N, C>);
  // A record is resumed by the machine it was started with, never another workflow's.
  if (!recordOfWorkflow(record, workflow)) {
    throw new InvalidInputError('workflow', `run ${record.runId} is a run of workflow ${record.workflow ?? REPLACE_WORKFLOW.id}, not ${workflow.id}`);
  }
  const missing = workflow.tasks.filter((t) => typeof options.steps[t.name] !== 'function').map((t) => t.name);
  if (missing.length > 0) throw new InvalidInputError('steps', `workflow ${workflow.id} has no step for ${missing.join(', ')}`);
  const hold = options.hold === undefined ? stepHoldFromEnv(process.env, workflow.tasks) : options.hold;
  // Every call is one execution: a resume (another process, or this one again) is another, and
  // re-confirms a failure before acting on it (statemachine/confirmation.ts).
  const deps: StepDeps = {
    ...options.deps,
    execution: `local:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    pastRuns: async () => (await runs.list({ cluster: record.cluster })).filter((r) => r.runId !== record.runId),
    ...(options.runOwner ? { runOwner: options.runOwner } : {}),
  };
  // Not the run's owner (any more): stop at once, record nothing.
  let lost: unknown;
  let stopRun: (error: unknown) => void = () => undefined;
  const ownerLost = new Promise<never>((_, reject) => {
    stopRun = (error) => {
      lost ??= error;
      reject(lost);
    };
  });
  ownerLost.catch(() => undefined);
  const running = new Set<AbortController>();
  const stopAll = () => {
    const reason: unknown = options.signal?.reason ?? new Error(`run ${record.runId} was stopped`);
    for (const controller of running) controller.abort(reason);
    stopRun(reason);
  };
  if (options.signal?.aborted) stopAll();
  options.signal?.addEventListener('abort', stopAll, { once: true });
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    const copy = structuredClone(record);
    saving = saving.then(async () => {
      if (lost !== undefined) return;
      try {
        await options.runOwner?.prove();
      } catch (error) {
        stopRun(error);
        return;
      }
      await runs.save(copy);
    });
    return saving;
  };

  const actors = stepActors<StepResult, N, C>({
    workflow,
    run: async (task, input) => {
      if (lost !== undefined) throw lost;
      try {
        await proveRunOwner(input, deps, task);
      } catch (error) {
        stopRun(error);
        throw error;
      }
      if (hold?.step === task.name) {
        // The record says where the run is held (this try counted) before the hold is announced.
        await saving;
        await withLockHeld(task, input, deps, () => waitWhileHeld(hold, deps.log));
      }
      // Each try has its own signal: its time up, the step is cancelled (its host commands killed, the
      // lock's renewal stopped) and has stopped before the timeout is reported.
      const controller = new AbortController();
      if (lost !== undefined) controller.abort(lost);
      running.add(controller);
      const attempt: StepDeps = { ...deps, signal: controller.signal };
      // One-time keys hosts made ahead for later commands' secrets ride in the context from step to step,
      // as in the step functions (functions/hosts/keysAhead.ts); nothing where the runner needs no keys.
      const step = () =>
        withLockHeld(task, input, attempt, async () => {
          const { result, keysAhead } = await withKeysAhead(attempt, input, () => options.steps[task.name](input, attempt) as Promise<StepResult>);
          // Merged over the context: none left clears what it carried.
          return keysAhead === undefined ? result : { ...result, output: { ...result.output, keysAhead: keysAhead.length > 0 ? keysAhead : undefined } };
        });
      try {
        return await withStepDeadline(task.name, options.timeouts?.[task.name] ?? task.timeoutSeconds, step, {
          controller,
          graceMs: options.cancelGraceMs ?? 30_000,
          log: deps.log,
        });
      } finally {
        running.delete(controller);
      }
    },
    sleep: deps.sleep,
    around: async (task, input, retried) => {
      const startedAt = deps.now();
      const entry: StepRecord = { name: task.name, status: 'running', startedAt: startedAt.toISOString(), attempts: 0 };
      record.steps.push(entry);
      // The record names the step before the step acts (XState starts the step before it tells
      // subscribers of the state): a process killed at any point resumes at this step or a later one,
      // never before a step whose effect (a released lock, say) has happened already.
      record.state = task.name;
      record.context = input as unknown as Record<string, unknown>;
      await save();
      try {
        const result = await retried({
          onAttempt: (attempt) => {
            entry.attempts = attempt;
            onProgress?.({ type: 'step-start', step: task.name, attempt });
            void save();
          },
          onRetry: (error, attempt, delaySeconds) => {
            const e = toRecordedError(error);
            entry.error = { name: e.Error, message: e.Cause };
            onProgress?.({ type: 'step-retry', step: task.name, attempt, error: `${e.Error}: ${e.Cause}`, delaySeconds });
          },
        });
        entry.status = result.skipped ? 'skipped' : 'succeeded';
        entry.detail = result.detail;
        const member = memberOfStep(task.name, { ...input, ...result.output });
        if (member) entry.member = member;
        delete entry.error;
        return result.output as Partial<C>;
      } catch (error) {
        const e = toRecordedError(error);
        const member = memberOfFailedStep(task.name, input);
        if (member) entry.member = member;
        entry.status = 'failed';
        entry.error = { name: e.Error, message: e.Cause };
        entry.detail = e.Cause;
        throw error;
      } finally {
        entry.endedAt = deps.now().toISOString();
        onProgress?.({
          type: 'step-end',
          step: task.name,
          status: entry.status,
          ms: Date.parse(entry.endedAt) - startedAt.getTime(),
          detail: entry.detail ?? '',
          attempts: entry.attempts,
        });
      }
    },
  });

  const machine = buildMachine(workflow, record.state).provide({ actors });
  const actor = createActor(machine, { input: record.context as unknown as C });
  actor.subscribe((snapshot) => {
    const state = String(snapshot.value);
    record.state = state;
    record.context = snapshot.context as unknown as Record<string, unknown>;
    if (state !== record.steps.at(-1)?.name) onProgress?.({ type: 'state', state });
    void save();
  });
  actor.start();
  let finalContext: WorkflowContext;
  try {
    finalContext = (await Promise.race([toPromise(actor), ownerLost])) as WorkflowContext;
  } catch (error) {
    if (lost === undefined) throw error;
    actor.stop();
    await saving.catch(() => undefined);
    throw lost;
  } finally {
    options.signal?.removeEventListener('abort', stopAll);
  }

  record.outcome = FINAL_OUTCOME[record.state] ?? 'failed';
  const error = finalContext.error;
  const reason = error ? `${error.Error}: ${error.Cause}` : successReason(finalContext);
  if (reason) record.reason = reason;
  else delete record.reason;
  const cleanupError = finalContext.cleanupError;
  if (cleanupError) record.cleanupError = `${cleanupError.Error}: ${cleanupError.Cause}`;
  else delete record.cleanupError;
  if (finalContext.remaining?.length) record.remaining = finalContext.remaining;
  record.endedAt = deps.now().toISOString();
  await save();
  if (lost !== undefined) throw lost;
  onProgress?.({ type: 'end', record });
  return record;
}
