// The sandbox's own error: a sandbox named that does not exist, or is broken. The workflow never
// routes on it (no state of the machine names it); the CLI turns it into bad input for --sandbox.

import { WorkflowError } from '../functions/errors.ts';

export class SandboxError extends WorkflowError {
  override readonly name: string = 'SandboxError';
}
