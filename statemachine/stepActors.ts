// The machine's step actors, built in one place for every engine that runs the model in-process (the
// local run, the tests): one actor per task, each running its step under the spec's retry rules, as
// Step Functions runs each Task state's Lambda under its Retriers.

import { fromPromise } from 'xstate';
import type { WorkflowContext } from './context.ts';
import type { StepOutput } from './machine.ts';
import { withRetry, type RetryHooks } from './retry.ts';
import { REPLACE_WORKFLOW, type TaskName, type TaskSpec, type WorkflowSpec } from './spec.ts';

/** The step with its retries; the hooks see each try of this one invocation. */
export type RetriedStep<R> = (hooks?: Omit<RetryHooks, 'sleep'>) => Promise<R>;

export interface StepActorOptions<R, N extends string = TaskName, C = WorkflowContext> {
  /** The workflow whose tasks get an actor; the replacement when absent. */
  workflow?: WorkflowSpec<N, C>;
  /** One try of the task's step. */
  run: (task: TaskSpec<N>, context: C) => Promise<R>;
  /** Waits between tries (instant in tests). */
  sleep: (ms: number) => Promise<void>;
  /** One invocation with its retries, and what the machine gets from it: record keeping, progress. */
  around: (task: TaskSpec<N>, context: C, retried: RetriedStep<R>) => Promise<StepOutput<C>>;
}

/** Runs a step that returns the machine's output as it is. */
export const plainly = <R extends StepOutput<C>, C = WorkflowContext>(_task: unknown, _context: unknown, retried: RetriedStep<R>): Promise<StepOutput<C>> =>
  retried();

export function stepActors<R, N extends string = TaskName, C = WorkflowContext>(options: StepActorOptions<R, N, C>) {
  const { around } = options;
  const tasks = options.workflow?.tasks ?? (REPLACE_WORKFLOW.tasks as readonly TaskSpec<string>[] as readonly TaskSpec<N>[]);
  return Object.fromEntries(
    tasks.map((task) => [
      task.name,
      fromPromise<StepOutput<C>, C>(({ input }) =>
        around(task, input, (hooks = {}) => withRetry(task.retry, () => options.run(task, input), { ...hooks, sleep: options.sleep })),
      ),
    ]),
  ) as Record<N, ReturnType<typeof fromPromise<StepOutput<C>, C>>>;
}
