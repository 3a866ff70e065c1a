// A run has one owner at a time on AWS too: a Step Functions execution. A second execution for a run
// whose lock a RUNNING execution holds ends Refused at AcquireLock (LockHeldError, which the spec routes
// straight to Refused, past every closing step), and any step of it, the closing ones included, proves
// ownership first (LockLostError): it deletes no artifact, terminates no host and releases no lock. The
// SDK clients are faked (aws-sdk-client-mock); the DynamoDB table is the in-memory one of the adapters' tests.

import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { DeleteObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { awsDeps } from '../../functions/adapters/aws/deps.ts';
import { DynamoLock } from '../../functions/adapters/aws/dynamoLock.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { executionLiveness } from '../../functions/adapters/aws/executionLiveness.ts';
import { LockHeldError, LockLostError } from '../../functions/errors.ts';
import { aroundStep, createStepHandler } from '../../functions/handlers/step.ts';
import { STEPS } from '../../functions/steps/index.ts';
import { withLockHeld } from '../../functions/workflow/lockRenewal.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { taskSpec } from '../../statemachine/spec.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import { confirmedContext } from '../support/stepHarness.ts';

const TABLE = 'etcd-replace';
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311';
const ENV = {
  AWS_REGION: 'eu-west-1',
  BUCKET: 'etcd-replace-artifacts',
  TABLE,
  ETCD_SG_ID: 'sg-0e7cd0000000000e1',
  STATE_MACHINE_ARN: MACHINE,
  SCRIPTS_DIR: '/nonexistent',
};
const indexes = Object.fromEntries(Object.values(TABLE_SCHEMA.indexes).map((i) => [i.name, { partitionKey: i.partitionKey, sortKey: i.sortKey }]));

const docMock = mockClient(DynamoDBDocumentClient);
const sfnMock = mockClient(SFNClient);
const s3Mock = mockClient(S3Client);
const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const sfn = new SFNClient({ region: 'eu-west-1' });
let table: FakeDynamoTable;

const executionArn = (name: string) => `${MACHINE.replace(':stateMachine:', ':execution:')}:${name}`;
/** The first execution still runs; the one named `ended` has failed. */
function executions(): void {
  sfnMock.on(DescribeExecutionCommand, { executionArn: executionArn('first') }).resolves({ status: 'RUNNING' });
  sfnMock.on(DescribeExecutionCommand, { executionArn: executionArn('ended') }).resolves({ status: 'FAILED' });
}

beforeEach(() => {
  for (const m of [docMock, sfnMock, s3Mock, ec2Mock, ssmMock]) m.reset();
  table = new FakeDynamoTable({ indexes });
  table.attach(docMock);
  executions();
});

const owner = (execution: string) => ({ runId: 'r-unit-0001', startedBy: 'alarm:etcd', execution });

describe('Class: DynamoLock, one owner per run', () => {
  const lock = () => new DynamoLock({ doc, table: TABLE, holderAlive: executionLiveness(sfn, MACHINE) });

  it("refuses the same run to a second execution while the first runs (LockHeldError naming it), and lets a run's own or an ended execution's lock be taken", async () => {
    await lock().acquire('prod-a', owner('sfn:first'), 600);
    const error = await lock()
      .acquire('prod-a', owner('sfn:second'), 600)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as Error).message).toMatch(/run r-unit-0001 is in progress in another execution: .*sfn:first.*\(its execution still runs\)/);
    expect((await lock().current('prod-a'))?.execution).toBe('sfn:first');
    await expect(lock().acquire('prod-a', owner('sfn:first'), 600)).resolves.toMatchObject({ execution: 'sfn:first' });

    table = new FakeDynamoTable({ indexes });
    table.attach(docMock);
    await lock().acquire('prod-a', owner('sfn:ended'), 600);
    await expect(lock().acquire('prod-a', owner('sfn:second'), 600)).resolves.toMatchObject({ execution: 'sfn:second' });
  });

  it('heldElsewhere names the running execution; release by another execution of the run leaves the lock, by its owner removes it', async () => {
    await lock().acquire('prod-a', owner('sfn:first'), 600);
    expect(await lock().heldElsewhere('prod-a', owner('sfn:second'))).toMatchObject({ execution: 'sfn:first' });
    expect(await lock().heldElsewhere('prod-a', owner('sfn:first'))).toBeNull();
    expect(await lock().heldElsewhere('prod-a', { ...owner('sfn:second'), runId: 'r-unit-0002' })).toBeNull();
    await lock().release('prod-a', 'r-unit-0001', owner('sfn:second'));
    expect((await lock().current('prod-a'))?.execution).toBe('sfn:first');
    await lock().release('prod-a', 'r-unit-0001', owner('sfn:first'));
    expect(await lock().current('prod-a')).toBeNull();
  });
});

describe('Function: withLockHeld over DynamoLock', () => {
  const lock = () => new DynamoLock({ doc, table: TABLE, holderAlive: executionLiveness(sfn, MACHINE) });
  const context = confirmedContext({ runId: 'r-unit-0001', request: { cluster: 'prod-a', failed: 'master-2', startedBy: 'alarm:etcd' } });
  const depsOf = (execution: string) =>
    ({ lock: lock(), waits: { lockTtlSeconds: 600 }, log: () => undefined, execution }) as unknown as Parameters<typeof withLockHeld>[2];

  it("proves and extends the run's own lock with one conditional write before each step", async () => {
    await lock().acquire('prod-a', { ...owner('sfn:first'), covers: ['master-2'] }, 60);
    const before = await lock().current('prod-a');
    docMock.resetHistory();
    let ran = false;
    await withLockHeld(taskSpec('RemoveFailedMember'), context, depsOf('sfn:first'), async () => (ran = true));
    expect(ran).toBe(true);
    expect(docMock.calls().map((c) => c.args[0].constructor.name)).toEqual(['UpdateCommand']);
    const after = await lock().current('prod-a');
    expect(after).toMatchObject({ execution: 'sfn:first', acquiredAt: before?.acquiredAt });
    expect(Date.parse(after!.expiresAt)).toBeGreaterThan(Date.parse(before!.expiresAt));
  });

  it('judges the lock as before when it names anything else: a running execution of the run, another run, or nobody (LockLostError, the step not run)', async () => {
    let ran = false;
    const step = async () => (ran = true);
    await expect(withLockHeld(taskSpec('RemoveFailedMember'), context, depsOf('sfn:second'), step)).rejects.toThrow(LockLostError);
    await lock().acquire('prod-a', owner('sfn:first'), 600);
    await expect(withLockHeld(taskSpec('RemoveFailedMember'), context, depsOf('sfn:second'), step)).rejects.toThrow(/in progress in sfn:first/);
    expect((await lock().current('prod-a'))?.execution).toBe('sfn:first');
    await lock().release('prod-a', 'r-unit-0001');
    await lock().acquire('prod-a', { ...owner('sfn:other'), runId: 'r-unit-0002' }, 600);
    await expect(withLockHeld(taskSpec('RemoveFailedMember'), context, depsOf('sfn:first'), step)).rejects.toThrow(/r-unit-0002/);
    expect(ran).toBe(false);
    // A run's lock left by an execution that has ended is taken over by the next one (a redrive), through the judgement.
    await lock().release('prod-a', 'r-unit-0002');
    await lock().acquire('prod-a', owner('sfn:ended'), 600);
    await withLockHeld(taskSpec('RemoveFailedMember'), context, depsOf('sfn:second'), step);
    expect(ran).toBe(true);
    expect((await lock().current('prod-a'))?.execution).toBe('sfn:second');
  });
});

describe('Handler: a second execution for a run a RUNNING execution owns', () => {
  it('ends Refused at AcquireLock, and its closing steps change nothing: no artifact deleted, no host terminated, the lock kept', async () => {
    // The first execution holds the run's lock.
    await new DynamoLock({ doc, table: TABLE }).acquire('unit', owner('sfn:first'), 7200);
    const before = await new DynamoLock({ doc, table: TABLE }).current('unit');
    const handler = createStepHandler<StepDeps>({
      steps: STEPS,
      deps: () =>
        awsDeps(
          ENV,
          {
            doc,
            sfn,
            s3: new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } }),
            ec2: new EC2Client({ region: 'eu-west-1' }),
            ssm: new SSMClient({ region: 'eu-west-1' }),
          },
          { log: () => undefined },
        ),
      around: aroundStep(taskSpec),
      log: () => undefined,
      env: ENV,
    });
    // The context a second execution carries: the same run, a new member bundle and a launched host named.
    const context = confirmedContext({
      runId: 'r-unit-0001',
      replacementLaunched: 'i-0abcdef0123456789',
      bundleKey: 'runs/r-unit-0001/bundle-etcd-spare-0.tgz',
      newMemberId: 'b0b0b0b0b0b0b0b0',
    });

    const acquired = await handler({ step: 'AcquireLock', context, executionName: 'second' }).catch((e: unknown) => e);
    expect(acquired).toBeInstanceOf(LockHeldError);
    // The spec routes that straight to Refused: no closing step runs for it.
    expect(taskSpec('AcquireLock').catch.find((c) => c.errors.includes('LockHeldError'))?.next).toBe('Refused');

    // Even were a closing step reached, it proves ownership first and touches nothing.
    for (const step of ['CompensateNewMember', 'DiscardKeyBundle', 'TerminateLaunchedHost', 'RecordClusterState', 'ReleaseLock']) {
      const error = await handler({ step, context: { ...context, error: { Error: 'LockHeldError', Cause: 'x' } }, executionName: 'second' }).catch(
        (e: unknown) => e,
      );
      expect({ step, error }).toEqual({ step, error: expect.any(LockLostError) });
      expect((error as Error).message).toContain('sfn:first');
    }
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toEqual([]);
    expect(s3Mock.commandCalls(HeadObjectCommand)).toEqual([]);
    expect(s3Mock.commandCalls(ListObjectVersionsCommand)).toEqual([]);
    expect(ec2Mock.commandCalls(TerminateInstancesCommand)).toEqual([]);
    expect(ssmMock.commandCalls(SendCommandCommand)).toEqual([]);
    expect(await new DynamoLock({ doc, table: TABLE }).current('unit')).toEqual(before);
  });
});
