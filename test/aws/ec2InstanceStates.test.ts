// The restore's approval waiver on AWS: EC2's state of the former members' instances (Ec2InstanceStates,
// DescribeInstances by an instance-id filter) read by ChooseRestorePoint, so the config's
// all-others-terminated waives the approval only when EC2 reports every member but the survivor terminated;
// the waiver and the states it was judged on are in the run's audit record.

import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildAuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import { awsDeps } from '../../functions/adapters/aws/deps.ts';
import { Ec2InstanceStates } from '../../functions/adapters/aws/ec2InstanceStates.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import { NO_LEADER } from '../../functions/ports.ts';
import { ChooseRestorePoint } from '../../functions/steps/ChooseRestorePoint.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { HistoryBuilder, T0 } from '../support/aws/sfnHistory.ts';
import { memberId, threeMembers, unitInventory } from '../support/fakeCluster.ts';
import { RUN_ID, stepWorld } from '../support/stepHarness.ts';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'eu-west-1' });
const ID = ['i-0a1b2c3d4e5f60710', 'i-0a1b2c3d4e5f60711', 'i-0a1b2c3d4e5f60712'];

/** EC2 as DescribeInstances answers an instance-id filter: the instances it lists, in `states`, one per reservation. */
function ec2Lists(states: Record<string, string>): void {
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: { Filters?: Array<{ Name: string; Values: string[] }>; InstanceIds?: string[] }) => {
    if (input.InstanceIds) throw new Error('named by InstanceIds: one instance EC2 no longer lists would fail the whole call');
    const wanted = input.Filters?.find((f) => f.Name === 'instance-id')?.Values ?? [];
    const instances: Instance[] = wanted.filter((id) => states[id]).map((id) => ({ InstanceId: id, State: { Name: states[id] as 'running', Code: 16 } }));
    return { Reservations: instances.map((i) => ({ Instances: [i] })) };
  });
}

beforeEach(() => {
  ec2Mock.reset();
});

describe('Class: Ec2InstanceStates', () => {
  it('answers the state of each instance EC2 lists, across pages; one it no longer lists is left out, not taken for terminated', async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: ID[0], State: { Name: 'terminated' } }] }], NextToken: 'page-2' })
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: ID[1], State: { Name: 'stopped' } }] }] });
    const states = await new Ec2InstanceStates({ ec2 }).states([ID[0]!, ID[1]!, ID[2]!, ID[0]!]);
    expect([...states]).toEqual([
      [ID[0], 'terminated'],
      [ID[1], 'stopped'],
    ]);
    const calls = ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
    expect(calls[0]).toEqual({ Filters: [{ Name: 'instance-id', Values: ID }] });
    expect(calls[1]).toEqual({ Filters: [{ Name: 'instance-id', Values: ID }], NextToken: 'page-2' });
  });

  it('checks every instance ID before it asks EC2', async () => {
    await expect(new Ec2InstanceStates({ ec2 }).states([ID[0]!, 'i-0a1b; reboot'])).rejects.toBeInstanceOf(InvalidInputError);
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
  });

  it("is the AWS steps' instances port", async () => {
    const deps = await awsDeps(
      { AWS_REGION: 'eu-west-1', BUCKET: 'etcd-replace-artifacts', TABLE: 'etcd-replace', ETCD_SG_ID: 'sg-0e7cd0000000000e1', SCRIPTS_DIR: '/nonexistent' },
      { ec2 },
    );
    ec2Lists({ [ID[2]!]: 'shutting-down' });
    expect([...(await deps.instances.states([ID[2]!]))]).toEqual([[ID[2], 'shutting-down']]);
  });
});

describe('ChooseRestorePoint with the config waiver all-others-terminated, on EC2', () => {
  const point = (n: number, etcd: 'running' | 'stopped', revision: number) => ({
    etcd,
    source: etcd === 'running' ? 'endpoint' : 'backend',
    memberId: memberId(n),
    clusterId: 'c1c2c3c4c5c6c7c8',
    name: etcd === 'running' ? `master-${n - 0xa0}.example.test` : null,
    leaderId: etcd === 'running' ? NO_LEADER : null,
    members: etcd === 'running' ? 3 : null,
    version: etcd === 'running' ? '3.2.22' : null,
    revision,
    raftIndex: revision + 300,
    raftTerm: etcd === 'running' ? 12 : null,
    dbBytes: 2_000_000,
    keys: etcd === 'running' ? null : 1000,
  });

  /** master-0 and master-1 lost (their data readable), master-2 answers alone: the survivor. Their instances are the example's. */
  function world() {
    const w = stepWorld(threeMembers(['master-0', 'master-1']).map((m) => ({ ...m, leaderId: NO_LEADER })));
    w.runner
      .on('DescribeRestorePoint', { stdout: point(0xa0, 'stopped', 1200) }, { host: 'master-0' })
      .on('DescribeRestorePoint', { stdout: point(0xa1, 'stopped', 1230) }, { host: 'master-1' })
      .on('DescribeRestorePoint', { stdout: point(0xa2, 'running', 1240) }, { host: 'master-2' });
    const inventory = unitInventory();
    inventory.hosts = inventory.hosts.map((h, i) => (i < 3 ? { ...h, instanceId: ID[i]! } : h));
    const context: RestoreContext = {
      runId: RUN_ID,
      request: { cluster: 'unit', failed: '', startedBy: 'alarm:etcd-replace-unit-quorum-lost' },
      options: { graceSeconds: 60, learner: 'auto', approvalTimeoutSeconds: 3600, approvalWaivers: ['all-others-terminated'] },
      inventory,
    };
    return { deps: { ...w.deps, target: 'aws' as const, instances: new Ec2InstanceStates({ ec2 }) }, context };
  }

  /** The restore's audit record once ChooseRestorePoint handed on `output`, and the execution went where IsApprovalWaived sends it. */
  function recordAfter(context: RestoreContext, output: Partial<RestoreContext>, detail: string) {
    let run = new HistoryBuilder(context.request as unknown as Record<string, unknown>, T0)
      .task('ValidateRestoreRequest', { output: context as unknown as Record<string, unknown> })
      .task('AcquireLock')
      .task('ObserveQuorumLoss')
      .wait('WaitGraceWindow', 60)
      .task('ConfirmQuorumLost')
      .task('ChooseRestorePoint', { output: output as Record<string, unknown> })
      .choice('IsApprovalWaived');
    run = output.approvalWaived ? run.runningTask('FenceFormerMembers') : run.runningTask('AwaitApproval');
    const executionArn = `arn:aws:states:eu-west-1:123456789012:execution:etcd-restore-unit:${RUN_ID}`;
    return buildAuditRecord({
      facts: { executionArn, name: RUN_ID, status: 'RUNNING', startDate: new Date(T0) },
      workflow: { id: RESTORE_WORKFLOW.id, taskNames: RESTORE_WORKFLOW.tasks.map((t) => t.name) },
      events: run.events,
      details: [{ step: 'ChooseRestorePoint', startedAt: new Date(T0 + 80_000).toISOString(), outcome: 'succeeded', detail, durationMs: 900 }],
      cluster: 'unit',
      now: new Date(T0 + 3_600_000),
    });
  }

  it('every other member terminated: the approval is waived, and the record says so with the states it was judged on', async () => {
    const { deps, context } = world();
    ec2Lists({ [ID[0]!]: 'terminated', [ID[1]!]: 'terminated', [ID[2]!]: 'running' });
    const result = await ChooseRestorePoint(context, deps);
    expect(result.output).toMatchObject({
      survivor: { kind: 'member', host: 'master-2' },
      approvalWaived: true,
      approvalWaivedBy: 'all-others-terminated',
      instanceStates: [
        { host: 'master-0', instanceId: ID[0], instanceState: 'terminated' },
        { host: 'master-1', instanceId: ID[1], instanceState: 'terminated' },
        { host: 'master-2', instanceId: ID[2], instanceState: 'running' },
      ],
    });
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(1);

    const record = recordAfter(context, result.output, result.detail);
    expect(record.context).toMatchObject({ approvalWaived: true, approvalWaivedBy: 'all-others-terminated' });
    expect(record.steps.map((s) => s.name)).not.toContain('AwaitApproval');
    expect(record.steps.at(-1)).toMatchObject({ name: 'FenceFormerMembers', status: 'running' });
    expect(result.detail).toMatch(
      /approval waived by the config's all-others-terminated: every member but the survivor is an EC2 instance in terminated state: none of them can ever come back$/,
    );
    expect(record.context['instanceStates']).toEqual(result.output.instanceStates);
  });

  it('one other member stopped: the approval is still required, and the run waits at AwaitApproval', async () => {
    const { deps, context } = world();
    ec2Lists({ [ID[0]!]: 'terminated', [ID[1]!]: 'stopped', [ID[2]!]: 'running' });
    const result = await ChooseRestorePoint(context, deps);
    expect(result.output.approvalWaived).toBe(false);
    expect(result.output).not.toHaveProperty('approvalWaivedBy');
    expect(result.detail).toMatch(/approval is required: all-others-terminated does not hold \(not terminated: master-1 \(stopped\)\)$/);

    const record = recordAfter(context, result.output, result.detail);
    expect(record.context).toMatchObject({
      approvalWaived: false,
      instanceStates: expect.arrayContaining([{ host: 'master-1', instanceId: ID[1], instanceState: 'stopped' }]),
    });
    expect(record.steps.at(-1)).toMatchObject({ name: 'AwaitApproval', status: 'running' });
  });

  it('an instance EC2 no longer lists is not known to be terminated: the approval is required', async () => {
    const { deps, context } = world();
    ec2Lists({ [ID[0]!]: 'terminated', [ID[2]!]: 'running' });
    const result = await ChooseRestorePoint(context, deps);
    expect(result.output.approvalWaived).toBe(false);
    expect(result.detail).toMatch(/not terminated: master-1 \(state not known\)\)$/);
  });
});
