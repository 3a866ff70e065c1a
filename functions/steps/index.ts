// PLACEHOLDER (written for the Lambda handler of issue 6 so that it typechecks and bundles).
// The steps module replaces this file: it exports STEPS, every task state's step by name.

import type { WorkflowContext } from '../../statemachine/context.ts';

export const STEPS: Record<string, (context: WorkflowContext, deps: never) => Promise<unknown>> = {};
