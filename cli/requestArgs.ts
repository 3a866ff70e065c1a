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
  // Repeatable: one --failed per failed member, and one --replacement per failed member (in the same order) or none.
  failed: { type: 'string', multiple: true },
  replacement: { type: 'string', multiple: true },
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
  /** The other failed members, each with its replacement, when --failed is given more than once (`run` only). */
  also: Array<{ failed: string; replacement?: string }>;
}

export function sandboxRequestArgs(
  values: {
    target?: string;
    sandbox?: string;
    failed?: string | string[];
    replacement?: string | string[];
    learner?: string;
    'add-method'?: string;
  },
  usage: string,
  options: { several?: boolean } = {},
): SandboxRequestArgs {
  if (values.target !== 'sandbox') throw new UsageError(`--target must be sandbox or aws, got "${values.target}"\n${usage}`);
  const failedList = values.failed === undefined ? [] : [values.failed].flat();
  const replacementList = values.replacement === undefined ? [] : [values.replacement].flat();
  if (failedList.length === 0) throw new UsageError(`--failed is required\n${usage}`);
  if (failedList.length > 1 && !options.several)
    throw new UsageError(`--failed is given ${failedList.length} times: this command takes one failed member\n${usage}`);
  if (replacementList.length > 0 && replacementList.length !== failedList.length) {
    throw new UsageError(
      `${failedList.length} --failed and ${replacementList.length} --replacement: give one --replacement per --failed, in the same order, or none (the spare pool's next free hosts)\n${usage}`,
    );
  }
  if (values.learner !== 'auto' && values.learner !== 'never') throw new UsageError(`--learner must be auto or never\n${usage}`);
  const addMethod = values['add-method'] as AddMethod;
  if (!ADD_METHODS.includes(addMethod)) throw new UsageError(`--add-method must be ${ADD_METHODS.join(' or ')}\n${usage}`);
  if (failedList.length > 1 && addMethod !== 'manual') {
    throw new UsageError(`--add-method ${addMethod} replaces one member per run: several --failed take the manual add method (the default)\n${usage}`);
  }
  const sandbox = validate.sandboxName('--sandbox', values.sandbox);
  const pairs = failedList.map((text, i) => {
    const failed = renamed('--failed', () => validFailedText(text));
    const asked = replacementList[i];
    if (asked === undefined) return { failed };
    validate.assertNoControlChars('--replacement', asked);
    if (asked.trim() === NEW_HOST && failedList.length > 1) throw new UsageError(`--replacement new launches a host for one failed member only\n${usage}`);
    return { failed, replacement: asked.trim() === NEW_HOST ? NEW_HOST : renamed('--replacement', () => validReplacementText(asked)) };
  });
  const [first, ...also] = pairs;
  return { sandbox, ...first!, learner: values.learner, addMethod, also };
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
