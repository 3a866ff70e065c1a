// The step Lambda: one function per task state (CDK sets STEP_NAME), all from this entry. It runs the
// step code of functions/steps/ over the AWS adapters and returns the whole new context, which the
// state machine takes as the state's output (`OutputPath: $.Payload`).
//
// Errors are rethrown unchanged: Lambda reports `errorType` = the error's `name` (the class name, see
// functions/errors.ts), which is what the state machine's Retry and Catch match on.
// Logs name the step, the run and the duration; never the context (no secrets are in it by design,
// but the context still names hosts and keys that do not belong in logs).

import { errorName, InvalidInputError } from '../errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { STEPS } from '../steps/index.ts';
import { awsDeps } from '../adapters/aws/deps.ts';
import { contextFromEvent, stepOutputOf, type StepEvent } from './event.ts';

export type StepImplementation<D> = (context: WorkflowContext, deps: D) => Promise<unknown>;

export interface StepHandlerOptions<D> {
  steps: Readonly<Record<string, StepImplementation<D>>>;
  /** Builds the ports once per Lambda container, on first use. */
  deps: () => D | Promise<D>;
  /** The step this function is deployed for (env STEP_NAME); events for other steps are refused. */
  stepName?: string | undefined;
  log?: (line: string) => void;
  now?: () => number;
}

export type StepHandler = (event: StepEvent) => Promise<WorkflowContext>;

export function createStepHandler<D>(options: StepHandlerOptions<D>): StepHandler {
  const log = options.log ?? ((line: string) => console.log(line));
  const now = options.now ?? Date.now;
  let deps: Promise<D> | undefined;
  const getDeps = (): Promise<D> => {
    if (!deps) {
      deps = Promise.resolve().then(options.deps);
      // A failed build is not cached: the next invocation (a Retry) builds again.
      deps.catch(() => {
        deps = undefined;
      });
    }
    return deps;
  };

  return async (event) => {
    const started = now();
    const step = typeof event?.step === 'string' ? event.step : '';
    let runId = '';
    try {
      if (options.stepName !== undefined && options.stepName !== '' && step !== options.stepName) {
        throw new InvalidInputError('step', `this function runs ${options.stepName}, not ${JSON.stringify(step)}`);
      }
      const implementation = Object.hasOwn(options.steps, step) ? options.steps[step] : undefined;
      if (!implementation) throw new InvalidInputError('step', `no step named ${JSON.stringify(step)}`);
      const context = contextFromEvent(event);
      runId = context.runId;
      const base = await getDeps();
      // The execution's name identifies who confirmed a failure (statemachine/confirmation.ts); a redrive
      // keeps the name and is caught by the confirmation's time bound instead.
      const deps = event.executionName && typeof base === 'object' && base !== null ? { ...base, execution: `sfn:${event.executionName}` } : base;
      const result = await implementation(context, deps);
      const next: WorkflowContext = { ...context, ...stepOutputOf(result) };
      log(JSON.stringify({ step, runId, durationMs: now() - started, outcome: 'succeeded' }));
      return next;
    } catch (error) {
      log(JSON.stringify({ step, runId, durationMs: now() - started, outcome: 'failed', error: errorName(error) }));
      if (error instanceof Error) throw error;
      throw new Error(String(error));
    }
  };
}

export const handler: StepHandler = createStepHandler({ steps: STEPS, deps: awsDeps, stepName: process.env['STEP_NAME'] });
