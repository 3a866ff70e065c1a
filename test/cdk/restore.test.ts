// The restore-quorum workflow in the synthesized template (lib/constructs/restore-workflow.ts): its state
// machine compiled from RESTORE_WORKFLOW beside the replacement's, its step functions, the approval, the
// network fence's quarantine group, the quorum-lost alarm and its rule. Its IAM is checked the way the
// rehearsal checks every call (rehearsal/iam.ts: @cloud-copilot/iam-simulate on the resolved template):
// each call the restore makes, and the operator's `etcd-replace approve`, allowed; what it must not do, denied.
// One synthesis of the example configuration (stop-instance), one of a variant without it; no bundling.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../../lib/app.ts';
import { PROJECT_ROOT } from '../../lib/replacement-stack.ts';
import { compileAsl, functionArnSubstitutionKey, LAMBDA_INVOKE_WAIT_FOR_TOKEN_RESOURCE } from '../../statemachine/asl.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { IamCheck } from '../../rehearsal/iam.ts';
import { SynthesizedStack, type PolicyDocument, type Role } from '../../rehearsal/template.ts';

type Json = Record<string, unknown>;
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const cdkContext = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Json }).context;
const EXAMPLE_CONFIG = join(PROJECT_ROOT, 'docs/etcd-replace.config.example.json');
const example = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as Json;
const dirs: string[] = [];

function synthesize(configFile: string, stackName: string): SynthesizedStack {
  const outdir = mkdtempSync(join(tmpdir(), 'etcd-replace-restore-cdk-'));
  dirs.push(outdir);
  const { app } = buildApp(new App({ context: { ...cdkContext, etcdReplaceConfig: configFile, 'aws:cdk:bundling-stacks': [] }, outdir }));
  app.synth();
  return new SynthesizedStack(outdir, stackName, { account: ACCOUNT, region: REGION });
}

let stack: SynthesizedStack;
let variant: SynthesizedStack;

beforeAll(() => {
  stack = synthesize(EXAMPLE_CONFIG, 'EtcdReplace-ocp311');
  const dir = mkdtempSync(join(tmpdir(), 'etcd-replace-restore-config-'));
  dirs.push(dir);
  const file = join(dir, 'variant.json');
  const { $schema: _s, ...rest } = example;
  writeFileSync(file, JSON.stringify({ ...rest, clusterName: 'ocp311b', restore: { quarantineSecurityGroupId: 'sg-0fedcba9876543210', quorumAlarm: false } }));
  variant = synthesize(file, 'EtcdReplace-ocp311b');
}, 180_000);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const props = (s: SynthesizedStack, prefix: string, type: string): Json => {
  const found = s.ofType(type).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} ${prefix}, found ${found.length}`);
  return s.resolve(found[0]![1].Properties as never) as Json;
};
const role = (s: SynthesizedStack, prefix: string): Role => {
  const found = s.roles().filter((r) => r.logicalId.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one role ${prefix}`);
  return found[0]!;
};
const statementsOf = (r: Role) => r.policies.flatMap((p) => p.document.Statement);
const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;

describe('Restore: the state machine', () => {
  it('is the restore compiled from RESTORE_WORKFLOW, every task substituted with the restore step function', () => {
    const machine = stack.stateMachine('RestoreStateMachine');
    expect(machine.name).toBe('etcd-restore-ocp311');
    const raw = props(stack, 'RestoreStateMachine', 'AWS::StepFunctions::StateMachine') as { DefinitionString: string; DefinitionSubstitutions: Json };
    expect(JSON.parse(raw.DefinitionString)).toEqual(compileAsl(RESTORE_WORKFLOW));
    const functions = new Map(stack.functions().map((f) => [f.arn, f]));
    for (const task of RESTORE_WORKFLOW.tasks) {
      const fn = functions.get(String(raw.DefinitionSubstitutions[functionArnSubstitutionKey(task.name)]));
      expect(fn?.logicalId).toMatch(/^RestoreSteps[0-9A-F]{8}$/);
      expect(fn?.environment).toMatchObject({ WORKFLOW: 'restore-quorum', STATE_MACHINE_ARN: machine.arn });
      expect(fn?.environment['STEP_NAME']).toBeUndefined();
    }
    // The approval waits for a task token.
    const definition = machine.definition as { States: Record<string, { Resource?: string }> };
    expect(definition.States['AwaitApproval']?.Resource).toBe(LAMBDA_INVOKE_WAIT_FOR_TOKEN_RESOURCE);
  });

  it("keeps the replacement's state machine, functions and step role as they were: the restore has its own", () => {
    expect(stack.stateMachine().name).toBe('etcd-replace-ocp311');
    const replacement = statementsOf(role(stack, 'StepRole'));
    expect(JSON.stringify(replacement)).not.toContain('approval#');
    expect(replacement.flatMap((s) => [s['Action']].flat())).not.toEqual(expect.arrayContaining(['sns:Publish']));
    expect(replacement.flatMap((s) => [s['Action']].flat())).not.toEqual(expect.arrayContaining(['ec2:ModifyNetworkInterfaceAttribute']));
  });

  it("gives AwaitApproval the topic and the restore state machine, the fence its quarantine group, the run the config's policy", () => {
    const approval = stack.functions().find((f) => /^RestoreSteps[0-9A-F]{8}$/.test(f.logicalId))!;
    const topic = stack.ref(stack.ofType('AWS::SNS::Topic')[0]![0]);
    const group = stack.getAtt(stack.ofType('AWS::EC2::SecurityGroup')[0]![0], 'GroupId');
    expect(approval.environment).toMatchObject({
      TOPIC_ARN: topic,
      STATE_MACHINE_ARN: arn('states', 'stateMachine:etcd-restore-ocp311'),
      QUARANTINE_SG_ID: group,
      RESTORE_FENCE_UNREACHABLE: 'stop-instance',
      RESTORE_APPROVAL_WAIVERS: '',
      RESTORE_APPROVAL_TIMEOUT_SECONDS: '3600',
    });
    // The lock's lease is the replacement's (StepDeps.waits): AwaitApproval extends it over its own run's wait.
    expect(approval.environment['LOCK_TTL_SECONDS']).toBeUndefined();
    const replacementStep = stack.functions().find((f) => /^Steps[0-9A-F]{8}$/.test(f.logicalId))!;
    expect(replacementStep.environment['LOCK_TTL_SECONDS']).toBeUndefined();
    const fromVariant = variant.functions().find((f) => /^RestoreSteps[0-9A-F]{8}$/.test(f.logicalId))!;
    expect(fromVariant.environment['QUARANTINE_SG_ID']).toBe('sg-0fedcba9876543210');
  });
});

describe('Restore: the quarantine group', () => {
  it('lets nothing in or out, and carries the cluster tag the fence is allowed on', () => {
    const group = props(stack, 'QuarantineGroup', 'AWS::EC2::SecurityGroup') as {
      VpcId: string;
      SecurityGroupIngress?: unknown[];
      SecurityGroupEgress: Array<Json>;
      Tags: Array<{ Key: string; Value: string }>;
    };
    expect(group.VpcId).toBe('vpc-0123456789abcdef0');
    expect(group.SecurityGroupIngress ?? []).toEqual([]);
    // CloudFormation adds allow-all egress to a group given none: one rule that matches nothing takes its place.
    expect(group.SecurityGroupEgress).toEqual([
      { CidrIp: '255.255.255.255/32', Description: 'Disallow all traffic', IpProtocol: 'icmp', FromPort: 252, ToPort: 86 },
    ]);
    expect(group.Tags).toContainEqual({ Key: 'openshift-etcd-cluster', Value: 'ocp311' });
    expect(variant.ofType('AWS::EC2::SecurityGroup')).toEqual([]);
  });
});

describe('Restore: the quorum-lost alarm', () => {
  it("fires when fewer than a majority of the members are healthy, on the probe's own metrics", () => {
    const alarm = props(stack, 'QuorumLostAlarm', 'AWS::CloudWatch::Alarm') as {
      AlarmName: string;
      Metrics: Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: Array<{ Name: string; Value: string }> } } }>;
      Threshold: number;
      ComparisonOperator: string;
      TreatMissingData: string;
    };
    expect(alarm.AlarmName).toBe('etcd-replace-ocp311-quorum-lost');
    // Not a member alarm: the replacement's rule matches the member prefix only.
    expect(alarm.AlarmName.startsWith('etcd-replace-ocp311-member-')).toBe(false);
    expect(alarm.ComparisonOperator).toBe('LessThanThreshold');
    expect(alarm.Threshold).toBe(2);
    expect(alarm.TreatMissingData).toBe('notBreaching');
    const expression = alarm.Metrics.find((m) => m.Expression);
    expect(expression?.Expression).toBe('m0 + m1 + m2');
    const members = alarm.Metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat!.Metric);
    expect(members.map((m) => m.MetricName)).toEqual(['MemberHealthy', 'MemberHealthy', 'MemberHealthy']);
    expect(members.map((m) => m.Dimensions.find((d) => d.Name === 'Member')?.Value)).toEqual([
      'master-0.ocp311.example.internal',
      'master-1.ocp311.example.internal',
      'master-2.ocp311.example.internal',
    ]);
  });

  it("starts a restore through the alarm rule, with the config's options", () => {
    const rule = stack.rules().find((r) => r.logicalId.startsWith('QuorumLostTrigger'))!;
    expect(rule.eventPattern).toMatchObject({ detail: { alarmName: ['etcd-replace-ocp311-quorum-lost'], state: { value: ['ALARM'] } } });
    expect(rule.targets).toHaveLength(1);
    expect(rule.targets[0]!.arn).toBe(stack.stateMachine('RestoreStateMachine').arn);
    const template = rule.targets[0]!.inputTransformer!.InputTemplate;
    expect(template).toContain('"startedBy":"alarm:<detail-alarmName>"');
    expect(template).toContain('"options":{"graceSeconds":60,"approvalTimeoutSeconds":3600,"fenceUnreachable":"stop-instance"}');
    // The replacement's rule still matches member alarms only.
    const member = stack.rules().find((r) => r.logicalId.startsWith('AlarmTrigger'))!;
    expect(member.eventPattern).toMatchObject({ detail: { alarmName: [{ prefix: 'etcd-replace-ocp311-member-' }] } });
    expect(variant.ofType('AWS::CloudWatch::Alarm').filter(([id]) => id.startsWith('QuorumLost'))).toEqual([]);
  });

  it('notifies how a restore ended, through the same notifier', () => {
    const rule = stack.rules().find((r) => r.logicalId.startsWith('RestoreOutcome'))!;
    expect(rule.eventPattern).toMatchObject({ detail: { stateMachineArn: [stack.stateMachine('RestoreStateMachine').arn] } });
    expect(rule.targets[0]!.arn).toBe(stack.functions().find((f) => f.logicalId.startsWith('NotifyOutcome'))!.arn);
  });
});

describe('Restore: IAM, checked as the rehearsal checks every call', () => {
  const iam = new IamCheck(ACCOUNT);
  const verdict = async (r: Role, action: string, resource: string, context: Record<string, string | string[]> = {}) =>
    (await iam.check({ caller: 'test', role: r, action, resource, context, via: 'sdk' })).verdict;
  const tagged = (cluster = 'ocp311') => ({ 'aws:ResourceTag/openshift-etcd-cluster': cluster });

  it('lets the restore steps keep and read a task token under approval#<runId>, and publish the request', async () => {
    const steps = role(stack, 'RestoreStepRole');
    const table = stack.getAtt(stack.ofType('AWS::DynamoDB::Table')[0]![0], 'Arn');
    for (const action of ['dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'])
      expect(await verdict(steps, action, table, { 'dynamodb:LeadingKeys': ['approval#r-20261207-0001'] })).toBe('Allowed');
    expect(await verdict(steps, 'dynamodb:UpdateItem', table, { 'dynamodb:LeadingKeys': ['lock#ocp311'] })).toBe('Allowed');
    // Never an audit record.
    expect(await verdict(steps, 'dynamodb:PutItem', table, { 'dynamodb:LeadingKeys': ['run#r-20261207-0001'] })).toBe('ImplicitlyDenied');
    const topic = stack.ref(stack.ofType('AWS::SNS::Topic')[0]![0]);
    expect(await verdict(steps, 'sns:Publish', topic)).toBe('Allowed');
    expect(await verdict(steps, 'sns:Publish', arn('sns', 'another-topic'))).toBe('ImplicitlyDenied');
    // The replacement's steps may do neither.
    const replacement = role(stack, 'StepRole');
    expect(await verdict(replacement, 'dynamodb:UpdateItem', table, { 'dynamodb:LeadingKeys': ['approval#r-20261207-0001'] })).toBe('ImplicitlyDenied');
    expect(await verdict(replacement, 'sns:Publish', topic)).toBe('ImplicitlyDenied');
  });

  it('lets the fence put only cluster-tagged groups on an interface, and stop only cluster-tagged instances (stop-instance only)', async () => {
    const steps = role(stack, 'RestoreStepRole');
    expect(await verdict(steps, 'ec2:DescribeNetworkInterfaces', '*')).toBe('Allowed');
    expect(await verdict(steps, 'ec2:ModifyNetworkInterfaceAttribute', arn('ec2', 'network-interface/eni-0123456789abcdef0'))).toBe('Allowed');
    expect(await verdict(steps, 'ec2:ModifyNetworkInterfaceAttribute', arn('ec2', 'security-group/sg-0123456789abcdef0'), tagged())).toBe('Allowed');
    expect(await verdict(steps, 'ec2:ModifyNetworkInterfaceAttribute', arn('ec2', 'security-group/sg-0123456789abcdef0'), tagged('other'))).toBe(
      'ImplicitlyDenied',
    );
    expect(await verdict(steps, 'ec2:StopInstances', arn('ec2', 'instance/i-0a1b2c3d4e5f60712'), tagged())).toBe('Allowed');
    expect(await verdict(steps, 'ec2:StopInstances', arn('ec2', 'instance/i-0a1b2c3d4e5f60712'), tagged('other'))).toBe('ImplicitlyDenied');
    expect(await verdict(steps, 'ec2:TerminateInstances', arn('ec2', 'instance/i-0a1b2c3d4e5f60712'), tagged())).toBe('ImplicitlyDenied');
    // Without `fenceUnreachable: stop-instance`, no StopInstances at all.
    const withoutStop = role(variant, 'RestoreStepRole');
    expect(await verdict(withoutStop, 'ec2:StopInstances', arn('ec2', 'instance/i-0a1b2c3d4e5f60712'), tagged('ocp311b'))).toBe('ImplicitlyDenied');
  });

  it('lets the probe fence a returned former member on the host: its fence read, its data stored under runs/ only', async () => {
    const probe = stack.functions().find((f) => f.logicalId.startsWith('HealthProbe'))!;
    expect(probe.environment).toMatchObject({
      QUARANTINE_SG_ID: stack.getAtt(stack.ofType('AWS::EC2::SecurityGroup')[0]![0], 'GroupId'),
      ARTIFACT_PREFIX: 'etcd-replace/',
    });
    const probeRole = role(stack, 'ProbeRole');
    const bucket = stack.functions().find((f) => /^RestoreSteps[0-9A-F]{8}$/.test(f.logicalId))!.environment['BUCKET']!;
    expect(await verdict(probeRole, 'ec2:DescribeNetworkInterfaces', '*')).toBe('Allowed');
    expect(await verdict(probeRole, 's3:PutObject', `arn:aws:s3:::${bucket}/etcd-replace/runs/former-0123456789abcdef/fence-master-2.tgz`)).toBe('Allowed');
    expect(await verdict(probeRole, 's3:PutObject', `arn:aws:s3:::${bucket}/ssm-output/x`)).toBe('ImplicitlyDenied');
    expect(await verdict(probeRole, 'ec2:ModifyNetworkInterfaceAttribute', arn('ec2', 'network-interface/eni-0123456789abcdef0'))).toBe('ImplicitlyDenied');
    expect(await verdict(probeRole, 'ec2:StopInstances', arn('ec2', 'instance/i-0a1b2c3d4e5f60712'), tagged())).toBe('ImplicitlyDenied');
  });

  it("lets a contender for the lock of either workflow ask whether the other's holder still runs", async () => {
    const steps = role(stack, 'RestoreStepRole');
    expect(await verdict(steps, 'states:DescribeExecution', arn('states', 'execution:etcd-replace-ocp311:r-1'))).toBe('Allowed');
    expect(await verdict(steps, 'states:DescribeExecution', arn('states', 'execution:etcd-restore-ocp311:r-1'))).toBe('Allowed');
    const replacement = role(stack, 'StepRole');
    expect(await verdict(replacement, 'states:DescribeExecution', arn('states', 'execution:etcd-restore-ocp311:r-1'))).toBe('Allowed');
    const machines = `${arn('states', 'stateMachine:etcd-replace-ocp311')},${arn('states', 'stateMachine:etcd-restore-ocp311')}`;
    const stepFunctions = stack.functions().filter((f) => /^(Restore)?Steps[0-9A-F]{8}$/.test(f.logicalId));
    expect(stepFunctions).toHaveLength(2);
    for (const fn of stepFunctions) expect(fn.environment['LOCK_STATE_MACHINE_ARNS']).toBe(machines);
  });

  it('lets an operator with the approver policy answer (etcd-replace approve) and nothing more', async () => {
    const operator = stack.managedPolicyRole('RestoreApproverPolicy', 'operator');
    const machine = stack.stateMachine('RestoreStateMachine').arn;
    const table = stack.getAtt(stack.ofType('AWS::DynamoDB::Table')[0]![0], 'Arn');
    const key = stack.getAtt(stack.ofType('AWS::KMS::Key')[0]![0], 'Arn');
    expect(await verdict(operator, 'states:ListTagsForResource', machine)).toBe('Allowed');
    // SendTask* take no resource (IAM's service reference): the token, readable only from approval# items, names the task.
    expect(await verdict(operator, 'states:SendTaskSuccess', '*')).toBe('Allowed');
    expect(await verdict(operator, 'states:SendTaskFailure', '*')).toBe('Allowed');
    expect(await verdict(operator, 'states:ListTagsForResource', stack.stateMachine().arn)).toBe('ImplicitlyDenied');
    expect(await verdict(operator, 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': ['approval#r-1'] })).toBe('Allowed');
    expect(await verdict(operator, 'dynamodb:DeleteItem', table, { 'dynamodb:LeadingKeys': ['approval#r-1'] })).toBe('Allowed');
    expect(await verdict(operator, 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': ['lock#ocp311'] })).toBe('ImplicitlyDenied');
    // KMS asks the key policy too (it delegates to IAM for the account), as the rehearsal does.
    const keyPolicy = props(stack, 'Key', 'AWS::KMS::Key')['KeyPolicy'] as PolicyDocument;
    const kms = async (action: string) =>
      (await iam.check({ caller: 'test', role: operator, action, resource: key, resourcePolicy: keyPolicy, via: 'sdk' })).verdict;
    expect(await kms('kms:Decrypt')).toBe('Allowed');
    expect(await kms('kms:Encrypt')).toBe('ImplicitlyDenied');
    expect(await verdict(operator, 'states:StartExecution', machine)).toBe('ImplicitlyDenied');
  });
});
