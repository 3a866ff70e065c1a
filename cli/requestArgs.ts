// The options `plan` and `run` share, and their checks: a sandbox, the failed member, the replacement,
// learner or plain add. Bad values are refused here, before anything reads or changes the cluster.

import { InvalidInputError } from '../functions/errors.ts';
import * as validate from '../functions/validate.ts';
import { validFailedText, validReplacementText } from '../functions/steps/ValidateInput.ts';
import { DEFAULT_OPTIONS, type RunOptions } from '../statemachine/context.ts';
import { UsageError } from './common.ts';

export const REQUEST_OPTIONS = {
  target: { type: 'string', default: 'sandbox' },
  sandbox: { type: 'string', default: 'default' },
  failed: { type: 'string' },
  replacement: { type: 'string' },
  learner: { type: 'string', default: DEFAULT_OPTIONS.learner },
  json: { type: 'boolean', default: false },
} as const;

export interface SandboxRequestArgs {
  sandbox: string;
  failed: string;
  replacement: string;
  learner: RunOptions['learner'];
}

export function sandboxRequestArgs(
  values: { target?: string; sandbox?: string; failed?: string; replacement?: string; learner?: string },
  usage: string,
): SandboxRequestArgs {
  if (values.target !== 'sandbox') throw new UsageError(`--target must be sandbox or aws, got "${values.target}"\n${usage}`);
  if (!values.failed || !values.replacement) throw new UsageError(`--failed and --replacement are required\n${usage}`);
  if (values.learner !== 'auto' && values.learner !== 'never') throw new UsageError(`--learner must be auto or never\n${usage}`);
  const sandbox = validate.sandboxName('--sandbox', values.sandbox);
  validate.assertNoControlChars('--replacement', values.replacement);
  const failed = renamed('--failed', () => validFailedText(values.failed));
  const replacement = renamed('--replacement', () => validReplacementText(values.replacement!));
  return { sandbox, failed, replacement, learner: values.learner };
}

/** Reports a workflow field's error under the CLI flag that carried it. */
function renamed<T>(flag: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof InvalidInputError) throw new InvalidInputError(flag, error.message.replace(/^invalid [^:]+: /, ''));
    throw error;
  }
}
