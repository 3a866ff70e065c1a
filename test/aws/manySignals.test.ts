// Many signals, one run, on AWS with the faked SDK, from either source of signals. EC2 reports master-3
// stopped, then master-4 a second later: the signal function starts two executions, named after their
// members. Or master-3's status-check alarm goes to ALARM, then master-4's a second later: each event goes
// through the synthesized stack's EventBridge rules, and the one that matches starts an execution with the
// input its target's InputTransformer makes of the event (no function in between; Step Functions names
// the execution, a UUID). Both executions run the compiled state machine through the step
// Lambda handler, with the lock held and renewed around each step as deployed (aroundStep: the step's deadline, withLockHeld) on the real
// DynamoLock over a faked DynamoDB table, and the real ValidateInput, AcquireLock, CheckClusterHealth,
// ConfirmMemberFailed and ReleaseLock over a five-member cluster with both down; host work is faked.
// The first execution takes master-4 in at its second observation and replaces both: remove, remove, add,
// start, add, start. The second waits for the lock, asks to be taken in, and ends Covered, a success
// naming the first, whose notification says so and is no alarm: whether it sees the first cover master-4
// while the first works on, or gets the lock after the first finished (the lock's last holder).

import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeInstancesCommand, EC2Client, type DescribeInstancesCommandInput, type Instance } from '@aws-sdk/client-ec2';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../lib/app.ts';
import { PROJECT_ROOT } from '../../lib/replacement-stack.ts';
import { alarmStateChangeEvent, matchesPattern, transformInput } from '../../rehearsal/eventBridge.ts';
import { SynthesizedStack } from '../../rehearsal/template.ts';
import { DynamoLock } from '../../functions/adapters/aws/dynamoLock.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { Ec2Signals } from '../../functions/adapters/aws/ec2Signals.ts';
import type { AuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import { runIdFromExecutionName } from '../../functions/handlers/event.ts';
import { aroundStep, createStepHandler } from '../../functions/handlers/step.ts';
import { outcomeMessage } from '../../functions/handlers/notifyOutcome.ts';
import type { Host, Inventory } from '../../functions/ports.ts';
import { AcquireLock } from '../../functions/steps/AcquireLock.ts';
import { CheckClusterHealth } from '../../functions/steps/CheckClusterHealth.ts';
import { ConfirmMemberFailed } from '../../functions/steps/ConfirmMemberFailed.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import { ReleaseLock } from '../../functions/steps/ReleaseLock.ts';
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

/** An event as EventBridge gets it. */
type AwsEvent = Parameters<typeof matchesPattern>[1];

/** An execution started by a signal: its name and its input. */
interface Started {
  name: string;
  input: Record<string, unknown>;
}

/** EC2's state-change events, through the signal function: one execution per member, named after it. */
async function ec2Events(at: Date): Promise<Started[]> {
  fakeEc2();
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `${STATE_MACHINE}:${input.name}` }));
  await signals(at).onStateChange({ 'instance-id': instanceId(3), state: 'stopped' });
  await signals(new Date(at.getTime() + 1000)).onStateChange({ 'instance-id': instanceId(4), state: 'stopped' });
  return sfnMock
    .commandCalls(StartExecutionCommand)
    .map((c) => ({ name: c.args[0].input.name!, input: JSON.parse(c.args[0].input.input!) as Record<string, unknown> }));
}

// The stack as deployed for this cluster: the example configuration with these five masters as its
// members; no alarm replacement pinned, so an alarm-started run takes the pool's next free host.
// Synthesized once, without bundling the functions.
let stack: SynthesizedStack;
let outdir: string;
beforeAll(() => {
  const cdkContext = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
  const { $schema: _schema, ...example } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'docs/etcd-replace.config.example.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const config = {
    ...example,
    clusterName: CLUSTER,
    clusterTagKey: CLUSTER_TAG,
    members: HOSTS.slice(0, 5).map((h) => ({ name: h.name, hostname: h.hostname, ip: h.ip, instanceId: h.instanceId })),
  };
  outdir = mkdtempSync(join(tmpdir(), 'etcd-replace-many-signals-'));
  const built = buildApp(new App({ context: { ...cdkContext, etcdReplace: config, 'aws:cdk:bundling-stacks': [] }, outdir }));
  built.app.synth();
  stack = new SynthesizedStack(outdir, built.stack.stackName, { account: '123456789012', region: 'eu-west-1' });
  expect(stack.stateMachine().arn).toBe(STATE_MACHINE);
}, 120_000);
afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/**
 * CloudWatch's "Alarm State Change" of the stack's status-check alarm of `h` going to ALARM, of the
 * documented shape (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html).
 */
function statusCheckAlarmEvent(h: Host, at: Date): AwsEvent {
  const alarm = stack
    .alarms()
    .find(
      (a) =>
        a.logicalId.startsWith('StatusCheckAlarm') &&
        ((a.properties['Dimensions'] ?? []) as Array<{ Name: string; Value: string }>).some((d) => d.Name === 'InstanceId' && d.Value === h.instanceId),
    );
  if (!alarm) throw new Error(`the template has no status-check alarm for ${h.name}`);
  const p = alarm.properties as {
    AlarmName: string;
    Namespace: string;
    MetricName: string;
    Dimensions: Array<{ Name: string; Value: string }>;
    Period: number;
    Statistic: string;
  };
  const timestamp = at.toISOString().replace('Z', '+0000');
  return alarmStateChangeEvent(stack, alarm.arn, at, {
    alarmName: p.AlarmName,
    state: { value: 'ALARM', reason: 'Threshold Crossed: 2 out of the last 2 datapoints were greater than or equal to the threshold (1.0)', timestamp },
    previousState: { value: 'OK', reason: 'Threshold Crossed', timestamp: new Date(at.getTime() - 3_600_000).toISOString().replace('Z', '+0000') },
    configuration: {
      metrics: [
        {
          id: randomUUID(),
          metricStat: {
            metric: { namespace: p.Namespace, name: p.MetricName, dimensions: Object.fromEntries(p.Dimensions.map((d) => [d.Name, d.Value])) },
            period: p.Period,
            stat: p.Statistic,
          },
          returnData: true,
        },
      ],
    },
  });
}

/**
 * What EventBridge does with an event: every rule of the stack whose pattern matches it delivers it to its
 * targets. Here one rule, whose one target is the replacement's state machine: StartExecution with the
 * input its InputTransformer makes of the event, and no name (a rule's target has none to give), so Step
 * Functions names the execution with a new UUID.
 */
function deliver(event: AwsEvent): Started {
  const rules = stack.rules().filter((r) => matchesPattern(r.eventPattern, event));
  expect(rules.map((r) => r.logicalId)).toEqual([expect.stringMatching(/^AlarmTrigger/)]);
  const [target, ...others] = rules[0]!.targets;
  expect(others).toEqual([]);
  expect(target!.arn).toBe(STATE_MACHINE);
  const raw = (stack.resources[rules[0]!.logicalId]!.Properties!['Targets'] as Array<Record<string, unknown>>)[0]!;
  expect(Object.keys(raw).sort()).toEqual(['Arn', 'Id', 'InputTransformer', 'RetryPolicy', 'RoleArn']);
  return { name: randomUUID(), input: JSON.parse(transformInput(event, target!.inputTransformer!)) as Record<string, unknown> };
}

/** CloudWatch's alarms, through the stack's EventBridge rule: one execution per alarm. */
async function alarmEvents(at: Date): Promise<Started[]> {
  return [3, 4].map((i, k) => deliver(statusCheckAlarmEvent(HOSTS[i]!, new Date(at.getTime() + k * 1000))));
}

beforeEach(() => {
  docMock.reset();
  ec2Mock.reset();
  sfnMock.reset();
});

describe.each([
  ['EC2 state-change events', ec2Events],
  ['status-check alarms', alarmEvents],
])('Many signals, one run on AWS: two %s a second apart, one replacement of both and one covered execution', (_source, signal) => {
  it.each([
    ['the holder works on while the waiting execution tries again', true],
    ['the holder finishes between two of its tries: the lock keeps its last holder', false],
  ])('starts two executions; the first takes the second member in and replaces both, the second ends Covered naming it (%s)', async (_, holderWaits) => {
    // Two signals a second apart: two executions, each naming its member, whose names and run IDs differ.
    const at = new Date('2026-03-02T10:04:00Z');
    const started = await signal(at);
    expect(started.map((s) => s.input['failed'])).toEqual([instanceId(3), instanceId(4)]);
    expect(new Set(started.map((s) => s.name)).size).toBe(2);
    expect(new Set(started.map((s) => runIdFromExecutionName(s.name))).size).toBe(2);

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
        if (context.runId === runIdFromExecutionName(started[0]!.name)) await asked();
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
      around: aroundStep(taskSpec),
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
