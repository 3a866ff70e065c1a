import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client, type DescribeInstancesCommandInput, type Instance } from '@aws-sdk/client-ec2';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2Signals } from '../../functions/adapters/aws/ec2Signals.ts';
import { defaultExecutionName } from '../../functions/adapters/aws/executions.ts';
import { instanceOfWatchedAlarm, watchedAlarmName } from '../../functions/adapters/aws/statusAlarms.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import { handleSignal, signalConfigFromEnv } from '../../functions/handlers/ec2Signal.ts';

const ec2Mock = mockClient(EC2Client);
const sfnMock = mockClient(SFNClient);
const cwMock = mockClient(CloudWatchClient);

const CLUSTER = 'ocp311';
const CLUSTER_TAG = 'openshift-etcd-cluster';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311';
const NOW = new Date('2026-03-02T10:04:00Z');
const M0 = 'i-0a1b2c3d4e5f60710';
const M2 = 'i-0a1b2c3d4e5f60712';
const NEW = 'i-0ae0000000000001a';
const OLD_NEW = 'i-0ae0000000000002b';

function instance(id: string, tags: Record<string, string>, over: Partial<Instance> = {}): Instance {
  return {
    InstanceId: id,
    State: { Name: 'running' },
    PrivateIpAddress: '10.0.1.12',
    PrivateDnsName: 'ip-10-0-1-12.eu-west-1.compute.internal',
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    ...over,
  };
}
const member = (id: string, name: string, roles = 'master,etcd', extra: Record<string, string> = {}, over: Partial<Instance> = {}) =>
  instance(id, { [CLUSTER_TAG]: CLUSTER, 'openshift-role': roles, Name: name, ...extra }, over);

/** DescribeInstances by ID from `byId`; by filter, the instances carrying the filtered cluster tag (or listed by instance-id). */
function fakeEc2(all: Instance[]): void {
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
    if (input.InstanceIds) {
      const found = all.filter((i) => input.InstanceIds!.includes(i.InstanceId!));
      if (found.length === 0) throw Object.assign(new Error('not found'), { name: 'InvalidInstanceID.NotFound' });
      return { Reservations: [{ Instances: found }] };
    }
    const ids = input.Filters?.find((f) => f.Name === 'instance-id')?.Values;
    if (ids) return { Reservations: [{ Instances: all.filter((i) => ids.includes(i.InstanceId!)) }] };
    const tag = input.Filters?.find((f) => f.Name?.startsWith('tag:'));
    const states = input.Filters?.find((f) => f.Name === 'instance-state-name')?.Values ?? [];
    return {
      Reservations: [
        {
          Instances: all.filter((i) => i.Tags?.some((t) => `tag:${t.Key}` === tag?.Name && tag?.Values?.includes(t.Value!)) && states.includes(i.State!.Name!)),
        },
      ],
    };
  });
}

function signals(): Ec2Signals {
  return new Ec2Signals(signalsConfig());
}

function signalsConfig(): ConstructorParameters<typeof Ec2Signals>[0] {
  return {
    ec2: new EC2Client({ region: 'eu-west-1' }),
    sfn: new SFNClient({ region: 'eu-west-1' }),
    cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }),
    cluster: CLUSTER,
    clusterTagKey: CLUSTER_TAG,
    stateMachineArn: STATE_MACHINE,
    graceSeconds: 60,
    configuredMembers: [M0, 'i-0a1b2c3d4e5f60711', M2],
    statusCheckMinutes: 2,
    now: () => NOW,
  };
}

beforeEach(() => {
  ec2Mock.reset();
  sfnMock.reset();
  cwMock.reset();
});

describe('Class: Ec2Signals', () => {
  describe('Method: onStateChange', () => {
    it("starts the replacement of an etcd member of the cluster with the alarm rule's request shape, named as the CLI names it", async () => {
      fakeEc2([member(M2, 'master-2', 'master,etcd', {}, { State: { Name: 'stopped' } })]);
      sfnMock.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:x` });
      const out = await signals().onStateChange({ 'instance-id': M2, state: 'stopped' });
      const name = defaultExecutionName({ cluster: CLUSTER, failed: 'master-2' }, NOW);
      expect(out).toEqual({ action: 'started', executionName: name, executionArn: `${STATE_MACHINE}:x`, failed: 'master-2', instanceId: M2 });
      const input = sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input;
      expect(input.stateMachineArn).toBe(STATE_MACHINE);
      expect(input.name).toBe(name);
      // No replacement: the run takes a spare of the pool, or launches one.
      // The instance by its ID, as the alarm rule names it: discovery finds it in any state.
      expect(JSON.parse(input.input!)).toEqual({
        cluster: CLUSTER,
        failed: M2,
        startedBy: `ec2:${M2}:stopped`,
        evidence: { signal: 'ec2-state-change', state: 'stopped', at: NOW.toISOString(), instanceId: M2 },
        options: { graceSeconds: 60, learner: 'auto' },
      });
    });

    it('marks a terminated instance final evidence (the run skips the grace window), and only the configured states', async () => {
      fakeEc2([member(M2, 'master-2', 'master,etcd', {}, { State: { Name: 'terminated' } })]);
      sfnMock.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:x` });
      await signals().onStateChange({ 'instance-id': M2, state: 'terminated' });
      await signals().onStateChange({ 'instance-id': M2, state: 'shutting-down' });
      await new Ec2Signals({ ...signalsConfig(), finalStates: [] }).onStateChange({ 'instance-id': M2, state: 'terminated' });
      await new Ec2Signals({ ...signalsConfig(), finalStates: ['stopped', 'terminated'] }).onStateChange({ 'instance-id': M2, state: 'stopped' });
      const evidence = sfnMock.commandCalls(StartExecutionCommand).map((c) => (JSON.parse(c.args[0].input.input!) as { evidence: unknown }).evidence);
      expect(evidence).toEqual([
        { signal: 'ec2-state-change', state: 'terminated', at: NOW.toISOString(), instanceId: M2, final: true },
        { signal: 'ec2-state-change', state: 'shutting-down', at: NOW.toISOString(), instanceId: M2 },
        { signal: 'ec2-state-change', state: 'terminated', at: NOW.toISOString(), instanceId: M2 },
        { signal: 'ec2-state-change', state: 'stopped', at: NOW.toISOString(), instanceId: M2, final: true },
      ]);
    });

    it('ignores an instance not tagged for the cluster, one of another cluster, a host without the etcd role, and a running instance', async () => {
      const stranger = 'i-0bbbbbbbbbbbbbbb1';
      const other = 'i-0ccccccccccccccc1';
      const node = 'i-0ddddddddddddddd1';
      fakeEc2([
        instance(stranger, { Name: 'web-1' }),
        instance(other, { [CLUSTER_TAG]: 'ocp4', 'openshift-role': 'master,etcd', Name: 'master-0' }),
        member(node, 'node-1', 'node'),
        member(M2, 'master-2'),
      ]);
      const s = signals();
      expect(await s.onStateChange({ 'instance-id': stranger, state: 'terminated' })).toEqual({
        action: 'ignored',
        reason: `not tagged ${CLUSTER_TAG}=${CLUSTER}`,
        instanceId: stranger,
      });
      expect(await s.onStateChange({ 'instance-id': other, state: 'stopped' })).toMatchObject({
        action: 'ignored',
        reason: `not tagged ${CLUSTER_TAG}=${CLUSTER}`,
      });
      expect(await s.onStateChange({ 'instance-id': node, state: 'stopping' })).toMatchObject({ action: 'ignored', reason: 'not an etcd member (roles node)' });
      expect(await s.onStateChange({ 'instance-id': M2, state: 'running' })).toMatchObject({ action: 'ignored', reason: 'state running is no failure' });
      expect(await s.onStateChange({ 'instance-id': 'i-0eeeeeeeeeeeeeee1', state: 'terminated' })).toMatchObject({
        action: 'ignored',
        reason: 'EC2 does not list the instance',
      });
      expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    });

    it('ignores a member under maintenance or replaced already', async () => {
      fakeEc2([
        member(M0, 'master-0', 'master,etcd', { 'etcd-replace:maintenance': 'patching' }),
        member(M2, 'master-2', 'master,etcd', { 'etcd-replace:replaced-by': 'run-1' }),
      ]);
      expect(await signals().onStateChange({ 'instance-id': M0, state: 'stopping' })).toMatchObject({
        action: 'ignored',
        reason: 'under maintenance (etcd-replace:maintenance)',
      });
      expect(await signals().onStateChange({ 'instance-id': M2, state: 'terminated' })).toMatchObject({
        action: 'ignored',
        reason: 'replaced already (etcd-replace:replaced-by=run-1)',
      });
      expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    });

    it('answers duplicate when the execution of that name exists (stopping, then stopped)', async () => {
      fakeEc2([member(M2, 'master-2')]);
      sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }));
      expect(await signals().onStateChange({ 'instance-id': M2, state: 'stopped' })).toMatchObject({ action: 'duplicate', failed: 'master-2' });
    });
  });

  describe('Method: onRunSucceeded', () => {
    it('marks the replaced member, enrols the new one as a member, puts a status-check alarm on it, and deletes the alarms of instances gone', async () => {
      const gone = 'i-0ffffffffffffff01';
      fakeEc2([
        member(M0, 'master-0'),
        member(M2, 'master-2', 'master,etcd', {}, { State: { Name: 'stopped' } }),
        instance(NEW, { 'openshift-etcd-spare-pool': CLUSTER, Name: 'etcd-new-3f9a0c1d' }),
        instance(OLD_NEW, { 'openshift-etcd-spare-pool': CLUSTER, Name: 'etcd-new-00000000' }),
      ]);
      cwMock.on(DescribeAlarmsCommand).resolves({
        MetricAlarms: [
          { AlarmName: 'etcd-replace-ocp311-member-master-0' },
          { AlarmName: 'etcd-replace-ocp311-member-master-0.ec2-status' },
          { AlarmName: watchedAlarmName(CLUSTER, 'etcd-new-00000000', OLD_NEW) },
          { AlarmName: watchedAlarmName(CLUSTER, 'etcd-new-99999999', gone) },
        ],
      });
      cwMock.on(PutMetricAlarmCommand).resolves({});
      cwMock.on(DeleteAlarmsCommand).resolves({});
      ec2Mock.on(CreateTagsCommand).resolves({});
      const output = {
        runId: 'ocp311-master-2-run',
        memberAdded: true,
        newMemberId: '8e9e05c52164694d',
        failedMemberRemoved: true,
        failedHost: { name: 'master-2', hostname: 'master-2.ocp311.example.internal', ip: '10.0.1.12', roles: ['master', 'etcd'], instanceId: M2 },
        replacement: { name: 'etcd-new-3f9a0c1d', hostname: 'ip-10-0-1-30.eu-west-1.compute.internal', ip: '10.0.1.30', roles: ['spare'], instanceId: NEW },
      };
      const out = await signals().onRunSucceeded({ name: 'ocp311-master-2-run', status: 'SUCCEEDED', output: JSON.stringify(output) });

      expect(out).toEqual({
        tagged: [M2],
        enrolled: [NEW],
        put: [watchedAlarmName(CLUSTER, 'etcd-new-3f9a0c1d', NEW)],
        deleted: [watchedAlarmName(CLUSTER, 'etcd-new-99999999', gone)],
      });
      expect(ec2Mock.commandCalls(CreateTagsCommand).map((c) => c.args[0].input)).toEqual([
        { Resources: [M2], Tags: [{ Key: 'etcd-replace:replaced-by', Value: 'ocp311-master-2-run' }] },
        // The new member becomes an etcd member of the cluster: its own stop now starts a replacement, and no run takes it for a spare.
        {
          Resources: [NEW],
          Tags: [
            { Key: CLUSTER_TAG, Value: CLUSTER },
            { Key: 'openshift-role', Value: 'etcd' },
          ],
        },
      ]);
      const put = cwMock.commandCalls(PutMetricAlarmCommand)[0]!.args[0].input;
      expect(put).toMatchObject({
        AlarmName: 'etcd-replace-ocp311-member-etcd-new-3f9a0c1d.ec2-status.i-0ae0000000000001a',
        Namespace: 'AWS/EC2',
        MetricName: 'StatusCheckFailed_System',
        Dimensions: [{ Name: 'InstanceId', Value: NEW }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 2,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(put.AlarmActions).toBeUndefined();
      // The stack's own alarms (configured members) are neither put nor deleted.
      expect(cwMock.commandCalls(DeleteAlarmsCommand)[0]!.args[0].input.AlarmNames).toEqual([watchedAlarmName(CLUSTER, 'etcd-new-99999999', gone)]);
    });

    it('after a run that replaced two members: each replaced instance tagged, each new member enrolled and watched, the slot loaded last included', async () => {
      const M3 = 'i-0a1b2c3d4e5f60713';
      const NEW2 = 'i-0ae0000000000002b';
      fakeEc2([
        member(M0, 'master-0'),
        member(M2, 'master-2', 'master,etcd', {}, { State: { Name: 'stopped' } }),
        member(M3, 'master-3', 'master,etcd', {}, { State: { Name: 'stopped' } }),
        instance(NEW, { 'openshift-etcd-spare-pool': CLUSTER, Name: 'etcd-new-3f9a0c1d' }),
        instance(NEW2, { 'openshift-etcd-spare-pool': CLUSTER, Name: 'etcd-new-4a0b1d2e' }),
      ]);
      cwMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
      cwMock.on(PutMetricAlarmCommand).resolves({});
      ec2Mock.on(CreateTagsCommand).resolves({});
      const hostOf = (name: string, ip: string, roles: string[], instanceId: string) => ({
        name,
        hostname: `${name}.ocp311.example.internal`,
        ip,
        roles,
        instanceId,
      });
      const first = {
        failed: 'master-2',
        failedHost: hostOf('master-2', '10.0.1.12', ['master', 'etcd'], M2),
        replacement: hostOf('etcd-new-3f9a0c1d', '10.0.1.30', ['spare'], NEW),
        failedMemberRemoved: true,
        memberAdded: true,
        newMemberId: '8e9e05c52164694d',
      };
      const second = {
        failed: 'master-3',
        failedHost: hostOf('master-3', '10.0.1.13', ['master', 'etcd'], M3),
        replacement: hostOf('etcd-new-4a0b1d2e', '10.0.1.31', ['spare'], NEW2),
        failedMemberRemoved: true,
        memberAdded: true,
        newMemberId: '9f0f16d63275705e',
      };
      // The second member is the one loaded: its slot in `members` is as it was when the loop left it.
      const output = { runId: 'ocp311-two', members: [first, { failed: 'master-3' }], memberIndex: 1, ...second };
      const out = await signals().onRunSucceeded({ name: 'ocp311-two', status: 'SUCCEEDED', output: JSON.stringify(output) });
      expect(out.tagged).toEqual([M2, M3]);
      expect(out.enrolled).toEqual([NEW, NEW2]);
      expect(out.put.sort()).toEqual([watchedAlarmName(CLUSTER, 'etcd-new-3f9a0c1d', NEW), watchedAlarmName(CLUSTER, 'etcd-new-4a0b1d2e', NEW2)].sort());
    });

    it('watches an unconfigured etcd member carrying the cluster tags even without a run output', async () => {
      const extra = 'i-0abcabcabcabcab01';
      fakeEc2([member(M0, 'master-0'), member(extra, 'master-3')]);
      cwMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
      cwMock.on(PutMetricAlarmCommand).resolves({});
      const out = await signals().onRunSucceeded({ name: 'run-2', status: 'SUCCEEDED' });
      expect(out).toEqual({ put: [watchedAlarmName(CLUSTER, 'master-3', extra)], deleted: [] });
      expect(cwMock.commandCalls(DeleteAlarmsCommand)).toHaveLength(0);
      expect(ec2Mock.commandCalls(CreateTagsCommand)).toHaveLength(0);
    });
  });
});

describe('Function: instanceOfWatchedAlarm', () => {
  it("reads the instance of a run-time alarm, and nothing of the stack's", () => {
    expect(instanceOfWatchedAlarm(watchedAlarmName(CLUSTER, 'etcd-new-1', NEW))).toBe(NEW);
    expect(instanceOfWatchedAlarm('etcd-replace-ocp311-member-master-0.ec2-status')).toBeUndefined();
    expect(instanceOfWatchedAlarm('etcd-replace-ocp311-member-master-0')).toBeUndefined();
  });
});

describe('Function: handleSignal', () => {
  it('dispatches state changes and successful executions, and ignores anything else', async () => {
    fakeEc2([instance('i-0bbbbbbbbbbbbbbb1', { Name: 'web-1' })]);
    const s = signals();
    await expect(
      handleSignal(s, { 'detail-type': 'EC2 Instance State-change Notification', detail: { 'instance-id': 'i-0bbbbbbbbbbbbbbb1', state: 'stopped' } }),
    ).resolves.toMatchObject({ action: 'ignored' });
    await expect(handleSignal(s, { 'detail-type': 'Step Functions Execution Status Change', detail: { status: 'FAILED' } })).resolves.toMatchObject({
      action: 'ignored',
    });
    await expect(handleSignal(s, { 'detail-type': 'Object Created' })).resolves.toMatchObject({ action: 'ignored' });
  });
});

describe('Function: signalConfigFromEnv', () => {
  it('reads and checks the environment', () => {
    const env = {
      CLUSTER_NAME: CLUSTER,
      CLUSTER_TAG_KEY: CLUSTER_TAG,
      STATE_MACHINE_ARN: STATE_MACHINE,
      GRACE_SECONDS: '60',
      STATUS_CHECK_MINUTES: '3',
      MEMBERS: JSON.stringify([{ name: 'master-0', instanceId: M0 }]),
    };
    expect(signalConfigFromEnv(env)).toEqual({
      cluster: CLUSTER,
      clusterTagKey: CLUSTER_TAG,
      stateMachineArn: STATE_MACHINE,
      graceSeconds: 60,
      finalStates: ['terminated'],
      statusCheckMinutes: 3,
      configuredMembers: [M0],
    });
    // FINAL_STATES: which failure states are final evidence; empty: none.
    expect(signalConfigFromEnv({ ...env, FINAL_STATES: 'stopped, terminated' }).finalStates).toEqual(['stopped', 'terminated']);
    expect(signalConfigFromEnv({ ...env, FINAL_STATES: '' }).finalStates).toEqual([]);
    expect(() => signalConfigFromEnv({ ...env, FINAL_STATES: 'running' })).toThrow(/FINAL_STATES/);
    expect(() => signalConfigFromEnv({ ...env, STATE_MACHINE_ARN: 'nope' })).toThrow(InvalidInputError);
    expect(() => signalConfigFromEnv({ ...env, MEMBERS: '[{"instanceId":"x"}]' })).toThrow(/MEMBERS\[0\]/);
  });
});
