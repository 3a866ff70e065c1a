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
//
// The restore's executions (`etcd-restore-<cluster>`, statemachine/restoreSpec.ts RestoreEtcdQuorum) come
// here too, and their message speaks of the restore:
//
//   Subject: ocp311: quorum restored from master-0 in 2 min 4 s, 0 revisions lost
//            ocp311: quorum restored from snapshot of run R in 3 min 10 s, loss not known
//            ocp311: REFUSED to restore quorum (not approved in time)
//            ocp311: FAILED to restore quorum at AddMember (NewMemberFailedError)
//   Body:    the headline, a `Restore:` block with RecordRestore's measures (the survivor or snapshot, the
//            revision chosen against the highest seen, the seconds from quorum loss confirmed to full
//            strength, every host fenced and how, every former member re-added and where, the approval),
//            then the timeline and what is left, as for a replacement.
//
// The `run` attribute names the workflow, and for a restore carries the same measures (RunSummary.restore).

import { SFNClient, type HistoryEvent } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient, type MessageAttributeValue } from '@aws-sdk/client-sns';
import type { Logger } from '@aws-lambda-powertools/logger';
import { errorName, InvalidInputError } from '../errors.ts';
import { REFUSED_ERRORS, REPLACE_WORKFLOW } from '../../statemachine/spec.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { RESTORE_REFUSED_ERRORS, RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { hostFenced, type FencedHost, type HostFenced, type RestoreContext } from '../../statemachine/restoreContext.ts';
import { APPROVAL_WAIVERS } from '../../statemachine/restorePolicy.ts';
import { currentSlots } from '../../statemachine/members.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  buildAuditRecord,
  deploymentFollowUp,
  type AuditedWorkflow,
  type AuditRecord,
  type StepDetail,
  type WatchedMember,
} from '../adapters/aws/auditRecord.ts';
import { AuditStore } from '../adapters/aws/auditStore.ts';
import { regionOfArn, StepFunctionsExecutions } from '../adapters/aws/executions.ts';
import { createLogger, createTracer, setLogKeys, traced } from './observability.ts';
import { runIdFromExecutionName } from './event.ts';
import { membersOf, type MemberView } from '../workflow/runView.ts';

/** The parts of the EventBridge event this reads. */
export interface ExecutionStatusEvent {
  detail: {
    executionArn: string;
    /** The state machine the execution ran (the replacement's, or the restore's `etcd-restore-<cluster>`). */
    stateMachineArn?: string | null;
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
  /** The workflow the run ran, by its spec's id: ReplaceFailedEtcdMember, or RestoreEtcdQuorum. */
  workflow: string;
  cluster: string;
  outcome: Outcome;
  reason: string | null;
  /** A restore: the former members that lost their place (each re-added, or to be), `and`-joined; '' when the run got no further than knowing none. */
  failed: string;
  /** A restore: the spares former members were re-added on, `and`-joined; null when none. */
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
  /** A restore's measures (RecordRestore's, or as far as the run got when it did not reach it). */
  restore?: RestoreSummary;
}

/** What a restore did and what it lost, for machines: host names and the snapshot's key only. */
export interface RestoreSummary {
  /** What the cluster was forced or restored from; null before ChooseRestorePoint chose. */
  survivor:
    | { kind: 'member'; host: string; chosenBy: 'rank' | 'from' }
    | { kind: 'snapshot'; key: string; runId: string; at: string; chosenBy: 'snapshot' | 'newest' }
    | null;
  /** The host the cluster of one ran on (VerifyRestoredMember); null before it. */
  restoredOn: string | null;
  /** True when RecordRestore wrote the measures; false: read from the context as far as the run got. */
  measured: boolean;
  quorumLossConfirmedAt: string | null;
  /** Null when the cluster did not get back to its former size in this run. */
  fullStrengthAt: string | null;
  secondsToFullStrength: number | null;
  revisionChosen: number | null;
  highestRevisionSeen: number | null;
  /** Null: not known (no member's data showed a revision), or nothing chosen. */
  revisionsLost: number | null;
  /** Member hosts whose data was not read: they may hold more than the highest revision seen. */
  unread: string[];
  fenced: HostFenced[];
  reAdds: Array<{ former: string; on: string; how: 'same-host' | 'spare'; joined: boolean }>;
  approval: RestoreApproval;
}

/** How the restore was let go on: approved by a person, waived by a condition of the cluster config, or not. */
export type RestoreApproval =
  | { state: 'given'; by: string; at: string }
  | { state: 'waived'; waivedBy: string }
  | { state: 'declined'; by: string | null }
  | { state: 'timed-out'; windowSeconds: number | null }
  | { state: 'awaiting' }
  | { state: 'not-asked' };

/** SNS subjects: at most 100 characters, ASCII, no line breaks. */
export const MAX_SUBJECT = 100;

/** How the run ended, in the workflow's words: a refusal is not a failure. */
export function outcomeOf(detail: Pick<ExecutionStatusEvent['detail'], 'status' | 'error'>, refusedErrors: readonly string[] = REFUSED_ERRORS): Outcome {
  switch (detail.status) {
    case 'SUCCEEDED':
      return 'succeeded';
    case 'TIMED_OUT':
      return 'timed out';
    case 'ABORTED':
      return 'aborted';
    default:
      return detail.error && refusedErrors.includes(detail.error) ? 'refused' : 'failed';
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
  // The restore's approval window passed without an answer (Step Functions' heartbeat, or the local wait's same name).
  if (name === 'States.HeartbeatTimeout') return 'not approved in time';
  const known: Array<[RegExp, string]> = [
    [/answers health checks/, 'healthy'],
    [/is the etcd CA host/, 'CA host, no CA backup given'],
    [/no quorum|healthy voting members/, 'quorum at risk'],
    [/odd count/, 'would end with an even member count'],
    [/do not answer either/, 'another member is down too'],
    [/learner member\(s\)/, 'a learner is in the cluster'],
    [/different cluster IDs/, 'members disagree on the cluster ID'],
    [/left the member list between/, 'membership changed during the run'],
    // The restore's refusals.
    [/quorum is back/, 'quorum is back'],
    [/quorum holds with one member missing/, 'one member missing, `run` replaces it'],
    [/names no voting member/, 'no voting member observed'],
    [/declined by /, 'approval declined'],
    [/was not approved by/, 'not approved in time'],
    [/no way to ask for approval/, 'no way to ask for approval'],
    [/nothing to restore from/, 'nothing to restore from'],
    [/network fence does not hold/, 'a fence did not hold'],
    [/runs on no host of the inventory/, 'a member on no known host'],
  ];
  for (const [pattern, words] of known) if (pattern.test(message)) return words;
  const first = line(message.replace(/^restore-quorum refused: /, '')).split(/[.:;]/)[0] ?? '';
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

/** The message's first lines, a replacement's and a restore's alike: the headline, then the run, its outcome, who started it and why it ended so. */
function openingLines(record: AuditRecord, context: Partial<WorkflowContext>, headline: string, outcome: Outcome, tookText: string): string[] {
  return [
    headline,
    '',
    `Run:        ${record.runId}`,
    `Outcome:    ${outcome}${tookText ? ` (${tookText})` : ''}`,
    `Started by: ${record.startedBy} at ${record.startedAt}`,
    ...(record.reason ? [`Reason:     ${line(record.reason)}`] : []),
    ...(context.cleanupError ? [`Cleanup failed too: ${line(`${context.cleanupError.Error}: ${context.cleanupError.Cause}`)}`] : []),
  ];
}

/** The timeline, what is left for a person, and where the execution and its audit record are: the end of every message. */
function closingLines(record: AuditRecord, remaining: readonly string[], historyUnreadable: boolean | undefined): string[] {
  return [
    '',
    'Timeline:',
    ...(record.steps.length === 0 ? [historyUnreadable ? '  (the execution history could not be read; see the console)' : '  (no step ran)'] : []),
    // A per-member step says which member: `(1 of 2)`, as listed under Members (a restore: under Re-added).
    ...record.steps.map((s) => `${stepLine(s)}${s.member ? `  (${/\((\d+ of \d+)\)$/.exec(s.member)?.[1] ?? s.member})` : ''}`),
    '',
    ...(remaining.length > 0 ? ['Left for a person:', ...remaining.map((r) => `  - ${line(r)}`)] : ['Nothing is left to do.']),
    '',
    `Execution:  ${consoleLink(record.executionArn)}`,
    `            ${record.executionArn}`,
    `Audit record: etcd-replace history --target aws --state-machine-arn ${record.executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, '')} ${record.runId}`,
  ];
}

/** The steps as machines get them: names, statuses, times, attempts, the error's name, the member. */
function stepsOf(record: AuditRecord): RunSummary['steps'] {
  return record.steps.map((s) => ({
    name: s.name,
    status: s.status,
    startedAt: s.startedAt,
    endedAt: s.endedAt ?? null,
    attempts: s.attempts,
    ...(s.error ? { error: s.error.name } : {}),
    ...(s.member ? { member: s.member } : {}),
  }));
}

/** The message for a finished execution, from its audit reading (the record the audit trail keeps, read from the history). */
export function outcomeMessage(record: AuditRecord, options: MessageOptions): OutcomeMessage {
  if (record.workflow === RESTORE_WORKFLOW.id) return restoreOutcomeMessage(record, options);
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
    ...openingLines(record, context, `${cluster}: ${headline}`, outcome, tookText),
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
    ...closingLines(record, remaining, options.historyUnreadable),
  ];

  const run: RunSummary = {
    runId: record.runId,
    workflow: REPLACE_WORKFLOW.id,
    cluster,
    outcome,
    reason: record.reason ?? null,
    failed,
    replacement,
    startedBy: record.startedBy,
    startedAt: record.startedAt,
    endedAt: record.endedAt ?? null,
    durationSeconds: took,
    steps: stepsOf(record),
    ...(several ? { members: several } : {}),
    remaining,
    executionArn: record.executionArn,
  };
  return { outcome, subject: subjectOf(subject), message: lines.join('\n'), run };
}

// The restore's message --------------------------------------------------------------------------

type MessageOptions = { outcome: Outcome; members?: readonly WatchedMember[] | undefined; historyUnreadable?: boolean };

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** `0 revisions lost`, `1 revision lost`, `loss not known`. */
const lossText = (lost: number | null) => (lost === null ? 'loss not known' : `${plural(lost, 'revision')} lost`);

/** Seconds as RecordRestore measured them: whole, or to a tenth. */
const secondsText = (s: number) => (Number.isInteger(s) ? `${s} s` : `${s.toFixed(1)} s`);

const asString = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** How the restore was let go on, from the context and AwaitApproval's step. */
function approvalOf(context: Partial<RestoreContext>, record: AuditRecord): RestoreApproval {
  const approval = context.approval;
  if (approval && asString(approval.by)) return { state: 'given', by: approval.by, at: approval.at };
  if (context.approvalWaived === true) return { state: 'waived', waivedBy: asString(context.approvalWaivedBy) ?? 'a condition of the cluster config' };
  const step = record.steps.find((s) => s.name === 'AwaitApproval');
  if (!step) return { state: 'not-asked' };
  if (step.status === 'running') return { state: 'awaiting' };
  if (step.status !== 'failed') return { state: 'not-asked' };
  if (step.error?.name === 'States.HeartbeatTimeout') return { state: 'timed-out', windowSeconds: context.options?.approvalTimeoutSeconds ?? null };
  const declined = /declined by (\S+) at /.exec(`${record.reason ?? ''} ${step.error?.message ?? ''}`);
  if (declined) return { state: 'declined', by: declined[1] ?? null };
  // Stopped while it waited (aborted, timed out), or no way to ask.
  return step.error ? { state: 'not-asked' } : { state: 'awaiting' };
}

/** What the restore did and lost: RecordRestore's measures, else the context as far as the run got. */
function restoreSummaryOf(record: AuditRecord, outcome: Outcome): RestoreSummary {
  const context = record.context as Partial<RestoreContext>;
  const measures = context.restoreMeasures;
  const loss = context.expectedLoss;
  const chosen = context.survivor;
  const survivor: RestoreSummary['survivor'] = !chosen
    ? null
    : chosen.kind === 'member'
      ? { kind: 'member', host: chosen.host, chosenBy: chosen.chosenBy }
      : { kind: 'snapshot', key: chosen.key, runId: chosen.runId, at: chosen.at, chosenBy: chosen.chosenBy };
  const fenced = Array.isArray(context.fenced) ? context.fenced.map(hostFenced) : (measures?.fenced ?? []);
  const slots = Array.isArray(context.members) && context.request ? currentSlots(context as WorkflowContext) : [];
  const reAdds = (Array.isArray(context.reAdds) ? context.reAdds : []).map((r) => {
    const slot = slots.find((s) => (s.failedHost?.name ?? s.failed) === r.former);
    const joined = outcome === 'succeeded' || (slot?.memberAdded === true && slot.newMemberStartedAt !== undefined);
    return { former: r.former, on: r.on, how: r.how, joined };
  });
  return {
    survivor,
    restoredOn: context.restoredMember?.host ?? context.forced?.host ?? null,
    measured: measures !== undefined,
    quorumLossConfirmedAt: measures?.quorumLossConfirmedAt ?? asString(context.quorumLossConfirmedAt) ?? null,
    fullStrengthAt: measures?.fullStrengthAt ?? null,
    secondsToFullStrength: measures?.secondsToFullStrength ?? null,
    revisionChosen: measures?.revisionChosen ?? loss?.chosenRevision ?? chosen?.revision ?? null,
    highestRevisionSeen: measures ? measures.highestRevisionSeen : (loss?.highestRevision ?? null),
    revisionsLost: measures ? measures.revisionsLost : (loss?.revisionsLost ?? null),
    unread: Array.isArray(loss?.unread) ? [...loss.unread] : [],
    fenced,
    reAdds,
    approval: approvalOf(context, record),
  };
}

/** The `Restore:` block: one labelled line each, a list continued under its label. */
function restoreBlock(summary: RestoreSummary, context: Partial<RestoreContext>, record: AuditRecord, outcome: Outcome): string[] {
  const ran = (step: string) => record.steps.some((s) => s.name === step);
  const field = (label: string, values: readonly string[]) => values.map((value, i) => `  ${(i === 0 ? `${label}:` : '').padEnd(18)}${value}`);

  const survivor = summary.survivor;
  const survivorText = !survivor
    ? 'not chosen (the run ended before ChooseRestorePoint chose)'
    : survivor.kind === 'member'
      ? `${survivor.host} (its own data, ${survivor.chosenBy === 'from' ? 'named by --from' : 'the best restore point'})`
      : `snapshot ${survivor.key} of run ${survivor.runId} (taken ${survivor.at}; ${survivor.chosenBy === 'snapshot' ? 'named by --snapshot' : "the newest verified one: no member's data was usable"})${summary.restoredOn ? `, restored on ${summary.restoredOn}` : ''}`;

  const highestOn = context.expectedLoss?.highestOn ?? [];
  const unread = summary.unread.length > 0 ? `; not read: ${summary.unread.join(', ')}, which may hold more` : '';
  const revisionText =
    summary.revisionChosen === null
      ? 'not chosen'
      : summary.highestRevisionSeen === null
        ? `${summary.revisionChosen} chosen; no member's data showed a revision: how many were lost is not known${unread}`
        : `${summary.revisionChosen} chosen against ${summary.highestRevisionSeen}, the highest seen${highestOn.length > 0 ? ` (on ${highestOn.join(', ')})` : ''}: ${lossText(summary.revisionsLost)}${unread}`;

  const seconds = summary.secondsToFullStrength;
  const strengthText =
    seconds !== null
      ? `${secondsText(seconds)}${seconds >= 100 ? ` (${durationText(seconds)})` : ''} from quorum loss confirmed (${summary.quorumLossConfirmedAt}) to full strength (${summary.fullStrengthAt})`
      : outcome === 'succeeded'
        ? `not measured: RecordRestore recorded no measures${summary.quorumLossConfirmedAt ? ` (quorum loss confirmed ${summary.quorumLossConfirmedAt})` : ''}`
        : `not reached${summary.quorumLossConfirmedAt ? ` (quorum loss confirmed ${summary.quorumLossConfirmedAt})` : ' (the loss of quorum was not confirmed)'}`;

  const records: readonly FencedHost[] = Array.isArray(context.fenced) ? context.fenced : [];
  const fencedText =
    summary.fenced.length === 0
      ? [ran('FenceFormerMembers') ? 'none' : 'none (the run did not get to FenceFormerMembers)']
      : summary.fenced.map((f) => {
          const seen = records.find((r) => r.host === f.host);
          const notOnHost = seen?.notOnHost
            ? `; not on the host (${seen.notOnHost === 'unreachable' ? 'it does not answer' : 'its data could not leave it'})`
            : '';
          const lifted = seen?.networkLifted ? `; network fence lifted by ${seen.networkLifted.by}` : '';
          return `${f.host}: ${f.how.join(', ')}${notOnHost}${lifted}`;
        });

  const reAddText =
    summary.reAdds.length === 0
      ? [ran('PrepareFormerMember') ? 'none' : 'none (the run did not get to PrepareFormerMember)']
      : summary.reAdds.map(
          (r, i) =>
            `${i + 1} of ${summary.reAdds.length}: ${r.former} on ${r.on} (${r.how === 'same-host' ? 'same host' : 'spare'})${r.joined ? '' : ': not re-added'}`,
        );

  const approval = summary.approval;
  const approvalText = (() => {
    switch (approval.state) {
      case 'given':
        return `given by ${approval.by} at ${approval.at}`;
      case 'waived': {
        const why = Object.hasOwn(APPROVAL_WAIVERS, approval.waivedBy) ? APPROVAL_WAIVERS[approval.waivedBy as keyof typeof APPROVAL_WAIVERS] : null;
        return `waived by the cluster config's ${approval.waivedBy}${why ? `: ${why}` : ''}`;
      }
      case 'declined':
        return `declined${approval.by ? ` by ${approval.by}` : ''}`;
      case 'timed-out':
        return `not given within ${approval.windowSeconds === null ? 'the approval window' : durationText(approval.windowSeconds)}`;
      case 'awaiting':
        return 'still awaited when the run ended';
      case 'not-asked':
        return 'not asked (the run did not get to AwaitApproval)';
    }
  })();

  return [
    '',
    'Restore:',
    ...field('Survivor', [survivorText]),
    ...field('Revision', [revisionText]),
    ...field('To full strength', [strengthText]),
    ...field('Fenced', fencedText),
    ...field('Re-added', reAddText),
    ...field('Approval', [approvalText]),
  ];
}

/** How far a restore that did not succeed got: what a person finds on the hosts. */
function restoreProgress(summary: RestoreSummary): string {
  if (summary.restoredOn) {
    const survivor = summary.survivor;
    const from =
      survivor?.kind === 'snapshot' ? `restored from the snapshot of run ${survivor.runId}` : survivor ? `forced from ${survivor.host}'s data` : 'forced';
    const joined = summary.reAdds.filter((r) => r.joined).length;
    return `the cluster runs on ${summary.restoredOn} (${from}) with ${joined} of ${summary.reAdds.length} former member(s) re-added.`;
  }
  if (summary.fenced.length > 0) return `${summary.fenced.map((f) => f.host).join(', ')} fenced; no cluster was forced or restored.`;
  return 'nothing was changed.';
}

/** A restore's deployment follow-up: a former member re-added on a spare leaves the member list as a replacement does. */
function restoreFollowUp(context: Partial<RestoreContext>, outcome: Outcome, cluster: string, members: readonly WatchedMember[] | undefined): string[] {
  if (!Array.isArray(context.members) || !context.request) return [];
  return deploymentFollowUp(context as Partial<WorkflowContext>, outcome === 'succeeded' ? 'succeeded' : outcome === 'refused' ? 'refused' : 'failed', {
    cluster,
    members,
    includeAddresses: false,
  });
}

/** The message for a finished restore (RestoreEtcdQuorum). */
function restoreOutcomeMessage(record: AuditRecord, options: MessageOptions): OutcomeMessage {
  const { outcome } = options;
  const context = record.context as Partial<RestoreContext>;
  const cluster = record.cluster;
  const summary = restoreSummaryOf(record, outcome);
  const took = seconds(record.startedAt, record.endedAt);
  const tookText = took === null ? '' : durationText(took);
  const failedStep = record.steps.find((s) => s.status === 'failed');
  const errorName = record.reason?.split(': ')[0] ?? 'error';
  const runRemaining = Array.isArray(context.remaining) ? context.remaining.filter((r): r is string => typeof r === 'string') : [];
  const remaining = [...runRemaining, ...restoreFollowUp(context, outcome, cluster, options.members)];
  const survivor = summary.survivor;

  let subject: string;
  let headline: string;
  switch (outcome) {
    case 'succeeded': {
      const time = summary.secondsToFullStrength;
      const left = runRemaining.length > 0 ? `, ${runRemaining.length} left to do` : '';
      const subjectFrom = (from: string) =>
        `${cluster}: quorum restored from ${from}${time !== null ? ` in ${durationText(time)}` : ''}, ${lossText(summary.revisionsLost)}${left}`;
      const from = !survivor ? 'a restore point' : survivor.kind === 'member' ? survivor.host : `snapshot of run ${survivor.runId}`;
      subject = subjectFrom(from);
      // A long run ID: the body names the snapshot.
      if (subjectOf(subject).length >= MAX_SUBJECT && survivor?.kind === 'snapshot') subject = subjectFrom('a snapshot');
      const lost =
        summary.revisionsLost === null
          ? "how many revisions were lost is not known (no member's data showed a revision)"
          : summary.revisionsLost === 0
            ? 'nothing was lost against the highest revision seen'
            : `the ${plural(summary.revisionsLost, 'revision')} after the chosen one were lost`;
      const fromLong = !survivor ? 'a restore point' : survivor.kind === 'member' ? `${survivor.host}'s data` : `the snapshot of run ${survivor.runId}`;
      headline = `quorum was restored from ${fromLong}; the cluster is back at its former size${time !== null ? `, ${durationText(time)} after the loss of quorum was confirmed` : ''}; ${lost}.`;
      break;
    }
    case 'refused': {
      const short = shortRefusal(record.reason);
      subject = `${cluster}: REFUSED to restore quorum (${short})`;
      headline = `the run refused to restore quorum (${short}): ${restoreProgress(summary)}`;
      break;
    }
    case 'failed':
      subject = `${cluster}: FAILED to restore quorum${failedStep ? ` at ${failedStep.name}` : ''} (${errorName})`;
      headline = `the restore of quorum failed${failedStep ? ` at ${failedStep.name}${failedStep.member ? ` (${failedStep.member})` : ''}` : ''}: ${restoreProgress(summary)}`;
      break;
    default:
      subject = `${cluster}: restore of quorum ${outcome.toUpperCase()}${tookText ? ` after ${tookText}` : ''}`;
      headline = `the restore of quorum ${outcome === 'aborted' ? 'was stopped (StopExecution)' : 'ran past its time limit'}${tookText ? ` after ${tookText}` : ''}: ${restoreProgress(summary)}`;
  }

  const lines = [
    ...openingLines(record, context, `${cluster}: ${headline}`, outcome, tookText),
    ...restoreBlock(summary, context, record, outcome),
    ...closingLines(record, remaining, options.historyUnreadable),
  ];

  const run: RunSummary = {
    runId: record.runId,
    workflow: RESTORE_WORKFLOW.id,
    cluster,
    outcome,
    reason: record.reason ?? null,
    failed: formerMembersOf(summary, context).join(' and '),
    replacement: summary.reAdds.some((r) => r.how === 'spare')
      ? summary.reAdds
          .filter((r) => r.how === 'spare')
          .map((r) => r.on)
          .join(' and ')
      : null,
    startedBy: record.startedBy,
    startedAt: record.startedAt,
    endedAt: record.endedAt ?? null,
    durationSeconds: took,
    steps: stepsOf(record),
    remaining,
    executionArn: record.executionArn,
    restore: summary,
  };
  return { outcome, subject: subjectOf(subject), message: lines.join('\n'), run };
}

/** The former members that lost their place: those re-added (or to be), else those fenced, else every former member but the survivor. */
function formerMembersOf(summary: RestoreSummary, context: Partial<RestoreContext>): string[] {
  if (summary.reAdds.length > 0) return summary.reAdds.map((r) => r.former);
  if (summary.fenced.length > 0) return summary.fenced.map((f) => f.host);
  const survivorHost = summary.survivor?.kind === 'member' ? summary.survivor.host : undefined;
  return (Array.isArray(context.formerMembers) ? context.formerMembers : []).map((m) => m.host).filter((h) => h !== survivorHost);
}

/** The restore's state machine is `etcd-restore-<cluster>` (lib/constructs/shared.ts restoreNames): its executions run the restore. */
export function workflowOfExecution(
  detail: Pick<ExecutionStatusEvent['detail'], 'executionArn' | 'stateMachineArn'>,
  cluster: string,
): AuditedWorkflow | undefined {
  const machine = detail.stateMachineArn
    ? /:stateMachine:([^:]+)$/.exec(detail.stateMachineArn)?.[1]
    : /:execution:([^:]+):[^:]+$/.exec(detail.executionArn)?.[1];
  if (machine !== `etcd-restore-${cluster}`) return undefined;
  return { id: RESTORE_WORKFLOW.id, taskNames: RESTORE_WORKFLOW.tasks.map((t) => t.name) };
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
  // The restore's executions reach this notifier too: their record follows the restore's tasks and refusals.
  const workflow = workflowOfExecution(detail, cluster);
  const record = buildAuditRecord({
    ...(workflow ? { workflow } : {}),
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
  const out = outcomeMessage(record, {
    outcome: outcomeOf(detail, workflow ? RESTORE_REFUSED_ERRORS : REFUSED_ERRORS),
    members: watchedMembers(env),
    historyUnreadable,
  });
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
