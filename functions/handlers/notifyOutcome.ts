// Run-outcome notification: EventBridge sends each "Step Functions Execution Status Change" of the
// replacement state machine that ends an execution here, and this publishes one message a person reads
// to the outcome topic:
//
//   Subject: ocp311: master-2 replaced by etcd-spare-0 in 74 s
//            ocp311: REFUSED to replace master-1 (healthy)
//            ocp311: FAILED to replace master-2 with etcd-spare-0 at AddMember (NewMemberFailedError)
//   Body:    what happened and why, the step timeline, what is left for a person (the run's own
//            `remaining` and, when the run removed a member, the `members` edit and redeploy the
//            stack needs), and a console link to the execution.
//
// Refused (RefusedError, LockHeldError: nothing unsafe was done) and failed are distinct. For machines
// the message carries attributes: `cluster`, `outcome`, `runId`, `failed`, `replacement`,
// `executionArn`, and `run`, the run's summary as JSON (subscription filter policies can match the
// first ones).
//
// The timeline and the final context come from the execution history (the same reading as the audit
// record, functions/adapters/aws/auditRecord.ts), with what each step reported (TABLE: a step that
// found its work done is `skipped`, not `succeeded`). Only named fields reach the message: no inventory,
// address or artifact key. When the history cannot be read the message says so and still goes out.

import { SFNClient, type HistoryEvent } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient, type MessageAttributeValue } from '@aws-sdk/client-sns';
import type { Logger } from '@aws-lambda-powertools/logger';
import { errorName, InvalidInputError } from '../errors.ts';
import { REFUSED_ERRORS } from '../../statemachine/spec.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { buildAuditRecord, deploymentFollowUp, type AuditRecord, type StepDetail, type WatchedMember } from '../adapters/aws/auditRecord.ts';
import { AuditStore } from '../adapters/aws/auditStore.ts';
import { regionOfArn, StepFunctionsExecutions } from '../adapters/aws/executions.ts';
import { createLogger, createTracer, setLogKeys, traced } from './observability.ts';
import { runIdFromExecutionName } from './event.ts';
import { membersOf, type MemberView } from '../workflow/runView.ts';

/** The parts of the EventBridge event this reads. */
export interface ExecutionStatusEvent {
  detail: {
    executionArn: string;
    name: string;
    status: string;
    /** Epoch milliseconds. */
    startDate?: number | null;
    stopDate?: number | null;
    input?: string | null;
    output?: string | null;
    error?: string | null;
    cause?: string | null;
  };
}

export type Outcome = 'succeeded' | 'refused' | 'failed' | 'timed out' | 'aborted';

export interface OutcomeMessage {
  subject: string;
  message: string;
  outcome: Outcome;
  /** The machine-readable summary sent as the `run` attribute. */
  run: RunSummary;
}

/** What machines get: the run without its context (no addresses, no artifact keys). */
export interface RunSummary {
  runId: string;
  cluster: string;
  outcome: Outcome;
  reason: string | null;
  failed: string;
  replacement: string | null;
  startedBy: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  /** In a run that replaces several members, each per-member step names its member: `master-3 → etcd-spare-0 (1 of 2)`. */
  steps: Array<{ name: string; status: string; startedAt: string; endedAt: string | null; attempts: number; error?: string; member?: string }>;
  /** A run that replaces several members: each failed member with its replacement, what the run did for it and its steps. */
  members?: MemberView[];
  remaining: string[];
  executionArn: string;
}

/** SNS subjects: at most 100 characters, ASCII, no line breaks. */
export const MAX_SUBJECT = 100;

/** How the run ended, in the workflow's words: a refusal is not a failure. */
export function outcomeOf(detail: Pick<ExecutionStatusEvent['detail'], 'status' | 'error'>): Outcome {
  switch (detail.status) {
    case 'SUCCEEDED':
      return 'succeeded';
    case 'TIMED_OUT':
      return 'timed out';
    case 'ABORTED':
      return 'aborted';
    default:
      return detail.error && REFUSED_ERRORS.includes(detail.error) ? 'refused' : 'failed';
  }
}

const line = (text: string) => text.replace(/\s+/g, ' ').trim();

/** A subject SNS accepts: printable ASCII only, no line break, at most 100 characters. */
export function subjectOf(text: string): string {
  const ascii = line(text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '')).replace(/[^\x20-\x7e]/g, '?');
  return ascii.length > MAX_SUBJECT ? `${ascii.slice(0, MAX_SUBJECT - 3)}...` : ascii;
}

/** `74 s`, `12 min 3 s`, `2 h 5 min`. */
export function durationText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 100) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Why a run was refused, in a few words for the subject (the whole reason is in the body). Read from the
 * refusal's message: these words are for a person, nothing branches on them.
 */
export function shortRefusal(reason: string | null | undefined): string {
  if (!reason) return 'refused';
  const [name, ...rest] = reason.split(': ');
  const message = rest.join(': ');
  if (name === 'LockHeldError') return 'another run holds the lock';
  const known: Array<[RegExp, string]> = [
    [/answers health checks/, 'healthy'],
    [/is the etcd CA host/, 'CA host, no CA backup given'],
    [/no quorum|healthy voting members/, 'quorum at risk'],
    [/odd count/, 'would end with an even member count'],
    [/do not answer either/, 'another member is down too'],
    [/learner member\(s\)/, 'a learner is in the cluster'],
    [/different cluster IDs/, 'members disagree on the cluster ID'],
    [/left the member list between/, 'membership changed during the run'],
  ];
  for (const [pattern, words] of known) if (pattern.test(message)) return words;
  const first = line(message).split(/[.:;]/)[0] ?? '';
  return first.length > 48 ? `${first.slice(0, 45)}...` : first || 'refused';
}

/** The console page of an execution (the execution ARN's partition and region). */
export function consoleLink(executionArn: string): string {
  const region = regionOfArn(executionArn) ?? 'us-east-1';
  const host = executionArn.startsWith('arn:aws-cn:')
    ? `${region}.console.amazonaws.cn`
    : executionArn.startsWith('arn:aws-us-gov:')
      ? 'console.amazonaws-us-gov.com'
      : `${region}.console.aws.amazon.com`;
  return `https://${host}/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

function seconds(from: string, to: string | null | undefined): number | null {
  if (!to) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

function hostLabel(value: unknown): string | undefined {
  if (typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string') return (value as { name: string }).name;
  return undefined;
}

/** One step of the timeline: when it started, its time, its attempts and the error it failed on. */
function stepLine(s: {
  name: string;
  status: string;
  startedAt: string;
  endedAt?: string | null;
  attempts: number;
  error?: { name: string } | undefined;
}): string {
  const span = seconds(s.startedAt, s.endedAt ?? undefined);
  const time = span === null ? 'running' : `${span.toFixed(1)} s`;
  const tries = s.attempts > 1 ? `  (${s.attempts} attempts)` : '';
  const error = s.status === 'failed' && s.error ? `  ${s.error.name}` : '';
  return `  ${s.startedAt.slice(11, 19)}  ${s.name.padEnd(22)} ${s.status.padEnd(9)} ${time.padStart(8)}${tries}${error}`;
}

/** The message for a finished execution, from its audit reading (the record the audit trail keeps, read from the history). */
export function outcomeMessage(
  record: AuditRecord,
  options: { outcome: Outcome; members?: readonly WatchedMember[] | undefined; historyUnreadable?: boolean },
): OutcomeMessage {
  const { outcome } = options;
  const context = record.context as Partial<WorkflowContext>;
  const request = record.request;
  const cluster = record.cluster;
  // A run that replaces several members names them all, each with its replacement and what the run did for it.
  const several = membersOf(context, record.steps, record.outcome === 'running');
  const failed = several
    ? several.map((m) => m.failed).join(' and ')
    : (hostLabel(context.failedHost) ?? (typeof request['failed'] === 'string' ? request['failed'] : 'an unknown member'));
  const replacement = several
    ? several.map((m) => m.replacement ?? 'a spare').join(' and ')
    : (hostLabel(context.replacement) ?? (typeof request['replacement'] === 'string' ? request['replacement'] : null));
  const took = seconds(record.startedAt, record.endedAt);
  const tookText = took === null ? '' : durationText(took);
  const failedStep = record.steps.find((s) => s.status === 'failed');
  const errorName = record.reason?.split(': ')[0] ?? 'error';

  // Only the run's own remaining items come from the record: the deployment follow-up is written
  // again here without addresses.
  const runRemaining = Array.isArray(context.remaining) ? context.remaining.filter((r): r is string => typeof r === 'string') : [];
  const followUp = deploymentFollowUp(context, record.outcome, { cluster, members: options.members, includeAddresses: false });
  const remaining = [...runRemaining, ...followUp];

  let subject: string;
  let headline: string;
  switch (outcome) {
    case 'succeeded':
      if (context.coveredBy) {
        // Many signals, one run: another run that held the lock replaces the member; this one changed nothing.
        subject = `${cluster}: ${failed} covered by run ${context.coveredBy}, nothing to do`;
        headline = `${failed} is replaced by run ${context.coveredBy}, which held the cluster's lock: this run changed nothing. That run's own message reports the replacement.`;
        break;
      }
      subject = `${cluster}: ${failed} replaced by ${replacement ?? 'a spare'}${tookText ? ` in ${tookText}` : ''}${runRemaining.length > 0 ? `, ${runRemaining.length} left to do` : ''}`;
      headline = `${failed} was replaced by ${replacement ?? 'a spare'}${tookText ? ` in ${tookText}` : ''}.`;
      break;
    case 'refused':
      subject = `${cluster}: REFUSED to replace ${failed} (${shortRefusal(record.reason)})`;
      headline = `the run refused to replace ${failed}${replacement ? ` with ${replacement}` : ''}: going on could have cost quorum, data or the CA, or another run holds the cluster.`;
      break;
    case 'failed':
      subject = `${cluster}: FAILED to replace ${failed}${replacement ? ` with ${replacement}` : ''}${failedStep ? ` at ${failedStep.name}` : ''} (${errorName})`;
      headline = `the replacement of ${failed}${replacement ? ` with ${replacement}` : ''} failed${failedStep ? ` at ${failedStep.name}` : ''}.`;
      break;
    default:
      subject = `${cluster}: replacement of ${failed} ${outcome.toUpperCase()}${tookText ? ` after ${tookText}` : ''}`;
      headline = `the replacement of ${failed} ${outcome === 'aborted' ? 'was stopped (StopExecution)' : 'ran past its time limit'}${tookText ? ` after ${tookText}` : ''}.`;
  }

  const lines = [
    `${cluster}: ${headline}`,
    '',
    `Run:        ${record.runId}`,
    `Outcome:    ${outcome}${tookText ? ` (${tookText})` : ''}`,
    `Started by: ${record.startedBy} at ${record.startedAt}`,
    ...(record.reason ? [`Reason:     ${line(record.reason)}`] : []),
    ...(context.cleanupError ? [`Cleanup failed too: ${line(`${context.cleanupError.Error}: ${context.cleanupError.Cause}`)}`] : []),
    ...(several
      ? [
          '',
          'Members:',
          ...several.flatMap((m, i) => [
            `  ${i + 1} of ${several.length}: ${m.failed} → ${m.replacement ?? 'a spare'}: ${m.removed ? 'removed' : 'not removed'}, ${m.newMemberId ? `added ${m.newMemberId}` : 'not added'}, ${m.joined ? 'started' : 'not started'}`,
            ...(m.steps.length === 0 ? ['    (no step ran for it)'] : m.steps.map((s) => `  ${stepLine(s)}`)),
          ]),
        ]
      : []),
    '',
    'Timeline:',
    ...(record.steps.length === 0 ? [options.historyUnreadable ? '  (the execution history could not be read; see the console)' : '  (no step ran)'] : []),
    // A per-member step says which member: `(1 of 2)`, as listed under Members.
    ...record.steps.map((s) => `${stepLine(s)}${s.member ? `  (${/\((\d+ of \d+)\)$/.exec(s.member)?.[1] ?? s.member})` : ''}`),
    '',
    ...(remaining.length > 0 ? ['Left for a person:', ...remaining.map((r) => `  - ${line(r)}`)] : ['Nothing is left to do.']),
    '',
    `Execution:  ${consoleLink(record.executionArn)}`,
    `            ${record.executionArn}`,
    `Audit record: etcd-replace history --target aws --state-machine-arn ${record.executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, '')} ${record.runId}`,
  ];

  const run: RunSummary = {
    runId: record.runId,
    cluster,
    outcome,
    reason: record.reason ?? null,
    failed,
    replacement,
    startedBy: record.startedBy,
    startedAt: record.startedAt,
    endedAt: record.endedAt ?? null,
    durationSeconds: took,
    steps: record.steps.map((s) => ({
      name: s.name,
      status: s.status,
      startedAt: s.startedAt,
      endedAt: s.endedAt ?? null,
      attempts: s.attempts,
      ...(s.error ? { error: s.error.name } : {}),
      ...(s.member ? { member: s.member } : {}),
    })),
    ...(several ? { members: several } : {}),
    remaining,
    executionArn: record.executionArn,
  };
  return { outcome, subject: subjectOf(subject), message: lines.join('\n'), run };
}

/** Members the stack watches (env MEMBERS, the probe's list), or undefined when not given. */
export function watchedMembers(env: Record<string, string | undefined>): WatchedMember[] | undefined {
  try {
    const parsed = JSON.parse(env['MEMBERS'] ?? '') as unknown;
    return Array.isArray(parsed) ? (parsed as WatchedMember[]) : undefined;
  } catch {
    return undefined;
  }
}

function attribute(value: string): MessageAttributeValue {
  return { DataType: 'String', StringValue: value === '' ? '-' : value };
}

export async function notify(
  event: ExecutionStatusEvent,
  env: Record<string, string | undefined>,
  clients: { sfn: Pick<SFNClient, 'send'>; sns: Pick<SNSClient, 'send'> },
  options: { logger?: Logger; now?: () => Date; stepDetails?: (runId: string) => Promise<StepDetail[]> } = {},
): Promise<OutcomeMessage> {
  const topicArn = env['TOPIC_ARN'];
  const cluster = env['CLUSTER_NAME'];
  if (!topicArn || !cluster) throw new InvalidInputError('environment', 'TOPIC_ARN and CLUSTER_NAME must be set');
  const { detail } = event;
  let events: HistoryEvent[] = [];
  let historyUnreadable = false;
  try {
    events = await new StepFunctionsExecutions(clients.sfn as SFNClient).history(detail.executionArn);
  } catch (error) {
    historyUnreadable = true;
    options.logger?.warn('cannot read the execution history; notifying from the event alone', { error: errorName(error) });
  }
  let details: StepDetail[] = [];
  if (options.stepDetails && events.length > 0) {
    try {
      details = await options.stepDetails(runIdFromExecutionName(detail.name));
    } catch (error) {
      options.logger?.warn('cannot read what the steps reported; the timeline names no skipped step', { error: errorName(error) });
    }
  }
  const record = buildAuditRecord({
    facts: {
      executionArn: detail.executionArn,
      name: detail.name,
      status: detail.status,
      startDate: new Date(detail.startDate ?? detail.stopDate ?? Date.now()),
      stopDate: detail.stopDate ? new Date(detail.stopDate) : undefined,
      input: detail.input ?? undefined,
      error: detail.error ?? undefined,
      cause: detail.cause ?? undefined,
    },
    events,
    details,
    cluster,
    now: (options.now ?? (() => new Date()))(),
  });
  if (events.length === 0 && detail.status === 'SUCCEEDED' && detail.output) {
    // Without the history, the output of a successful execution is still its final context.
    try {
      record.context = JSON.parse(detail.output) as Record<string, unknown>;
    } catch {
      // keep the empty context
    }
  }
  const out = outcomeMessage(record, { outcome: outcomeOf(detail), members: watchedMembers(env), historyUnreadable });
  await clients.sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: out.subject,
      Message: out.message,
      MessageAttributes: {
        cluster: attribute(cluster),
        outcome: attribute(out.outcome),
        runId: attribute(out.run.runId),
        failed: attribute(out.run.failed),
        replacement: attribute(out.run.replacement ?? ''),
        executionArn: attribute(detail.executionArn),
        run: attribute(JSON.stringify(out.run)),
      },
    }),
  );
  return out;
}

let runtime: { clients: { sfn: SFNClient; sns: SNSClient }; logger: Logger; stepDetails?: (runId: string) => Promise<StepDetail[]> } | undefined;

export async function handler(event: ExecutionStatusEvent): Promise<{ outcome: Outcome }> {
  if (!runtime) {
    const tracer = createTracer();
    const table = process.env['TABLE'];
    const store = table ? new AuditStore({ doc: DynamoDBDocumentClient.from(traced(tracer, new DynamoDBClient({}))), table, retentionDays: 1 }) : undefined;
    runtime = {
      clients: { sfn: traced(tracer, new SFNClient({})), sns: traced(tracer, new SNSClient({})) },
      logger: createLogger(),
      ...(store ? { stepDetails: (runId: string) => store.stepDetails(runId) } : {}),
    };
  }
  const { logger, stepDetails } = runtime;
  setLogKeys(logger, { runId: event.detail?.name ? runIdFromExecutionName(event.detail.name) : undefined, executionArn: event.detail?.executionArn });
  const out = await notify(event, process.env, runtime.clients, { logger, ...(stepDetails ? { stepDetails } : {}) });
  logger.info('notified', { outcome: out.outcome });
  return { outcome: out.outcome };
}
