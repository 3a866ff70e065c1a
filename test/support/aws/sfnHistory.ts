// Builds realistic Step Functions execution histories of the compiled replacement machine: the event
// types, details and ordering GetExecutionHistory returns for the optimized Lambda integration
// (TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded|TaskFailed, TaskStateExited; a Retry
// is a TaskFailed followed by another TaskScheduled within the same state; a caught error still
// exits the state; an uncaught one goes straight to ExecutionFailed).

import type { HistoryEvent } from '@aws-sdk/client-sfn';

export const T0 = Date.parse('2026-03-02T10:00:00.000Z');

/** A Lambda error's cause as Step Functions records it for a Node.js function. */
export function lambdaCause(errorType: string, errorMessage: string): string {
  return JSON.stringify({ errorType, errorMessage, trace: [`${errorType}: ${errorMessage}`, '    at step (/var/task/index.js:1:1)'] });
}

export class HistoryBuilder {
  readonly events: HistoryEvent[] = [];
  private id = 0;
  private clock: number;
  context: Record<string, unknown>;

  constructor(input: Record<string, unknown>, start = T0) {
    this.clock = start;
    this.context = input;
    this.push('ExecutionStarted', {
      executionStartedEventDetails: { input: JSON.stringify(input), inputDetails: { truncated: false }, roleArn: 'arn:aws:iam::123456789012:role/sfn' },
    });
  }

  private push(type: string, details: Partial<HistoryEvent>, advanceMs = 1000): this {
    this.clock += advanceMs;
    this.id += 1;
    this.events.push({ id: this.id, previousEventId: this.id - 1, timestamp: new Date(this.clock), type: type as HistoryEvent['type'], ...details });
    return this;
  }

  /** The time of the last event. */
  get now(): Date {
    return new Date(this.clock);
  }

  private entered(kind: string, name: string): this {
    return this.push(`${kind}StateEntered`, { stateEnteredEventDetails: { name, input: JSON.stringify(this.context), inputDetails: { truncated: false } } });
  }

  private exited(kind: string, name: string): this {
    return this.push(`${kind}StateExited`, { stateExitedEventDetails: { name, output: JSON.stringify(this.context), outputDetails: { truncated: false } } });
  }

  private scheduled(): this {
    return this.push('TaskScheduled', {
      taskScheduledEventDetails: { resourceType: 'lambda', resource: 'invoke', region: 'eu-west-1', parameters: '{"FunctionName":"fn","Payload":{}}' },
    }).push('TaskStarted', {
      taskStartedEventDetails: { resourceType: 'lambda', resource: 'invoke' },
    });
  }

  private taskFailed(error: string, message: string): this {
    return this.push('TaskFailed', { taskFailedEventDetails: { resourceType: 'lambda', resource: 'invoke', error, cause: lambdaCause(error, message) } }, 5000);
  }

  /** A task that succeeds after `failures` retried errors; `output` is merged into the context. */
  task(name: string, options: { failures?: string[]; output?: Record<string, unknown> } = {}): this {
    this.entered('Task', name);
    for (const error of options.failures ?? []) this.scheduled().taskFailed(error, `${name} hiccup`);
    this.scheduled();
    this.context = { ...this.context, ...options.output };
    this.push(
      'TaskSucceeded',
      { taskSucceededEventDetails: { resourceType: 'lambda', resource: 'invoke', output: JSON.stringify({ Payload: this.context, StatusCode: 200 }) } },
      4000,
    );
    return this.exited('Task', name);
  }

  /** A task whose error is caught (Catch to ResultPath $.error): the state still exits. */
  caughtTask(name: string, error: string, message: string, options: { failures?: string[] } = {}): this {
    this.entered('Task', name);
    for (const e of options.failures ?? []) this.scheduled().taskFailed(e, `${name} hiccup`);
    this.scheduled().taskFailed(error, message);
    this.context = { ...this.context, error: { Error: error, Cause: lambdaCause(error, message) } };
    return this.exited('Task', name);
  }

  /** A task whose error nothing catches: the execution fails right after it. */
  uncaughtTask(name: string, error: string, message: string): this {
    this.entered('Task', name);
    this.scheduled().taskFailed(error, message);
    return this.push('ExecutionFailed', { executionFailedEventDetails: { error, cause: lambdaCause(error, message) } });
  }

  /** A task that has been scheduled and not answered yet (a running execution). */
  runningTask(name: string): this {
    return this.entered('Task', name).scheduled();
  }

  choice(name: string): this {
    return this.entered('Choice', name).exited('Choice', name);
  }

  wait(name: string, seconds: number): this {
    this.entered('Wait', name);
    return this.push('WaitStateExited', { stateExitedEventDetails: { name, output: JSON.stringify(this.context) } }, seconds * 1000);
  }

  succeed(): this {
    this.entered('Succeed', 'Succeeded').exited('Succeed', 'Succeeded');
    return this.push('ExecutionSucceeded', { executionSucceededEventDetails: { output: JSON.stringify(this.context), outputDetails: { truncated: false } } });
  }

  /** A Fail state (Failed or Refused) with ErrorPath/CausePath on the recorded $.error. */
  fail(name: 'Failed' | 'Refused'): this {
    this.entered('Fail', name);
    const error = this.context['error'] as { Error: string; Cause: string };
    return this.push('ExecutionFailed', { executionFailedEventDetails: { error: error.Error, cause: error.Cause } });
  }

  timedOut(): this {
    return this.push('ExecutionTimedOut', { executionTimedOutEventDetails: {} });
  }

  aborted(): this {
    return this.push('ExecutionAborted', { executionAbortedEventDetails: {} });
  }
}

/** Every task of a healthy replacement, in order (the failed host unreachable, the new member a learner). */
export function successfulRun(input: Record<string, unknown>): HistoryBuilder {
  return new HistoryBuilder(input)
    .task('ValidateInput', { output: { runId: 'x', request: input, options: {} } })
    .task('AcquireLock', { failures: ['ConditionalCheckFailedException'] })
    .task('CheckClusterHealth')
    .wait('WaitGraceWindow', 60)
    .task('ConfirmMemberFailed')
    .task('SnapshotCluster')
    .task('IssueCertificates')
    .task('VerifyCertificates')
    .task('RemoveFailedMember')
    .task('StopFailedMember', { output: { failedHostReachable: false } })
    .choice('IsFailedHostReachable')
    .choice('ArePeerUrlsOnLocalhost')
    .task('AddMember', { output: { addedAsLearner: true } })
    .task('ConfigureNewMember')
    .task('UpdateInventory')
    .task('OpenEtcdPorts')
    .task('InstallEtcd', { failures: ['HostCommandError', 'HostCommandError'] })
    .task('StartNewMember')
    .choice('IsNewMemberLearner')
    .task('PromoteNewMember')
    .task('VerifyClusterHealth')
    .task('RollMasters')
    .task('UpdateFlannel')
    .task('ReleaseLock')
    .choice('RouteOutcome')
    .succeed();
}
