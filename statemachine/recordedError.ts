// Errors as the workflow records them: the `{Error, Cause}` pair Step Functions puts in a Catch's
// ResultPath, and ErrorEquals matching. Shared by the XState run, the retry loop and the compiler.

/**
 * An error as the run records it (in `error`, `cleanupError` and a failed execution): the pair Step
 * Functions writes. Not to be confused with what is thrown: the classes of functions/errors.ts, whose
 * `name` becomes `Error` here.
 */
export interface RecordedError {
  /** Error class name, as Step Functions reports it in `Error`. */
  Error: string;
  Cause: string;
}

/** Converts anything thrown into the `{Error, Cause}` pair Step Functions records. */
export function toRecordedError(error: unknown): RecordedError {
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
