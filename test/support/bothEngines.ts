// Conformance of one scenario: the XState machine and the compiled ASL (run by aws-local-stepfunctions)
// take the same path, make the same step invocations and end with the same context, for the same step fakes.

import { expect } from 'vitest';
import { compileAsl } from '../../statemachine/asl.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { TASKS } from '../../statemachine/spec.ts';
import { runAslLocally, taskFnFromSteps, type AslRun } from './aslLocalRun.ts';
import { runXState, type StepFake } from './xstateRun.ts';

/** Runs `fakes()` (a fresh set per engine) from `input` in both engines, checks they agree, and returns the ASL run. */
export async function bothEngines(fakes: () => Record<string, StepFake>, input: WorkflowContext): Promise<AslRun> {
  const xstate = await runXState(fakes(), input);
  const local = await runAslLocally(compileAsl(), input, taskFnFromSteps(fakes()));
  expect(local.path).toEqual(xstate.path);
  expect(local.invocations).toEqual(xstate.invocations);
  expect(local.finalContext).toEqual(xstate.finalContext);
  return local;
}

/** The task states of a path, in order. */
export const tasksOf = (path: string[]) => path.filter((s) => TASKS.some((t) => t.name === s));
