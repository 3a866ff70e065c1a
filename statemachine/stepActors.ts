// The machine's step actors, built in one place for every engine that runs the model in-process (the
// local run, the tests): one actor per task, each running its step under the spec's retry rules, as
// Step Functions runs each Task state's Lambda under its Retriers.

import { fromPromise } from 'xstate';
import type { WorkflowContext } from './context.ts';
import type { StepOutput } from './machine.ts';
import { withRetry, type RetryHooks } from './retry.ts';
import { TASKS, type TaskName, type TaskSpec } from './spec.ts';

/** The step with its retries; the hooks see each try of this one invocation. */
export type RetriedStep<R> = (hooks?: Omit<RetryHooks, 'sleep'>) => Promise<R>;

export interface StepActorOptions<R> {
  /** One try of the task's step. */
  run: (task: TaskSpec<TaskName>, context: WorkflowContext) => Promise<R>;
  /** Waits between tries (instant in tests). */
  sleep: (ms: number) => Promise<void>;
  /** One invocation with its retries, and what the machine gets from it: record keeping, progress. */
  around: (task: TaskSpec<TaskName>, context: WorkflowContext, retried: RetriedStep<R>) => Promise<StepOutput>;
}

/** Runs a step that returns the machine's output as it is. */
export const plainly = <R extends StepOutput>(_task: unknown, _context: unknown, retried: RetriedStep<R>): Promise<StepOutput> => retried();

export function stepActors<R>(options: StepActorOptions<R>) {
  const { around } = options;
  return Object.fromEntries(
    TASKS.map((task) => [
      task.name,
      fromPromise<StepOutput, WorkflowContext>(({ input }) =>
        around(task, input, (hooks = {}) => withRetry(task.retry, () => options.run(task, input), { ...hooks, sleep: options.sleep })),
      ),
    ]),
  ) as Record<TaskName, ReturnType<typeof fromPromise<StepOutput, WorkflowContext>>>;
}
