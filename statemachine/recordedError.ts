// Errors as the workflow records them: the `{Error, Cause}` pair Step Functions puts in a Catch's
// ResultPath, and ErrorEquals matching. Shared by the XState run, the retry loop and the compiler.

import type { WorkflowError } from './context.ts';

/** Converts anything thrown into the `{Error, Cause}` pair Step Functions records. */
export function toWorkflowError(error: unknown): WorkflowError {
  if (error instanceof Error) return { Error: error.name, Cause: error.message };
  if (error && typeof error === 'object' && 'Error' in error) {
    const e = error as { Error: unknown; Cause?: unknown };
    return { Error: String(e.Error), Cause: String(e.Cause ?? '') };
  }
  return { Error: 'Error', Cause: String(error) };
}

/** Step Functions' ErrorEquals semantics: `States.ALL` matches every error. */
export function errorMatches(errorName: string, errors: string[]): boolean {
  return errors.includes('States.ALL') || errors.includes(errorName);
}
