// The rehearsal's figures (rehearsal/figures.ts): phases from the execution's history, every AWS call
// counted, SSM's by the step function that made them, and the closing lines in their fixed format.

import { describe, expect, it } from 'vitest';
import { awsFigures, figureLines, phasesOf } from '../../rehearsal/figures.ts';
import type { LambdaService } from '../../rehearsal/lambdaService.ts';
import type { Execution, HistoryEvent } from '../../rehearsal/stepFunctions.ts';

const T0 = 1_000_000;

function history(states: Array<[string, string, number, number]>): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const [kind, name, entered, exited] of states) {
    events.push({
      id: events.length + 1,
      previousEventId: events.length,
      timestamp: T0 + entered,
      type: `${kind}StateEntered`,
      stateEnteredEventDetails: { name },
    });
    events.push({
      id: events.length + 1,
      previousEventId: events.length,
      timestamp: T0 + exited,
      type: `${kind}StateExited`,
      stateExitedEventDetails: { name },
    });
  }
  return events;
}

const RUN = history([
  ['Task', 'ValidateInput', 500, 1500],
  ['Task', 'CheckClusterHealth', 1500, 4000],
  ['Task', 'SnapshotCluster', 4000, 9000],
  ['Wait', 'WaitGraceWindow', 9000, 64000],
  ['Task', 'ConfirmMemberFailed', 64000, 66000],
  ['Task', 'StartNewMember', 66000, 80000],
  ['Task', 'VerifyClusterHealth', 80000, 83500],
  ['Task', 'RollMasters', 83500, 90000],
]);

describe('rehearsal figures', () => {
  it('splits the time from the event to full strength into before the window, the window and after', () => {
    expect(phasesOf(T0, RUN)).toEqual({ endToEnd: 83.5, before: 4, window: 60, after: 19.5, waited: 55 });
  });

  it('gives no phases for a run that did not reach full strength', () => {
    expect(
      phasesOf(
        T0,
        RUN.filter((e) => (e['stateExitedEventDetails'] as { name?: string } | undefined)?.name !== 'VerifyClusterHealth'),
      ),
    ).toBeUndefined();
  });

  it('counts every call by operation, the Lambda invocations since the event, and SSM by the step whose invocation made it', () => {
    // One step function runs every step: each request is the step's that was running in its caller then.
    const lambdas = {
      invocations: [
        { functionName: 'fn-signal', startedAt: T0 - 1, durationMs: 1 },
        { functionName: 'fn-steps', step: 'CheckClusterHealth', startedAt: T0 + 1, durationMs: 10 },
        { functionName: 'fn-steps', step: 'StartNewMember', startedAt: T0 + 20, durationMs: 10 },
      ],
    } as unknown as LambdaService;
    const requests = [
      { caller: 'fn-steps', service: 'ssm', operation: 'SendCommand', at: T0 + 2 },
      { caller: 'fn-steps', service: 'ssm', operation: 'GetCommandInvocation', at: T0 + 5 },
      { caller: 'fn-steps', service: 'ssm', operation: 'GetCommandInvocation', at: T0 + 11 },
      { caller: 'fn-steps', service: 'ssm', operation: 'SendCommand', at: T0 + 20 },
      { caller: 'fn-steps', service: 'dynamodb', operation: 'GetItem', at: T0 + 21 },
      { caller: 'fn-signal', service: 'ec2', operation: 'DescribeInstances', at: T0 - 1 },
    ];
    const figures = awsFigures({ t0: T0, execution: { history: RUN } as Execution, requests, lambdas });
    expect(figures.calls).toEqual({ SendCommand: 2, GetCommandInvocation: 2, GetItem: 1, DescribeInstances: 1, Invoke: 2 });
    expect(figures.ssmBySteps).toEqual({ CheckClusterHealth: { SendCommand: 1, GetCommandInvocation: 2 }, StartNewMember: { SendCommand: 1 } });
    expect(figureLines(figures)).toEqual([
      'grace window: the WaitGraceWindow state waited 55.0 s',
      'SSM calls by step (SendCommand/GetCommandInvocation/DescribeInstanceInformation): CheckClusterHealth 1/2/0, StartNewMember 1/0/0',
      'end to end: 83.5 s (before the window 4.0 s, window 60.0 s, after 19.5 s)',
      'calls: SendCommand 2, GetCommandInvocation 2, DescribeInstanceInformation 0, Invoke 2, DescribeInstances 1, GetItem 1',
    ]);
  });
});
