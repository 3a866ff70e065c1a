// The steps of an execution as it runs (`run --target aws --wait`): its history, read again as it grows,
// becomes the sandbox run's progress events, printed as the same ▶/✓/✗ lines (cli/printers/text.ts).

import { GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import { reasonOf } from '../../functions/adapters/aws/executions.ts';
import type { ProgressEvent } from '../../functions/workflow/localRun.ts';

type Failure = { error?: string | undefined; cause?: string | undefined };

/** The error and cause of a task or Lambda failure event, whichever kind it is. */
function failureOf(event: HistoryEvent): Failure | undefined {
  return (
    event.taskFailedEventDetails ??
    event.taskTimedOutEventDetails ??
    event.taskStartFailedEventDetails ??
    event.taskSubmitFailedEventDetails ??
    event.lambdaFunctionFailedEventDetails ??
    event.lambdaFunctionTimedOutEventDetails ??
    event.lambdaFunctionStartFailedEventDetails ??
    event.lambdaFunctionScheduleFailedEventDetails ??
    event.executionFailedEventDetails ??
    event.executionTimedOutEventDetails ??
    event.executionAbortedEventDetails
  );
}

const FAILURE_EVENTS = new Set([
  'TaskFailed',
  'TaskTimedOut',
  'TaskStartFailed',
  'TaskSubmitFailed',
  'LambdaFunctionFailed',
  'LambdaFunctionTimedOut',
  'LambdaFunctionStartFailed',
  'LambdaFunctionScheduleFailed',
]);
const EXECUTION_END_EVENTS = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionTimedOut', 'ExecutionAborted']);

/**
 * An execution's history, read again as it grows, as the sandbox run's progress events: a task
 * scheduled starts a step (▶, or ↻ for a retry, after the failure it retries), a task state exiting
 * ends it (✓ or ✗ with the error), and an execution that ends inside a task ends that step with the
 * execution's error. Each event is handled once, by its id.
 */
export class HistoryProgress {
  private seen = 0;
  private open: { name: string; enteredAt: number; attempts: number; succeeded: boolean; failure?: { text: string; at: number } } | undefined;

  constructor(private readonly emit: (event: ProgressEvent) => void) {}

  /** The id of the newest event handled so far (0 before any). */
  get lastEventId(): number {
    return this.seen;
  }

  /** Handles the events newer than the last one handled, in id order. */
  update(events: readonly HistoryEvent[]): void {
    const fresh = events.filter((e) => (e.id ?? 0) > this.seen).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    for (const event of fresh) {
      this.seen = event.id ?? this.seen;
      this.handle(event);
    }
  }

  private handle(event: HistoryEvent): void {
    const at = event.timestamp?.getTime() ?? Date.now();
    const open = this.open;
    const type = event.type ?? '';
    if (type === 'TaskStateEntered') {
      this.open = { name: event.stateEnteredEventDetails?.name ?? 'unknown', enteredAt: at, attempts: 0, succeeded: false };
    } else if (type === 'WaitStateEntered') {
      this.emit({ type: 'state', state: event.stateEnteredEventDetails?.name ?? 'unknown' });
    } else if (!open) {
      return;
    } else if (type === 'TaskScheduled' || type === 'LambdaFunctionScheduled') {
      open.attempts += 1;
      if (open.failure) {
        const delaySeconds = Math.round((at - open.failure.at) / 100) / 10;
        this.emit({ type: 'step-retry', step: open.name, attempt: open.attempts, error: open.failure.text, delaySeconds });
        delete open.failure;
      }
      this.emit({ type: 'step-start', step: open.name, attempt: open.attempts });
    } else if (type === 'TaskSucceeded' || type === 'LambdaFunctionSucceeded') {
      open.succeeded = true;
      delete open.failure;
    } else if (FAILURE_EVENTS.has(type)) {
      const failure = failureOf(event);
      open.failure = { text: reasonOf(failure?.error, failure?.cause) ?? type, at };
    } else if (type === 'TaskStateExited' || EXECUTION_END_EVENTS.has(type)) {
      const failure = type === 'TaskStateExited' ? undefined : failureOf(event);
      const detail = open.failure?.text ?? (failure ? (reasonOf(failure.error, failure.cause) ?? '') : '');
      const status = open.succeeded ? 'succeeded' : 'failed';
      this.emit({
        type: 'step-end',
        step: open.name,
        status,
        ms: at - open.enteredAt,
        detail: status === 'failed' ? detail || type : '',
        attempts: open.attempts,
      });
      this.open = undefined;
    }
  }
}

/** The history events after `afterId`, oldest first: newest-first pages are read until they reach it. */
export async function eventsAfter(client: SFNClient, executionArn: string, afterId: number): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const out = await client.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, includeExecutionData: true, ...(nextToken ? { nextToken } : {}) }),
    );
    const page = out.events ?? [];
    events.push(...page);
    if (page.some((e) => (e.id ?? 0) <= afterId)) break;
    nextToken = out.nextToken;
  } while (nextToken);
  return events.filter((e) => (e.id ?? 0) > afterId).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}
