// The options `plan` and `run` share, and their checks: a sandbox, the failed member, the replacement,
// learner or plain add, the add method. Bad values are refused here, before anything reads or changes the cluster.

import { InvalidInputError } from '../functions/errors.ts';
import * as validate from '../functions/validate.ts';
import { NEW_HOST, validFailedText, validReplacementText } from '../functions/steps/ValidateInput.ts';
import { ADD_METHODS, DEFAULT_OPTIONS, type AddMethod, type RunOptions } from '../statemachine/context.ts';
import { UsageError } from './common.ts';

export const REQUEST_OPTIONS = {
  target: { type: 'string', default: 'sandbox' },
  sandbox: { type: 'string', default: 'default' },
  failed: { type: 'string' },
  replacement: { type: 'string' },
  learner: { type: 'string', default: DEFAULT_OPTIONS.learner },
  'add-method': { type: 'string', default: 'manual' },
  json: { type: 'boolean', default: false },
} as const;

export interface SandboxRequestArgs {
  sandbox: string;
  failed: string;
  /** A host, `new` (launch one), or absent: the spare pool's first host, else a launched one. */
  replacement?: string;
  learner: RunOptions['learner'];
  addMethod: AddMethod;
}

export function sandboxRequestArgs(
  values: { target?: string; sandbox?: string; failed?: string; replacement?: string; learner?: string; 'add-method'?: string },
  usage: string,
): SandboxRequestArgs {
  if (values.target !== 'sandbox') throw new UsageError(`--target must be sandbox or aws, got "${values.target}"\n${usage}`);
  if (!values.failed) throw new UsageError(`--failed is required\n${usage}`);
  if (values.learner !== 'auto' && values.learner !== 'never') throw new UsageError(`--learner must be auto or never\n${usage}`);
  const addMethod = values['add-method'] as AddMethod;
  if (!ADD_METHODS.includes(addMethod)) throw new UsageError(`--add-method must be ${ADD_METHODS.join(' or ')}\n${usage}`);
  const sandbox = validate.sandboxName('--sandbox', values.sandbox);
  const failed = renamed('--failed', () => validFailedText(values.failed));
  if (values.replacement === undefined) return { sandbox, failed, learner: values.learner, addMethod };
  validate.assertNoControlChars('--replacement', values.replacement);
  const replacement = values.replacement.trim() === NEW_HOST ? NEW_HOST : renamed('--replacement', () => validReplacementText(values.replacement!));
  return { sandbox, failed, replacement, learner: values.learner, addMethod };
}

/** The replacement as asked for, in words. */
export function replacementWords(replacement: string | undefined): string {
  if (replacement === undefined) return 'a spare from the pool, or a host launched for the run when the pool is empty';
  return replacement === NEW_HOST ? 'a host launched for the run' : replacement;
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

/** The help line both commands show for --add-method. */
export const ADD_METHOD_FLAG: [string, string] = [
  '--add-method manual|ansible',
  "manual (default): the runbook's openssl, member add and etcd.conf steps (37.2.2); ansible: openshift-ansible's scaleup playbook on the installer host (37.2.1)",
];
