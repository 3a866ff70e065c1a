// The audit trail's writer. EventBridge sends it:
//
// - every "Step Functions Execution Status Change" of the replacement state machine and of the restore's
//   (`etcd-restore-<cluster>`, RESTORE_STATE_MACHINE_ARN): RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED,
//   and RUNNING again after a redrive. A restore's record names its workflow (RunRecord.workflow) and lists
//   the restore's task states, so `history --target aws` shows it as the sandbox's history does. Each time it reads the
//   execution (DescribeExecution, the whole GetExecutionHistory) and what the steps reported, and writes
//   the run's audit record (auditRecord.ts) to the run table (auditStore.ts). Events may come twice or
//   out of order: the record is always rebuilt from the execution's current history, and a record
//   built from fewer history events never replaces a newer one.
// - the CloudTrail event of each StartExecution call on the state machine ("AWS API Call via
//   CloudTrail"; EventBridge receives it where the account has a trail): the IAM principal that started
//   the run, set once on its record.
//
// Who started a run is recorded from three sources, each for what it can prove:
// - `startedBy`: the execution input's own field. The alarm rule sets `alarm:<alarm name>` and the CLI
//   `cli:<OS user>`; from the console it is whatever the person typed. It is a claim, not a proof.
// - `alarm`: for `alarm:<name>` of this cluster's member alarms or its quorum-lost alarm, CloudWatch's alarm history of that
//   alarm: when it went into ALARM, from which state, and CloudWatch's reason (confirmed: true), or
//   confirmed: false when the history shows no such change in the hour before the run.
// - `principal`: the caller of StartExecution as CloudTrail recorded it (user or role session ARN,
//   source address, user agent; for alarm-started runs a session of the alarm rule's role). Step
//   Functions itself does not keep it. It comes from the CloudTrail event above or, once the execution
//   has ended and the record has none, from CloudTrail's LookupEvents (its event history, 90 days, no
//   trail needed). CloudTrail delivers events minutes after the call, so a run that ends within
//   minutes in an account without a trail may keep `principal: null`.
//
// On the first write of a finished record it emits the run's metrics (EMF): Runs = 1 and RunDuration,
// dimensions ClusterName and Outcome (succeeded, refused, failed).

import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { CloudWatchClient, DescribeAlarmHistoryCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { errorName, InvalidInputError } from '../errors.ts';
import * as validate from '../validate.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import {
  alarmChangeFromHistory,
  alarmNameOf,
  buildAuditRecord,
  principalFromCloudTrail,
  type AlarmStateChange,
  type AuditedWorkflow,
  type AuditRecord,
  type StartPrincipal,
  type WatchedMember,
} from '../adapters/aws/auditRecord.ts';
import { AuditStore } from '../adapters/aws/auditStore.ts';
import { isExecutionArn, startedByOf, StepFunctionsExecutions } from '../adapters/aws/executions.ts';
import { runIdFromExecutionName } from './event.ts';
import { watchedMembers } from './notifyOutcome.ts';
import { createLogger, createMetrics, createTracer, METRICS, setLogKeys, traced } from './observability.ts';

export const STATUS_CHANGE = 'Step Functions Execution Status Change';
export const CLOUDTRAIL_CALL = 'AWS API Call via CloudTrail';
const ENDED = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
/** How far around an execution's start LookupEvents searches for its StartExecution call. */
const LOOKUP_WINDOW_MS = 10 * 60_000;
/** LookupEvents pages read at most (50 events each; the API allows 2 calls a second per account). */
const LOOKUP_MAX_PAGES = 6;

export interface AuditEvent {
  'detail-type': string;
  detail: Record<string, unknown>;
}

export interface AuditDeps {
  sfn: Pick<SFNClient, 'send'>;
  cloudtrail: Pick<CloudTrailClient, 'send'>;
  cloudwatch: Pick<CloudWatchClient, 'send'>;
  store: AuditStore;
  cluster: string;
  /** The replacement's state machine, whose executions are recorded. */
  stateMachineArn: string;
  /** The restore's state machine (`etcd-restore-<cluster>`), whose executions are recorded as the restore's; any other is ignored. */
  restoreStateMachineArn?: string | undefined;
  /** Names of this cluster's member alarms start with it (`etcd-replace-<cluster>-member-`). */
  alarmPrefix: string;
  /** Other alarms of this cluster that start runs, by name: the quorum-lost alarm (`etcd-replace-<cluster>-quorum-lost`). */
  alarmNames?: readonly string[];
  members?: WatchedMember[] | undefined;
  logger: Logger;
  metrics: Metrics;
  now?: () => Date;
}

export type AuditResult =
  | { kind: 'record'; runId: string; outcome: AuditRecord['outcome']; written: boolean; principal: boolean; metrics: boolean }
  | { kind: 'principal'; runId: string; written: boolean }
  | { kind: 'ignored'; why: string };

function machineOf(executionArn: string): string {
  return executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, '');
}

const RESTORE: AuditedWorkflow = { id: RESTORE_WORKFLOW.id, taskNames: RESTORE_WORKFLOW.tasks.map((t) => t.name) };

/** The workflow an execution of ours runs (undefined: the replacement's), or null when it is no execution of our state machines. */
function workflowOf(executionArn: string, deps: Pick<AuditDeps, 'stateMachineArn' | 'restoreStateMachineArn'>): AuditedWorkflow | undefined | null {
  if (!isExecutionArn(executionArn)) return null;
  const machine = machineOf(executionArn);
  if (machine === deps.stateMachineArn) return undefined;
  if (deps.restoreStateMachineArn !== undefined && machine === deps.restoreStateMachineArn) return RESTORE;
  return null;
}

/** The StartExecution call of an execution in CloudTrail's event history, when it is there yet. */
export async function lookUpPrincipal(cloudtrail: Pick<CloudTrailClient, 'send'>, executionArn: string, startDate: Date): Promise<StartPrincipal | null> {
  let nextToken: string | undefined;
  for (let page = 0; page < LOOKUP_MAX_PAGES; page++) {
    const out = await cloudtrail.send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'StartExecution' }],
        StartTime: new Date(startDate.getTime() - LOOKUP_WINDOW_MS),
        EndTime: new Date(startDate.getTime() + LOOKUP_WINDOW_MS),
        MaxResults: 50,
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const event of out.Events ?? []) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(event.CloudTrailEvent ?? '');
      } catch {
        continue;
      }
      const found = principalFromCloudTrail(parsed, 'cloudtrail-lookup');
      if (found?.executionArn === executionArn) return found.principal;
    }
    nextToken = out.NextToken;
    if (!nextToken) break;
  }
  return null;
}

/** The alarm's change into ALARM before the run started, from CloudWatch's alarm history. */
export async function lookUpAlarmChange(cloudwatch: Pick<CloudWatchClient, 'send'>, alarmName: string, startDate: Date): Promise<AlarmStateChange> {
  const out = await cloudwatch.send(
    new DescribeAlarmHistoryCommand({
      AlarmName: alarmName,
      HistoryItemType: 'StateUpdate',
      StartDate: new Date(startDate.getTime() - 3_600_000),
      EndDate: new Date(startDate.getTime() + 60_000),
      ScanBy: 'TimestampDescending',
      MaxRecords: 20,
    }),
  );
  return alarmChangeFromHistory(alarmName, out.AlarmHistoryItems ?? [], startDate);
}

async function recordExecution(executionArn: string, workflow: AuditedWorkflow | undefined, deps: AuditDeps): Promise<AuditResult> {
  const now = deps.now ?? (() => new Date());
  const described = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
  const name = described.name ?? executionArn.split(':').at(-1)!;
  const runId = runIdFromExecutionName(name);
  setLogKeys(deps.logger, { runId, executionArn });
  const startDate = described.startDate ?? now();
  const status = described.status ?? 'RUNNING';
  const [events, details, stored] = await Promise.all([
    new StepFunctionsExecutions(deps.sfn as SFNClient).history(executionArn),
    deps.store.stepDetails(runId),
    deps.store.stored(runId),
  ]);

  let principal = stored?.principal ?? stored?.record?.principal ?? null;
  let principalFound = false;
  if (!principal && ENDED.has(status)) {
    try {
      principal = await lookUpPrincipal(deps.cloudtrail, executionArn, startDate);
      if (principal) principalFound = await deps.store.setPrincipal(runId, principal);
    } catch (error) {
      deps.logger.warn('CloudTrail lookup of StartExecution failed; the record keeps no principal for now', { error: errorName(error) });
    }
  }

  const facts = {
    executionArn,
    name,
    status,
    startDate,
    stopDate: described.stopDate,
    input: described.input,
    error: described.error,
    cause: described.cause,
    redriveCount: described.redriveCount,
  };
  const alarmName = alarmNameOf(startedByOf(described.input), deps.alarmPrefix, deps.alarmNames);
  let alarm: AlarmStateChange | undefined = stored?.record?.alarm?.confirmed ? stored.record.alarm : undefined;
  if (alarmName && !alarm) {
    try {
      alarm = await lookUpAlarmChange(deps.cloudwatch, alarmName, startDate);
    } catch (error) {
      deps.logger.warn('alarm history could not be read', { error: errorName(error), alarmName });
      alarm = { alarmName, confirmed: false };
    }
  }

  const record = buildAuditRecord({
    facts,
    ...(workflow ? { workflow } : {}),
    events,
    details,
    cluster: deps.cluster,
    principal,
    ...(alarm ? { alarm } : {}),
    members: deps.members,
    now: now(),
  });
  const written = await deps.store.save(record);

  let metrics = false;
  if (written && record.outcome !== 'running' && record.endedAt && (await deps.store.claimMetrics(runId))) {
    deps.metrics.addDimension('Outcome', record.outcome);
    deps.metrics.addMetric(METRICS.runs, MetricUnit.Count, 1);
    deps.metrics.addMetric(METRICS.runDuration, MetricUnit.Seconds, (Date.parse(record.endedAt) - Date.parse(record.startedAt)) / 1000);
    deps.metrics.publishStoredMetrics();
    metrics = true;
  }
  deps.logger.info(written ? 'audit record written' : 'a newer audit record is stored; nothing written', {
    outcome: record.outcome,
    executionStatus: status,
    steps: record.steps.length,
    historyEvents: record.historyEvents,
    principal: record.principal !== null,
  });
  return { kind: 'record', runId, outcome: record.outcome, written, principal: principalFound, metrics };
}

/** Handles one EventBridge event; throws (so EventBridge retries) only when the record could not be written. */
export async function recordAudit(event: AuditEvent, deps: AuditDeps): Promise<AuditResult> {
  const detail = event.detail ?? {};
  if (event['detail-type'] === CLOUDTRAIL_CALL) {
    const found = principalFromCloudTrail(detail, 'cloudtrail-event');
    if (!found || workflowOf(found.executionArn, deps) === null) return { kind: 'ignored', why: "not a StartExecution of this cluster's state machines" };
    const runId = runIdFromExecutionName(found.executionArn.split(':').at(-1)!);
    setLogKeys(deps.logger, { runId, executionArn: found.executionArn });
    const written = await deps.store.setPrincipal(runId, found.principal);
    deps.logger.info(written ? 'principal recorded' : 'principal already recorded', { principalType: found.principal.type });
    return { kind: 'principal', runId, written };
  }
  if (event['detail-type'] !== STATUS_CHANGE) return { kind: 'ignored', why: `unexpected event ${String(event['detail-type'])}` };
  const executionArn = detail['executionArn'];
  const workflow = typeof executionArn === 'string' ? workflowOf(executionArn, deps) : null;
  if (typeof executionArn !== 'string' || workflow === null) return { kind: 'ignored', why: "not an execution of this cluster's state machines" };
  return recordExecution(executionArn, workflow, deps);
}

/**
 * The deployed function's dependencies, from its environment (CLUSTER_NAME, TABLE, STATE_MACHINE_ARN,
 * RESTORE_STATE_MACHINE_ARN, QUORUM_ALARM_NAME, RUN_RETENTION_DAYS, MEMBERS).
 */
export function auditDepsFromEnv(env: Record<string, string | undefined>): AuditDeps {
  const cluster = validate.clusterName('CLUSTER_NAME', env['CLUSTER_NAME']);
  const table = env['TABLE'];
  const stateMachineArn = env['STATE_MACHINE_ARN'];
  if (!table || !stateMachineArn) throw new InvalidInputError('environment', 'TABLE and STATE_MACHINE_ARN must be set');
  const restoreStateMachineArn = env['RESTORE_STATE_MACHINE_ARN']?.trim() || undefined;
  const quorumAlarmName = env['QUORUM_ALARM_NAME']?.trim() || undefined;
  const tracer = createTracer(env);
  const region = env['AWS_REGION'] ? { region: env['AWS_REGION'] } : {};
  const doc = DynamoDBDocumentClient.from(traced(tracer, new DynamoDBClient(region)), { marshallOptions: { removeUndefinedValues: true } });
  return {
    sfn: traced(tracer, new SFNClient(region)),
    cloudtrail: traced(tracer, new CloudTrailClient(region)),
    cloudwatch: traced(tracer, new CloudWatchClient(region)),
    store: new AuditStore({ doc, table, retentionDays: validate.positiveInt('RUN_RETENTION_DAYS', env['RUN_RETENTION_DAYS'] ?? '400') }),
    cluster,
    stateMachineArn,
    ...(restoreStateMachineArn ? { restoreStateMachineArn } : {}),
    alarmPrefix: `etcd-replace-${cluster}-member-`,
    alarmNames: quorumAlarmName ? [quorumAlarmName] : [],
    members: watchedMembers(env),
    logger: createLogger(env),
    metrics: createMetrics(env),
  };
}

let deps: AuditDeps | undefined;

export async function handler(event: AuditEvent): Promise<AuditResult> {
  deps ??= auditDepsFromEnv(process.env);
  setLogKeys(deps.logger, {});
  return recordAudit(event, deps);
}
