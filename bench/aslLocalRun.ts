// Runs a compiled ASL definition locally with aws-local-stepfunctions, each Task bound to a local
// function `(taskName, context) => Promise<context>`: the fakes of the conformance test, and the
// cost model (bench/costModel.ts), which counts state transitions by executing the definition.
// The binding mimics the optimized Lambda integration the compiler targets: the Task's effective
// input is its Parameters `{FunctionName, Payload: {context, step}}`, the function gets the Payload,
// and the result is `{Payload: newContext, StatusCode: 200}`, which `OutputPath: $.Payload` unwraps.

import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { AslDefinition } from '../statemachine/asl.ts';
import type { WorkflowContext } from '../statemachine/context.ts';
import type { RecordedError } from '../statemachine/recordedError.ts';
import type { StepOutput } from '../statemachine/machine.ts';

// aws-local-stepfunctions 3 calls Promise.withResolvers (Node 22+); this project supports Node 20.
installPromiseWithResolvers();

function installPromiseWithResolvers(): void {
  const P = Promise as unknown as { withResolvers?: unknown };
  if (typeof P.withResolvers === 'function') return;
  P.withResolvers = function withResolvers<T>() {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

/**
 * Runs one task on the context it is given and returns the whole new context (as the Lambda handler
 * does). `context` is the state's input: on the first state, the execution input as given.
 */
export type TaskFn = (taskName: string, context: WorkflowContext, meta: { executionName: string }) => Promise<WorkflowContext>;

/** Adapts step implementations that return context updates (the StepOutput shape) to a TaskFn. */
export function taskFnFromSteps(steps: Record<string, (context: WorkflowContext) => Promise<StepOutput>>): TaskFn {
  return async (taskName, context) => {
    const step = steps[taskName];
    const output = step ? await step(context) : {};
    return { ...context, ...output };
  };
}

export interface AslRun {
  /** Every state entered, in order (Tasks, Choices, Waits and the final state). */
  path: string[];
  /** Every task invocation, one entry per attempt (retries repeat the name). */
  invocations: string[];
  /** The state the run ended on. */
  finalState: string;
  status: 'SUCCEEDED' | 'FAILED';
  /** The context the final state received. */
  finalContext: WorkflowContext;
  /** The execution's Error/Cause when it failed. */
  executionError?: RecordedError;
}

export interface AslRunOptions {
  /** Wait states take no time (default true). */
  skipWaits?: boolean;
  /** Retriers retry at once (default true). */
  skipRetryIntervals?: boolean;
  /** Every retrier waits this many milliseconds instead (two executions that wait on each other). */
  retryIntervalMs?: number;
  /** `$$.Execution.Name` (default `local-execution`). */
  executionName?: string;
}

interface TaskPayload {
  step: string;
  context: WorkflowContext;
  executionName: string;
}

function executionNameOf(options: AslRunOptions): string {
  return options.executionName ?? 'local-execution';
}

interface StateEnteredLog {
  type: 'StateEntered';
  state: { name: string; input: unknown };
}

export async function runAslLocally(asl: AslDefinition, input: unknown, task: TaskFn, options: AslRunOptions = {}): Promise<AslRun> {
  const definition = JSON.parse(JSON.stringify(asl)) as StateMachineDefinition;
  const stateNames = Object.keys(asl.States);
  const taskNames = stateNames.filter((n) => asl.States[n]?.Type === 'Task');
  const invocations: string[] = [];

  const taskResourceLocalHandlers = Object.fromEntries(
    taskNames.map((name) => [
      name,
      async (effectiveInput: unknown) => {
        // The effective input is the Task's Parameters; the Lambda would receive its Payload.
        const { context, step, executionName } = (effectiveInput as { Payload: TaskPayload }).Payload;
        if (step !== name) throw new Error(`task ${name} was invoked with step ${step}`);
        invocations.push(name);
        if (executionName !== executionNameOf(options)) throw new Error(`task ${name} got execution name ${executionName}`);
        const next = await task(name, context, { executionName });
        return { Payload: JSON.parse(JSON.stringify(next)), StatusCode: 200 };
      },
    ]),
  );
  const waitTimeOverrides = options.skipWaits === false ? {} : Object.fromEntries(stateNames.filter((n) => asl.States[n]?.Type === 'Wait').map((n) => [n, 0]));
  const retryIntervalOverrides = options.skipRetryIntervals === false ? {} : Object.fromEntries(taskNames.map((n) => [n, options.retryIntervalMs ?? 0]));

  const machine = new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
  const execution = machine.run(JSON.parse(JSON.stringify(input)), {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: { Execution: { Name: executionNameOf(options) } },
  });

  const entered: StateEnteredLog[] = [];
  const collect = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') entered.push(event as unknown as StateEnteredLog);
    }
  })();

  let status: AslRun['status'] = 'SUCCEEDED';
  let executionError: RecordedError | undefined;
  try {
    await execution.result;
  } catch (error) {
    status = 'FAILED';
    const cause = (error as { cause?: unknown }).cause;
    executionError = cause instanceof Error ? { Error: cause.name, Cause: cause.message } : { Error: 'Error', Cause: String(error) };
  }
  await collect;

  const last = entered.at(-1);
  if (!last) throw new Error('the execution entered no state');
  const run: AslRun = {
    path: entered.map((e) => e.state.name),
    invocations,
    finalState: last.state.name,
    status,
    finalContext: last.state.input as WorkflowContext,
  };
  if (executionError) run.executionError = executionError;
  return run;
}
