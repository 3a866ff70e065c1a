// What a step hands back: the fields it adds to the workflow context, and a short, secret-free
// sentence for the run record and the progress log.

import type { WorkflowContext } from '../../statemachine/context.ts';
import type { StepDeps } from './stepDeps.ts';

export interface StepResult {
  output: Partial<WorkflowContext>;
  detail: string;
  /** The step found its work already done (or not needed) and changed nothing. */
  skipped?: boolean;
}

/**
 * A step: the context in, the fields it adds out. `deps.signal`, when given, cancels it (its time is up):
 * the step's host commands are stopped with it (functions/workflow/stepSignal.ts), and a step that waits
 * on anything else passes the signal on.
 */
export type Step = (context: WorkflowContext, deps: StepDeps) => Promise<StepResult>;
