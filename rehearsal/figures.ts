// The run as AWS would take it (the emulated services add AWS's latency, latency.ts): the time from the
// triggering event to full strength, by phase, and the AWS calls it made.
//
// Phases, from the execution's history: before the window (the event to the end of the first
// observation, CheckClusterHealth), the window (from there to the start of the second observation,
// ConfirmMemberFailed: the steps that run inside it and the WaitGraceWindow state's wait), after the
// window (from there to full strength: the end of VerifyClusterHealth, every member healthy).
// The calls: every request the AWS endpoint answered, by operation, plus the Lambda invocations (the
// state machine's tasks and EventBridge's targets, made by the services themselves); SSM's by step
// (the step function that made them).

import type { LambdaService } from './lambdaService.ts';
import type { Execution, HistoryEvent } from './stepFunctions.ts';

export interface PhaseSeconds {
  endToEnd: number;
  before: number;
  window: number;
  after: number;
  /** The WaitGraceWindow state's own wait, part of the window. */
  waited: number;
}

export interface AwsFigures {
  /** Undefined when the run did not reach full strength. */
  seconds?: PhaseSeconds;
  calls: Record<string, number>;
  /** SSM calls by step (or by function, for a function that is no step), by operation. */
  ssmBySteps: Record<string, Record<string, number>>;
}

const FIRST_CALLS = ['SendCommand', 'GetCommandInvocation', 'DescribeInstanceInformation'];

function stateTimes(history: HistoryEvent[], name: string, type: 'Entered' | 'Exited'): number[] {
  const key = type === 'Entered' ? 'stateEnteredEventDetails' : 'stateExitedEventDetails';
  return history.filter((e) => e.type.endsWith(`State${type}`) && (e[key] as { name?: string } | undefined)?.name === name).map((e) => e.timestamp);
}

export function phasesOf(t0: number, history: HistoryEvent[]): PhaseSeconds | undefined {
  const first = stateTimes(history, 'CheckClusterHealth', 'Exited').at(-1);
  const second = stateTimes(history, 'ConfirmMemberFailed', 'Entered').find((t) => first !== undefined && t >= first);
  const full = stateTimes(history, 'VerifyClusterHealth', 'Exited').at(-1);
  if (first === undefined || second === undefined || full === undefined) return undefined;
  const waitIn = stateTimes(history, 'WaitGraceWindow', 'Entered').at(-1);
  const waitOut = stateTimes(history, 'WaitGraceWindow', 'Exited').at(-1);
  const s = (ms: number) => ms / 1000;
  return {
    endToEnd: s(full - t0),
    before: s(first - t0),
    window: s(second - first),
    after: s(full - second),
    waited: waitIn !== undefined && waitOut !== undefined ? s(waitOut - waitIn) : 0,
  };
}

export function awsFigures(run: {
  t0: number;
  execution: Execution;
  requests: ReadonlyArray<{ caller: string; service: string; operation: string; at: number }>;
  lambdas: Pick<LambdaService, 'invocations'>;
}): AwsFigures {
  const calls: Record<string, number> = {};
  const ssmBySteps: Record<string, Record<string, number>> = {};
  // One function runs every step: a request is the step's whose invocation of its caller was running then.
  const stepOf = (caller: string, at: number) =>
    run.lambdas.invocations.find((i) => i.functionName === caller && i.startedAt <= at && at <= i.startedAt + i.durationMs)?.step ?? caller;
  for (const q of run.requests) {
    calls[q.operation] = (calls[q.operation] ?? 0) + 1;
    if (q.service !== 'ssm') continue;
    const step = (ssmBySteps[stepOf(q.caller, q.at)] ??= {});
    step[q.operation] = (step[q.operation] ?? 0) + 1;
  }
  calls['Invoke'] = run.lambdas.invocations.filter((i) => i.startedAt >= run.t0).length;
  const seconds = phasesOf(run.t0, run.execution.history);
  return { ...(seconds ? { seconds } : {}), calls, ssmBySteps };
}

const f1 = (n: number) => n.toFixed(1);

/** The figures, one line each; the last two are `end to end: …` and `calls: …`. */
export function figureLines(figures: AwsFigures): string[] {
  const { seconds, calls, ssmBySteps } = figures;
  const ordered = [
    ...FIRST_CALLS.map((op) => [op, calls[op] ?? 0] as const),
    ...Object.entries(calls)
      .filter(([op]) => !FIRST_CALLS.includes(op))
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
  ];
  const bySteps = Object.entries(ssmBySteps).map(
    ([step, ops]) => `${step} ${ops['SendCommand'] ?? 0}/${ops['GetCommandInvocation'] ?? 0}/${ops['DescribeInstanceInformation'] ?? 0}`,
  );
  return [
    ...(seconds ? [`grace window: the WaitGraceWindow state waited ${f1(seconds.waited)} s`] : []),
    `SSM calls by step (SendCommand/GetCommandInvocation/DescribeInstanceInformation): ${bySteps.join(', ') || 'none'}`,
    seconds
      ? `end to end: ${f1(seconds.endToEnd)} s (before the window ${f1(seconds.before)} s, window ${f1(seconds.window)} s, after ${f1(seconds.after)} s)`
      : 'end to end: - (the run did not reach full strength)',
    `calls: ${ordered.map(([op, n]) => `${op} ${n}`).join(', ')}`,
  ];
}
