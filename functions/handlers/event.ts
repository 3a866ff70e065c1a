// The step Lambda's event and how it becomes the workflow context. Pure: no AWS, no I/O.
//
// Every Task of the compiled ASL sends `{step, context, executionName}` (statemachine/asl.ts). After
// the first step `context` is the WorkflowContext the previous step returned. On the first step of a
// run started from the console, the CLI or the alarm rule, `context` is the execution input: a bare
// ReplaceRequest (schemas/replace-request.schema.json). contextFromEvent() turns it into a context
// whose runId is the execution's name, so the run record and the execution share one name.

import { DEFAULT_OPTIONS, type ReplaceRequest, type RunOptions, type WorkflowContext } from '../../statemachine/context.ts';
import type { StepOutput } from '../../statemachine/machine.ts';

export interface StepEvent {
  /** The task state's name, e.g. `RemoveFailedMember`. */
  step: string;
  /** The workflow context, or the execution input on the first step. */
  context: unknown;
  /** `$$.Execution.Name`. */
  executionName?: string;
  /** `$$.Task.Token`: only a task that waits for an answer gets it (statemachine/asl.ts compileAnswerTask); a secret, never logged. */
  taskToken?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A context has a runId, a request object and options; anything else is an execution input. */
export function isWorkflowContext(value: unknown): value is WorkflowContext {
  return isObject(value) && typeof value['runId'] === 'string' && isObject(value['request']) && isObject(value['options']);
}

/**
 * A run id from a Step Functions execution name (1-80 of A-Z a-z 0-9 - _): lower case, anything
 * outside a-z 0-9 - becomes `-`. Deterministic, so a retried first step gets the same run id.
 */
export function runIdFromExecutionName(name: string): string {
  const id = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+/, '');
  return id.length >= 6 ? id.slice(0, 80) : `run-${id}`.padEnd(6, '0');
}

/**
 * The workflow context the step runs on. Fields of a bare request are passed through unchecked:
 * ValidateInput checks every one of them and fails the first state with a clear error.
 */
export function contextFromEvent(event: StepEvent, deployment: Partial<RunOptions> = {}): WorkflowContext {
  if (isWorkflowContext(event.context)) return event.context;
  const request = (isObject(event.context) ? event.context : {}) as unknown as ReplaceRequest;
  const given = isObject(request.options) ? request.options : {};
  // The deployment's own settings win over the request's for the installer instance: it is what IAM allows;
  // and for a restore's approval waivers and stopping of unreachable members: the cluster config's policy.
  const options = {
    ...DEFAULT_OPTIONS,
    ...deployment,
    ...given,
    ...pick(deployment, 'installerInstanceId'),
    ...pickRestore(deployment, 'approvalWaivers'),
    ...pickRestore(deployment, 'fenceUnreachable'),
  } as RunOptions;
  return { runId: runIdFromExecutionName(event.executionName ?? 'unnamed-execution'), request, options };
}

/** A step hands back either the fields it adds (StepOutput) or `{output, detail, skipped?}` (StepResult). */
export function stepOutputOf(result: unknown): StepOutput {
  if (!isObject(result)) return {};
  if (isObject(result['output']) && typeof result['detail'] === 'string') return result['output'] as StepOutput;
  return result as StepOutput;
}

function pickRestore(options: Partial<RunOptions>, key: 'approvalWaivers' | 'fenceUnreachable'): Record<string, unknown> {
  const value = (options as Record<string, unknown>)[key];
  return value === undefined ? {} : { [key]: value };
}

function pick<K extends keyof RunOptions>(options: Partial<RunOptions>, key: K): Partial<RunOptions> {
  return options[key] === undefined ? {} : { [key]: options[key] };
}

/**
 * The deployment's defaults for a run's options, from the step functions' environment (lib/constructs/
 * step-lambdas.ts): DEFAULT_ADD_METHOD, OPENSHIFT_ANSIBLE_DIR, INSTALLER_INSTANCE_ID. Checked by ValidateInput.
 * A restore's step functions (lib/constructs/restore-workflow.ts) have the cluster config's restore settings
 * too: RESTORE_APPROVAL_TIMEOUT_SECONDS (a default), RESTORE_APPROVAL_WAIVERS and RESTORE_FENCE_UNREACHABLE
 * (which win over the request's); ValidateRestoreRequest checks them.
 */
export function deploymentOptions(env: Record<string, string | undefined>): Partial<RunOptions> {
  const options: Partial<RunOptions> = {};
  if (env['DEFAULT_ADD_METHOD']) options.addMethod = env['DEFAULT_ADD_METHOD'] as RunOptions['addMethod'];
  if (env['OPENSHIFT_ANSIBLE_DIR']) options.openshiftAnsibleDir = env['OPENSHIFT_ANSIBLE_DIR'];
  if (env['INSTALLER_INSTANCE_ID']) options.installerInstanceId = env['INSTALLER_INSTANCE_ID'];
  const restore = options as Record<string, unknown>;
  if (env['RESTORE_APPROVAL_TIMEOUT_SECONDS']) restore['approvalTimeoutSeconds'] = Number(env['RESTORE_APPROVAL_TIMEOUT_SECONDS']);
  if (env['RESTORE_APPROVAL_WAIVERS'] !== undefined) restore['approvalWaivers'] = env['RESTORE_APPROVAL_WAIVERS'].split(',').filter((w) => w !== '');
  if (env['RESTORE_FENCE_UNREACHABLE']) restore['fenceUnreachable'] = env['RESTORE_FENCE_UNREACHABLE'];
  return options;
}
