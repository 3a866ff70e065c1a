// `etcd-replace history --target aws` over the audit records: found through the state machine's
// run-table tag (or --table), listed in the sandbox history's view, one run shown whole; without a
// table, the state machine's executions as before.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListExecutionsCommand, ListTagsForResourceCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RUN_TABLE_TAG, type AuditHistoryDeps } from '../../cli/aws/auditHistory.ts';
import { auditHistoryCommand } from '../../cli/commands/history.ts';
import { main } from '../../cli/main.ts';
import type { AuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import { AuditStore } from '../../functions/adapters/aws/auditStore.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import { ACCOUNT, executionArnOf, STATE_MACHINE } from '../support/aws/runHistories.ts';
import { captureOutput, type CapturedOutput } from '../support/captureOutput.ts';

const sfnMock = mockClient(SFNClient);
const docMock = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const indexes = Object.fromEntries(Object.values(TABLE_SCHEMA.indexes).map((i) => [i.name, { partitionKey: i.partitionKey, sortKey: i.sortKey }]));
const regions: Array<string | undefined> = [];
const deps: AuditHistoryDeps = {
  client: (region) => new SFNClient({ region: region ?? 'us-east-1' }),
  dynamo: (region) => {
    regions.push(region);
    return doc;
  },
};

function record(runId: string, startedAt: string, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    runId,
    cluster: 'ocp311',
    target: 'aws',
    startedBy: 'alarm:etcd-replace-ocp311-member-master-2',
    request: { cluster: 'ocp311', failed: 'i-0a1b2c3d4e5f60712', startedBy: 'alarm:etcd-replace-ocp311-member-master-2' },
    outcome: 'succeeded',
    startedAt,
    endedAt: new Date(Date.parse(startedAt) + 74_000).toISOString(),
    state: 'Succeeded',
    context: {},
    steps: [
      { name: 'ValidateInput', status: 'succeeded', startedAt, endedAt: startedAt, attempts: 1 },
      {
        name: 'AddMember',
        status: 'succeeded',
        startedAt,
        endedAt: new Date(Date.parse(startedAt) + 2_000).toISOString(),
        attempts: 2,
        detail: 'added etcd-spare-0 as member a1b2c3d4e5f60718 (learner)',
      },
    ],
    remaining: ['Edit "members" in the deployment configuration: remove master-2'],
    executionArn: executionArnOf(runId),
    executionName: runId,
    executionStatus: 'SUCCEEDED',
    principal: null,
    alarm: { alarmName: 'etcd-replace-ocp311-member-master-2', confirmed: true, at: startedAt, from: 'OK', reason: 'Threshold Crossed' },
    historyEvents: 80,
    recordedAt: startedAt,
    ...extra,
  };
}

let output: CapturedOutput = { out: '', err: '' };
beforeEach(async () => {
  sfnMock.reset();
  docMock.reset();
  regions.length = 0;
  const table = new FakeDynamoTable({ indexes });
  table.attach(docMock);
  const store = new AuditStore({ doc, table: 'EtcdReplace-ocp311-Runs', retentionDays: 400 });
  await store.save(record('ocp311-master-2-older-1', '2026-03-01T10:00:00.000Z'));
  await store.save(
    record('ocp311-master-2-newer-1', '2026-03-02T10:00:00.000Z', {
      outcome: 'refused',
      state: 'Refused',
      reason: 'RefusedError: healthy',
      remaining: undefined,
    }),
  );
  await store.setPrincipal('ocp311-master-2-older-1', {
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/EventsRole/x`,
    type: 'AssumedRole',
    accountId: ACCOUNT,
    invokedBy: 'events.amazonaws.com',
    eventId: 'e1',
    eventTime: null,
    via: 'cloudtrail-event',
  });
  output = captureOutput();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('CLI: history --target aws (audit records)', () => {
  it("finds the table through the state machine's tag and lists the records newest first, in the sandbox history's document", async () => {
    // The stack tags the state machine with RUN_TABLE_TAG: test/cdk/stack.test.ts.
    sfnMock.on(ListTagsForResourceCommand, { resourceArn: STATE_MACHINE }).resolves({ tags: [{ key: RUN_TABLE_TAG, value: 'EtcdReplace-ocp311-Runs' }] });
    expect(await auditHistoryCommand(['--target', 'aws', '--state-machine-arn', STATE_MACHINE, '--json'], deps)).toBe(0);
    const runs = JSON.parse(output.out) as Array<Record<string, unknown>>;
    expect(runs.map((r) => [r['runId'], r['outcome'], r['startedBy']])).toEqual([
      ['ocp311-master-2-newer-1', 'refused', 'alarm:etcd-replace-ocp311-member-master-2'],
      ['ocp311-master-2-older-1', 'succeeded', 'alarm:etcd-replace-ocp311-member-master-2'],
    ]);
    // runResult()'s fields, as for a sandbox run, plus the AWS facts.
    expect(Object.keys(runs[1]!)).toEqual(
      expect.arrayContaining([
        'runId',
        'outcome',
        'reason',
        'startedAt',
        'endedAt',
        'steps',
        'remaining',
        'cluster',
        'target',
        'request',
        'state',
        'executionArn',
        'principal',
        'alarm',
      ]),
    );
    expect(runs[1]!['principal']).toMatchObject({ invokedBy: 'events.amazonaws.com' });
    expect(regions).toEqual(['eu-west-1']);
    expect(sfnMock.commandCalls(ListExecutionsCommand)).toHaveLength(0);
  });

  it('prints the timeline view, and one run whole by its run ID, execution name or ARN', async () => {
    expect(await auditHistoryCommand(['--target', 'aws', '--table', 'EtcdReplace-ocp311-Runs', '--region', 'eu-west-1'], deps)).toBe(0);
    expect(output.out).toContain('run ocp311-master-2-newer-1 on ocp311 (aws), started by alarm:etcd-replace-ocp311-member-master-2');
    expect(output.out).toContain('outcome: refused — RefusedError: healthy');
    expect(output.out).toMatch(/AddMember\s+succeeded\s+2\.0s\s+\(2 attempts\)/);
    output.out = '';
    expect(await auditHistoryCommand(['--target', 'aws', '--table', 'EtcdReplace-ocp311-Runs', executionArnOf('ocp311-master-2-older-1')], deps)).toBe(0);
    expect(output.out).toContain('started by (CloudTrail): arn:aws:sts::123456789012:assumed-role/EventsRole/x via events.amazonaws.com');
    expect(output.out).toContain('alarm: etcd-replace-ocp311-member-master-2 went from OK to ALARM');
    expect(output.out).toContain('      added etcd-spare-0 as member a1b2c3d4e5f60718 (learner)');
    expect(output.out).toContain('remaining: Edit "members" in the deployment configuration');
    expect(output.out).toContain('console: https://');
    output.out = '';
    expect(await auditHistoryCommand(['--target', 'aws', '--table', 'EtcdReplace-ocp311-Runs', 'OCP311-master-2-older-1', '--json'], deps)).toBe(0);
    expect((JSON.parse(output.out) as AuditRecord).historyEvents).toBe(80);
    expect(await auditHistoryCommand(['--target', 'aws', '--table', 'EtcdReplace-ocp311-Runs', 'no-such-run-1'], deps)).toBe(2);
    expect(output.err).toContain('no audit record of run no-such-run-1');
  });

  it('lists the executions from Step Functions when the state machine names no table, and says so', async () => {
    sfnMock.on(ListTagsForResourceCommand).resolves({ tags: [] });
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    expect(await auditHistoryCommand(['--target', 'aws', '--state-machine-arn', STATE_MACHINE], deps)).toBe(0);
    expect(output.out).toBe('no executions\n');
    expect(output.err).toContain('names no run table');
    expect(await auditHistoryCommand(['--target', 'aws', '--state-machine-arn', STATE_MACHINE, 'ocp311-master-2-older-1'], deps)).toBe(2);
    expect(output.err).toContain('pass --table TABLE');
  });

  it('refuses bad arguments before any AWS call (exit 2)', async () => {
    docMock.resetHistory();
    for (const argv of [
      ['--target', 'aws'],
      ['--target', 'aws', '--state-machine-arn', 'not-an-arn'],
      ['--target', 'aws', '--table', 'x y'],
      ['--target', 'aws', '--table', 'runs', '--region', 'Mars'],
      ['--target', 'aws', '--table', 'runs', '--limit', '0'],
      ['--target', 'aws', '--table', 'runs', 'a', 'b'],
    ]) {
      expect(await auditHistoryCommand(argv, deps)).toBe(2);
    }
    expect(sfnMock.calls()).toHaveLength(0);
    expect(docMock.calls()).toHaveLength(0);
    expect(await main(['history', '--target=aws'])).toBe(2);
    expect(output.err).toContain('--state-machine-arn is required');
  });
});
