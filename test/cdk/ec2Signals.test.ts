// EC2's own failure signals and replacement hosts in the synthesized template: the IAM a run that
// launches its replacement gets (from the configured launch template only, with the run's tags only), the
// status-check alarms, the state-change rule and its function, and the rules' event patterns against
// sample events of the documented shapes. Synthesized without bundling the functions
// (`aws:cdk:bundling-stacks: []`) and without CloudFormation's template validation, whose findings never
// fail a synthesis: test/cdk/stack.test.ts covers the bundles and reads that validation's report.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { Ajv } from 'ajv';
import { buildApp } from '../../lib/app.ts';
import { PROJECT_ROOT } from '../../lib/etcd-replacement.ts';
import { matchesPattern, transformInput } from '../../rehearsal/eventBridge.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Resource = { Type: string; Properties: Record<string, Json> };
type Statement = { Sid?: string; Action: string | string[]; Resource: Json; Condition?: Record<string, Record<string, Json>>; Effect: string };

const cdkContext = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
const example = JSON.parse(readFileSync(join(PROJECT_ROOT, 'docs/etcd-replace.config.example.json'), 'utf8')) as Record<string, Json>;
const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311';

function synth(config: Record<string, Json>): Record<string, Resource> {
  const { app, stack } = buildApp(
    new App({ context: { ...cdkContext, etcdReplace: config, 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false }),
  );
  const assembly = app.synth();
  return (assembly.getStackByName(stack.stackName).template as { Resources: Record<string, Resource> }).Resources;
}

const synthesized = new Map<string, Record<string, Resource>>();
function resourcesOf(variant: 'example' | 'byName' | 'none'): Record<string, Resource> {
  if (!synthesized.has(variant)) {
    const { replacementLaunchTemplate: _template, ...rest } = example;
    const config =
      variant === 'example'
        ? example
        : variant === 'byName'
          ? { ...rest, replacementLaunchTemplate: { launchTemplateName: 'ocp311-etcd', version: '4' } }
          : rest;
    synthesized.set(variant, synth(config));
  }
  return synthesized.get(variant)!;
}

function ofType(resources: Record<string, Resource>, type: string): Array<[string, Resource]> {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}
function statementsOf(resources: Record<string, Resource>, logicalIdPrefix: string): Statement[] {
  return ofType(resources, 'AWS::IAM::Policy')
    .filter(([id]) => id.startsWith(logicalIdPrefix))
    .flatMap(([, p]) => (p.Properties['PolicyDocument'] as unknown as { Statement: Statement[] }).Statement);
}
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesText = (s: Statement) => JSON.stringify(s.Resource);
const bySid = (statements: Statement[], sid: string) => {
  const found = statements.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
};
/** Fn::Join of the partition, region and account pseudo parameters, as a plain ARN of the example's account. */
function arnText(value: Json): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, Json[]] })['Fn::Join'];
  if (!join) return JSON.stringify(value);
  return join[1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const ref = (part as { Ref?: string }).Ref;
      return ref === 'AWS::Partition' ? 'aws' : ref === 'AWS::Region' ? 'eu-west-1' : ref === 'AWS::AccountId' ? '123456789012' : JSON.stringify(part);
    })
    .join(join[0]);
}
function ruleByPrefix(resources: Record<string, Resource>, prefix: string): Resource {
  const found = ofType(resources, 'AWS::Events::Rule').find(([id]) => id.startsWith(prefix));
  if (!found) throw new Error(`no rule ${prefix}`);
  return found[1];
}
/** The pattern with the state machine's Ref as its ARN, the way EventBridge sees it once deployed. */
function deployedPattern(rule: Resource, resources: Record<string, Resource> = resourcesOf('example')): Record<string, Json> {
  // A state machine's Ref is its ARN: the one of its name.
  const text = JSON.stringify(rule.Properties['EventPattern']).replace(/\{"Ref":"([A-Za-z0-9]+)"\}/g, (ref, id: string) => {
    const name = resources[id]?.Type === 'AWS::StepFunctions::StateMachine' ? resources[id].Properties['StateMachineName'] : undefined;
    return typeof name === 'string' ? JSON.stringify(STATE_MACHINE_ARN.replace(/[^:]+$/, name)) : ref;
  });
  return JSON.parse(text) as Record<string, Json>;
}

// Sample events, as the services document them. EC2: "State change events for Amazon EC2 instances"
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html).
function ec2StateChange(state: string, instanceId = 'i-0a1b2c3d4e5f60712'): Record<string, Json> {
  return {
    version: '0',
    id: '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '123456789012',
    time: '2026-03-02T10:01:54Z',
    region: 'eu-west-1',
    resources: [`arn:aws:ec2:eu-west-1:123456789012:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state },
  };
}
// CloudWatch: "Alarm events and EventBridge" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html), a single-metric alarm.
function alarmStateChange(alarmName: string, value: string, instanceId = 'i-0a1b2c3d4e5f60712'): Record<string, Json> {
  return {
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '123456789012',
    time: '2026-03-02T10:03:00Z',
    region: 'eu-west-1',
    resources: [`arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: {
        value,
        reason:
          'Threshold Crossed: 2 out of the last 2 datapoints [1.0 (02/03/26 10:02:00), 1.0 (02/03/26 10:01:00)] were greater than or equal to the threshold (1.0)',
        timestamp: '2026-03-02T10:03:00.000+0000',
      },
      previousState: { value: 'OK', reason: 'Threshold Crossed', timestamp: '2026-03-01T09:00:00.000+0000' },
      configuration: {
        metrics: [
          {
            id: '7f7bc0f2-9c3b-4c0a-8f27-1b0c0f2b9a41',
            metricStat: {
              metric: { namespace: 'AWS/EC2', name: 'StatusCheckFailed_System', dimensions: { InstanceId: instanceId } },
              period: 60,
              stat: 'Maximum',
            },
            returnData: true,
          },
        ],
      },
    },
  };
}
function executionSucceeded(): Record<string, Json> {
  return {
    version: '0',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    region: 'eu-west-1',
    detail: {
      executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:run-1`,
      stateMachineArn: STATE_MACHINE_ARN,
      name: 'run-1',
      status: 'SUCCEEDED',
    },
  };
}

describe('Stack: EC2 signals and replacement hosts', () => {
  describe('IAM of the step functions (launch template by ID)', () => {
    it("launches instances and volumes only from the configured template, and only with the run tag, the launched-by tag and the cluster's spare tag", () => {
      const steps = statementsOf(resourcesOf('example'), 'StepRole');
      const launch = bySid(steps, 'LaunchTaggedReplacement');
      expect(actions(launch)).toEqual(['ec2:RunInstances']);
      expect((launch.Resource as Json[]).map(arnText)).toEqual([
        'arn:aws:ec2:eu-west-1:123456789012:instance/*',
        'arn:aws:ec2:eu-west-1:123456789012:volume/*',
      ]);
      expect(arnText(launch.Condition!['ArnLike']!['ec2:LaunchTemplate']!)).toBe('arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0123456789abcdef0');
      expect(launch.Condition!['StringEquals']).toEqual({
        'aws:RequestTag/openshift-etcd-spare-pool': 'ocp311',
        'aws:RequestTag/etcd-replace:launched-by': 'etcd-replace',
      });
      expect(launch.Condition!['Null']).toEqual({ 'aws:RequestTag/etcd-replace:run': 'false' });
    });

    it("allows the template's other resources only when launching from it, and never an instance or volume without the tag conditions", () => {
      const steps = statementsOf(resourcesOf('example'), 'StepRole');
      const runInstances = steps.filter((s) => actions(s).includes('ec2:RunInstances'));
      expect(runInstances.map((s) => s.Sid).sort()).toEqual(['LaunchFromTemplate', 'LaunchTaggedReplacement']);
      for (const s of runInstances) {
        expect(actions(s)).toEqual(['ec2:RunInstances']);
        expect(arnText(s.Condition!['ArnLike']!['ec2:LaunchTemplate']!)).toContain(':launch-template/lt-0123456789abcdef0');
        expect(resourcesText(s)).not.toContain('"*"');
      }
      const others = bySid(steps, 'LaunchFromTemplate');
      expect(resourcesText(others)).not.toMatch(/:instance\/|:volume\//);
      expect((others.Resource as Json[]).map(arnText)).toEqual(
        expect.arrayContaining([
          'arn:aws:ec2:eu-west-1:123456789012:subnet/*',
          'arn:aws:ec2:eu-west-1::image/*',
          'arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0123456789abcdef0',
        ]),
      );
    });

    it("tags only as part of RunInstances, passes only the template's instance role and only to EC2, and asks SSM whether the new host is Online", () => {
      const steps = statementsOf(resourcesOf('example'), 'StepRole');
      const tagging = steps.filter((s) => actions(s).includes('ec2:CreateTags'));
      expect(tagging).toHaveLength(1);
      expect(tagging[0]!.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'RunInstances' } });
      const pass = steps.filter((s) => actions(s).includes('iam:PassRole'));
      expect(pass).toHaveLength(1);
      expect(pass[0]!.Resource).toBe('arn:aws:iam::123456789012:role/ocp311-etcd-host');
      expect(pass[0]!.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
      expect(actions(bySid(steps, 'FollowCommands'))).toContain('ssm:DescribeInstanceInformation');
    });

    it("terminates only instances carrying etcd-replace:launched-by and the cluster's spare tag", () => {
      const steps = statementsOf(resourcesOf('example'), 'StepRole');
      const terminate = steps.filter((s) => actions(s).includes('ec2:TerminateInstances'));
      expect(terminate).toHaveLength(1);
      expect(actions(terminate[0]!)).toEqual(['ec2:TerminateInstances']);
      expect(arnText(terminate[0]!.Resource)).toBe('arn:aws:ec2:eu-west-1:123456789012:instance/*');
      expect(terminate[0]!.Condition).toEqual({
        StringEquals: { 'aws:ResourceTag/etcd-replace:launched-by': 'etcd-replace', 'aws:ResourceTag/openshift-etcd-spare-pool': 'ocp311' },
      });
    });
  });

  describe('IAM of the step functions (launch template by name, or none)', () => {
    it("by name: launches only from a template tagged for the cluster's spare pool, passes no role when none is configured", () => {
      const resources = resourcesOf('byName');
      const steps = statementsOf(resources, 'StepRole');
      expect(arnText(bySid(steps, 'LaunchTaggedReplacement').Condition!['ArnLike']!['ec2:LaunchTemplate']!)).toBe(
        'arn:aws:ec2:eu-west-1:123456789012:launch-template/*',
      );
      const pool = bySid(steps, 'LaunchTemplateOfThePool');
      expect(arnText(pool.Resource)).toBe('arn:aws:ec2:eu-west-1:123456789012:launch-template/*');
      expect(pool.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/openshift-etcd-spare-pool': 'ocp311' } });
      expect(steps.some((s) => actions(s).includes('iam:PassRole'))).toBe(false);
      const fn = ofType(resources, 'AWS::Lambda::Function').find(([id]) => /^Steps[0-9A-F]{8}$/.test(id))![1];
      const env = (fn.Properties['Environment'] as { Variables: Record<string, Json> }).Variables;
      expect(env).toMatchObject({ LAUNCH_TEMPLATE_NAME: 'ocp311-etcd', LAUNCH_TEMPLATE_VERSION: '4' });
      expect(env['LAUNCH_TEMPLATE_ID']).toBeUndefined();
    });

    it('without a template: nothing can be launched, tagged or passed; the termination of a launched host stays', () => {
      const resources = resourcesOf('none');
      const steps = statementsOf(resources, 'StepRole');
      for (const action of ['ec2:RunInstances', 'ec2:CreateTags', 'iam:PassRole']) expect(steps.some((s) => actions(s).includes(action))).toBe(false);
      expect(steps.some((s) => s.Sid === 'TerminateLaunchedHosts')).toBe(true);
      const fn = ofType(resources, 'AWS::Lambda::Function').find(([id]) => /^Steps[0-9A-F]{8}$/.test(id))![1];
      const env = (fn.Properties['Environment'] as { Variables: Record<string, Json> }).Variables;
      expect(Object.keys(env).filter((k) => k.startsWith('LAUNCH_TEMPLATE'))).toEqual([]);
    });
  });

  describe('Status-check alarms', () => {
    it('has one alarm per member on AWS/EC2 StatusCheckFailed_System of its instance, with no action: ALARM reaches the alarm rule', () => {
      const alarms = ofType(resourcesOf('example'), 'AWS::CloudWatch::Alarm')
        .map(([, a]) => a.Properties)
        .filter((a) => String(a['AlarmName']).endsWith('.ec2-status'));
      expect(alarms.map((a) => a['AlarmName']).sort()).toEqual([
        'etcd-replace-ocp311-member-master-0.ec2-status',
        'etcd-replace-ocp311-member-master-1.ec2-status',
        'etcd-replace-ocp311-member-master-2.ec2-status',
      ]);
      for (const a of alarms) {
        expect(a).toMatchObject({
          Namespace: 'AWS/EC2',
          MetricName: 'StatusCheckFailed_System',
          Statistic: 'Maximum',
          Period: 60,
          EvaluationPeriods: 2,
          DatapointsToAlarm: 2,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
        });
        expect(a['Dimensions']).toEqual([{ Name: 'InstanceId', Value: expect.stringMatching(/^i-0a1b2c3d4e5f6071[0-2]$/) }]);
        expect(a['AlarmActions']).toBeUndefined();
      }
    });
  });

  describe('Event patterns', () => {
    it('the state-change rule matches a member stopping, stopped, shutting down or terminated, and not running or pending', () => {
      const pattern = deployedPattern(ruleByPrefix(resourcesOf('example'), 'Ec2StateTrigger'));
      for (const state of ['stopping', 'stopped', 'shutting-down', 'terminated']) expect(matchesPattern(pattern, ec2StateChange(state))).toBe(true);
      for (const state of ['running', 'pending']) expect(matchesPattern(pattern, ec2StateChange(state))).toBe(false);
      expect(matchesPattern(pattern, alarmStateChange('etcd-replace-ocp311-member-master-2.ec2-status', 'ALARM'))).toBe(false);
    });

    it('the state-change rule invokes the signal function, which checks the tags (EventBridge cannot)', () => {
      const resources = resourcesOf('example');
      const rule = ruleByPrefix(resources, 'Ec2StateTrigger');
      const target = (rule.Properties['Targets'] as Array<{ Arn: { 'Fn::GetAtt': string[] } }>)[0]!;
      expect(target.Arn['Fn::GetAtt'][0]).toMatch(/^Ec2Signal/);
      const fn = ofType(resources, 'AWS::Lambda::Function').find(([id]) => id.startsWith('Ec2Signal'))![1];
      const env = (fn.Properties['Environment'] as { Variables: Record<string, Json> }).Variables;
      expect(env).toMatchObject({ CLUSTER_NAME: 'ocp311', CLUSTER_TAG_KEY: 'openshift-etcd-cluster', GRACE_SECONDS: '60', STATUS_CHECK_MINUTES: '2' });
      expect(JSON.stringify(env['STATE_MACHINE_ARN'])).toContain(':stateMachine:etcd-replace-ocp311');
      expect(JSON.parse(env['MEMBERS'] as string)).toHaveLength(3);
    });

    it('the alarm rule matches the status-check alarm going into ALARM (and not OK), and names its instance as the failed member', () => {
      const rule = ruleByPrefix(resourcesOf('example'), 'AlarmTrigger');
      const pattern = deployedPattern(rule);
      const alarm = alarmStateChange('etcd-replace-ocp311-member-master-2.ec2-status', 'ALARM');
      expect(matchesPattern(pattern, alarm)).toBe(true);
      expect(matchesPattern(pattern, alarmStateChange('etcd-replace-ocp311-member-master-2.ec2-status', 'OK'))).toBe(false);
      expect(matchesPattern(pattern, alarmStateChange('etcd-replace-other-member-master-2.ec2-status', 'ALARM'))).toBe(false);
      expect(matchesPattern(pattern, ec2StateChange('stopped'))).toBe(false);
      const target = (rule.Properties['Targets'] as Array<{ InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string } }>)[0]!;
      const request = JSON.parse(transformInput(alarm, target.InputTransformer)) as Record<string, unknown>;
      expect(request).toMatchObject({ cluster: 'ocp311', failed: 'i-0a1b2c3d4e5f60712', startedBy: 'alarm:etcd-replace-ocp311-member-master-2.ec2-status' });
      const schema = JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas/replace-request.schema.json'), 'utf8')) as object;
      expect(new Ajv({ strict: true }).validate(schema, request)).toBe(true);
    });

    it("a successful execution of this state machine, or of the restore's, reaches the signal function (the alarms follow the members)", () => {
      const rule = ruleByPrefix(resourcesOf('example'), 'WatchReplacedMembers');
      const pattern = deployedPattern(rule);
      expect(matchesPattern(pattern, executionSucceeded())).toBe(true);
      const failed = executionSucceeded();
      (failed['detail'] as Record<string, Json>)['status'] = 'FAILED';
      expect(matchesPattern(pattern, failed)).toBe(false);
      // The restore's successful runs too (it re-adds members, on spares as well); no other state machine's.
      const ofMachine = (arn: string) => {
        const event = executionSucceeded();
        (event['detail'] as Record<string, Json>)['stateMachineArn'] = arn;
        return event;
      };
      expect(matchesPattern(pattern, ofMachine(STATE_MACHINE_ARN.replace('etcd-replace-', 'etcd-restore-')))).toBe(true);
      expect(matchesPattern(pattern, ofMachine(STATE_MACHINE_ARN.replace('etcd-replace-', 'other-')))).toBe(false);
    });
  });

  describe('IAM of the signal function', () => {
    it('reads instances, starts this state machine, tags only replaced members and new members of the cluster, and keeps only the run-time status-check alarms', () => {
      const signal = statementsOf(resourcesOf('example'), 'SignalRole');
      expect(bySid(signal, 'ReadInstanceTags')).toMatchObject({ Action: 'ec2:DescribeInstances', Resource: '*' });
      expect(arnText(bySid(signal, 'StartReplacement').Resource)).toBe(STATE_MACHINE_ARN);
      expect(bySid(signal, 'MarkReplacedMember').Condition).toEqual({
        StringEquals: { 'aws:ResourceTag/openshift-etcd-cluster': 'ocp311' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['etcd-replace:replaced-by'] },
      });
      // A new member: only an instance of the cluster's spare pool, only the cluster tag and the etcd role.
      expect(bySid(signal, 'EnrolNewMember')).toMatchObject({ Action: 'ec2:CreateTags' });
      expect(bySid(signal, 'EnrolNewMember').Condition).toEqual({
        StringEquals: {
          'aws:ResourceTag/openshift-etcd-spare-pool': 'ocp311',
          'aws:RequestTag/openshift-etcd-cluster': 'ocp311',
          'aws:RequestTag/openshift-role': 'etcd',
        },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['openshift-etcd-cluster', 'openshift-role'] },
      });
      // Read only: a listing by name prefix is authorized against every alarm.
      expect(bySid(signal, 'ListMemberAlarms')).toMatchObject({ Action: 'cloudwatch:DescribeAlarms' });
      expect(arnText(bySid(signal, 'ListMemberAlarms').Resource)).toBe('arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*');
      const keep = bySid(signal, 'KeepStatusCheckAlarms');
      expect(actions(keep).sort()).toEqual(['cloudwatch:DeleteAlarms', 'cloudwatch:PutMetricAlarm']);
      expect(arnText(keep.Resource)).toBe('arn:aws:cloudwatch:eu-west-1:123456789012:alarm:etcd-replace-ocp311-member-*.ec2-status.i-*');
      expect(keep.Condition).toEqual({ Null: { 'cloudwatch:AlarmActions': 'true' } });
      // The stack's own status-check alarms do not match the run-time pattern.
      expect('etcd-replace-ocp311-member-master-0.ec2-status').not.toMatch(/^etcd-replace-ocp311-member-.*\.ec2-status\.i-/);
      const all = signal
        .flatMap(actions)
        .filter((a) => !/^(logs|xray):/.test(a))
        .sort();
      expect(all).toEqual([
        'cloudwatch:DeleteAlarms',
        'cloudwatch:DescribeAlarms',
        'cloudwatch:PutMetricAlarm',
        'ec2:CreateTags',
        'ec2:CreateTags',
        'ec2:DescribeInstances',
        'states:StartExecution',
      ]);
    });
  });
});
