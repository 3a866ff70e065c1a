// The audit writer against faked AWS: Step Functions (DescribeExecution, GetExecutionHistory),
// CloudTrail (LookupEvents), CloudWatch (DescribeAlarmHistory) and the run table (an in-memory table
// with DynamoDB's conditional-write semantics).

import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { CloudWatchClient, DescribeAlarmHistoryCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient, type HistoryEvent } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import { AuditStore } from '../../functions/adapters/aws/auditStore.ts';
import { runKey } from '../../functions/adapters/aws/dynamoRunStore.ts';
import { DynamoRunStore } from '../../functions/adapters/aws/dynamoRunStore.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { CLOUDTRAIL_CALL, recordAudit, STATUS_CHANGE, type AuditDeps } from '../../functions/handlers/auditRecorder.ts';
import { createLogger, createMetrics } from '../../functions/handlers/observability.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import type { HistoryBuilder } from '../support/aws/sfnHistory.ts';
import {
  ACCOUNT,
  ALARM_REQUEST,
  executionArnOf,
  failedRun,
  HEALTHY_CAUSE,
  MEMBERS,
  NOT_STARTED,
  REGION,
  refusedRun,
  STATE_MACHINE,
  succeededRun,
  T0,
} from '../support/aws/runHistories.ts';

const sfnMock = mockClient(SFNClient);
const trailMock = mockClient(CloudTrailClient);
const watchMock = mockClient(CloudWatchClient);
const docMock = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION }));
const indexes = Object.fromEntries(Object.values(TABLE_SCHEMA.indexes).map((i) => [i.name, { partitionKey: i.partitionKey, sortKey: i.sortKey }]));
const NOW = new Date(T0 + 3_600_000);
const env = { CLUSTER_NAME: 'ocp311', POWERTOOLS_METRICS_NAMESPACE: 'EtcdReplace' };

let table: FakeDynamoTable;
let stdout: string[];
let deps: AuditDeps;

function depsFor(store = new AuditStore({ doc, table: 'runs', retentionDays: 400, now: () => NOW })): AuditDeps {
  return {
    sfn: new SFNClient({ region: REGION }),
    cloudtrail: new CloudTrailClient({ region: REGION }),
    cloudwatch: new CloudWatchClient({ region: REGION }),
    store,
    cluster: 'ocp311',
    stateMachineArn: STATE_MACHINE,
    alarmPrefix: 'etcd-replace-ocp311-member-',
    members: MEMBERS,
    logger: createLogger(env),
    metrics: createMetrics(env),
    now: () => NOW,
  };
}

/** The execution as DescribeExecution and GetExecutionHistory show it. */
function execution(name: string, run: HistoryBuilder | HistoryEvent[], status: string, extra: { error?: string; cause?: string } = {}): void {
  const events = Array.isArray(run) ? run : run.events;
  const last = events.at(-1)!.timestamp!;
  sfnMock.on(DescribeExecutionCommand, { executionArn: executionArnOf(name) }).resolves({
    executionArn: executionArnOf(name),
    stateMachineArn: STATE_MACHINE,
    name,
    status: status as 'RUNNING',
    startDate: new Date(T0),
    ...(status === 'RUNNING' ? {} : { stopDate: last }),
    input: events[0]!.executionStartedEventDetails!.input!,
    ...extra,
  });
  sfnMock.on(GetExecutionHistoryCommand, { executionArn: executionArnOf(name) }).resolves({ events });
}

const statusChange = (name: string, status: string) => ({
  'detail-type': STATUS_CHANGE,
  detail: { executionArn: executionArnOf(name), stateMachineArn: STATE_MACHINE, name, status },
});

/** The CloudTrail record of a StartExecution call. */
function startExecutionEvent(name: string, identity: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    eventVersion: '1.09',
    eventSource: 'states.amazonaws.com',
    eventName: 'StartExecution',
    eventTime: new Date(T0).toISOString(),
    eventID: `ev-${name}`,
    awsRegion: REGION,
    userIdentity: { accountId: ACCOUNT, ...identity },
    requestParameters: { stateMachineArn: STATE_MACHINE, name },
    responseElements: { executionArn: executionArnOf(name), startDate: 'Mar 2, 2026, 10:00:00 AM' },
    ...extra,
  };
}

const ALARM_IDENTITY = {
  type: 'AssumedRole',
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/EtcdReplace-ocp311-StateMachineEventsRole/a1b2c3`,
  sessionContext: { sessionIssuer: { type: 'Role', arn: `arn:aws:iam::${ACCOUNT}:role/EtcdReplace-ocp311-StateMachineEventsRole` } },
  invokedBy: 'events.amazonaws.com',
};

const storedItem = (runId: string) => table.items.get(JSON.stringify([runKey(runId).pk, runKey(runId).sk]));
const emf = () => stdout.map((line) => JSON.parse(line) as Record<string, unknown>).filter((o) => '_aws' in o);

beforeEach(() => {
  for (const m of [sfnMock, trailMock, watchMock, docMock]) m.reset();
  table = new FakeDynamoTable({ indexes });
  table.attach(docMock);
  trailMock.on(LookupEventsCommand).resolves({ Events: [] });
  watchMock.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
  stdout = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(
      ...String(chunk)
        .split('\n')
        .filter((l) => l.trim() !== ''),
    );
    return true;
  });
  deps = depsFor();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('Function: recordAudit', () => {
  it('writes a finished run whole: request, who started it, every step with attempts and detail, outcome, remaining; kept 400 days', async () => {
    const name = 'ocp311-master-2-0d1e2f3a-20260302-10';
    const run = succeededRun(name);
    execution(name, run, 'SUCCEEDED');
    await deps.store.putStepDetail(name, {
      step: 'AddMember',
      startedAt: new Date(T0 + 60_000).toISOString(),
      outcome: 'succeeded',
      detail: 'added etcd-spare-0.ocp311.example.internal https://10.0.1.20:2380 as member a1b2c3d4e5f60718 (learner)',
      durationMs: 900,
    });
    await deps.store.putStepDetail(name, {
      step: 'StopFailedMember',
      startedAt: new Date(T0 + 50_000).toISOString(),
      outcome: 'skipped',
      detail: 'master-2 does not answer: nothing to stop',
      durationMs: 300,
    });
    trailMock.on(LookupEventsCommand).resolves({
      Events: [
        {
          EventName: 'StartExecution',
          CloudTrailEvent: JSON.stringify(startExecutionEvent('another-run', { type: 'IAMUser', arn: `arn:aws:iam::${ACCOUNT}:user/bob` })),
        },
        { EventName: 'StartExecution', CloudTrailEvent: JSON.stringify(startExecutionEvent(name, ALARM_IDENTITY)) },
      ],
    });
    watchMock.on(DescribeAlarmHistoryCommand).resolves({
      AlarmHistoryItems: [
        {
          AlarmName: 'etcd-replace-ocp311-member-master-2',
          Timestamp: new Date(T0 - 30_000),
          HistoryItemType: 'StateUpdate',
          HistorySummary: 'Alarm updated from OK to ALARM',
          HistoryData: JSON.stringify({
            version: '1.0',
            oldState: { stateValue: 'OK', stateReason: 'Threshold Crossed: 1 datapoint [1.0] was not less than the threshold (1.0).' },
            newState: {
              stateValue: 'ALARM',
              stateReason: 'Threshold Crossed: 3 out of the last 3 datapoints [0.0, 0.0, 0.0] were less than the threshold (1.0).',
            },
          }),
        },
      ],
    });

    const result = await recordAudit(statusChange(name, 'SUCCEEDED'), deps);
    expect(result).toEqual({ kind: 'record', runId: name, outcome: 'succeeded', written: true, principal: true, metrics: true });

    const record = (await deps.store.get(name))!;
    expect(record).toMatchObject({
      runId: name,
      cluster: 'ocp311',
      target: 'aws',
      startedBy: 'alarm:etcd-replace-ocp311-member-master-2',
      request: ALARM_REQUEST,
      outcome: 'succeeded',
      state: 'Succeeded',
      executionArn: executionArnOf(name),
      executionStatus: 'SUCCEEDED',
      startedAt: new Date(T0).toISOString(),
      endedAt: run.now.toISOString(),
    });
    expect(record.reason).toBeUndefined();
    // Who started it: the alarm (with CloudWatch's own account of its change), through EventBridge's role.
    expect(record.alarm).toEqual({
      alarmName: 'etcd-replace-ocp311-member-master-2',
      confirmed: true,
      at: new Date(T0 - 30_000).toISOString(),
      from: 'OK',
      reason: 'Threshold Crossed: 3 out of the last 3 datapoints [0.0, 0.0, 0.0] were less than the threshold (1.0).',
    });
    expect(record.principal).toMatchObject({
      arn: ALARM_IDENTITY.arn,
      type: 'AssumedRole',
      invokedBy: 'events.amazonaws.com',
      sessionIssuer: ALARM_IDENTITY.sessionContext.sessionIssuer.arn,
      via: 'cloudtrail-lookup',
    });
    // Every step entered, with attempts and the detail the step reported.
    expect(record.steps.map((s) => s.name)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'CheckClusterHealth',
      'SnapshotCluster',
      'ConfirmMemberFailed',
      'RemoveFailedMember',
      'StopFailedMember',
      'ConfigureNewMember',
      'AddMember',
      'StartNewMember',
      'PromoteNewMember',
      'VerifyClusterHealth',
      'ReleaseLock',
    ]);
    expect(record.steps.find((s) => s.name === 'AcquireLock')).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(record.steps.find((s) => s.name === 'AddMember')).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      detail: expect.stringContaining('as member a1b2c3d4e5f60718 (learner)'),
    });
    expect(record.steps.find((s) => s.name === 'StopFailedMember')).toMatchObject({ status: 'skipped', detail: 'master-2 does not answer: nothing to stop' });
    for (const step of record.steps) expect(Date.parse(step.endedAt!)).toBeGreaterThanOrEqual(Date.parse(step.startedAt));
    // What remains: the members edit, with what the new entry needs.
    expect(record.remaining).toEqual([
      expect.stringContaining(
        'remove master-2 (i-0a1b2c3d4e5f60712), add etcd-spare-0 ({"name": "etcd-spare-0", "hostname": "etcd-spare-0.ocp311.example.internal", "ip": "10.0.1.20", "instanceId": "i-0a1b2c3d4e5f60720"})',
      ),
    ]);
    // The final context, for the auditor: who was removed and added.
    expect(record.context).toMatchObject({ failedMemberRemoved: true, newMemberId: 'a1b2c3d4e5f60718' });
    // Kept past Step Functions' 90 days: TTL 400 days after the end.
    const item = storedItem(name)!;
    expect(item['ttl']).toBe(Math.ceil(run.now.getTime() / 1000) + 400 * 86_400);
    expect(item['historyEvents']).toBe(run.events.length);
    // The sandbox's run store reads the same item.
    expect((await new DynamoRunStore({ doc, table: 'runs' }).get(name))?.outcome).toBe('succeeded');
  });

  it("records a refusal and a failure as such, with the reason and each failed step's error, never a stack trace", async () => {
    execution('r-healthy-master-1', refusedRun('r-healthy-master-1'), 'FAILED', {
      error: 'RefusedError',
      cause: JSON.stringify({ errorType: 'RefusedError', errorMessage: HEALTHY_CAUSE, trace: ['at x (/var/task/index.js:1:1)'] }),
    });
    await recordAudit(statusChange('r-healthy-master-1', 'FAILED'), deps);
    const refused = (await deps.store.get('r-healthy-master-1'))!;
    expect(refused).toMatchObject({ outcome: 'refused', state: 'Refused', reason: `RefusedError: ${HEALTHY_CAUSE}`, startedBy: 'console:jane' });
    expect(refused.steps.find((s) => s.name === 'CheckClusterHealth')).toMatchObject({
      status: 'failed',
      error: { name: 'RefusedError', message: HEALTHY_CAUSE },
      detail: HEALTHY_CAUSE,
    });
    expect(refused.remaining).toBeUndefined();
    expect(refused.alarm).toBeUndefined();

    execution('ocp311-master-2-failed-1', failedRun('ocp311-master-2-failed-1'), 'FAILED', { error: 'NewMemberFailedError', cause: NOT_STARTED });
    await recordAudit(statusChange('ocp311-master-2-failed-1', 'FAILED'), deps);
    const failed = (await deps.store.get('ocp311-master-2-failed-1'))!;
    expect(failed).toMatchObject({ outcome: 'failed', state: 'Failed', reason: `NewMemberFailedError: ${NOT_STARTED}`, startedBy: 'cli:ops' });
    expect(failed.steps.find((s) => s.name === 'StartNewMember')).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { name: 'NewMemberFailedError', message: NOT_STARTED },
    });
    expect(failed.remaining).toEqual([
      'the cluster runs with 2 members: replace master-2 with another spare (etcd-replace run)',
      expect.stringContaining('remove master-2 (i-0a1b2c3d4e5f60712), add the new member once one has joined'),
    ]);
    for (const record of [refused, failed]) expect(JSON.stringify(record)).not.toMatch(/\/var\/task|at step \(|trace/);
    expect(refused.context['error']).toEqual({ Error: 'RefusedError', Cause: HEALTHY_CAUSE });
  });

  it('writes a running execution at once, without TTL, metrics or a CloudTrail lookup; the final status replaces it', async () => {
    const name = 'ocp311-master-2-running-1';
    const run = succeededRun(name);
    const partial = run.events.slice(0, 12);
    execution(name, partial, 'RUNNING');
    expect(await recordAudit(statusChange(name, 'RUNNING'), deps)).toMatchObject({ outcome: 'running', written: true, metrics: false });
    expect(storedItem(name)!['ttl']).toBeUndefined();
    // AcquireLock failed once and is being retried: running, its second attempt.
    expect((await deps.store.get(name))!.steps.at(-1)).toMatchObject({ name: 'AcquireLock', status: 'running', attempts: 2 });
    expect(trailMock.commandCalls(LookupEventsCommand)).toHaveLength(0);
    expect(emf()).toHaveLength(0);

    execution(name, run, 'SUCCEEDED');
    expect(await recordAudit(statusChange(name, 'SUCCEEDED'), deps)).toMatchObject({ outcome: 'succeeded', written: true });
    expect((await deps.store.get(name))!.outcome).toBe('succeeded');
  });

  it('never lets an older reading replace a newer one (EventBridge keeps no order)', async () => {
    const name = 'ocp311-master-2-order-1';
    const run = succeededRun(name);
    execution(name, run, 'SUCCEEDED');
    await recordAudit(statusChange(name, 'SUCCEEDED'), deps);
    // The RUNNING event's reading, made before the end, arrives last.
    execution(name, run.events.slice(0, 12), 'RUNNING');
    expect(await recordAudit(statusChange(name, 'RUNNING'), deps)).toMatchObject({ written: false });
    expect((await deps.store.get(name))!.outcome).toBe('succeeded');
  });

  it('takes the principal from the CloudTrail event once, and ignores calls on other state machines', async () => {
    const name = 'ocp311-master-2-console-1';
    const jane = {
      type: 'AssumedRole',
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/Operators/jane@example.com`,
      sessionContext: { sessionIssuer: { arn: `arn:aws:iam::${ACCOUNT}:role/Operators` } },
    };
    const call = { 'detail-type': CLOUDTRAIL_CALL, detail: startExecutionEvent(name, jane, { sourceIPAddress: '203.0.113.7', userAgent: 'aws-cli/2.17.0' }) };
    expect(await recordAudit(call, deps)).toEqual({ kind: 'principal', runId: name, written: true });
    const other = { 'detail-type': CLOUDTRAIL_CALL, detail: startExecutionEvent(name, { type: 'IAMUser', arn: `arn:aws:iam::${ACCOUNT}:user/mallory` }) };
    expect(await recordAudit(other, deps)).toEqual({ kind: 'principal', runId: name, written: false });
    const elsewhere = {
      ...startExecutionEvent('x-other', jane),
      responseElements: { executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:some-other-machine:x-other` },
    };
    expect(await recordAudit({ 'detail-type': CLOUDTRAIL_CALL, detail: elsewhere }, deps)).toMatchObject({ kind: 'ignored' });

    execution(name, succeededRun(name, { ...ALARM_REQUEST, startedBy: 'console:jane' }), 'SUCCEEDED');
    await recordAudit(statusChange(name, 'SUCCEEDED'), deps);
    const record = (await deps.store.get(name))!;
    expect(record.principal).toEqual({
      arn: jane.arn,
      type: 'AssumedRole',
      accountId: ACCOUNT,
      sessionIssuer: `arn:aws:iam::${ACCOUNT}:role/Operators`,
      sourceIPAddress: '203.0.113.7',
      userAgent: 'aws-cli/2.17.0',
      eventId: `ev-${name}`,
      eventTime: new Date(T0).toISOString(),
      via: 'cloudtrail-event',
    });
    expect(trailMock.commandCalls(LookupEventsCommand)).toHaveLength(0);
    expect(record.alarm).toBeUndefined();
  });

  it('keeps principal null while CloudTrail has no record of the call, and an alarm unconfirmed when its history shows no change', async () => {
    const name = 'ocp311-master-2-quick-1';
    execution(name, succeededRun(name), 'SUCCEEDED');
    await recordAudit(statusChange(name, 'SUCCEEDED'), deps);
    const record = (await deps.store.get(name))!;
    expect(record.principal).toBeNull();
    expect(record.alarm).toEqual({ alarmName: 'etcd-replace-ocp311-member-master-2', confirmed: false });
    expect(trailMock.commandCalls(LookupEventsCommand)[0]!.args[0].input).toMatchObject({
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'StartExecution' }],
    });
  });

  it("emits the run's metrics once, in EMF: Runs and RunDuration by ClusterName and Outcome", async () => {
    const name = 'ocp311-master-2-metrics-1';
    const run = succeededRun(name);
    execution(name, run, 'SUCCEEDED');
    await recordAudit(statusChange(name, 'SUCCEEDED'), deps);
    // A duplicate delivery of the same status counts no run twice.
    expect(await recordAudit(statusChange(name, 'SUCCEEDED'), deps)).toMatchObject({ written: true, metrics: false });
    const blobs = emf();
    expect(blobs).toHaveLength(1);
    const blob = blobs[0]! as {
      _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
    } & Record<string, unknown>;
    expect(blob._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'EtcdReplace', Dimensions: [['ClusterName', 'Outcome']] });
    expect(blob._aws.CloudWatchMetrics[0]!.Metrics).toEqual(
      expect.arrayContaining([
        { Name: 'Runs', Unit: 'Count' },
        { Name: 'RunDuration', Unit: 'Seconds' },
      ]),
    );
    expect(blob).toMatchObject({ ClusterName: 'ocp311', Outcome: 'succeeded', Runs: 1, RunDuration: (run.now.getTime() - T0) / 1000 });
    expect(blob['service']).toBeUndefined();
  });

  it('ignores events of other state machines and other kinds', async () => {
    expect(
      await recordAudit({ 'detail-type': STATUS_CHANGE, detail: { executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:other:x1` } }, deps),
    ).toMatchObject({ kind: 'ignored' });
    expect(await recordAudit({ 'detail-type': 'Scheduled Event', detail: {} }, deps)).toMatchObject({ kind: 'ignored' });
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('Class: AuditStore', () => {
  it('lists records newest first, of one cluster or all, with their principal', async () => {
    const store = deps.store;
    const record = (runId: string, startedAt: string, cluster = 'ocp311'): AuditRecord => ({
      runId,
      cluster,
      target: 'aws',
      startedBy: 'cli:ops',
      request: {},
      outcome: 'succeeded',
      state: 'Succeeded',
      context: {},
      steps: [],
      startedAt,
      endedAt: startedAt,
      executionArn: executionArnOf(runId),
      executionName: runId,
      executionStatus: 'SUCCEEDED',
      principal: null,
      historyEvents: 10,
      recordedAt: NOW.toISOString(),
    });
    await store.save(record('run-older-1', '2026-03-01T10:00:00.000Z'));
    await store.save(record('run-newer-1', '2026-03-02T10:00:00.000Z'));
    await store.save(record('run-other-1', '2026-03-03T10:00:00.000Z', 'ocp312'));
    await store.setPrincipal('run-newer-1', {
      arn: 'arn:aws:iam::123456789012:user/ops',
      type: 'IAMUser',
      accountId: ACCOUNT,
      eventId: 'e',
      eventTime: null,
      via: 'cloudtrail-event',
    });
    expect((await store.list({ cluster: 'ocp311' })).map((r) => r.runId)).toEqual(['run-newer-1', 'run-older-1']);
    expect((await store.list({ limit: 2 })).map((r) => r.runId)).toEqual(['run-other-1', 'run-newer-1']);
    expect((await store.list({ cluster: 'ocp311' }))[0]!.principal?.arn).toBe('arn:aws:iam::123456789012:user/ops');
    expect(await store.get('run-missing-1')).toBeNull();
  });
});
