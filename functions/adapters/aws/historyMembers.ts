// Each member of a run that replaces several, read from its Step Functions execution history: the history
// names no member, but each task state's input and output is the workflow context, which says which member
// the step worked on (statemachine/members.ts). A per-member step that ran for two members is two steps
// here, each named as the sandbox's run record names it (`master-3 → etcd-spare-0 (1 of 2)`), so that the
// run view (`status`, `history --target aws`), the audit record and the notification show each member's
// steps as the sandbox shows them. Pure: no AWS calls. A run that replaces one member has none.

import type { HistoryEvent } from '@aws-sdk/client-sfn';
import type { StepRecord } from '../../ports.ts';
import type { WorkflowContext } from '../../../statemachine/context.ts';
import { memberBeforeTakeIn, memberOfFailedStep, memberOfStep, replacesSeveral } from '../../../statemachine/members.ts';
import { taskEntriesOf, type TaskEntry } from './historyTasks.ts';

const asObject = (text: string | undefined | null): Record<string, unknown> | undefined => {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

const isContext = (value: Record<string, unknown> | undefined): value is Record<string, unknown> =>
  value !== undefined && typeof value['request'] === 'object' && value['request'] !== null;

/**
 * The workflow context the execution ended with (or is at): the input of the final state it entered,
 * else the latest state input or output the history shows.
 */
export function finalContextFromHistory(events: readonly HistoryEvent[]): Record<string, unknown> {
  let latest: Record<string, unknown> | undefined;
  for (const event of events) {
    const parsed = asObject(event.stateEnteredEventDetails?.input ?? event.stateExitedEventDetails?.output);
    if (isContext(parsed)) latest = parsed;
    if ((event.type === 'SucceedStateEntered' || event.type === 'FailStateEntered') && parsed) return parsed;
  }
  return latest ?? {};
}

/**
 * The member a task state worked on: from its output when the step returned (the first step of a loop's
 * body loads its member there), else from its input, with the member a loop's first step would have
 * loaded when it failed before returning.
 */
function memberOfEntry(entry: TaskEntry, final: WorkflowContext | null): string | null {
  const parsed = asObject(entry.input);
  if (!isContext(parsed)) return null;
  const input = parsed as unknown as WorkflowContext;
  // A step of the run while it had one member, before it took others in: the first member's.
  if (!replacesSeveral(input)) return final ? memberBeforeTakeIn(entry.name, final) : null;
  const output = entry.exited ? asObject(entry.output) : undefined;
  if (output && entry.result === 'succeeded') return memberOfStep(entry.name, { ...input, ...(output as unknown as WorkflowContext) });
  return memberOfFailedStep(entry.name, input);
}

/**
 * Every per-member step of a run that replaces several members, in the order they ran, each named with its
 * member (StepRecord.member); a step entered again for the same member (a retry by a Catch, a redrive) is one
 * step whose attempts add up. Empty for a run that replaces one member. `endedAt`: when the execution ended
 * (null while it runs), the end of a step the end of the execution cut off.
 */
export function memberStepsFromHistory(events: readonly HistoryEvent[], endedAt: string | null): StepRecord[] {
  const entries = taskEntriesOf(events);
  const last = finalContextFromHistory(events);
  const final = isContext(last) ? (last as unknown as WorkflowContext) : null;
  const running = endedAt === null;
  const merged = new Map<string, StepRecord>();
  for (const entry of entries) {
    const member = memberOfEntry(entry, final);
    if (!member) continue;
    const status: StepRecord['status'] = entry.result === 'succeeded' ? 'succeeded' : entry.result === 'failed' || !running ? 'failed' : 'running';
    const key = `${entry.name}\n${member}`;
    const before = merged.get(key);
    const startedAt = entry.startedAt ?? '';
    const end = status === 'running' ? undefined : (entry.endedAt ?? endedAt ?? startedAt);
    merged.set(key, {
      name: entry.name,
      status,
      startedAt: before?.startedAt ?? startedAt,
      ...(end !== undefined ? { endedAt: end } : {}),
      attempts: (before?.attempts ?? 0) + entry.attempts,
      member,
    });
  }
  return [...merged.values()];
}
