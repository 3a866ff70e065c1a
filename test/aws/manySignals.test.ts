// Many signals, one run, on AWS with the faked SDK. EC2 reports master-3 stopped, then master-4 a second
// later: the signal function starts two executions. Both run the compiled state machine through the step
// Lambda handler, with the lock held and renewed around each step as deployed (withLockHeld) on the real
// DynamoLock over a faked DynamoDB table, and the real ValidateInput, AcquireLock, CheckClusterHealth,
// ConfirmMemberFailed and ReleaseLock over a five-member cluster with both down; host work is faked.
// The first execution takes master-4 in at its second observation and replaces both: remove, remove, add,
// start, add, start. The second waits for the lock, asks to be taken in, and ends Covered, a success
// naming the first, whose notification says so and is no alarm: whether it sees the first cover master-4
// while the first works on, or gets the lock after the first finished (the lock's last holder).

import { mockClient } from 'aws-sdk-client-mock';
import { DescribeInstancesCommand, EC2Client, type DescribeInstancesCommandInput, type Instance } from '@aws-sdk/client-ec2';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoLock } from '../../functions/adapters/aws/dynamoLock.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { Ec2Signals } from '../../functions/adapters/aws/ec2Signals.ts';
import type { AuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import { createStepHandler } from '../../functions/handlers/step.ts';
import { outcomeMessage } from '../../functions/handlers/notifyOutcome.ts';
import type { Host, Inventory } from '../../functions/ports.ts';
import { AcquireLock } from '../../functions/steps/AcquireLock.ts';
import { CheckClusterHealth } from '../../functions/steps/CheckClusterHealth.ts';
import { ConfirmMemberFailed } from '../../functions/steps/ConfirmMemberFailed.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import { ReleaseLock } from '../../functions/steps/ReleaseLock.ts';
import { withLockHeld } from '../../functions/workflow/lockRenewal.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { compileAsl } from '../../statemachine/asl.ts';
import type { MemberPhase, WorkflowContext } from '../../statemachine/context.ts';
import { successReason } from '../../statemachine/earlierRun.ts';
import { currentSlots, enterLoop } from '../../statemachine/members.ts';
import { TASKS, taskSpec } from '../../statemachine/spec.ts';
import { runAslLocally } from '../support/aslLocalRun.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import { FakeCluster, fakeDeps, fakeMember, host, memberId as ID } from '../support/fakeCluster.ts';

const CLUSTER = 'ocp311';
const CLUSTER_TAG = 'openshift-etcd-cluster';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311';
const TABLE = 'etcd-replace';

const docMock = mockClient(DynamoDBDocumentClient);
const ec2Mock = mockClient(EC2Client);
const sfnMock = mockClient(SFNClient);

/** Five masters (master-0 the CA and installer host) and two spares, each an instance. */
const instanceId = (i: number) => `i-0a1b2c3d4e5f6071${i}`;
const withId = (h: Host, i: number): Host => ({ ...h, instanceId: instanceId(i) });
const HOSTS: Host[] = [
  withId(host('master-0', '198.51.100.2', ['master', 'etcd', 'ca', 'installer']), 0),
  withId(host('master-1', '198.51.100.3', ['master', 'etcd']), 1),
  withId(host('master-2', '198.51.100.4', ['master', 'etcd']), 2),
  withId(host('master-3', '198.51.100.5', ['master', 'etcd']), 3),
  withId(host('master-4', '198.51.100.6', ['master', 'etcd']), 4),
  withId(host('etcd-spare-0', '198.51.100.9', ['spare']), 5),
  withId(host('etcd-spare-1', '198.51.100.10', ['spare']), 6),
];
const inventory: Inventory = { cluster: CLUSTER, hosts: HOSTS };
const members = HOSTS.slice(0, 5).map((h, i) => fakeMember(0xa0 + i, h.name, h.ip, !['master-3', 'master-4'].includes(h.name)));

/** The instances EC2 describes: the masters as tagged members, master-3 and master-4 stopped. */
function fakeEc2(): void {
  const instances: Instance[] = HOSTS.slice(0, 5).map((h) => ({
    InstanceId: h.instanceId!,
    State: { Name: ['master-3', 'master-4'].includes(h.name) ? 'stopped' : 'running' },
    PrivateIpAddress: h.ip,
    Tags: [
      { Key: CLUSTER_TAG, Value: CLUSTER },
      { Key: 'openshift-role', Value: 'master,etcd' },
      { Key: 'Name', Value: h.name },
    ],
  }));
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
    const ids = input.InstanceIds ?? input.Filters?.find((f) => f.Name === 'instance-id')?.Values;
    return { Reservations: [{ Instances: ids ? instances.filter((i) => ids.includes(i.InstanceId!)) : instances }] };
  });
}

function signals(now: Date): Ec2Signals {
  return new Ec2Signals({
    ec2: new EC2Client({ region: 'eu-west-1' }),
    sfn: new SFNClient({ region: 'eu-west-1' }),
    cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }),
    cluster: CLUSTER,
    clusterTagKey: CLUSTER_TAG,
    stateMachineArn: STATE_MACHINE,
    graceSeconds: 60,
    configuredMembers: HOSTS.slice(0, 5).map((h) => h.instanceId!),
    statusCheckMinutes: 2,
    now: () => now,
  });
}

beforeEach(() => {
  docMock.reset();
  ec2Mock.reset();
  sfnMock.reset();
});

describe('Many signals, one run on AWS: two EC2 events a second apart, one replacement of both and one covered execution', () => {
  it.each([
    ['the holder works on while the waiting execution tries again', true],
    ['the holder finishes between two of its tries: the lock keeps its last holder', false],
  ])('starts two executions; the first takes the second member in and replaces both, the second ends Covered naming it (%s)', async (_, holderWaits) => {
    // The signal function: one execution per member, named after it, a second apart.
    fakeEc2();
    sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `${STATE_MACHINE}:${input.name}` }));
    const at = new Date('2026-03-02T10:04:00Z');
    await signals(at).onStateChange({ 'instance-id': instanceId(3), state: 'stopped' });
    await signals(new Date(at.getTime() + 1000)).onStateChange({ 'instance-id': instanceId(4), state: 'stopped' });
    const started = sfnMock
      .commandCalls(StartExecutionCommand)
      .map((c) => ({ name: c.args[0].input.name!, input: JSON.parse(c.args[0].input.input!) as Record<string, unknown> }));
    expect(started.map((s) => s.input['failed'])).toEqual([instanceId(3), instanceId(4)]);
    expect(new Set(started.map((s) => s.name)).size).toBe(2);

    // Both executions, through the step handler as deployed, on one lock table.
    const table = new FakeDynamoTable({
      indexes: Object.fromEntries(Object.values(TABLE_SCHEMA.indexes).map((i) => [i.name, { partitionKey: i.partitionKey, sortKey: i.sortKey }])),
    });
    table.attach(docMock);
    const lock = new DynamoLock({ doc: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), table: TABLE });
    const cluster = new FakeCluster(members);
    const deps: StepDeps = {
      ...fakeDeps(cluster, new Date()),
      now: () => new Date(),
      lock,
      resolveInventory: async () => inventory,
    };
    // The first run's preparation lasts until the second has asked to be taken in: the second signal
    // arrives while the first is before its second observation.
    const until = async (done: () => boolean | Promise<boolean>, what: string) => {
      for (let i = 0; i < 500; i++) {
        if (await done()) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    const asked = () => until(async () => ((await lock.current(CLUSTER))?.joins ?? []).length > 0, 'the second execution to ask to be taken in');
    let coveredEnded = false;
    /** A faked step's result, as a step returns it. */
    const done = (output: Partial<WorkflowContext> = {}) => ({ output, detail: 'faked host work' });
    const entering =
      (phase: MemberPhase, output: Partial<WorkflowContext> = {}) =>
      async (context: WorkflowContext) =>
        done({ ...(enterLoop(context, phase) ?? {}), ...output });
    const fakes: Record<string, (context: WorkflowContext) => Promise<unknown>> = {
      IssueCertificates: entering('prepare'),
      InstallEtcd: async (context) => {
        if (context.runId === started[0]!.name.toLowerCase()) await asked();
        return done();
      },
      // Minutes of host work after the take-in outlast the waiting execution's 5-second tries: here the
      // removals wait until it has ended.
      RemoveFailedMember: async (context) => {
        if (holderWaits) await until(() => coveredEnded, 'the covered execution to end');
        return entering('remove', { failedMemberRemoved: true })(context);
      },
      StopFailedMember: async () => done({ failedHostReachable: false }),
      ConfigureNewMember: entering('add'),
      AddMember: async (c) => done({ memberAdded: true, addedAsLearner: false, newMemberId: c.replacement!.name === 'etcd-spare-0' ? ID(0xb0) : ID(0xb1) }),
      StartNewMember: async () => done({ newMemberStartedAt: new Date().toISOString() }),
    };
    const real = { ValidateInput, AcquireLock, CheckClusterHealth, ConfirmMemberFailed, ReleaseLock };
    const steps = Object.fromEntries(
      TASKS.map((t) => [
        t.name,
        (real as Record<string, (c: WorkflowContext, d: StepDeps) => Promise<unknown>>)[t.name] ?? fakes[t.name] ?? (async () => done()),
      ]),
    );
    const handler = createStepHandler<StepDeps>({
      steps,
      deps: () => deps,
      log: () => {},
      around: (step, context, d, run) => withLockHeld(taskSpec(step), context, d, run),
    });
    const asl = compileAsl();
    const execute = (s: (typeof started)[number]) =>
      runAslLocally(asl, s.input, (step, context, { executionName }) => handler({ step, context, executionName }), {
        executionName: s.name,
        retryIntervalMs: 20,
      });
    const first = execute(started[0]!);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = execute(started[1]!).finally(() => (coveredEnded = true));
    const [one, two] = await Promise.all([first, second]);

    expect(one.status).toBe('SUCCEEDED');
    expect(one.finalState).toBe('Succeeded');
    expect(currentSlots(one.finalContext).map((s) => [s.failedHost?.name, s.replacement?.name, s.failedMemberRemoved, s.newMemberId])).toEqual([
      ['master-3', 'etcd-spare-0', true, ID(0xb0)],
      ['master-4', 'etcd-spare-1', true, ID(0xb1)],
    ]);
    expect(one.invocations.filter((t) => ['RemoveFailedMember', 'AddMember', 'StartNewMember'].includes(t))).toEqual([
      'RemoveFailedMember',
      'RemoveFailedMember',
      'AddMember',
      'StartNewMember',
      'AddMember',
      'StartNewMember',
    ]);
    expect(one.path.filter((s) => s === 'ConfirmMemberFailed')).toHaveLength(2);

    expect(two.executionError).toBeUndefined();
    expect(two.status).toBe('SUCCEEDED');
    expect(two.finalState).toBe('Covered');
    expect(two.finalContext.coveredBy).toBe(one.finalContext.runId);
    expect(two.invocations.filter((t) => t === 'AcquireLock').length).toBeGreaterThan(1);
    expect(two.invocations).toEqual(two.invocations.filter((t) => t === 'ValidateInput' || t === 'AcquireLock'));
    expect(await lock.current(CLUSTER)).toBeNull();
    expect(await lock.lastHolder(CLUSTER)).toMatchObject({
      runId: one.finalContext.runId,
      succeeded: true,
      covers: expect.arrayContaining(['master-3', 'master-4']),
    });

    // Its notification: covered, nothing to do, no alarm words.
    const audit = {
      runId: two.finalContext.runId,
      cluster: CLUSTER,
      target: 'aws',
      startedBy: two.finalContext.request.startedBy,
      request: two.finalContext.request as unknown as Record<string, unknown>,
      outcome: 'succeeded',
      reason: successReason(two.finalContext)!,
      startedAt: at.toISOString(),
      endedAt: new Date(at.getTime() + 30_000).toISOString(),
      state: 'Covered',
      context: two.finalContext as unknown as Record<string, unknown>,
      steps: [],
      executionArn: `${STATE_MACHINE}:${started[1]!.name}`,
      executionName: started[1]!.name,
      executionStatus: 'SUCCEEDED',
      principal: null,
      historyEvents: 1,
      recordedAt: at.toISOString(),
    } as unknown as AuditRecord;
    const message = outcomeMessage(audit, { outcome: 'succeeded' });
    expect(message.subject).toBe(`${CLUSTER}: master-4 covered by run ${one.finalContext.runId}, nothing to do`);
    expect(message.message).toContain(`Reason:     covered by run ${one.finalContext.runId}`);
    expect(message.subject).not.toMatch(/REFUSED|FAILED/);
  });
});
