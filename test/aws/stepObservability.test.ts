// What a step function tells CloudWatch and the audit trail, with the real Powertools logger and
// metrics writing to (a captured) stdout: every log line carries runId, executionArn, step and cluster;
// StepDuration and StepErrors go out in EMF; the step's one-line detail is kept beside the run's record.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditStore } from '../../functions/adapters/aws/auditStore.ts';
import { ScriptFailedError } from '../../functions/errors.ts';
import { createStepHandler, pastRunsFrom } from '../../functions/handlers/step.ts';
import { createLogger, createMetrics, executionArnOf } from '../../functions/handlers/observability.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import { executionArnOf as arnOf, STATE_MACHINE } from '../support/aws/runHistories.ts';

const env = { CLUSTER_NAME: 'ocp311', STATE_MACHINE_ARN: STATE_MACHINE, POWERTOOLS_METRICS_NAMESPACE: 'EtcdReplace' };
const docMock = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));

const context = (runId: string): WorkflowContext => ({
  runId,
  request: { cluster: 'ocp311', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'cli:ops' },
  options: { graceSeconds: 60, learner: 'auto' },
  failedHost: { name: 'master-2', hostname: 'master-2.ocp311.example.internal', ip: '10.0.1.12', roles: ['master', 'etcd'] },
});

let lines: Array<Record<string, unknown>>;
let table: FakeDynamoTable;

/** A handler as deployed: Powertools logger and metrics, a step that logs progress through deps.log, details kept. */
function deployedLike() {
  const logger = createLogger(env);
  const store = new AuditStore({ doc, table: 'runs', retentionDays: 400, now: () => new Date('2026-03-02T10:00:00Z') });
  let clock = Date.parse('2026-03-02T10:00:00Z');
  return createStepHandler({
    steps: {
      AddMember: async (_ctx: WorkflowContext, deps: { log: (m: string) => void }) => {
        deps.log('member add through master-0');
        return {
          output: { newMemberId: 'a1b2c3d4e5f60718', memberAdded: true },
          detail: 'added etcd-spare-0 https://10.0.1.20:2380 as member a1b2c3d4e5f60718 (learner)',
        };
      },
      StartNewMember: async (_ctx: WorkflowContext, deps: { log: (m: string) => void }) => {
        deps.log('waiting for etcd on etcd-spare-0');
        throw new ScriptFailedError('etcd-spare-0', 'StartNewMember', 4, 'etcd did not start');
      },
    },
    deps: () => ({ log: (message: string) => logger.info(message) }),
    logger,
    metrics: createMetrics(env),
    recordStep: (runId, detail) => store.putStepDetail(runId, detail),
    env,
    now: () => (clock += 1500),
  });
}

beforeEach(() => {
  docMock.reset();
  table = new FakeDynamoTable();
  table.attach(docMock);
  lines = [];
  // Powertools writes INFO lines and EMF to stdout, WARN and ERROR to stderr: Lambda sends both to CloudWatch Logs.
  const capture = (chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
});
afterEach(() => {
  vi.restoreAllMocks();
});

const logLines = () => lines.filter((l) => !('_aws' in l));
const metricLines = () => lines.filter((l) => '_aws' in l);

describe('Handler: step (observability)', () => {
  it("puts runId, executionArn, step and cluster on every log line, the step's own lines included", async () => {
    const handler = deployedLike();
    await handler({ step: 'AddMember', context: context('ocp311-master-2-run-1'), executionName: 'ocp311-master-2-run-1' });
    const logs = logLines();
    expect(logs.map((l) => l['message'])).toEqual(['member add through master-0', 'AddMember succeeded']);
    for (const line of logs) {
      expect(line).toMatchObject({
        runId: 'ocp311-master-2-run-1',
        executionArn: arnOf('ocp311-master-2-run-1'),
        step: 'AddMember',
        cluster: 'ocp311',
        service: 'etcd-replace',
        level: 'INFO',
      });
    }
    expect(logs[1]).toMatchObject({ outcome: 'succeeded', durationMs: 1500 });
    // Never the context: no address or member ID of it in the logs.
    expect(JSON.stringify(logs)).not.toMatch(/10\.0\.1\.|a1b2c3d4e5f60718/);
  });

  it("replaces the keys on the next invocation, and logs a failure at ERROR with the error's class", async () => {
    const handler = deployedLike();
    await handler({ step: 'AddMember', context: context('ocp311-master-2-run-1'), executionName: 'ocp311-master-2-run-1' });
    lines.length = 0;
    await expect(handler({ step: 'StartNewMember', context: context('ocp311-master-2-run-2'), executionName: 'ocp311-master-2-run-2' })).rejects.toMatchObject({
      name: 'ScriptFailedError',
    });
    const logs = logLines();
    expect(logs).toHaveLength(2);
    for (const line of logs)
      expect(line).toMatchObject({ runId: 'ocp311-master-2-run-2', executionArn: arnOf('ocp311-master-2-run-2'), step: 'StartNewMember', cluster: 'ocp311' });
    expect(logs[1]).toMatchObject({ level: 'ERROR', message: 'StartNewMember failed', outcome: 'failed', error: 'ScriptFailedError' });
  });

  it('emits StepDuration (and StepErrors on failure) in EMF, dimensions ClusterName and Step', async () => {
    const handler = deployedLike();
    await handler({ step: 'AddMember', context: context('ocp311-master-2-run-1'), executionName: 'ocp311-master-2-run-1' });
    await handler({ step: 'StartNewMember', context: context('ocp311-master-2-run-1'), executionName: 'ocp311-master-2-run-1' }).catch(() => undefined);
    const [ok, failed] = metricLines() as Array<
      Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } }
    >;
    expect(ok!._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'EtcdReplace',
      Dimensions: [['ClusterName', 'Step']],
      Metrics: [{ Name: 'StepDuration', Unit: 'Milliseconds' }],
    });
    expect(ok).toMatchObject({ ClusterName: 'ocp311', Step: 'AddMember', StepDuration: 1500 });
    expect(failed).toMatchObject({ Step: 'StartNewMember', StepErrors: 1 });
    expect(failed!._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name).sort()).toEqual(['StepDuration', 'StepErrors']);
  });

  it("keeps each invocation's one-line detail beside the run's audit record", async () => {
    const handler = deployedLike();
    await handler({ step: 'AddMember', context: context('ocp311-master-2-run-1'), executionName: 'ocp311-master-2-run-1' });
    await handler({ step: 'StartNewMember', context: context('ocp311-master-2-run-1'), executionName: 'ocp311-master-2-run-1' }).catch(() => undefined);
    const details = await new AuditStore({ doc, table: 'runs', retentionDays: 400 }).stepDetails('ocp311-master-2-run-1');
    expect(details).toEqual([
      {
        step: 'AddMember',
        startedAt: '2026-03-02T10:00:01.500Z',
        outcome: 'succeeded',
        detail: 'added etcd-spare-0 https://10.0.1.20:2380 as member a1b2c3d4e5f60718 (learner)',
        durationMs: 1500,
      },
      {
        step: 'StartNewMember',
        startedAt: '2026-03-02T10:00:04.500Z',
        outcome: 'failed',
        detail: 'ScriptFailedError: StartNewMember on etcd-spare-0 exited 4: etcd did not start',
        durationMs: 1500,
      },
    ]);
    const item = [...table.items.values()][0]!;
    expect(item).toMatchObject({
      pk: 'steps#ocp311-master-2-run-1',
      executionArn: arnOf('ocp311-master-2-run-1'),
      ttl: Date.parse('2026-03-02T10:00:00Z') / 1000 + 400 * 86_400,
    });
  });

  it('never fails a step because its detail could not be kept', async () => {
    docMock.reset();
    docMock.rejects(new Error('ProvisionedThroughputExceededException'));
    const handler = deployedLike();
    const next = await handler({ step: 'AddMember', context: context('ocp311-master-2-run-3'), executionName: 'ocp311-master-2-run-3' });
    expect(next.memberAdded).toBe(true);
    expect(logLines().at(-1)).toMatchObject({
      level: 'WARN',
      message: 'the step detail could not be kept for the audit record',
      runId: 'ocp311-master-2-run-3',
    });
  });
});

describe('Handler: step (earlier runs)', () => {
  it('gives the steps the earlier runs of their cluster from the audit records, never their own run', async () => {
    const table = new FakeDynamoTable({
      indexes: { byCluster: { partitionKey: 'gsi1pk', sortKey: 'gsi1sk' }, byStart: { partitionKey: 'gsi2pk', sortKey: 'gsi2sk' } },
    });
    docMock.reset();
    table.attach(docMock);
    const store = new AuditStore({ doc, table: 'runs', retentionDays: 400 });
    const base = {
      target: 'aws' as const,
      startedBy: 'cli:ops',
      request: {},
      outcome: 'failed' as const,
      state: 'Failed',
      context: {},
      steps: [],
      executionStatus: 'FAILED',
      principal: null,
      historyEvents: 9,
      recordedAt: '2026-03-02T10:00:00.000Z',
    };
    for (const [runId, cluster, startedAt] of [
      ['earlier-run-1', 'ocp311', '2026-03-01T10:00:00.000Z'],
      ['ocp311-master-2-run-9', 'ocp311', '2026-03-02T10:00:00.000Z'],
      ['other-cluster-1', 'ocp312', '2026-03-02T11:00:00.000Z'],
    ] as const) {
      await store.save({ ...base, runId, cluster, startedAt, executionArn: arnOf(runId), executionName: runId });
    }
    const seen: string[][] = [];
    const handler = createStepHandler({
      steps: {
        ValidateInput: async (_ctx: WorkflowContext, deps: { pastRuns?: () => Promise<Array<{ runId: string }>> }) => {
          seen.push((await deps.pastRuns!()).map((r) => r.runId));
          return {};
        },
      },
      deps: () => ({}),
      log: () => {},
      pastRuns: pastRunsFrom((query) => store.list(query)),
      env,
    });
    await handler({ step: 'ValidateInput', context: context('ocp311-master-2-run-9'), executionName: 'ocp311-master-2-run-9' });
    expect(seen).toEqual([['earlier-run-1']]);
  });
});

describe('Function: executionArnOf', () => {
  it("is the state machine's ARN with the execution's name; an ARN the payload carries wins", () => {
    expect(executionArnOf({ executionName: 'abc-123' }, env)).toBe(arnOf('abc-123'));
    expect(executionArnOf({ executionName: 'abc-123', executionArn: arnOf('other-1') }, env)).toBe(arnOf('other-1'));
    expect(executionArnOf({ executionName: 'abc-123' }, {})).toBeUndefined();
    expect(executionArnOf({}, env)).toBeUndefined();
  });
});
