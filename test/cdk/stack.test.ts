// The synthesized template: one synthesis for the whole file (bundling the Lambdas takes seconds).

import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RUN_TABLE_TAG as CLI_RUN_TABLE_TAG } from '../../cli/aws/auditHistory.ts';
import { buildApp } from '../../lib/app.ts';
import { parseConfig } from '../../lib/config.ts';
import { lambdaTimeoutSeconds, PROJECT_ROOT, type ReplacementStack } from '../../lib/replacement-stack.ts';
import { probeTiming, RUN_TABLE_TAG } from '../../lib/etcd-replacement.ts';
import { compileAsl, functionArnSubstitutionKey, LAMBDA_SERVICE_RETRIER, type AslDefinition, type AslTaskState } from '../../statemachine/asl.ts';
import { TASKS } from '../../statemachine/spec.ts';
import { validateAsl } from '../support/aslValidate.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { Ajv } from 'ajv';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, string>>; Effect: string };

const cdkContext = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
/** The example configuration, as `npm run synth` uses it (cdk.json names no cluster). */
const EXAMPLE_CONFIG = join(PROJECT_ROOT, 'docs/etcd-replace.config.example.json');
const example = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as Record<string, unknown>;

let outdir: string;
let app: App;
let stack: ReplacementStack;
let template: Template;
let resources: Record<string, Resource>;

function ofType(type: string): Array<[string, Resource]> {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}
function only(type: string): Resource {
  const found = ofType(type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]![1];
}
/** The replacement's state machine (the restore's is beside it: test/cdk/restore.test.ts). */
function replacementMachine(): Resource {
  const found = ofType('AWS::StepFunctions::StateMachine').filter(([id]) => id.startsWith('StateMachine'));
  if (found.length !== 1) throw new Error(`expected one replacement state machine, found ${found.length}`);
  return found[0]![1];
}
function statements(): Statement[] {
  return ofType('AWS::IAM::Policy').flatMap(([, p]) => (p.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement);
}
function policyStatements(logicalIdPrefix: string): Statement[] {
  return ofType('AWS::IAM::Policy')
    .filter(([id]) => id.startsWith(logicalIdPrefix))
    .flatMap(([, p]) => (p.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement);
}
/** How many resources of the type have at least these properties. */
function matching(type: string, properties: Record<string, unknown>): number {
  return Object.keys(template.findResources(type, { Properties: properties })).length;
}
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const logicalId = (getAtt: unknown) => (getAtt as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'etcd-replace-cdk-'));
  ({ app, stack } = buildApp(new App({ context: { ...cdkContext, etcdReplaceConfig: EXAMPLE_CONFIG }, outdir })));
  app.synth();
  template = Template.fromStack(stack);
  resources = template.toJSON()['Resources'] as Record<string, Resource>;
}, 120_000);

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

describe('Stack: ReplacementStack', () => {
  describe('State machine', () => {
    it('is a Standard workflow logging ALL without execution data, with X-Ray tracing', () => {
      expect(
        matching('AWS::StepFunctions::StateMachine', {
          StateMachineType: 'STANDARD',
          StateMachineName: 'etcd-replace-ocp311',
          LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }] },
          TracingConfiguration: { Enabled: true },
        }),
      ).toBe(1);
      expect(matching('AWS::Logs::LogGroup', { LogGroupName: '/aws/vendedlogs/states/etcd-replace-ocp311', RetentionInDays: 365 })).toBe(1);
    });

    it('runs exactly the compiled definition, and every task retries Lambda service errors first', () => {
      const machine = replacementMachine();
      const definition = JSON.parse(machine.Properties['DefinitionString'] as string) as AslDefinition;
      expect(definition).toEqual(compileAsl());
      expect(validateAsl(definition).isValid).toBe(true);
      for (const task of TASKS) {
        const state = definition.States[task.name] as AslTaskState;
        expect(state.Retry[0]).toEqual(LAMBDA_SERVICE_RETRIER);
        expect(state.Retry[0]?.ErrorEquals).toContain('Lambda.TooManyRequestsException');
      }
    });

    it("substitutes one step function for every task, with a timeout above the longest state's", () => {
      const machine = replacementMachine();
      const substitutions = machine.Properties['DefinitionSubstitutions'] as Record<string, unknown>;
      expect(Object.keys(substitutions).sort()).toEqual(TASKS.map((t) => functionArnSubstitutionKey(t.name)).sort());
      const ids = new Set(TASKS.map((task) => logicalId(substitutions[functionArnSubstitutionKey(task.name)])));
      expect([...ids]).toHaveLength(1);
      const [id] = [...ids];
      expect(id).toMatch(/^Steps[0-9A-F]{8}$/);
      const fn = resources[id!]!;
      expect(fn.Type).toBe('AWS::Lambda::Function');
      const props = fn.Properties as {
        Environment: { Variables: Record<string, string> };
        Timeout: number;
        Runtime: string;
        Handler: string;
        TracingConfig: unknown;
      };
      // No step is named in the environment: the event names it, and the handler holds it to its state's time.
      expect(props.Environment.Variables['STEP_NAME']).toBeUndefined();
      expect(props.Timeout).toBe(Math.max(...TASKS.map(lambdaTimeoutSeconds)));
      for (const task of TASKS) expect(props.Timeout).toBeGreaterThanOrEqual(Math.min(task.timeoutSeconds, 900));
      expect(props.Runtime).toBe('nodejs22.x');
      expect(props.Handler).toBe('index.handler');
      expect(props.TracingConfig).toEqual({ Mode: 'Active' });
      expect(lambdaTimeoutSeconds({ ...TASKS[0]!, timeoutSeconds: 900 })).toBe(900);
    });

    it('gives the step functions the environment the AWS adapters read', () => {
      const fn =
        resources[logicalId((replacementMachine().Properties['DefinitionSubstitutions'] as Record<string, unknown>)[functionArnSubstitutionKey('AddMember')])]!;
      const env = (fn.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(env).sort()).toEqual(
        [
          'ARTIFACT_PREFIX',
          'BUCKET',
          'CLUSTER_NAME',
          'CLUSTER_TAG_KEY',
          'DEFAULT_ADD_METHOD',
          'ETCD_SG_ID',
          'KMS_KEY_ID',
          'LAUNCH_TEMPLATE_ID',
          'LAUNCH_TEMPLATE_VERSION',
          'LOCK_STATE_MACHINE_ARNS',
          'NODE_OPTIONS',
          'POWERTOOLS_LOG_LEVEL',
          'POWERTOOLS_METRICS_NAMESPACE',
          'POWERTOOLS_SERVICE_NAME',
          'RUN_RETENTION_DAYS',
          'SCRIPTS_DIR',
          'SPARE_TAG_KEY',
          'STATE_MACHINE_ARN',
          'TABLE',
        ].sort(),
      );
      expect(env['RUN_RETENTION_DAYS']).toBe('400');
      expect(env['DEFAULT_ADD_METHOD']).toBe('manual');
      // The state machine's ARN from its fixed name (no reference to the machine, which references the functions).
      expect(JSON.stringify(env['STATE_MACHINE_ARN'])).toContain(':stateMachine:etcd-replace-ocp311');
      expect(JSON.stringify(env['STATE_MACHINE_ARN'])).not.toMatch(/"Ref":"StateMachine/);
      expect(env).toMatchObject({
        CLUSTER_TAG_KEY: 'openshift-etcd-cluster',
        SPARE_TAG_KEY: 'openshift-etcd-spare-pool',
        ETCD_SG_ID: 'sg-0123456789abcdef0',
        SCRIPTS_DIR: '/var/task/scripts',
      });
      // The launch template a run launches its replacement from (functions/adapters/aws/deps.ts).
      expect(env).toMatchObject({ LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0', LAUNCH_TEMPLATE_VERSION: '$Default' });
      expect(env['BUCKET']).toEqual({ Ref: expect.stringMatching(/^Artifacts/) });
      expect(env['TABLE']).toEqual({ Ref: expect.stringMatching(/^Runs/) });
    });

    it('may invoke the step function and nothing else', () => {
      const invoke = policyStatements('StateMachineRole').filter((s) => actions(s).some((a) => a.startsWith('lambda:')));
      expect(invoke).toHaveLength(1);
      expect(actions(invoke[0]!)).toEqual(['lambda:InvokeFunction']);
      const targets = [invoke[0]!.Resource].flat().map(logicalId);
      expect(targets).toEqual([
        ...new Set(
          TASKS.map((t) =>
            logicalId((replacementMachine().Properties['DefinitionSubstitutions'] as Record<string, unknown>)[functionArnSubstitutionKey(t.name)]),
          ),
        ),
      ]);
    });
  });

  describe('IAM', () => {
    it('allows ssm:SendCommand only with AWS-RunShellScript and on instances carrying the cluster (or spare-pool) tag', () => {
      const sendCommand = statements().filter((s) => actions(s).includes('ssm:SendCommand'));
      expect(sendCommand.length).toBeGreaterThan(0);
      for (const s of sendCommand) {
        expect(actions(s)).toEqual(['ssm:SendCommand']);
        const resource = JSON.stringify(s.Resource);
        if (resource.includes('document/')) {
          expect(resource).toContain('::document/AWS-RunShellScript');
          expect(s.Condition).toBeUndefined();
        } else {
          expect(resource).toContain(':instance/*');
          const condition = s.Condition?.['StringEquals'] ?? {};
          expect(Object.keys(condition)).toHaveLength(1);
          expect(['ssm:resourceTag/openshift-etcd-cluster', 'ssm:resourceTag/openshift-etcd-spare-pool']).toContain(Object.keys(condition)[0]);
          expect(Object.values(condition)).toEqual(['ocp311']);
        }
      }
      expect(sendCommand.some((s) => s.Condition?.['StringEquals']?.['ssm:resourceTag/openshift-etcd-cluster'] === 'ocp311')).toBe(true);
      expect(sendCommand.some((s) => s.Resource === '*')).toBe(false);
    });

    it('follows commands with GetCommandInvocation and ListCommandInvocations', () => {
      const follow = policyStatements('StepRole').find((s) => s.Sid === 'FollowCommands');
      expect(actions(follow!)).toEqual(expect.arrayContaining(['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations']));
    });

    it('changes security-group ingress only on groups carrying the cluster tag', () => {
      const ingress = policyStatements('StepRole').filter((s) => actions(s).some((a) => /SecurityGroupIngress$/.test(a)));
      expect(ingress).toHaveLength(1);
      expect(actions(ingress[0]!).sort()).toEqual(['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress']);
      expect(JSON.stringify(ingress[0]!.Resource)).toContain(':security-group/*');
      expect(ingress[0]!.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/openshift-etcd-cluster': 'ocp311' } });
    });

    it('deletes object versions only of key bundles, so a deleted bundle leaves no noncurrent copy', () => {
      const versions = policyStatements('StepRole').filter((s) => actions(s).includes('s3:DeleteObjectVersion'));
      expect(versions).toHaveLength(1);
      expect(policyStatements('StepRole').find((s) => s.Sid === 'KeyBundleVersions')).toBeDefined();
      expect(JSON.stringify(versions[0]!.Resource)).toContain('/etcd-replace/runs/*/bundle-*');
      expect(actions(policyStatements('StepRole').find((s) => s.Sid === 'ArtifactListing')!)).toEqual(['s3:ListBucket', 's3:ListBucketVersions']);
    });

    it('grants no wildcard action and no s3:* or kms:* on any resource', () => {
      for (const s of statements()) for (const a of actions(s)) expect(a).not.toMatch(/\*/);
    });

    it('lets the probe publish metrics only in its own namespace', () => {
      const publish = policyStatements('ProbeRole').find((s) => actions(s).includes('cloudwatch:PutMetricData'));
      expect(publish?.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'EtcdReplace' } });
    });
  });

  describe('Storage', () => {
    it('encrypts the artifact bucket with the customer KMS key, blocks public access, versions and expires snapshots', () => {
      const [id, bucket] = ofType('AWS::S3::Bucket').find(([, b]) => JSON.stringify(b.Properties['BucketEncryption']).includes('aws:kms'))!;
      expect(id).toMatch(/^Artifacts/);
      expect(bucket.Properties['BucketEncryption']).toEqual({
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [expect.stringMatching(/^Key/), 'Arn'] } },
            BucketKeyEnabled: true,
          },
        ],
      });
      expect(bucket.Properties['PublicAccessBlockConfiguration']).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties['VersioningConfiguration']).toEqual({ Status: 'Enabled' });
      const rules = (bucket.Properties['LifecycleConfiguration'] as { Rules: Array<Record<string, unknown>> }).Rules;
      expect(rules).toContainEqual(
        expect.objectContaining({
          Id: 'run-artifacts',
          Prefix: 'etcd-replace/',
          ExpirationInDays: 30,
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          Status: 'Enabled',
        }),
      );
      expect(rules).toContainEqual(expect.objectContaining({ Id: 'ssm-output', Prefix: 'ssm-output/', ExpirationInDays: 30 }));
      expect(matching('AWS::KMS::Key', { EnableKeyRotation: true })).toBe(1);
    });

    it('refuses plain-HTTP access to the artifact bucket', () => {
      const policies = ofType('AWS::S3::BucketPolicy').map(([, p]) => JSON.stringify(p.Properties['PolicyDocument']));
      expect(policies.some((p) => p.includes('"aws:SecureTransport":"false"') && p.includes('"Effect":"Deny"'))).toBe(true);
    });

    it("keeps locks and run records in the adapters' table layout, with TTL, PITR and KMS encryption", () => {
      const count = matching('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: Object.values(TABLE_SCHEMA.indexes).map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
        TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
      });
      expect(count).toBe(1);
    });
  });

  describe('Trigger, probe and notifications', () => {
    it('starts a run when a member alarm of this cluster goes into ALARM, with the failed member from the alarm', () => {
      const [, rule] = ofType('AWS::Events::Rule').find(([id]) => id.startsWith('AlarmTrigger'))!;
      expect(rule.Properties['EventPattern']).toEqual({
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { alarmName: [{ prefix: 'etcd-replace-ocp311-member-' }], state: { value: ['ALARM'] } },
      });
      const target = (
        rule.Properties['Targets'] as Array<{ Arn: unknown; InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string } }>
      )[0]!;
      expect(target.Arn).toEqual({ Ref: expect.stringMatching(/^StateMachine/) });
      const paths = target.InputTransformer.InputPathsMap;
      expect(Object.values(paths).sort()).toEqual([
        '$.detail.alarmName',
        '$.detail.configuration.metrics[0].metricStat.metric.dimensions.InstanceId',
        '$.time',
      ]);
      // What EventBridge would send for an alarm of master-2: a ReplaceRequest.
      let input = target.InputTransformer.InputTemplate;
      for (const [name, path] of Object.entries(paths)) {
        const value = path.endsWith('InstanceId')
          ? '"i-0a1b2c3d4e5f60712"'
          : path === '$.time'
            ? '"2030-01-01T00:00:00Z"'
            : 'etcd-replace-ocp311-member-master-2';
        input = input.replaceAll(`<${name}>`, value);
      }
      const request = JSON.parse(input) as unknown;
      const schema = JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas/replace-request.schema.json'), 'utf8')) as object;
      expect(new Ajv({ strict: true }).validate(schema, request)).toBe(true);
      expect(request).toEqual({
        cluster: 'ocp311',
        failed: 'i-0a1b2c3d4e5f60712',
        // No replacement: the spare pool's next free host, so a second member's alarm can join the run.
        startedBy: 'alarm:etcd-replace-ocp311-member-master-2',
        // The alarm is evidence, not final (finalSignals: ec2:terminated by default): the run keeps the grace window.
        evidence: { signal: 'alarm', state: 'ALARM', at: '2030-01-01T00:00:00Z' },
        options: { graceSeconds: 60, learner: 'auto' },
      });
    });

    it('has one alarm per member on its health metric, not breaching on missing data, over ceil(alarmMinutes / probe interval) probes', () => {
      const alarms = ofType('AWS::CloudWatch::Alarm')
        .map(([, a]) => a.Properties)
        .filter((a) => String(a['AlarmName']).startsWith('etcd-replace-ocp311-member-') && !String(a['AlarmName']).includes('.ec2-status'));
      expect(alarms.map((a) => a['AlarmName']).sort()).toEqual([
        'etcd-replace-ocp311-member-master-0',
        'etcd-replace-ocp311-member-master-1',
        'etcd-replace-ocp311-member-master-2',
      ]);
      for (const a of alarms) {
        // alarmMinutes 3, a probe every 2 minutes: two unhealthy probes in a row, in 2-minute periods.
        expect(a).toMatchObject({
          Namespace: 'EtcdReplace',
          MetricName: 'MemberHealthy',
          ComparisonOperator: 'LessThanThreshold',
          Threshold: 1,
          TreatMissingData: 'notBreaching',
          EvaluationPeriods: 2,
          DatapointsToAlarm: 2,
          Period: 120,
        });
        const member = String(a['AlarmName']).replace('etcd-replace-ocp311-member-', '');
        const dimensions = [...(a['Dimensions'] as Array<{ Name: string }>)].sort((x, y) => x.Name.localeCompare(y.Name));
        expect(dimensions).toEqual([
          { Name: 'ClusterName', Value: 'ocp311' },
          { Name: 'InstanceId', Value: `i-0a1b2c3d4e5f6071${member.slice(-1)}` },
          { Name: 'Member', Value: `${member}.ocp311.example.internal` },
        ]);
      }
    });

    it('runs the health probe every probeIntervalMinutes (2 in the example) with the members to watch', () => {
      const [, probe] = ofType('AWS::Lambda::Function').find(([id]) => id.startsWith('HealthProbe'))!;
      const env = (probe.Properties['Environment'] as { Variables: Record<string, string> }).Variables;
      expect(JSON.parse(env['MEMBERS']!)).toHaveLength(3);
      expect(env['METRIC_NAMESPACE']).toBe('EtcdReplace');
      const [, schedule] = ofType('AWS::Events::Rule').find(([id]) => id.startsWith('ProbeSchedule'))!;
      expect(schedule.Properties['ScheduleExpression']).toBe('rate(2 minutes)');
    });

    it("notifies run outcomes on a KMS-encrypted topic through the notifier, which may publish there, read this machine's execution history and the steps' reports only", () => {
      const [, rule] = ofType('AWS::Events::Rule').find(([id]) => id.startsWith('RunOutcome'))!;
      expect(rule.Properties['EventPattern']).toEqual({
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [{ Ref: expect.stringMatching(/^StateMachine/) }], status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] },
      });
      const target = (rule.Properties['Targets'] as Array<{ Arn: { 'Fn::GetAtt': string[] } }>)[0]!;
      expect(target.Arn['Fn::GetAtt'][0]).toMatch(/^NotifyOutcome/);
      expect(matching('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() })).toBe(1);
      const [, fn] = ofType('AWS::Lambda::Function').find(([id]) => id.startsWith('NotifyOutcome'))!;
      const role = (fn.Properties['Role'] as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
      const [, policy] = ofType('AWS::IAM::Policy').find(([, p]) => JSON.stringify(p.Properties['Roles']).includes(role))!;
      const statements = (policy.Properties['PolicyDocument'] as { Statement: Array<{ Sid?: string; Action: string | string[] }> }).Statement;
      const actions = statements.flatMap((st) => [st.Action].flat()).sort();
      expect(actions).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey', 'sns:Publish', 'states:GetExecutionHistory']));
      expect(actions.filter((a) => !/^(logs|xray):/.test(a))).toEqual([
        'dynamodb:Query',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'sns:Publish',
        'states:GetExecutionHistory',
      ]);
      const query = statements.find((st) => st.Sid === 'ReadStepDetails') as { Condition?: unknown } | undefined;
      expect(query?.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['steps#*'] } });
      expect((fn.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables['TABLE']).toEqual({ Ref: expect.stringMatching(/^Runs/) });
    });
  });

  describe('Audit trail', () => {
    function fnByPrefix(prefix: string): Resource {
      const found = ofType('AWS::Lambda::Function').filter(([id]) => id.startsWith(prefix));
      expect(found).toHaveLength(1);
      return found[0]![1];
    }
    const targetOf = (rule: Resource) => logicalId((rule.Properties['Targets'] as Array<{ Arn: unknown }>)[0]!.Arn);

    /** An ARN the template builds with Fn::Join from the pseudo parameters, as text (`arn:<AWS::Partition>:states:…`). */
    const arnText = (value: unknown): string => {
      const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
      if (!join) return JSON.stringify(value);
      return join[1].map((part) => (typeof part === 'string' ? part : `<${(part as { Ref: string }).Ref}>`)).join(join[0]);
    };
    const RESTORE_MACHINE = 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:etcd-restore-ocp311';

    it("records every status change of both state machines' executions (the replacement's and the restore's) through the audit recorder", () => {
      const [, rule] = ofType('AWS::Events::Rule').find(([id]) => id.startsWith('AuditTrail'))!;
      const pattern = rule.Properties['EventPattern'] as { detail: { stateMachineArn: unknown[] } };
      expect(pattern).toEqual({
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [{ Ref: expect.stringMatching(/^StateMachine/) }, expect.anything()] },
      });
      // The restore's ARN, as its own state machine is named: the rule matches its executions' events.
      expect(arnText(pattern.detail.stateMachineArn[1])).toBe(RESTORE_MACHINE);
      const [, restoreMachine] = ofType('AWS::StepFunctions::StateMachine').find(([id]) => id.startsWith('RestoreStateMachine'))!;
      expect(restoreMachine.Properties['StateMachineName']).toBe('etcd-restore-ocp311');
      expect(targetOf(rule)).toMatch(/^AuditRecorder/);
      const env = (fnByPrefix('AuditRecorder').Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
      expect(env).toMatchObject({ CLUSTER_NAME: 'ocp311', RUN_RETENTION_DAYS: '400', TABLE: { Ref: expect.stringMatching(/^Runs/) } });
      expect(arnText(env['RESTORE_STATE_MACHINE_ARN'])).toBe(RESTORE_MACHINE);
      // The quorum-lost alarm starts restores: its name, so an alarm-started restore's record gets the alarm's change.
      const [, quorumAlarm] = ofType('AWS::CloudWatch::Alarm').find(([id]) => id.startsWith('QuorumLostAlarm'))!;
      expect(env['QUORUM_ALARM_NAME']).toBe(quorumAlarm.Properties['AlarmName']);
      expect(JSON.parse(env['MEMBERS'] as string)).toHaveLength(3);
    });

    it("lets the audit recorder read the restore's executions and the quorum-lost alarm's history, and no other state machine's", () => {
      const audit = policyStatements('AuditRole');
      const read = audit.find((st) => st.Sid === 'ReadExecutions')!;
      expect(actions(read)).toEqual(['states:DescribeExecution', 'states:GetExecutionHistory']);
      expect((read.Resource as unknown[]).map(arnText)).toEqual([
        'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:etcd-replace-ocp311:*',
        'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:etcd-restore-ocp311:*',
      ]);
      const alarms = audit.find((st) => st.Sid === 'ReadMemberAlarmHistory')!;
      expect((alarms.Resource as unknown[]).map(arnText)).toEqual([
        'arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:etcd-replace-ocp311-member-*',
        'arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:etcd-replace-ocp311-quorum-lost',
      ]);
    });

    it('takes who called StartExecution on either state machine from CloudTrail', () => {
      const [, rule] = ofType('AWS::Events::Rule').find(([id]) => id.startsWith('AuditStartedBy'))!;
      const pattern = rule.Properties['EventPattern'] as { detail: { requestParameters: { stateMachineArn: unknown[] } } };
      expect(pattern).toEqual({
        source: ['aws.states'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['states.amazonaws.com'],
          eventName: ['StartExecution'],
          requestParameters: { stateMachineArn: [{ Ref: expect.stringMatching(/^StateMachine/) }, expect.anything()] },
        },
      });
      expect(arnText(pattern.detail.requestParameters.stateMachineArn[1])).toBe(RESTORE_MACHINE);
      expect(targetOf(rule)).toMatch(/^AuditRecorder/);
    });

    it("keeps records past the 90 days of Step Functions' history: TTL on the table, retention from the config", () => {
      const [, table] = ofType('AWS::DynamoDB::Table')[0]!;
      expect(table.Properties['TimeToLiveSpecification']).toEqual({ AttributeName: 'ttl', Enabled: true });
      expect(table.Properties['DeletionProtectionEnabled']).toBe(true);
      expect(replacementMachine().Properties['Tags']).toContainEqual({
        Key: 'etcd-replace:run-table',
        Value: { Ref: expect.stringMatching(/^Runs/) },
      });
      // The tag `etcd-replace history --target aws` finds the table by (cli/aws/auditHistory.ts).
      expect(CLI_RUN_TABLE_TAG).toBe(RUN_TABLE_TAG);
    });

    it('lets only the audit recorder write audit records: the steps write the lock and their details, by partition key', () => {
      const audit = policyStatements('AuditRole');
      expect(audit.find((st) => st.Sid === 'WriteAuditRecords')).toMatchObject({
        Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['run#*'] } },
      });
      expect(audit.find((st) => st.Sid === 'ReadStepDetails')).toMatchObject({
        Action: 'dynamodb:Query',
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['steps#*'] } },
      });
      expect(audit.flatMap(actions)).toEqual(
        expect.arrayContaining(['states:DescribeExecution', 'states:GetExecutionHistory', 'cloudtrail:LookupEvents', 'cloudwatch:DescribeAlarmHistory']),
      );
      const alarmHistory = audit.find((st) => st.Sid === 'ReadMemberAlarmHistory')!;
      expect(JSON.stringify(alarmHistory.Resource)).toContain(':alarm:etcd-replace-ocp311-member-*');
      const step = policyStatements('StepRole').filter((st) => actions(st).some((a) => a.startsWith('dynamodb:')));
      expect(step).toHaveLength(2);
      const writes = step.find((st) => st.Sid === 'LockAndStepDetails')!;
      expect(writes.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['lock#*', 'steps#*'] } });
      expect(actions(writes)).not.toContain('dynamodb:Query');
      // Reading earlier runs of the cluster: a query of the byCluster index, nothing else.
      const reads = step.find((st) => st.Sid === 'ReadPastRuns')!;
      expect(actions(reads)).toEqual(['dynamodb:Query']);
      expect(JSON.stringify(reads.Resource)).toContain('/index/byCluster');
    });
  });

  describe('Observability', () => {
    const alarmsByName = () => Object.fromEntries(ofType('AWS::CloudWatch::Alarm').map(([, a]) => [String(a.Properties['AlarmName']), a.Properties]));
    const topicRef = { Ref: expect.stringMatching(/^Outcomes/) };

    it("alarms on failed and on refused runs, from the audit recorder's metrics, to the outcome topic", () => {
      const alarms = alarmsByName();
      for (const outcome of ['failed', 'refused']) {
        expect(alarms[`etcd-replace-ocp311-run-${outcome}`]).toMatchObject({
          Namespace: 'EtcdReplace',
          MetricName: 'Runs',
          Dimensions: expect.arrayContaining([
            { Name: 'ClusterName', Value: 'ocp311' },
            { Name: 'Outcome', Value: outcome },
          ]),
          Statistic: 'Sum',
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Threshold: 1,
          TreatMissingData: 'notBreaching',
          AlarmActions: [topicRef],
        });
      }
    });

    it('alarms when the probe publishes no member health, missing data breaching; and on audit or notification errors', () => {
      const alarms = alarmsByName();
      expect(alarms['etcd-replace-ocp311-probe']).toMatchObject({
        MetricName: 'MemberHealthy',
        Statistic: 'SampleCount',
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        // No sample in three 2-minute periods (at least two, so one late invocation is no silence).
        Period: 120,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        TreatMissingData: 'breaching',
        AlarmActions: [topicRef],
      });
      for (const [name, fn] of [
        ['audit', 'AuditRecorder'],
        ['notify', 'NotifyOutcome'],
      ] as const) {
        expect(alarms[`etcd-replace-ocp311-${name}`]).toMatchObject({
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: expect.stringMatching(new RegExp(`^${fn}`)) } }],
          AlarmActions: [topicRef],
        });
      }
      // The member alarms start runs and notify nobody directly; CloudWatch may use the key of the encrypted topic.
      expect(alarms['etcd-replace-ocp311-member-master-0']!['AlarmActions']).toBeUndefined();
      const key = ofType('AWS::KMS::Key')[0]![1];
      expect(JSON.stringify(key.Properties['KeyPolicy'])).toContain('cloudwatch.amazonaws.com');
    });

    it('has a dashboard of member health, the probe, runs, step durations and step errors', () => {
      const dashboard = only('AWS::CloudWatch::Dashboard');
      expect(dashboard.Properties['DashboardName']).toBe('etcd-replace-ocp311');
      const body = JSON.stringify(dashboard.Properties['DashboardBody']);
      for (const text of ['MemberHealthy', 'ProbeFailed', 'RunDuration', 'StepDuration', 'ExecutionsFailed', 'filter level']) expect(body).toContain(text);
    });

    it('configures Powertools (service, namespace, log level) in every function', () => {
      for (const [, fn] of ofType('AWS::Lambda::Function')) {
        const env = (fn.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
        expect(env).toMatchObject({
          POWERTOOLS_SERVICE_NAME: 'etcd-replace',
          POWERTOOLS_METRICS_NAMESPACE: 'EtcdReplace',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          CLUSTER_NAME: 'ocp311',
        });
        expect(fn.Properties['TracingConfig']).toEqual({ Mode: 'Active' });
      }
    });
  });

  describe('Tags', () => {
    // CloudFormation has no Tags property on these.
    const untaggable = new Set([
      'AWS::IAM::Policy',
      'AWS::IAM::ManagedPolicy',
      'AWS::S3::BucketPolicy',
      'AWS::SNS::TopicPolicy',
      'AWS::SNS::Subscription',
      'AWS::Lambda::Permission',
      'AWS::CDK::Metadata',
    ]);

    it("tags every resource that takes tags with the cluster and the configuration's tags", () => {
      const tagged = Object.entries(resources).filter(([, r]) => !untaggable.has(r.Type));
      expect(tagged.length).toBeGreaterThan(50);
      for (const [id, r] of tagged) {
        const tags = (r.Properties?.['Tags'] ?? []) as Array<{ Key: string; Value: unknown }>;
        expect({ id, tags }).toEqual({
          id,
          tags: expect.arrayContaining([
            { Key: 'etcd-replace:cluster', Value: 'ocp311' },
            { Key: 'owner', Value: 'platform-team' },
          ]),
        });
      }
    });
  });

  describe('Bundles', () => {
    function loadAsset(logicalIdPrefix: string): { handler: (event?: unknown) => Promise<unknown>; dir: string } {
      const [, fn] = ofType('AWS::Lambda::Function').find(([id]) => id.startsWith(logicalIdPrefix))!;
      const s3Key = (fn.Properties['Code'] as { S3Key: string }).S3Key;
      const asset = join(outdir, `asset.${s3Key.replace(/\.zip$/, '')}`);
      // Outside the repository, so that its package.json ("type": "module") does not apply: as in /var/task.
      const dir = mkdtempSync(join(tmpdir(), 'etcd-replace-asset-'));
      cpSync(asset, dir, { recursive: true });
      return { handler: (createRequire(import.meta.url)(join(dir, 'index.js')) as { handler: (event?: unknown) => Promise<unknown> }).handler, dir };
    }

    it('bundles the step handler with the host scripts, keeping error class names for Retry and Catch', async () => {
      const { handler, dir } = loadAsset('Steps');
      try {
        expect(existsSync(join(dir, 'scripts', 'etcdctl.sh'))).toBe(true);
        expect(existsSync(join(dir, 'scripts', 'StartNewMember.sh'))).toBe(true);
        // The unknown step is refused by name, the known one fails on the missing environment.
        await expect(handler({ step: 'NoSuchStep', context: {} })).rejects.toMatchObject({ name: 'InvalidInputError' });
        await expect(handler({ step: 'AddMember', context: {}, executionName: 'bundle-check' })).rejects.toMatchObject({
          name: 'InvalidInputError',
          message: expect.stringMatching(/BUCKET/),
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('bundles the EC2 signal function, which refuses to run without its configuration', async () => {
      const { handler, dir } = loadAsset('Ec2Signal');
      try {
        await expect(handler({ 'detail-type': 'EC2 Instance State-change Notification', detail: {} })).rejects.toMatchObject({
          name: 'InvalidInputError',
          message: expect.stringMatching(/CLUSTER_NAME/),
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('bundles the health probe, which refuses to run without its configuration', async () => {
      const { handler, dir } = loadAsset('HealthProbe');
      try {
        await expect(handler()).rejects.toMatchObject({ name: 'InvalidInputError', message: expect.stringMatching(/CLUSTER_NAME/) });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('Checks', () => {
    it('passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
      const report = new AwsSolutionsChecks().validateScope(app);
      expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId).join(', ')}`)).toEqual([]);
      expect(report.success).toBe(true);
    });

    it('reports no failed validation in the cloud assembly (cdk-nag on synth and CloudFormation validation)', () => {
      const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
        pluginReports: Array<{ success?: boolean; violations?: unknown[] }>;
      };
      for (const plugin of report.pluginReports) expect(plugin.violations ?? []).toEqual([]);
    });

    it('would report a finding on a bare bucket (the check is not vacuous)', () => {
      const scratch = new Stack(new App(), 'Scratch');
      new s3.Bucket(scratch, 'Bare');
      const rules = new AwsSolutionsChecks().validateScope(scratch).violations.map((v) => v.ruleName);
      expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
    });
  });
});

describe('Function: parseConfig', () => {
  const base = example;

  it('reads the example configuration and fills in defaults', () => {
    const config = parseConfig({ ...base, clusterTagKey: undefined, spareTagKey: undefined, alarmMinutes: undefined });
    expect(config.clusterTagKey).toBe('openshift-etcd-cluster');
    expect(config.spareTagKey).toBe('openshift-etcd-spare-pool');
    expect(config.alarmMinutes).toBe(3);
    expect(config.members.map((m) => m.name)).toEqual(['master-0', 'master-1', 'master-2']);
  });

  it('refuses a configuration that would put bad values into shells, tags or alarms', () => {
    expect(() => parseConfig({ ...base, clusterName: 'ocp 311' })).toThrow(/clusterName/);
    expect(() => parseConfig({ ...base, members: [] })).toThrow(/members/);
    expect(() =>
      parseConfig({ ...base, members: [{ name: 'master-0', hostname: 'm0.example', ip: '10.0.0.1; reboot', instanceId: 'i-0a1b2c3d4e5f60710' }] }),
    ).toThrow(/members\[0\]\.ip/);
    expect(() => parseConfig({ ...base, etcdSecurityGroupId: 'default' })).toThrow(/etcdSecurityGroupId/);
    expect(() => parseConfig({ ...base, clusterTagKey: 'aws:cloudformation' })).toThrow(/clusterTagKey/);
  });

  it('reads the launch template and the probe and status-check timing, with their defaults', () => {
    const config = parseConfig({
      ...base,
      probeIntervalMinutes: undefined,
      statusCheckMinutes: undefined,
      replacementLaunchTemplate: { launchTemplateName: 'ocp311-etcd' },
    });
    expect(config.probeIntervalMinutes).toBe(2);
    expect(config.statusCheckMinutes).toBe(2);
    expect(config.replacementLaunchTemplate).toEqual({ launchTemplateName: 'ocp311-etcd', version: '$Default' });
    expect(parseConfig(base).replacementLaunchTemplate).toEqual({
      launchTemplateId: 'lt-0123456789abcdef0',
      version: '$Default',
      instanceRoleArn: 'arn:aws:iam::123456789012:role/ocp311-etcd-host',
    });
    expect(parseConfig({ ...base, replacementLaunchTemplate: undefined }).replacementLaunchTemplate).toBeUndefined();
  });

  it('refuses a launch template named both ways or neither, an unknown key in it, and bad values', () => {
    expect(() => parseConfig({ ...base, replacementLaunchTemplate: { launchTemplateId: 'lt-0123456789abcdef0', launchTemplateName: 'x-y-z' } })).toThrow(
      /exactly one/,
    );
    expect(() => parseConfig({ ...base, replacementLaunchTemplate: { version: '$Latest' } })).toThrow(/replacementLaunchTemplate/);
    expect(() => parseConfig({ ...base, replacementLaunchTemplate: { launchTemplateId: 'lt-0123456789abcdef0', subnet: 'subnet-0123456789abcdef0' } })).toThrow(
      /unknown key "subnet".*did you mean "subnetId"/,
    );
    expect(() => parseConfig({ ...base, replacementLaunchTemplate: { launchTemplateId: 'template-1' } })).toThrow(/launchTemplateId/);
    expect(() =>
      parseConfig({ ...base, replacementLaunchTemplate: { launchTemplateId: 'lt-0123456789abcdef0', instanceRoleArn: 'ocp311-etcd-host' } }),
    ).toThrow(/instanceRoleArn/);
    expect(() => parseConfig({ ...base, probeIntervalMinutes: 0 })).toThrow(/probeIntervalMinutes/);
  });
});

describe('Function: probeTiming', () => {
  it('counts member alarms in probes and the probe alarm in at least two silent periods', () => {
    expect(probeTiming({ alarmMinutes: 3, probeIntervalMinutes: 1 })).toEqual({ intervalMinutes: 1, memberPeriods: 3, silentPeriods: 5 });
    expect(probeTiming({ alarmMinutes: 3, probeIntervalMinutes: 2 })).toEqual({ intervalMinutes: 2, memberPeriods: 2, silentPeriods: 3 });
    expect(probeTiming({ alarmMinutes: 3, probeIntervalMinutes: 5 })).toEqual({ intervalMinutes: 5, memberPeriods: 1, silentPeriods: 2 });
  });
});
