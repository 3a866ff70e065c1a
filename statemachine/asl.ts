// Compiles the XState machine to Amazon States Language (JSONPath query language).
// The compiler reads the machine's states and each state's `meta.spec` (spec.ts) and nothing else,
// so the ASL and the XState run cannot drift apart: one model, two engines.
//
// Data flow, identical in both engines: every Task passes the whole context to its Lambda as
// `Payload.context`, the Lambda returns the whole new context (`{...context, ...stepOutput}`), and
// `OutputPath: $.Payload` makes that the state's output. `Payload.executionName` lets the first
// step turn a console or alarm input (a bare ReplaceRequest) into a context whose runId is the
// execution's name (functions/handlers/step.ts). A Catch writes `{Error, Cause}` into
// `$.error` (or `$.cleanupError`) of the state's input, as the XState machine's recordError does.
// A task that waits for an answer (TaskSpec.answer: a person's approval) is the one exception: its
// Lambda also gets the task token (`Payload.taskToken`), and the answer SendTaskSuccess gives is
// written into its own field of the context (ResultPath), as the XState machine merges only that field.

import type { AnyStateMachine } from 'xstate';
import { machineOf, replaceMemberMachine, specOf } from './machine.ts';
import type { AnyStateSpec, AnyWorkflowSpec, CatchRule, RetryRule, TaskSpec } from './spec.ts';

// ASL types (the subset this compiler emits) ----------------------------------------------------

export interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds: number;
  MaxAttempts: number;
  BackoffRate: number;
  MaxDelaySeconds?: number;
}

export interface AslCatcher {
  ErrorEquals: string[];
  ResultPath: string | null;
  Next: string;
}

export interface AslTaskState {
  Type: 'Task';
  Comment: string;
  Resource: string;
  Parameters: {
    FunctionName: string;
    Payload: { step: string; 'context.$': '$'; 'executionName.$': '$$.Execution.Name'; 'taskToken.$'?: '$$.Task.Token' };
  };
  /** A plain invoke: the Lambda's result is the new context. */
  OutputPath?: '$.Payload';
  /** A task that waits for an answer: the answer goes into this field of the context. */
  ResultPath?: string;
  TimeoutSeconds: number;
  /** A task that waits for an answer: how long it waits without one, read from the run's options. */
  HeartbeatSecondsPath?: string;
  Retry: AslRetrier[];
  Catch: AslCatcher[];
  Next: string;
}

/** A Choice rule without Next: a data test or a boolean combination. */
export type AslCondition =
  | { Variable: string; IsPresent: boolean }
  | { Variable: string; IsBoolean: boolean }
  | { Variable: string; BooleanEquals: boolean }
  | { Variable: string; StringEquals: string }
  | { And: AslCondition[] }
  | { Or: AslCondition[] }
  | { Not: AslCondition };

export type AslChoiceRule = AslCondition & { Next: string };

export interface AslChoiceState {
  Type: 'Choice';
  Comment: string;
  Choices: AslChoiceRule[];
  Default: string;
}

export interface AslWaitState {
  Type: 'Wait';
  Comment: string;
  TimestampPath: string;
  Next: string;
}

export interface AslSucceedState {
  Type: 'Succeed';
  Comment: string;
}

export interface AslFailState {
  Type: 'Fail';
  Comment: string;
  ErrorPath: string;
  CausePath: string;
}

export type AslState = AslTaskState | AslChoiceState | AslWaitState | AslSucceedState | AslFailState;

export interface AslDefinition {
  Comment: string;
  QueryLanguage: 'JSONPath';
  StartAt: string;
  TimeoutSeconds: number;
  States: Record<string, AslState>;
}

// Constants -------------------------------------------------------------------------------------

/** The optimized Lambda integration: the result is `{Payload, StatusCode, ...}`. */
export const LAMBDA_INVOKE_RESOURCE = 'arn:aws:states:::lambda:invoke';

/** The Lambda integration that waits for the task token it hands out: the result is what SendTaskSuccess gives. */
export const LAMBDA_INVOKE_WAIT_FOR_TOKEN_RESOURCE = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/**
 * Errors of the Lambda service itself (throttling, a cold start that failed, an SDK hiccup). A Task
 * written by hand does not get CDK's default retrier for them; every task gets this one first.
 */
export const LAMBDA_SERVICE_RETRIER: Readonly<AslRetrier> = Object.freeze({
  ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
});

/** Bound on a whole run: long enough for the slowest path with its retries, short enough to notice a stuck run. */
export const DEFAULT_RUN_TIMEOUT_SECONDS = 2 * 60 * 60;

/** Step Functions state names: at most 80 of `0-9A-Za-z-_` so that CloudWatch logging works. */
const STATE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** A context field the compiled paths name (`$.field`): a plain identifier, nothing a path could misread. */
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

/** `$.field`, for a context field the spec names. */
function fieldPath(field: string, what: string): string {
  if (!FIELD_NAME.test(field)) throw new Error(`${what}: ${JSON.stringify(field)} is not a context field name`);
  return `$.${field}`;
}

// Substitutions ---------------------------------------------------------------------------------

/** The definitionSubstitutions key for a task's Lambda ARN, e.g. `ValidateInputFunctionArn`. */
export function functionArnSubstitutionKey(taskName: string): string {
  return `${taskName}FunctionArn`;
}

/** `${ValidateInputFunctionArn}`: a placeholder Step Functions replaces with definitionSubstitutions. */
export function functionArnPlaceholder(taskName: string): string {
  return `\${${functionArnSubstitutionKey(taskName)}}`;
}

export interface CompileOptions {
  /** The Lambda function ARN (or a substitution placeholder) each task invokes. */
  functionArn: (taskName: string) => string;
  /** Whole-run TimeoutSeconds; DEFAULT_RUN_TIMEOUT_SECONDS when absent. */
  timeoutSeconds?: number;
}

const DEFAULT_OPTIONS: CompileOptions = { functionArn: functionArnPlaceholder };

// Compiler --------------------------------------------------------------------------------------

function retrier(rule: RetryRule): AslRetrier {
  const r: AslRetrier = {
    ErrorEquals: [...rule.errors],
    IntervalSeconds: rule.intervalSeconds,
    MaxAttempts: rule.maxAttempts,
    BackoffRate: rule.backoffRate,
  };
  if (rule.maxDelaySeconds !== undefined) r.MaxDelaySeconds = rule.maxDelaySeconds;
  return r;
}

function catcher(rule: CatchRule): AslCatcher {
  const field = rule.resultField ?? 'error';
  return { ErrorEquals: [...rule.errors], ResultPath: field === 'none' ? null : `$.${field}`, Next: rule.next };
}

/** True exactly when the field holds boolean true, like the XState guard `context[field] === true`. */
function fieldIsTrue(field: string): AslCondition {
  const variable = `$.${field}`;
  return {
    And: [
      { Variable: variable, IsPresent: true },
      { Variable: variable, IsBoolean: true },
      { Variable: variable, BooleanEquals: true },
    ],
  };
}

function retriers(spec: TaskSpec): AslRetrier[] {
  return [{ ...LAMBDA_SERVICE_RETRIER, ErrorEquals: [...LAMBDA_SERVICE_RETRIER.ErrorEquals] }, ...spec.retry.map(retrier)];
}

function compileTask(spec: TaskSpec, options: CompileOptions): AslTaskState {
  return {
    Type: 'Task',
    Comment: spec.summary,
    Resource: LAMBDA_INVOKE_RESOURCE,
    Parameters: {
      FunctionName: options.functionArn(spec.name),
      Payload: { step: spec.name, 'context.$': '$', 'executionName.$': '$$.Execution.Name' },
    },
    OutputPath: '$.Payload',
    TimeoutSeconds: spec.timeoutSeconds,
    Retry: retriers(spec),
    Catch: spec.catch.map(catcher),
    Next: spec.next,
  };
}

/**
 * A task that waits for an answer: the Lambda gets the task token beside the context and hands it out;
 * the state waits until SendTaskSuccess (its output becomes `resultField`) or SendTaskFailure, or fails
 * with States.HeartbeatTimeout once the option's seconds pass without either. TimeoutSeconds bounds the
 * wait as a whole; the options are checked to stay below it (ValidateInput's part).
 */
function compileAnswerTask(spec: TaskSpec, answer: NonNullable<TaskSpec['answer']>, options: CompileOptions): AslTaskState {
  return {
    Type: 'Task',
    Comment: spec.summary,
    Resource: LAMBDA_INVOKE_WAIT_FOR_TOKEN_RESOURCE,
    Parameters: {
      FunctionName: options.functionArn(spec.name),
      Payload: { step: spec.name, 'context.$': '$', 'executionName.$': '$$.Execution.Name', 'taskToken.$': '$$.Task.Token' },
    },
    ResultPath: fieldPath(answer.resultField, `task ${spec.name}`),
    TimeoutSeconds: spec.timeoutSeconds,
    HeartbeatSecondsPath: `$.options.${fieldPath(answer.heartbeatOption, `task ${spec.name}`).slice(2)}`,
    Retry: retriers(spec),
    Catch: spec.catch.map(catcher),
    Next: spec.next,
  };
}

function compileState(spec: AnyStateSpec, options: CompileOptions): AslState {
  switch (spec.kind) {
    case 'task':
      return spec.answer ? compileAnswerTask(spec, spec.answer, options) : compileTask(spec, options);
    case 'choice':
      return {
        Type: 'Choice',
        Comment: spec.summary,
        Choices: spec.when.map((w) => ({ ...fieldIsTrue(String(w.guard.field)), Next: w.next })),
        Default: spec.otherwise,
      };
    case 'outcome':
      return {
        Type: 'Choice',
        Comment: spec.summary,
        Choices: [
          { Not: { Variable: '$.error', IsPresent: true }, Next: spec.succeeded },
          {
            And: [{ Variable: '$.error.Error', IsPresent: true }, { Or: spec.refusedErrors.map((e) => ({ Variable: '$.error.Error', StringEquals: e })) }],
            Next: spec.refused,
          },
        ],
        Default: spec.failed,
      };
    case 'wait':
      // A timestamp already past ends the Wait at once, as the XState delay of what is left does.
      return { Type: 'Wait', Comment: spec.summary, TimestampPath: fieldPath(spec.delay.untilField, `wait state ${spec.name}`), Next: spec.next };
    case 'succeed':
      return { Type: 'Succeed', Comment: spec.summary };
    case 'fail':
      // Every path into a Fail state went through a Catch, which recorded `$.error`.
      return { Type: 'Fail', Comment: spec.summary, ErrorPath: '$.error.Error', CausePath: '$.error.Cause' };
  }
}

/**
 * Compiles a workflow (its spec, or the machine built from it) to a Standard workflow's ASL; the replacement
 * by default. Pure and deterministic: states in the machine's order, keys in a fixed order, so the same
 * machine yields the same JSON string.
 */
export function compileAsl(workflow: AnyWorkflowSpec | AnyStateMachine = replaceMemberMachine, options: CompileOptions = DEFAULT_OPTIONS): AslDefinition {
  const machine = machineOf(workflow);
  const initial = machine.config.initial;
  if (typeof initial !== 'string') throw new Error('machine has no initial state name');
  const names = Object.keys(machine.root.states);
  const states: Record<string, AslState> = {};
  for (const name of names) {
    if (!STATE_NAME.test(name)) throw new Error(`state name ${JSON.stringify(name)} is not a valid Step Functions state name`);
    const spec = specOf(machine, name);
    if (spec.name !== name) throw new Error(`state ${name} carries the spec of ${spec.name}`);
    states[name] = compileState(spec, options);
  }
  for (const [name, state] of Object.entries(states)) {
    for (const target of transitionTargets(state)) {
      if (!(target in states)) throw new Error(`state ${name} goes to ${target}, which the machine does not have`);
    }
  }
  const description = machine.config.description;
  return {
    Comment:
      typeof description === 'string' && description !== ''
        ? description
        : `${machine.id}: compiled from the XState model (statemachine/machine.ts); do not edit by hand`,
    QueryLanguage: 'JSONPath',
    StartAt: initial,
    TimeoutSeconds: options.timeoutSeconds ?? (machine.root.meta as { timeoutSeconds?: number } | undefined)?.timeoutSeconds ?? DEFAULT_RUN_TIMEOUT_SECONDS,
    States: states,
  };
}

/** Every state a state can go to: Next, Catch targets, Choices and Default. */
export function transitionTargets(state: AslState): string[] {
  switch (state.Type) {
    case 'Task':
      return [state.Next, ...state.Catch.map((c) => c.Next)];
    case 'Choice':
      return [...state.Choices.map((c) => c.Next), state.Default];
    case 'Wait':
      return [state.Next];
    default:
      return [];
  }
}

/** The names of the Task states, in the machine's order. */
export function taskStateNames(asl: AslDefinition): string[] {
  return Object.entries(asl.States)
    .filter(([, s]) => s.Type === 'Task')
    .map(([n]) => n);
}
