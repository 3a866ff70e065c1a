// Runs on AWS as Step Functions executions: start one (deduplicated by a deterministic name), read
// one back, list them. A run's result document is built from the execution's history alone:
// runDocumentFromHistory() is pure and reads task states entered and exited, TaskScheduled per
// attempt, and the final state (Succeeded, Refused or Failed) the compiled ASL ends in.
//
// The document is the run view (functions/workflow/runView.ts), as the sandbox run's, plus the execution's ARN
// and name, who started it, and `outcome: "running"` while the execution runs.

import { createHash } from 'node:crypto';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { TASKS } from '../../../statemachine/spec.ts';
import { successReason } from '../../../statemachine/earlierRun.ts';
import type { WorkflowContext } from '../../../statemachine/context.ts';
import { runIdFromExecutionName } from '../../handlers/event.ts';
import { errorName } from '../../errors.ts';
import { membersOf, type RunOutcome, type RunStep, type RunView } from '../../workflow/runView.ts';
import { finalContextFromHistory, memberStepsFromHistory } from './historyMembers.ts';
import { taskEntriesOf } from './historyTasks.ts';

/** The run view (functions/workflow/runView.ts) of an execution, with its ARN, name and who started it. */
export interface RunDocument extends RunView {
  executionArn: string;
  executionName: string;
  /** The execution input's `startedBy` (cli:<user>, console:<user>, alarm:<alarm name>). */
  startedBy: string | null;
}

/** What the mapping needs to know about the execution besides its history. */
export interface ExecutionFacts {
  executionArn: string;
  name: string;
  /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE. */
  status: string;
  startDate: Date;
  stopDate?: Date | undefined;
  /** DescribeExecution's input, used when the history carries none. */
  input?: string | undefined;
  error?: string | undefined;
  cause?: string | undefined;
}

/** Final states of the compiled machine (statemachine/spec.ts) and the outcome each means. */
const FINAL_STATES: Record<string, Exclude<RunOutcome, 'running'>> = { Succeeded: 'succeeded', Refused: 'refused', Failed: 'failed' };

/** Minutes in one time bucket of the default execution name: a second start in the same bucket is a duplicate. */
export const EXECUTION_NAME_BUCKET_MINUTES = 60;

/** Step Functions execution names this tool accepts (and CloudWatch logging can carry). */
export const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]{1,80})$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):execution:([A-Za-z0-9_-]{1,80}):([^\s:]{1,80})$/;

export function isStateMachineArn(value: string): boolean {
  return STATE_MACHINE_ARN.test(value);
}

export function isExecutionArn(value: string): boolean {
  return EXECUTION_ARN.test(value);
}

/** The region a state machine or execution ARN lives in: the only region its API calls can go to. */
export function regionOfArn(arn: string): string | undefined {
  return STATE_MACHINE_ARN.exec(arn)?.[1] ?? EXECUTION_ARN.exec(arn)?.[1];
}

/** The ARN an execution of a Standard state machine gets for a name. */
export function executionArnFor(stateMachineArn: string, name: string): string {
  if (!isStateMachineArn(stateMachineArn)) throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

function slug(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
}

/**
 * The default execution name of a request: cluster, failed member and the UTC hour it starts in, with
 * a hash of the exact cluster and failed values (slugs of different values can coincide), e.g.
 * `ocp311-master-2-ocp311-example-internal-3f9a0c1d-20250114-09`. At most 78 characters of a-z 0-9 -.
 * Two starts for the same failed member within the same hour get the same name, and Step Functions
 * refuses the second (ExecutionAlreadyExists) or, for identical input while the first runs, returns
 * the first.
 */
export function defaultExecutionName(request: { cluster: string; failed: string }, now: Date): string {
  const hash = createHash('sha256').update(`${request.cluster}\n${request.failed}`).digest('hex').slice(0, 8);
  const bucketMs = EXECUTION_NAME_BUCKET_MINUTES * 60_000;
  const bucket = new Date(Math.floor(now.getTime() / bucketMs) * bucketMs).toISOString();
  const stamp = `${bucket.slice(0, 10).replace(/-/g, '')}-${bucket.slice(11, 13)}${EXECUTION_NAME_BUCKET_MINUTES < 60 ? bucket.slice(14, 16) : ''}`;
  const parts = [slug(request.cluster, 24) || 'cluster', slug(request.failed, 32) || 'member', hash, stamp];
  return parts.join('-');
}

function iso(date: Date | undefined): string | undefined {
  return date === undefined ? undefined : date.toISOString();
}

/** The JSON value of a history field, or undefined when it is absent or not JSON. */
export function parseJson(text: string | undefined | null): unknown {
  if (text === undefined || text === null || text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `startedBy` of an execution input: a bare request, or a workflow context carrying one. */
export function startedByOf(input: string | undefined): string | null {
  const parsed = parseJson(input);
  if (!isObject(parsed)) return null;
  if (typeof parsed['startedBy'] === 'string') return parsed['startedBy'];
  const request = parsed['request'];
  return isObject(request) && typeof request['startedBy'] === 'string' ? request['startedBy'] : null;
}

/**
 * `Error: message` as the sandbox run records it. A Lambda error's cause is the JSON Lambda reports
 * (`{errorType, errorMessage, trace}`): only its message is kept, never the stack.
 */
export function reasonOf(error: string | undefined, cause: string | undefined): string | null {
  if (!error && !cause) return null;
  const parsed = parseJson(cause);
  const message = isObject(parsed) && typeof parsed['errorMessage'] === 'string' ? parsed['errorMessage'] : (cause ?? '');
  return `${error || 'Error'}: ${message}`.replace(/: $/, '');
}

/**
 * The run result document of an execution from its history events (oldest first). Steps come in
 * runbook order (`taskNames`); on an ended run a task never entered is `skipped` with 0 attempts, as
 * in the sandbox's timeline; a task entered twice is one step whose attempts add up.
 */
export function runDocumentFromHistory(
  execution: ExecutionFacts,
  events: readonly HistoryEvent[],
  taskNames: readonly string[] = TASKS.map((t) => t.name),
): RunDocument {
  const entries = taskEntriesOf(events);
  let finalState: string | undefined;
  let ended: { at?: string; outcome: Exclude<RunOutcome, 'running'>; error?: string | undefined; cause?: string | undefined } | undefined;
  let input: string | undefined;

  for (const event of events) {
    const at = iso(event.timestamp);
    switch (event.type) {
      case 'ExecutionStarted':
        input = event.executionStartedEventDetails?.input;
        break;
      case 'SucceedStateEntered':
      case 'FailStateEntered':
        finalState = event.stateEnteredEventDetails?.name;
        break;
      case 'ExecutionSucceeded':
        ended = { ...(at ? { at } : {}), outcome: 'succeeded' };
        break;
      case 'ExecutionFailed':
        ended = { ...(at ? { at } : {}), outcome: 'failed', error: event.executionFailedEventDetails?.error, cause: event.executionFailedEventDetails?.cause };
        break;
      case 'ExecutionTimedOut':
        ended = {
          ...(at ? { at } : {}),
          outcome: 'failed',
          error: event.executionTimedOutEventDetails?.error ?? 'States.Timeout',
          cause: event.executionTimedOutEventDetails?.cause ?? 'the execution exceeded its TimeoutSeconds',
        };
        break;
      case 'ExecutionAborted':
        ended = {
          ...(at ? { at } : {}),
          outcome: 'failed',
          error: event.executionAbortedEventDetails?.error ?? 'ExecutionAborted',
          cause: event.executionAbortedEventDetails?.cause ?? 'the execution was stopped',
        };
        break;
      default:
        break;
    }
  }

  const running = ended === undefined && execution.status === 'RUNNING';
  const endedAt = running ? null : (ended?.at ?? iso(execution.stopDate) ?? events.at(-1)?.timestamp?.toISOString() ?? execution.startDate.toISOString());
  const final = finalState !== undefined && Object.hasOwn(FINAL_STATES, finalState) ? FINAL_STATES[finalState] : undefined;
  let outcome: RunOutcome;
  if (running) outcome = 'running';
  else if (final) outcome = final;
  else if (ended) outcome = ended.outcome;
  else outcome = execution.status === 'SUCCEEDED' ? 'succeeded' : 'failed';
  const output = parseJson(entries.filter((e) => e.exited).at(-1)?.output);
  // A success says why only when it was no replacement: a request an earlier run had carried out.
  const succeededBecause = outcome === 'succeeded' && isObject(output) ? successReason(output as Partial<WorkflowContext>) : null;
  const reason = running ? null : outcome === 'succeeded' ? succeededBecause : reasonOf(ended?.error ?? execution.error, ended?.cause ?? execution.cause);

  // Merge repeated entries of one task; close what the end of the execution cut off.
  const merged = new Map<string, RunStep>();
  for (const entry of entries) {
    let status: RunStep['status'];
    if (entry.result === 'succeeded') status = 'succeeded';
    else if (entry.result === 'failed' || !running) status = 'failed';
    else status = 'running';
    const startedAt = entry.startedAt ?? execution.startDate.toISOString();
    const stepEnd = status === 'running' ? null : (entry.endedAt ?? endedAt ?? startedAt);
    const before = merged.get(entry.name);
    merged.set(entry.name, {
      name: entry.name,
      status,
      startedAt: before?.startedAt ?? startedAt,
      endedAt: stepEnd,
      attempts: (before?.attempts ?? 0) + entry.attempts,
    });
  }
  const steps: RunStep[] = [];
  for (const name of taskNames) {
    const step = merged.get(name);
    if (step) steps.push(step);
    else if (!running) steps.push({ name, status: 'skipped', startedAt: endedAt!, endedAt: endedAt!, attempts: 0 });
  }
  for (const [name, step] of merged) if (!taskNames.includes(name)) steps.push(step);

  // A run that replaces several members: each with its replacement and its own steps, as the sandbox's run view has them.
  const members = membersOf(finalContextFromHistory(events) as Partial<WorkflowContext>, memberStepsFromHistory(events, endedAt), running);
  const remaining = isObject(output) && Array.isArray(output['remaining']) ? output['remaining'].filter((r): r is string => typeof r === 'string') : [];

  return {
    runId: runIdFromExecutionName(execution.name),
    outcome,
    reason,
    startedAt: execution.startDate.toISOString(),
    endedAt,
    steps,
    ...(remaining.length > 0 && !running ? { remaining } : {}),
    ...(members ? { members } : {}),
    executionArn: execution.executionArn,
    executionName: execution.name,
    startedBy: startedByOf(input ?? execution.input),
  };
}

export type StartResult =
  | { started: true; executionArn: string; startDate: string }
  /** An execution of that name exists already: nothing was started. */
  | { started: false; existing: RunDocument };

function factsOf(out: DescribeExecutionCommandOutput): ExecutionFacts {
  return {
    executionArn: out.executionArn!,
    name: out.name!,
    status: out.status ?? 'RUNNING',
    startDate: out.startDate ?? new Date(0),
    stopDate: out.stopDate,
    input: out.input,
    error: out.error,
    cause: out.cause,
  };
}

/** Executions of the replacement state machine, over an injected SFNClient (region and credentials are the caller's). */
export class StepFunctionsExecutions {
  constructor(
    private readonly client: SFNClient,
    private readonly options: { taskNames?: readonly string[]; concurrency?: number } = {},
  ) {}

  /**
   * Starts an execution named `name` with `input`, unless one of that name exists: then nothing is
   * started and the existing execution's document is returned. (Step Functions keeps names for 90
   * days after an execution ends.)
   */
  async start(stateMachineArn: string, name: string, input: unknown): Promise<StartResult> {
    const executionArn = executionArnFor(stateMachineArn, name);
    const existing = await this.describeRunIfExists(executionArn);
    if (existing) return { started: false, existing };
    try {
      const out = await this.client.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
      return { started: true, executionArn: out.executionArn ?? executionArn, startDate: (out.startDate ?? new Date()).toISOString() };
    } catch (error) {
      // Another start of the same name won the race between the check and this start.
      if (errorName(error) !== 'ExecutionAlreadyExists') throw error;
      return { started: false, existing: await this.describeRun(executionArn) };
    }
  }

  /** DescribeExecution only: the status without the history, for polling. */
  async status(executionArn: string): Promise<string> {
    const out = await this.client.send(new DescribeExecutionCommand({ executionArn }));
    return out.status ?? 'RUNNING';
  }

  /** The run document of one execution: DescribeExecution and its whole history. */
  async describeRun(executionArn: string): Promise<RunDocument> {
    const out = await this.client.send(new DescribeExecutionCommand({ executionArn }));
    return runDocumentFromHistory(factsOf(out), await this.history(executionArn), this.options.taskNames);
  }

  private async describeRunIfExists(executionArn: string): Promise<RunDocument | undefined> {
    try {
      return await this.describeRun(executionArn);
    } catch (error) {
      if (errorName(error) === 'ExecutionDoesNotExist') return undefined;
      throw error;
    }
  }

  /** The newest `limit` executions of the state machine, newest first, each with its run document. */
  async listRuns(stateMachineArn: string, limit: number): Promise<RunDocument[]> {
    const summaries: ExecutionFacts[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(
        new ListExecutionsCommand({ stateMachineArn, maxResults: Math.min(1000, limit - summaries.length), ...(nextToken ? { nextToken } : {}) }),
      );
      for (const e of out.executions ?? []) {
        if (summaries.length >= limit) break;
        summaries.push({
          executionArn: e.executionArn!,
          name: e.name!,
          status: e.status ?? 'RUNNING',
          startDate: e.startDate ?? new Date(0),
          stopDate: e.stopDate,
        });
      }
      nextToken = out.nextToken;
    } while (nextToken && summaries.length < limit);

    const documents: RunDocument[] = new Array<RunDocument>(summaries.length);
    let next = 0;
    const worker = async () => {
      while (next < summaries.length) {
        const i = next++;
        const facts = summaries[i]!;
        documents[i] = runDocumentFromHistory(facts, await this.history(facts.executionArn), this.options.taskNames);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.options.concurrency ?? 4, summaries.length)) }, worker));
    return documents;
  }

  /** Every history event of an execution, oldest first, with state inputs and outputs. */
  async history(executionArn: string): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(
        new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, includeExecutionData: true, ...(nextToken ? { nextToken } : {}) }),
      );
      events.push(...(out.events ?? []));
      nextToken = out.nextToken;
    } while (nextToken);
    return events;
  }
}
