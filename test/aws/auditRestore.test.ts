// A restore's audit record on AWS: the audit recorder follows the restore's state machine
// (`etcd-restore-<cluster>`) as well as the replacement's, writes its record with the restore's workflow and
// task states, takes the quorum-lost alarm's change and the principal that started it, and `history --target
// aws` (cli/aws/auditHistory.ts) prints it with the restore's timeline.

import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { CloudWatchClient, DescribeAlarmHistoryCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { printAuditHistory } from '../../cli/aws/auditHistory.ts';
import { AuditStore } from '../../functions/adapters/aws/auditStore.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { auditDepsFromEnv, CLOUDTRAIL_CALL, recordAudit, STATUS_CHANGE, type AuditDeps } from '../../functions/handlers/auditRecorder.ts';
import { createLogger, createMetrics } from '../../functions/handlers/observability.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { TASKS } from '../../statemachine/spec.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import { HistoryBuilder, T0 } from '../support/aws/sfnHistory.ts';
import { ACCOUNT, MEMBERS, REGION, STATE_MACHINE } from '../support/aws/runHistories.ts';
import { captureOutput, type CapturedOutput } from '../support/captureOutput.ts';

const RESTORE_MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:etcd-restore-ocp311`;
const restoreExecution = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:execution:etcd-restore-ocp311:${name}`;
const QUORUM_ALARM = 'etcd-replace-ocp311-quorum-lost';
const NOW = new Date(T0 + 3_600_000);
const env = { CLUSTER_NAME: 'ocp311', POWERTOOLS_METRICS_NAMESPACE: 'EtcdReplace' };

const sfnMock = mockClient(SFNClient);
const trailMock = mockClient(CloudTrailClient);
const watchMock = mockClient(CloudWatchClient);
const docMock = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION }));
const indexes = Object.fromEntries(Object.values(TABLE_SCHEMA.indexes).map((i) => [i.name, { partitionKey: i.partitionKey, sortKey: i.sortKey }]));

let table: FakeDynamoTable;
let deps: AuditDeps;
let output: CapturedOutput;

const REQUEST = {
  cluster: 'ocp311',
  startedBy: `alarm:${QUORUM_ALARM}`,
  options: { graceSeconds: 60, approvalTimeoutSeconds: 3600, fenceUnreachable: 'stop-instance' },
};

/** A restore that nobody approved in time: refused at AwaitApproval (States.HeartbeatTimeout), through the closing steps. */
function timedOutRestore(name: string): HistoryBuilder {
  return new HistoryBuilder(REQUEST, T0)
    .task('ValidateRestoreRequest', { output: { runId: name, request: { ...REQUEST, failed: '' }, options: REQUEST.options } })
    .task('AcquireLock')
    .task('ObserveQuorumLoss', { output: { confirmQuorumLossAfter: new Date(T0 + 70_000).toISOString() } })
    .wait('WaitGraceWindow', 60)
    .task('ConfirmQuorumLost', { output: { quorumLossConfirmedAt: new Date(T0 + 72_000).toISOString() } })
    .task('ChooseRestorePoint', { output: { approvalWaived: false } })
    .choice('IsApprovalWaived')
    .caughtTask('AwaitApproval', 'States.HeartbeatTimeout', 'Task timed out.')
    .task('DiscardKeyBundle')
    .task('ReleaseLock')
    .choice('RouteOutcome')
    .fail('Refused');
}

function describeRestore(name: string, run: HistoryBuilder, status: string): void {
  const events = run.events;
  sfnMock.on(DescribeExecutionCommand, { executionArn: restoreExecution(name) }).resolves({
    executionArn: restoreExecution(name),
    stateMachineArn: RESTORE_MACHINE,
    name,
    status: status as 'RUNNING',
    startDate: new Date(T0),
    ...(status === 'RUNNING' ? {} : { stopDate: events.at(-1)!.timestamp! }),
    input: JSON.stringify(REQUEST),
  });
  sfnMock.on(GetExecutionHistoryCommand, { executionArn: restoreExecution(name) }).resolves({ events });
}

const statusChange = (name: string, status: string) => ({
  'detail-type': STATUS_CHANGE,
  detail: { executionArn: restoreExecution(name), stateMachineArn: RESTORE_MACHINE, name, status },
});

beforeEach(() => {
  for (const m of [sfnMock, trailMock, watchMock, docMock]) m.reset();
  table = new FakeDynamoTable({ indexes });
  table.attach(docMock);
  trailMock.on(LookupEventsCommand).resolves({ Events: [] });
  watchMock.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
  output = captureOutput();
  deps = {
    sfn: new SFNClient({ region: REGION }),
    cloudtrail: new CloudTrailClient({ region: REGION }),
    cloudwatch: new CloudWatchClient({ region: REGION }),
    store: new AuditStore({ doc, table: 'runs', retentionDays: 400, now: () => NOW }),
    cluster: 'ocp311',
    stateMachineArn: STATE_MACHINE,
    restoreStateMachineArn: RESTORE_MACHINE,
    alarmPrefix: 'etcd-replace-ocp311-member-',
    alarmNames: [QUORUM_ALARM],
    members: MEMBERS,
    logger: createLogger(env),
    metrics: createMetrics(env),
    now: () => NOW,
  };
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("Function: recordAudit of the restore's executions", () => {
  it("writes a restore's record: its workflow, the restore's task states only, refused at AwaitApproval, the quorum-lost alarm's change", async () => {
    const name = 'ocp311-restore-quorum-0a1b2c3d-20260302-10';
    describeRestore(name, timedOutRestore(name), 'FAILED');
    watchMock.on(DescribeAlarmHistoryCommand, { AlarmName: QUORUM_ALARM }).resolves({
      AlarmHistoryItems: [
        {
          Timestamp: new Date(T0 - 120_000),
          HistoryItemType: 'StateUpdate',
          HistoryData: JSON.stringify({
            oldState: { stateValue: 'OK' },
            newState: { stateValue: 'ALARM', stateReason: 'Threshold Crossed: 1 datapoint [1.0] was less than the threshold (2.0).' },
          }),
        },
      ],
    });

    const result = await recordAudit(statusChange(name, 'FAILED'), deps);
    expect(result).toMatchObject({ kind: 'record', runId: name, outcome: 'refused', written: true, metrics: true });
    const record = (await deps.store.get(name))!;
    expect(record.workflow).toBe(RESTORE_WORKFLOW.id);
    expect(record.executionArn).toBe(restoreExecution(name));
    expect(record.state).toBe('Refused');
    expect(record.reason).toMatch(/^States\.HeartbeatTimeout/);
    // The restore's tasks, as they ran: none of the replacement's (CheckClusterHealth, RemoveFailedMember, …) listed as skipped.
    expect(record.steps.map((s) => s.name)).toEqual([
      'ValidateRestoreRequest',
      'AcquireLock',
      'ObserveQuorumLoss',
      'ConfirmQuorumLost',
      'ChooseRestorePoint',
      'AwaitApproval',
      'DiscardKeyBundle',
      'ReleaseLock',
    ]);
    expect(record.steps.find((s) => s.name === 'AwaitApproval')).toMatchObject({ status: 'failed', error: { name: 'States.HeartbeatTimeout' } });
    const replacementOnly = TASKS.map((t) => t.name).filter((n) => !RESTORE_WORKFLOW.tasks.some((t) => t.name === n));
    expect(record.steps.filter((s) => replacementOnly.includes(s.name as never))).toEqual([]);
    expect(record.alarm).toEqual({
      alarmName: QUORUM_ALARM,
      confirmed: true,
      at: new Date(T0 - 120_000).toISOString(),
      from: 'OK',
      reason: 'Threshold Crossed: 1 datapoint [1.0] was less than the threshold (2.0).',
    });
  });

  it("takes who started a restore from CloudTrail's StartExecution on the restore's state machine", async () => {
    const name = 'ocp311-restore-console-1';
    const call = {
      'detail-type': CLOUDTRAIL_CALL,
      detail: {
        eventSource: 'states.amazonaws.com',
        eventName: 'StartExecution',
        eventTime: new Date(T0).toISOString(),
        eventID: 'ev-restore-1',
        userIdentity: { type: 'AssumedRole', accountId: ACCOUNT, arn: `arn:aws:sts::${ACCOUNT}:assumed-role/Operators/jane` },
        requestParameters: { stateMachineArn: RESTORE_MACHINE, name },
        responseElements: { executionArn: restoreExecution(name) },
      },
    };
    expect(await recordAudit(call, deps)).toEqual({ kind: 'principal', runId: name, written: true });
    // Without the restore's state machine in its configuration, the recorder ignores the restore's events, as it did before.
    const { restoreStateMachineArn: _restore, ...replacementOnly } = deps;
    expect(await recordAudit(call, replacementOnly)).toMatchObject({ kind: 'ignored' });
    expect(await recordAudit(statusChange(name, 'RUNNING'), replacementOnly)).toMatchObject({ kind: 'ignored' });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('takes both state machines and the quorum-lost alarm from its environment', () => {
    const fromEnv = auditDepsFromEnv({
      ...env,
      AWS_REGION: REGION,
      TABLE: 'runs',
      STATE_MACHINE_ARN: STATE_MACHINE,
      RESTORE_STATE_MACHINE_ARN: RESTORE_MACHINE,
      QUORUM_ALARM_NAME: QUORUM_ALARM,
    });
    expect(fromEnv).toMatchObject({ stateMachineArn: STATE_MACHINE, restoreStateMachineArn: RESTORE_MACHINE, alarmNames: [QUORUM_ALARM] });
  });

  it("is what `history --target aws` lists: the restore's record with the restore's timeline, the running one too", async () => {
    const done = 'ocp311-restore-quorum-done-1';
    describeRestore(done, timedOutRestore(done), 'FAILED');
    await recordAudit(statusChange(done, 'FAILED'), deps);
    const waiting = 'ocp311-restore-quorum-waiting-2';
    const running = new HistoryBuilder(REQUEST, T0 + 60_000)
      .task('ValidateRestoreRequest', { output: { runId: waiting } })
      .task('AcquireLock')
      .task('ObserveQuorumLoss')
      .wait('WaitGraceWindow', 60)
      .task('ConfirmQuorumLost')
      .task('ChooseRestorePoint')
      .choice('IsApprovalWaived')
      .runningTask('AwaitApproval');
    describeRestore(waiting, running, 'RUNNING');
    expect(await recordAudit(statusChange(waiting, 'RUNNING'), deps)).toMatchObject({ outcome: 'running', written: true });

    output.out = '';
    await printAuditHistory({ table: 'runs', region: REGION, runId: undefined, cluster: 'ocp311', limit: 10, json: true }, { dynamo: () => doc });
    const listed = JSON.parse(output.out) as Array<Record<string, unknown>>;
    expect(listed.map((r) => [r['runId'], r['outcome']])).toEqual(
      expect.arrayContaining([
        [done, 'refused'],
        [waiting, 'running'],
      ]),
    );
    output.out = '';
    await printAuditHistory({ table: 'runs', region: REGION, runId: waiting, cluster: undefined, limit: 1, json: false }, { dynamo: () => doc });
    const text = output.out;
    expect(text).toContain(`execution: ${restoreExecution(waiting)} (RUNNING)`);
    expect(text).toMatch(/AwaitApproval: running/);
    expect(text).not.toContain('CheckClusterHealth');
  });
});
