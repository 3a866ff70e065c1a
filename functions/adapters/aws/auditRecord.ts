// The audit record of one Step Functions execution: the sandbox's run record (RunRecord: request, who
// started it, every step, outcome, reason, what remains, the final workflow context) plus what only AWS
// knows: the execution, the IAM principal that called StartExecution (from CloudTrail), and the alarm
// state change that started it (from CloudWatch's alarm history). Built from the execution history
// alone, with the one-line detail each step reported (written by the step functions beside the record,
// see auditStore.ts). Pure: no AWS calls.
//
// It holds no secret: the workflow context never carries key material (statemachine/context.ts), the
// request is the execution input, and errors are kept as their class name and message, never a stack.

import type { HistoryEvent } from '@aws-sdk/client-sfn';
import type { Host, RunRecord, StepRecord } from '../../ports.ts';
import type { MemberSlot, WorkflowContext } from '../../../statemachine/context.ts';
import { currentSlots, replacesSeveral } from '../../../statemachine/members.ts';
import { isObject, parseJson as parse, reasonOf, runDocumentFromHistory, type ExecutionFacts } from './executions.ts';
import { finalContextFromHistory, memberStepsFromHistory } from './historyMembers.ts';

/** Who called StartExecution, as CloudTrail recorded it. */
export interface StartPrincipal {
  /** The caller's ARN: an IAM user, an assumed role's session (`…:assumed-role/ROLE/SESSION`), the root user. */
  arn: string | null;
  /** CloudTrail's userIdentity.type: IAMUser, AssumedRole, Root, FederatedUser, AWSService, … */
  type: string | null;
  accountId: string | null;
  /** For an assumed role: the role behind the session. */
  sessionIssuer?: string;
  /** The AWS service that called on the principal's behalf (events.amazonaws.com for the alarm rule). */
  invokedBy?: string;
  sourceIPAddress?: string;
  userAgent?: string;
  eventId: string | null;
  eventTime: string | null;
  /** How it was found: the CloudTrail event EventBridge delivered, or CloudTrail's LookupEvents. */
  via: 'cloudtrail-event' | 'cloudtrail-lookup';
}

/** The alarm state change an alarm-started run names in `startedBy`, as CloudWatch's alarm history has it. */
export interface AlarmStateChange {
  alarmName: string;
  /** The alarm history shows it going into ALARM at most an hour before the execution started. */
  confirmed: boolean;
  /** When it went into ALARM, the state it left, and CloudWatch's reason ("Threshold Crossed: …"). */
  at?: string;
  from?: string;
  reason?: string;
}

/** What one step function reported about one invocation (auditStore.ts keeps them beside the record). */
export interface StepDetail {
  step: string;
  startedAt: string;
  outcome: 'succeeded' | 'skipped' | 'failed';
  /** One line: what the step changed or found, or the error's message. */
  detail: string;
  durationMs: number;
}

export interface AuditRecord extends RunRecord {
  target: 'aws';
  executionArn: string;
  executionName: string;
  /** Step Functions' own status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE. */
  executionStatus: string;
  /** Times the execution was redriven (RedriveExecution), when it was. */
  redriveCount?: number;
  /** null: not found in CloudTrail (yet). */
  principal: StartPrincipal | null;
  alarm?: AlarmStateChange;
  /** History events this record was built from: a write built from fewer never replaces it. */
  historyEvents: number;
  recordedAt: string;
}

/** A member the deployment's health probe watches (the stack's `members`). */
export interface WatchedMember {
  name: string;
  hostname: string;
  instanceId: string;
}

const MAX_DETAIL = 300;

/** One line, at most 300 characters. */
export function oneLine(text: string, max = MAX_DETAIL): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * The context as the audit record keeps it: a caught error's Cause is the Lambda's error JSON
 * (`{errorType, errorMessage, trace}`); only its message is kept, never the stack trace.
 */
export function auditedContext(context: Record<string, unknown>): Record<string, unknown> {
  const out = { ...context };
  for (const key of ['error', 'cleanupError']) {
    const value = out[key];
    if (!isObject(value) || typeof value['Error'] !== 'string') continue;
    const reason = reasonOf(value['Error'], typeof value['Cause'] === 'string' ? value['Cause'] : undefined) ?? value['Error'];
    out[key] = { Error: value['Error'], Cause: reason.slice(value['Error'].length + 2) };
  }
  return out;
}

/** The last state the execution entered (its final state once it ended). */
function lastStateOf(events: readonly HistoryEvent[]): string | undefined {
  let name: string | undefined;
  for (const event of events) if (event.stateEnteredEventDetails?.name) name = event.stateEnteredEventDetails.name;
  return name;
}

/** Each task state's last error in the history (TaskFailed, TaskTimedOut, …), as name and message. */
function lastErrors(events: readonly HistoryEvent[]): Map<string, { name: string; message: string }> {
  const errors = new Map<string, { name: string; message: string }>();
  let open: string | undefined;
  for (const event of events) {
    if (event.type === 'TaskStateEntered') open = event.stateEnteredEventDetails?.name;
    const failed = event.taskFailedEventDetails ?? event.taskTimedOutEventDetails ?? event.taskStartFailedEventDetails ?? event.taskSubmitFailedEventDetails;
    if (open && failed) {
      const reason = reasonOf(failed.error ?? undefined, failed.cause ?? undefined) ?? 'Error';
      const [name, ...rest] = reason.split(': ');
      errors.set(open, { name: name ?? 'Error', message: oneLine(rest.join(': ')) });
    }
    if (event.type === 'TaskStateExited') open = undefined;
  }
  return errors;
}

/** The latest detail each step reported. */
function latestDetails(details: readonly StepDetail[]): Map<string, StepDetail> {
  const latest = new Map<string, StepDetail>();
  for (const d of [...details].sort((a, b) => a.startedAt.localeCompare(b.startedAt))) latest.set(d.step, d);
  return latest;
}

/** The latest detail a step reported while it ran between `from` and `to` (one member's run of a per-member step). */
function detailWithin(details: readonly StepDetail[], step: string, from: string, to: string | undefined): StepDetail | undefined {
  return details
    .filter((d) => d.step === step && d.startedAt >= from && (to === undefined || d.startedAt <= to))
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
    .at(-1);
}

/**
 * `alarm:<name>` of startedBy, when it names one of this cluster's alarms that start runs: a member alarm
 * (its name starts with `alarmPrefix`) or one of `alarmNames` (the quorum-lost alarm, which starts a restore).
 */
export function alarmNameOf(startedBy: string | null | undefined, alarmPrefix: string, alarmNames: readonly string[] = []): string | undefined {
  if (!startedBy?.startsWith('alarm:')) return undefined;
  const name = startedBy.slice('alarm:'.length);
  if (alarmNames.includes(name)) return name;
  return name.startsWith(alarmPrefix) && name.length > alarmPrefix.length ? name : undefined;
}

/**
 * What a person must do to the deployment after a run removed a member: the probe still watches the
 * removed member (its alarm stays in ALARM and never fires again) and does not watch the new one, until
 * `members` is edited and the stack deployed again. Empty when the run removed nothing, or the watched
 * members are not known. A run that replaces several members names every member it removed, and every new
 * member that joined (each stays, whatever became of the members after it).
 */
export function deploymentFollowUp(
  context: Partial<WorkflowContext>,
  outcome: RunRecord['outcome'],
  watch: { cluster: string; members: readonly WatchedMember[] | undefined; includeAddresses: boolean },
): string[] {
  const watched = watch.members;
  if (!watched) return [];
  const several = replacesSeveral(context) && context.request !== undefined;
  const slots: Array<Partial<MemberSlot>> = several ? currentSlots(context as WorkflowContext) : [context];
  // A restore's former member re-added on its own host is a member there again: the list stays as it was.
  const removed = slots.filter((slot) => slot.failedMemberRemoved === true && !(slot.replacement && slot.replacement.name === slot.failedHost?.name));
  if (removed.length === 0) return [];
  const watchedAs = (gone: Host | undefined) =>
    watched.find(
      (m) =>
        (gone?.instanceId !== undefined && m.instanceId === gone.instanceId) || (gone !== undefined && m.hostname === gone.hostname) || m.name === gone?.name,
    );
  const removedMembers = removed.flatMap((slot) => watchedAs(slot.failedHost) ?? []);
  const joined = (slot: Partial<MemberSlot>) => outcome === 'succeeded' || (several && slot.memberAdded === true && slot.newMemberStartedAt !== undefined);
  const added = removed.flatMap((slot) =>
    slot.replacement && joined(slot) && !watched.some((m) => m.hostname === slot.replacement!.hostname) ? [slot.replacement] : [],
  );
  const waiting = removed.some((slot) => !joined(slot));
  if (removedMembers.length === 0 && added.length === 0) return [];
  const parts = [
    ...removedMembers.map((m) => `remove ${m.name} (${m.instanceId})`),
    ...added.map((host) => {
      const facts = watch.includeAddresses
        ? `{"name": "${host.name}", "hostname": "${host.hostname}", "ip": "${host.ip}", "instanceId": "${host.instanceId ?? '?'}"}`
        : `${host.hostname}, ${host.instanceId ?? 'its instance ID'}`;
      return `add ${host.name} (${facts})`;
    }),
    ...(waiting ? [several ? 'add each other new member once it has joined' : 'add the new member once one has joined'] : []),
  ];
  const consequences = [
    ...removedMembers.map((m) => `the alarm etcd-replace-${watch.cluster}-member-${m.name} stays in ALARM and will not start another run`),
    ...added.map((host) => `${host.name} is not watched by the health probe`),
  ];
  return [
    `Edit "members" in the deployment configuration: ${parts.join(', ')}; then deploy the stack again (npx cdk deploy -c etcdReplaceConfig=FILE). Until then ${consequences.join(', and ')}.`,
  ];
}

/** The workflow an execution runs, as its state machine says: the replacement's unless it is the restore's. */
export interface AuditedWorkflow {
  /** The spec's id (statemachine/restoreSpec.ts RESTORE_WORKFLOW.id), kept as RunRecord.workflow; absent: the replacement. */
  id?: string;
  /** Its task states in order: the timeline lists each one, and a task the run never reached as skipped. */
  taskNames: readonly string[];
}

export interface AuditInput {
  facts: ExecutionFacts & { redriveCount?: number | undefined };
  /** The workflow the execution runs (default: the replacement's). */
  workflow?: AuditedWorkflow;
  /** The whole execution history, oldest first, with state inputs and outputs. */
  events: readonly HistoryEvent[];
  details?: readonly StepDetail[];
  /** The cluster when the input names none (a malformed request). */
  cluster: string;
  principal?: StartPrincipal | null;
  alarm?: AlarmStateChange;
  /** The stack's watched members, for the follow-up a removed member leaves. */
  members?: readonly WatchedMember[];
  now: Date;
}

/** The audit record of an execution. */
export function buildAuditRecord(input: AuditInput): AuditRecord {
  const { facts, events } = input;
  const doc = runDocumentFromHistory(facts, events, input.workflow?.taskNames);
  const started = events.find((e) => e.type === 'ExecutionStarted');
  const request = parse(started?.executionStartedEventDetails?.input ?? facts.input);
  const context = auditedContext(finalContextFromHistory(events));
  const errors = lastErrors(events);
  const details = latestDetails(input.details ?? []);

  // A run that replaces several members: a per-member step once per member it ran for, named with its member
  // (as the sandbox's run record has it), and the steps in the order they ran.
  const memberSteps = memberStepsFromHistory(events, doc.endedAt);
  const ran = doc.steps
    .filter((s) => !(s.status === 'skipped' && s.attempts === 0))
    .flatMap((s) => {
      const perMember = memberSteps.filter((m) => m.name === s.name);
      return perMember.length > 0 ? perMember : [{ ...s, endedAt: s.endedAt ?? undefined }];
    });
  const steps: StepRecord[] = ran.map((s) => {
    const reported = s.member ? detailWithin(input.details ?? [], s.name, s.startedAt, s.endedAt) : details.get(s.name);
    const error = s.status === 'failed' ? errors.get(s.name) : undefined;
    const status: StepRecord['status'] = s.status === 'succeeded' && reported?.outcome === 'skipped' ? 'skipped' : s.status;
    const detail = reported && (s.status !== 'failed' || reported.outcome === 'failed') ? reported.detail : error?.message;
    return {
      name: s.name,
      status,
      startedAt: s.startedAt,
      ...(s.endedAt !== undefined ? { endedAt: s.endedAt } : {}),
      attempts: s.attempts,
      ...(error ? { error } : {}),
      ...(detail ? { detail: oneLine(detail) } : {}),
      ...(s.member ? { member: s.member } : {}),
    };
  });
  if (memberSteps.length > 0) steps.sort((a, b) => a.startedAt.localeCompare(b.startedAt));

  const requestObject = isObject(request) ? request : {};
  const cluster = typeof requestObject['cluster'] === 'string' && requestObject['cluster'] !== '' ? requestObject['cluster'] : input.cluster;
  const runRemaining =
    doc.remaining ?? (Array.isArray(context['remaining']) ? (context['remaining'] as unknown[]).filter((r): r is string => typeof r === 'string') : []);
  const followUp =
    doc.outcome === 'running'
      ? []
      : deploymentFollowUp(context as Partial<WorkflowContext>, doc.outcome, { cluster, members: input.members, includeAddresses: true });
  const remaining = [...runRemaining, ...followUp];

  return {
    runId: doc.runId,
    cluster,
    target: 'aws',
    ...(input.workflow?.id ? { workflow: input.workflow.id } : {}),
    startedBy: doc.startedBy ?? 'unknown',
    request: requestObject,
    outcome: doc.outcome,
    ...(doc.reason ? { reason: doc.reason } : {}),
    startedAt: doc.startedAt,
    ...(doc.endedAt ? { endedAt: doc.endedAt } : {}),
    state: lastStateOf(events) ?? input.workflow?.taskNames[0] ?? 'ValidateInput',
    context,
    steps,
    ...(remaining.length > 0 ? { remaining } : {}),
    executionArn: facts.executionArn,
    executionName: facts.name,
    executionStatus: facts.status,
    ...(facts.redriveCount ? { redriveCount: facts.redriveCount } : {}),
    principal: input.principal ?? null,
    ...(input.alarm ? { alarm: input.alarm } : {}),
    historyEvents: events.length,
    recordedAt: input.now.toISOString(),
  };
}

/** A CloudTrail event (EventBridge's `detail`, or LookupEvents' CloudTrailEvent) of StartExecution as the principal that made it. */
export function principalFromCloudTrail(event: unknown, via: StartPrincipal['via']): { executionArn: string; principal: StartPrincipal } | undefined {
  if (!isObject(event) || event['eventName'] !== 'StartExecution' || event['eventSource'] !== 'states.amazonaws.com') return undefined;
  const response = isObject(event['responseElements']) ? event['responseElements'] : {};
  const executionArn = response['executionArn'];
  if (typeof executionArn !== 'string') return undefined;
  const identity = isObject(event['userIdentity']) ? event['userIdentity'] : {};
  const session = isObject(identity['sessionContext']) ? identity['sessionContext'] : {};
  const issuer = isObject(session['sessionIssuer']) ? session['sessionIssuer'] : {};
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const principal: StartPrincipal = {
    arn: text(identity['arn']) ?? null,
    type: text(identity['type']) ?? null,
    accountId: text(identity['accountId']) ?? null,
    eventId: text(event['eventID']) ?? null,
    eventTime: text(event['eventTime']) ?? null,
    via,
  };
  const optional = {
    sessionIssuer: text(issuer['arn']),
    invokedBy: text(identity['invokedBy']),
    sourceIPAddress: text(event['sourceIPAddress']),
    userAgent: text(event['userAgent']),
  };
  for (const [key, value] of Object.entries(optional)) if (value) (principal as unknown as Record<string, string>)[key] = oneLine(value, 200);
  return { executionArn, principal };
}

/** CloudWatch's alarm history items (DescribeAlarmHistory, StateUpdate, newest first) as the change into ALARM before `before`. */
export function alarmChangeFromHistory(
  alarmName: string,
  items: ReadonlyArray<{ Timestamp?: Date | undefined; HistoryData?: string | undefined; HistorySummary?: string | undefined }>,
  before: Date,
): AlarmStateChange {
  for (const item of items) {
    const data = parse(item.HistoryData);
    if (!isObject(data) || !item.Timestamp || item.Timestamp.getTime() > before.getTime() + 60_000) continue;
    const next = isObject(data['newState']) ? data['newState'] : {};
    const old = isObject(data['oldState']) ? data['oldState'] : {};
    if (next['stateValue'] !== 'ALARM') continue;
    return {
      alarmName,
      confirmed: true,
      at: item.Timestamp.toISOString(),
      ...(typeof old['stateValue'] === 'string' ? { from: old['stateValue'] } : {}),
      ...(typeof next['stateReason'] === 'string'
        ? { reason: oneLine(next['stateReason']) }
        : item.HistorySummary
          ? { reason: oneLine(item.HistorySummary) }
          : {}),
    };
  }
  return { alarmName, confirmed: false };
}
