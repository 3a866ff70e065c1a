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

export type Step = (context: WorkflowContext, deps: StepDeps) => Promise<StepResult>;
