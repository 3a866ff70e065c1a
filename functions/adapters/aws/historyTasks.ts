// The task states of a Step Functions execution, read from its history events (oldest first): one entry
// each time a task state was entered, with its attempts (a Retry schedules the task again), its result,
// when it ended, and the workflow context it got and gave. Shared by the run document (executions.ts)
// and each member's steps (historyMembers.ts). Pure: no AWS calls.

import type { HistoryEvent } from '@aws-sdk/client-sfn';

export interface TaskEntry {
  name: string;
  /** When the state was entered (absent when the event has no time). */
  startedAt?: string;
  endedAt?: string;
  attempts: number;
  /** The latest attempt's result; absent while it runs. */
  result?: 'succeeded' | 'failed';
  /** The state exited (TaskStateExited): `output` is what it handed on. */
  exited: boolean;
  /** The state's input and output as the history holds them (JSON text). */
  input?: string;
  output?: string;
}

export function taskEntriesOf(events: readonly HistoryEvent[]): TaskEntry[] {
  const entries: TaskEntry[] = [];
  let open: TaskEntry | undefined;
  for (const event of events) {
    const at = event.timestamp?.toISOString();
    switch (event.type) {
      case 'TaskStateEntered': {
        const input = event.stateEnteredEventDetails?.input;
        open = {
          name: event.stateEnteredEventDetails?.name ?? 'unknown',
          ...(at ? { startedAt: at } : {}),
          attempts: 0,
          exited: false,
          ...(input ? { input } : {}),
        };
        entries.push(open);
        break;
      }
      case 'TaskScheduled':
      case 'LambdaFunctionScheduled':
        // A new attempt: a failure before it was retried, and this attempt has no result yet.
        if (open) {
          open.attempts += 1;
          delete open.result;
        }
        break;
      case 'TaskSucceeded':
      case 'LambdaFunctionSucceeded':
        if (open) open.result = 'succeeded';
        break;
      case 'TaskFailed':
      case 'TaskTimedOut':
      case 'TaskStartFailed':
      case 'TaskSubmitFailed':
      case 'LambdaFunctionFailed':
      case 'LambdaFunctionTimedOut':
      case 'LambdaFunctionStartFailed':
      case 'LambdaFunctionScheduleFailed':
        if (open) {
          open.result = 'failed';
          if (at) open.endedAt = at;
        }
        break;
      case 'TaskStateExited':
        if (open) {
          open.exited = true;
          const output = event.stateExitedEventDetails?.output;
          if (output !== undefined) open.output = output;
          if (at) open.endedAt = at;
          open = undefined;
        }
        break;
      default:
        break;
    }
  }
  return entries;
}
