// EtcdReplacement: everything that replaces a failed etcd member of one OpenShift 3.11 cluster on AWS,
// as one construct to put into any CDK stack (lib/replacement-stack.ts is the thin stack around it):
//
// - the workflow compiled from the XState model as a Standard state machine, one Lambda per task state;
// - the artifact bucket, the KMS key, the lock and run table (which also holds the audit trail);
// - the health probe, an alarm per member, and the rule that starts a run when one fires;
// - EC2's own failure signals: an EC2 system status-check alarm per member (the same rule), and the state
//   changes of the cluster's etcd instances (stopping, stopped, shutting-down, terminated) through a small
//   function that reads the instance's tags (EventBridge cannot match on them) and starts the run;
// - what a run that launches its replacement host may do: RunInstances from the configured launch
//   template only, with the run's tags only; TerminateInstances only on an instance it launched;
// - the audit trail: a function that writes each execution's record on every status change, and takes
//   the principal that started it from CloudTrail;
// - outcome notifications to an SNS topic, the stack's own alarms (failed and refused runs, the probe,
//   the audit writer and the notifier) on the same topic, and a CloudWatch dashboard.
//
// Every resource carries the tag etcd-replace:cluster = clusterName, and the configuration's `tags`.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, Duration, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { compileAsl, functionArnPlaceholder, functionArnSubstitutionKey } from '../statemachine/asl.ts';
import { replaceMemberMachine, specOf } from '../statemachine/machine.ts';
import type { TaskSpec } from '../statemachine/spec.ts';
import { HEALTH_METRIC, memberDimensions, PROBE_FAILED_METRIC } from '../functions/handlers/healthProbe.ts';
import { METRICS, SERVICE_NAME } from '../functions/handlers/observability.ts';
import { TABLE_SCHEMA } from '../functions/adapters/aws/dynamoTable.ts';
import { FAILURE_STATES } from '../functions/adapters/aws/ec2Signals.ts';
import { DEFAULT_TAG_KEYS } from '../functions/adapters/aws/discovery.ts';
import { LAUNCHED_BY_TAG, LAUNCHED_BY_VALUE, REPLACED_BY_TAG, RUN_TAG } from '../functions/adapters/aws/launchTags.ts';
import { memberAlarmPrefix, statusAlarmDescription, statusAlarmName, statusAlarmSettings, watchedAlarmPattern } from '../functions/adapters/aws/statusAlarms.ts';
import type { DeploymentConfig } from './config.ts';

/** The repository root: entries, scripts and the lock file are found from here. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Lambda's own limit on a function's timeout. */
const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
/** A step Lambda may run this much longer than its state's TimeoutSeconds (cold start, SDK setup). */
const LAMBDA_TIMEOUT_MARGIN_SECONDS = 30;
export const METRIC_NAMESPACE = 'EtcdReplace';
/** The tag every resource carries, with the cluster's name. */
export const CLUSTER_RESOURCE_TAG = 'etcd-replace:cluster';
/** The state machine's tag naming its run table, where the audit records are (cli/auditHistory.ts reads it). */
export const RUN_TABLE_TAG = 'etcd-replace:run-table';

/** Key prefixes of the artifact bucket, each with its own lifetime. */
export const ARTIFACT_PREFIXES = {
  /** The artifact store's prefix (ARTIFACT_PREFIX): each run's snapshot, backups and bundle under runs/<runId>/. */
  artifacts: 'etcd-replace/',
  /** Full SSM command output when it exceeds what GetCommandInvocation returns inline. */
  ssmOutput: 'ssm-output/',
} as const;

/** Names of the alarms this construct creates, besides one per member (`etcd-replace-<cluster>-member-<name>`). */
export function operationalAlarmNames(cluster: string) {
  return {
    runFailed: `etcd-replace-${cluster}-run-failed`,
    runRefused: `etcd-replace-${cluster}-run-refused`,
    probe: `etcd-replace-${cluster}-probe`,
    audit: `etcd-replace-${cluster}-audit`,
    notify: `etcd-replace-${cluster}-notify`,
  };
}

export interface EtcdReplacementProps {
  /** The cluster's configuration: parseConfig() of lib/config.ts checks it against its JSON Schema. */
  config: DeploymentConfig;
}

/**
 * The probe's schedule and what its alarms count: a member alarm after ceil(alarmMinutes / interval)
 * unhealthy probes in a row; the probe alarm after no sample in max(2, ceil(5 / interval)) periods (two
 * at least, so one invocation that lands in the next period never looks like a silent probe).
 */
export function probeTiming(config: Pick<DeploymentConfig, 'alarmMinutes' | 'probeIntervalMinutes'>): { intervalMinutes: number; memberPeriods: number; silentPeriods: number } {
  const intervalMinutes = config.probeIntervalMinutes;
  return {
    intervalMinutes,
    memberPeriods: Math.max(1, Math.ceil(config.alarmMinutes / intervalMinutes)),
    silentPeriods: Math.max(2, Math.ceil(5 / intervalMinutes)),
  };
}

/** The Lambda timeout of a task: its state's timeout plus a margin, within Lambda's limit. */
export function lambdaTimeoutSeconds(task: TaskSpec): number {
  return Math.min(LAMBDA_MAX_TIMEOUT_SECONDS, task.timeoutSeconds + LAMBDA_TIMEOUT_MARGIN_SECONDS);
}

/** Local esbuild (no Docker), the host scripts copied beside the bundle for SSM to send. */
function bundling(): BundlingOptions {
  const scripts = join(PROJECT_ROOT, 'functions/scripts');
  return {
    forceDockerBundling: false,
    format: OutputFormat.CJS,
    target: 'node22',
    minify: true,
    // Error classes must keep their names: Lambda reports errorType = error.name (set from the class
    // name, functions/errors.ts) and the state machine's Retry and Catch match on it.
    keepNames: true,
    sourceMap: true,
    sourcesContent: false,
    // Bundle the pinned AWS SDK clients the code was tested with, not the runtime's copy.
    bundleAwsSDK: true,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      // From this package's own directory, wherever the app that uses the construct lives.
      afterBundling: (_inputDir: string, outputDir: string) => [
        `mkdir -p "${outputDir}/scripts/lib"`,
        `cp "${scripts}/"*.sh "${outputDir}/scripts/"`,
        `cp "${scripts}/lib/"*.sh "${outputDir}/scripts/lib/"`,
      ],
    },
  };
}

/** Where NodejsFunction finds the lock file: this package's, or (installed without one) the app's. */
function projectFiles(): { projectRoot?: string; depsLockFilePath?: string } {
  const lock = join(PROJECT_ROOT, 'package-lock.json');
  return existsSync(lock) ? { projectRoot: PROJECT_ROOT, depsLockFilePath: lock } : {};
}

export class EtcdReplacement extends Construct {
  readonly config: DeploymentConfig;
  readonly stateMachine: sfn.StateMachine;
  readonly stepFunctions: Record<string, NodejsFunction>;
  readonly healthProbe: NodejsFunction;
  readonly notifier: NodejsFunction;
  readonly auditRecorder: NodejsFunction;
  readonly artifactBucket: s3.Bucket;
  /** Locks, and the audit record of every execution (and what each step reported). */
  readonly table: dynamodb.Table;
  readonly key: kms.Key;
  readonly outcomeTopic: sns.Topic;
  /** One per member: ALARM starts a replacement of that member. */
  readonly alarms: cloudwatch.Alarm[];
  /** One per member on its EC2 system status check: ALARM starts a replacement of that member. */
  readonly statusCheckAlarms: cloudwatch.Alarm[];
  /** Starts a replacement when a member's instance stops or terminates; keeps status-check alarms on members the configuration does not list yet. */
  readonly ec2Signal: NodejsFunction;
  /** Failed and refused runs, the probe, the audit writer and the notifier; each notifies the outcome topic. */
  readonly operationalAlarms: Record<keyof ReturnType<typeof operationalAlarmNames>, cloudwatch.Alarm>;
  readonly dashboard: cloudwatch.Dashboard;
  readonly stepLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: EtcdReplacementProps) {
    super(scope, id);
    // Whatever the host app's feature flags: the artifact bucket's access logs are delivered under a
    // bucket policy, not an ACL (the log bucket enforces bucket-owner object ownership, no ACLs).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const { config } = props;
    this.config = config;
    const cluster = config.clusterName;
    const stateMachineName = `etcd-replace-${cluster}`;
    // Built from the fixed name, so the step functions can be given it without a reference cycle.
    const stateMachineArn = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:${stateMachineName}`;
    const executionsArn = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${stateMachineName}:*`;
    const alarmPrefix = memberAlarmPrefix(cluster);
    const observability = {
      CLUSTER_NAME: cluster,
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    };
    const watched = JSON.stringify(config.members);

    Tags.of(this).add(CLUSTER_RESOURCE_TAG, cluster);
    for (const [key, value] of Object.entries(config.tags ?? {})) Tags.of(this).add(key, value);

    // Encryption and storage ------------------------------------------------------------------

    this.key = new kms.Key(this, 'Key', {
      description: `etcd-replace ${cluster}: artifacts, run records and notifications`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // EventBridge publishes run outcomes, and CloudWatch the stack's alarms, to the encrypted topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com'), new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );

    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the artifact bucket\'s server access logs; logging it into itself would loop.',
    });

    this.artifactBucket = new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      // Snapshots, data backups and certificate bundles of a run expire together; an object the
      // workflow deletes (a bundle once the new member has started) leaves a noncurrent version that
      // is gone a day later.
      lifecycleRules: [
        {
          id: 'run-artifacts',
          prefix: ARTIFACT_PREFIXES.artifacts,
          expiration: Duration.days(config.snapshotRetentionDays),
          noncurrentVersionExpiration: Duration.days(1),
        },
        { id: 'ssm-output', prefix: ARTIFACT_PREFIXES.ssmOutput, expiration: Duration.days(30), noncurrentVersionExpiration: Duration.days(1) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Locks, audit records and step details, as functions/adapters/aws/dynamoTable.ts and auditStore.ts
    // lay them out. TTL deletes finished records runRetentionDays after they ended.
    this.table = new dynamodb.Table(this, 'Runs', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE_SCHEMA.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of Object.values(TABLE_SCHEMA.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    // Step Lambdas ----------------------------------------------------------------------------

    this.stepLogs = new logs.LogGroup(this, 'StepLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    const stepRole = new iam.Role(this, 'StepRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: the workflow's step functions`,
    });
    this.stepLogs.grantWrite(stepRole);
    this.grantRunCommand(stepRole, config, { includeSparePool: true });
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DiscoverHostsAndGroups',
        actions: ['ec2:DescribeInstances', 'ec2:DescribeSecurityGroups', 'ec2:DescribeSecurityGroupRules', 'ec2:DescribeTags'],
        resources: ['*'],
      }),
    );
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'OpenEtcdPortsOnClusterGroups',
        actions: ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress'],
        resources: [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:security-group/*`],
        conditions: { StringEquals: { [`aws:ResourceTag/${config.clusterTagKey}`]: cluster } },
      }),
    );
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ArtifactObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [this.artifactBucket.arnForObjects('*')],
      }),
    );
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ArtifactListing', actions: ['s3:ListBucket', 's3:ListBucketVersions'], resources: [this.artifactBucket.bucketArn] }),
    );
    // A key bundle (the new member's private keys) leaves no noncurrent version behind: its versions
    // are deleted one by one. Only bundles: every other artifact keeps its versions until the lifecycle.
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KeyBundleVersions',
        actions: ['s3:DeleteObjectVersion'],
        resources: [this.artifactBucket.arnForObjects(`${ARTIFACT_PREFIXES.artifacts}runs/*/bundle-*`)],
      }),
    );
    // The steps write only the cluster's lock and what each step reported: never an audit record.
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LockAndStepDetails',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['lock#*', 'steps#*'] } },
      }),
    );
    // Earlier runs on the cluster (a member an earlier run removed), read from the audit records.
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadPastRuns', actions: ['dynamodb:Query'], resources: [`${this.table.tableArn}/index/${TABLE_SCHEMA.indexes.byCluster.name}`] }),
    );
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptArtifactsAndRecords',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [this.key.keyArn],
      }),
    );

    // What functions/adapters/aws/deps.ts and functions/handlers/step.ts read.
    const environment: Record<string, string> = {
      ...observability,
      CLUSTER_TAG_KEY: config.clusterTagKey,
      SPARE_TAG_KEY: config.spareTagKey,
      ETCD_SG_ID: config.etcdSecurityGroupId,
      BUCKET: this.artifactBucket.bucketName,
      KMS_KEY_ID: this.key.keyArn,
      ARTIFACT_PREFIX: ARTIFACT_PREFIXES.artifacts,
      TABLE: this.table.tableName,
      RUN_RETENTION_DAYS: String(config.runRetentionDays),
      STATE_MACHINE_ARN: stateMachineArn,
      SCRIPTS_DIR: '/var/task/scripts',
    };
    if (config.ssmOutputToBucket) {
      environment['OUTPUT_BUCKET'] = this.artifactBucket.bucketName;
      environment['OUTPUT_PREFIX'] = ARTIFACT_PREFIXES.ssmOutput;
    }
    const template = config.replacementLaunchTemplate;
    if (template) {
      if (template.launchTemplateId) environment['LAUNCH_TEMPLATE_ID'] = template.launchTemplateId;
      if (template.launchTemplateName) environment['LAUNCH_TEMPLATE_NAME'] = template.launchTemplateName;
      environment['LAUNCH_TEMPLATE_VERSION'] = template.version;
      if (template.subnetId) environment['REPLACEMENT_SUBNET_ID'] = template.subnetId;
    }
    this.grantLaunch(stepRole, config);

    const taskNames = Object.keys(replaceMemberMachine.root.states).filter((name) => specOf(replaceMemberMachine, name).kind === 'task');
    this.stepFunctions = {};
    for (const name of taskNames) {
      const spec = specOf(replaceMemberMachine, name) as TaskSpec;
      this.stepFunctions[name] = this.handlerFunction(`Step${name}`, {
        description: `etcd-replace ${cluster}: ${name}`,
        handlerFile: 'step.ts',
        memorySize: 512,
        timeout: Duration.seconds(lambdaTimeoutSeconds(spec)),
        role: stepRole,
        logGroup: this.stepLogs,
        environment: { ...environment, STEP_NAME: name },
      });
    }

    // State machine ---------------------------------------------------------------------------

    // includeExecutionData is false: with it, every state's input and output (the whole workflow
    // context: hosts, addresses, artifact keys) would be copied into CloudWatch Logs. The context holds
    // no key material by design; keeping payloads out of the log group as well means the execution
    // history and the audit record, each under its own IAM, are where run data can be read.
    const machineLogs = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const asl = compileAsl(replaceMemberMachine, { functionArn: functionArnPlaceholder });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(asl)),
      definitionSubstitutions: Object.fromEntries(taskNames.map((name) => [functionArnSubstitutionKey(name), this.stepFunctions[name]!.functionArn])),
      logs: { destination: machineLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // `etcd-replace history --target aws --state-machine-arn ARN` finds the audit records through this tag.
    Tags.of(this.stateMachine).add(RUN_TABLE_TAG, this.table.tableName, { includeResourceTypes: ['AWS::StepFunctions::StateMachine'] });
    // The compiled tasks invoke the unqualified function ARNs: no version or alias wildcard needed.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'InvokeStepFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: taskNames.map((name) => this.stepFunctions[name]!.functionArn),
      }),
    );

    // Health probe and alarms -----------------------------------------------------------------

    const probeLogs = new logs.LogGroup(this, 'ProbeLogs', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.RETAIN });
    const probeRole = new iam.Role(this, 'ProbeRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: the etcd health probe`,
    });
    probeLogs.grantWrite(probeRole);
    this.grantRunCommand(probeRole, config, { includeSparePool: false });
    probeRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishHealthMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );
    this.healthProbe = this.handlerFunction('HealthProbe', {
      description: `etcd-replace ${cluster}: etcd member health metrics`,
      handlerFile: 'healthProbe.ts',
      memorySize: 256,
      timeout: Duration.seconds(55),
      role: probeRole,
      logGroup: probeLogs,
      environment: { ...observability, METRIC_NAMESPACE, MEMBERS: watched, SCRIPTS_DIR: '/var/task/scripts' },
    });
    const probe = probeTiming(config);
    new events.Rule(this, 'ProbeSchedule', {
      description: `etcd-replace ${cluster}: run the etcd health probe every ${probe.intervalMinutes === 1 ? 'minute' : `${probe.intervalMinutes} minutes`}`,
      schedule: events.Schedule.rate(Duration.minutes(probe.intervalMinutes)),
      targets: [new targets.LambdaFunction(this.healthProbe, { retryAttempts: 0 })],
    });

    const memberHealth = (member: DeploymentConfig['members'][number]) =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: HEALTH_METRIC,
        dimensionsMap: Object.fromEntries(memberDimensions(cluster, member).map((d) => [d.Name, d.Value])),
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(probe.intervalMinutes),
      });
    this.alarms = config.members.map(
      (member) =>
        new cloudwatch.Alarm(this, `MemberAlarm-${member.name}`, {
          alarmName: `${alarmPrefix}${member.name}`,
          alarmDescription: `etcd member ${member.hostname} (${member.instanceId}) of ${cluster} has not been healthy in ${probe.memberPeriods} probe(s) in a row (${probe.memberPeriods * probe.intervalMinutes} minutes); ALARM starts a replacement`,
          metric: memberHealth(member),
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          threshold: 1,
          evaluationPeriods: probe.memberPeriods,
          datapointsToAlarm: probe.memberPeriods,
          // No data means the probe could not ask etcd at all, not that this member failed: a broken
          // probe must not start replacements (the probe alarm below says the probe is broken).
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );

    // EC2's own signal: the system status check, which EC2 runs on every running instance every minute
    // (hardware, power, network of the host). Its ALARM goes through the same rule as the probe's alarms:
    // the rule's input names the failed member by the alarm's InstanceId dimension.
    const status = statusAlarmSettings(config.statusCheckMinutes);
    this.statusCheckAlarms = config.members.map(
      (member) =>
        new cloudwatch.Alarm(this, `StatusCheckAlarm-${member.name}`, {
          alarmName: statusAlarmName(cluster, member.name),
          alarmDescription: statusAlarmDescription(cluster, member, config.statusCheckMinutes),
          metric: new cloudwatch.Metric({
            namespace: status.namespace,
            metricName: status.metricName,
            dimensionsMap: { InstanceId: member.instanceId },
            statistic: cloudwatch.Stats.MAXIMUM,
            period: Duration.seconds(status.periodSeconds),
          }),
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          threshold: status.threshold,
          evaluationPeriods: status.evaluationPeriods,
          datapointsToAlarm: status.datapointsToAlarm,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );

    // Alarm trigger ---------------------------------------------------------------------------

    // EventBridge delivers "CloudWatch Alarm State Change" at least once and cannot name the execution.
    // A duplicate delivery starts a second execution, whose AcquireLock finds the first run's lock and
    // ends Refused (LockHeldError) before it changes anything: the lock is the deduplication.
    new events.Rule(this, 'AlarmTrigger', {
      description: `etcd-replace ${cluster}: a member alarm in ALARM starts a replacement of that member`,
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: {
          alarmName: events.Match.prefix(alarmPrefix),
          state: { value: ['ALARM'] },
        },
      },
      targets: [
        new targets.SfnStateMachine(this.stateMachine, {
          input: events.RuleTargetInput.fromObject({
            cluster,
            // The instance ID: discovery finds the instance in any state, even stopped or terminated.
            failed: events.EventField.fromPath('$.detail.configuration.metrics[0].metricStat.metric.dimensions.InstanceId'),
            replacement: config.alarmReplacement,
            startedBy: `alarm:${events.EventField.fromPath('$.detail.alarmName')}`,
            options: { graceSeconds: config.alarmGraceSeconds, learner: 'auto' },
          }),
          retryAttempts: 8,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });

    // EC2 state changes ---------------------------------------------------------------------------

    // EventBridge cannot match on tags, so the rule sends the state changes of every instance of the
    // account and region; the function reads each instance and acts only on an etcd member of this cluster
    // (functions/adapters/aws/ec2Signals.ts). Its execution name is the CLI's per-hour default: stopping
    // then stopped, or a redelivered event, start one execution.
    const signalLogs = new logs.LogGroup(this, 'SignalLogs', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.RETAIN });
    const signalRole = new iam.Role(this, 'SignalRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: EC2 state changes of the etcd members, and their status-check alarms`,
    });
    signalLogs.grantWrite(signalRole);
    signalRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadInstanceTags', actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    signalRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'StartReplacement', actions: ['states:StartExecution'], resources: [stateMachineArn] }));
    // A replaced member's instance is marked so its later stop or termination starts nothing: that one
    // tag, on instances of this cluster only.
    signalRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'MarkReplacedMember',
        actions: ['ec2:CreateTags'],
        resources: [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`],
        conditions: {
          StringEquals: { [`aws:ResourceTag/${config.clusterTagKey}`]: cluster },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [REPLACED_BY_TAG] },
        },
      }),
    );
    // The new member's instance (a spare of this cluster's pool, or launched for a run) becomes an etcd
    // member of the cluster after a successful run: the cluster tag and the etcd role, nothing else.
    signalRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EnrolNewMember',
        actions: ['ec2:CreateTags'],
        resources: [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`],
        conditions: {
          StringEquals: {
            [`aws:ResourceTag/${config.spareTagKey}`]: cluster,
            [`aws:RequestTag/${config.clusterTagKey}`]: cluster,
            [`aws:RequestTag/${DEFAULT_TAG_KEYS.role}`]: 'etcd',
          },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [config.clusterTagKey, DEFAULT_TAG_KEYS.role] },
        },
      }),
    );
    const alarmArn = (name: string) => `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${name}`;
    // Listing alarms by name prefix is authorized against every alarm (alarm:*), not the prefix: read only.
    signalRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ListMemberAlarms', actions: ['cloudwatch:DescribeAlarms'], resources: [alarmArn('*')] }));
    // Only the run-time status-check alarms (names the stack's own alarms never have), and with no action:
    // their ALARM state reaches the alarm rule as an event.
    signalRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KeepStatusCheckAlarms',
        actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'],
        resources: [alarmArn(watchedAlarmPattern(cluster))],
        conditions: { Null: { 'cloudwatch:AlarmActions': 'true' } },
      }),
    );
    this.ec2Signal = this.handlerFunction('Ec2Signal', {
      description: `etcd-replace ${cluster}: EC2 state changes of the etcd members, and their status-check alarms`,
      handlerFile: 'ec2Signal.ts',
      memorySize: 256,
      timeout: Duration.seconds(30),
      role: signalRole,
      logGroup: signalLogs,
      environment: {
        ...observability,
        CLUSTER_TAG_KEY: config.clusterTagKey,
        STATE_MACHINE_ARN: stateMachineArn,
        GRACE_SECONDS: String(config.alarmGraceSeconds),
        STATUS_CHECK_MINUTES: String(config.statusCheckMinutes),
        MEMBERS: watched,
      },
    });
    new events.Rule(this, 'Ec2StateTrigger', {
      description: `etcd-replace ${cluster}: an etcd member of ${cluster} stopping or terminating starts its replacement (other instances are ignored)`,
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EC2 Instance State-change Notification'],
        detail: { state: [...FAILURE_STATES] },
      },
      targets: [new targets.LambdaFunction(this.ec2Signal, { retryAttempts: 4, maxEventAge: Duration.hours(1) })],
    });
    new events.Rule(this, 'WatchReplacedMembers', {
      description: `etcd-replace ${cluster}: after a successful run, status-check alarms on the members the configuration does not list yet`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [this.stateMachine.stateMachineArn], status: ['SUCCEEDED'] },
      },
      targets: [new targets.LambdaFunction(this.ec2Signal, { retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });

    // Run outcomes ----------------------------------------------------------------------------

    this.outcomeTopic = new sns.Topic(this, 'Outcomes', {
      displayName: `etcd-replace ${cluster} run outcomes`,
      masterKey: this.key,
      enforceSSL: true,
    });
    if (config.notificationEmail) this.outcomeTopic.addSubscription(new subscriptions.EmailSubscription(config.notificationEmail));
    // A small function writes the message: how the run ended in the workflow's words (refused is not
    // failed), the member replaced and its replacement, the timeline, the reason and what is left for a
    // person. It reads the execution history and sends only named fields: the execution's input and
    // output stay in the execution history and the audit record.
    const notifyLogs = new logs.LogGroup(this, 'NotifyLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    const notifyRole = new iam.Role(this, 'NotifyRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: run-outcome notifications`,
    });
    notifyLogs.grantWrite(notifyRole);
    notifyRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'PublishOutcome', actions: ['sns:Publish'], resources: [this.outcomeTopic.topicArn] }));
    notifyRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'EncryptOutcome', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.key.keyArn] }));
    notifyRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadFinalContext', actions: ['states:GetExecutionHistory'], resources: [executionsArn] }));
    // What each step reported (a step that found its work done is named skipped in the timeline).
    const readStepDetails = new iam.PolicyStatement({
      sid: 'ReadStepDetails',
      actions: ['dynamodb:Query'],
      resources: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['steps#*'] } },
    });
    notifyRole.addToPrincipalPolicy(readStepDetails);
    this.notifier = this.handlerFunction('NotifyOutcome', {
      description: `etcd-replace ${cluster}: run-outcome notifications`,
      handlerFile: 'notifyOutcome.ts',
      memorySize: 256,
      timeout: Duration.seconds(30),
      role: notifyRole,
      logGroup: notifyLogs,
      environment: { ...observability, TOPIC_ARN: this.outcomeTopic.topicArn, MEMBERS: watched, TABLE: this.table.tableName },
    });
    new events.Rule(this, 'RunOutcome', {
      description: `etcd-replace ${cluster}: notify when a run ends`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [this.stateMachine.stateMachineArn],
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
      targets: [new targets.LambdaFunction(this.notifier, { retryAttempts: 4, maxEventAge: Duration.hours(6) })],
    });

    // Audit trail -----------------------------------------------------------------------------

    const auditLogs = new logs.LogGroup(this, 'AuditLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    const auditRole = new iam.Role(this, 'AuditRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: the audit record of every execution`,
    });
    auditLogs.grantWrite(auditRole);
    auditRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadExecutions', actions: ['states:DescribeExecution', 'states:GetExecutionHistory'], resources: [executionsArn] }));
    // A contender for the cluster lock asks whether the holder's execution still runs (executionLiveness.ts).
    stepRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'LockHolderLiveness', actions: ['states:DescribeExecution'], resources: [executionsArn] }));
    auditRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteAuditRecords',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['run#*'] } },
      }),
    );
    auditRole.addToPrincipalPolicy(readStepDetails);
    auditRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'EncryptRecords', actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'], resources: [this.key.keyArn] }));
    auditRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'FindWhoStartedIt', actions: ['cloudtrail:LookupEvents'], resources: ['*'] }));
    auditRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadMemberAlarmHistory',
        actions: ['cloudwatch:DescribeAlarmHistory'],
        resources: [`arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${alarmPrefix}*`],
      }),
    );
    this.auditRecorder = this.handlerFunction('AuditRecorder', {
      description: `etcd-replace ${cluster}: the audit record of every execution`,
      handlerFile: 'auditRecorder.ts',
      memorySize: 256,
      timeout: Duration.seconds(60),
      role: auditRole,
      logGroup: auditLogs,
      environment: { ...observability, TABLE: this.table.tableName, STATE_MACHINE_ARN: stateMachineArn, RUN_RETENTION_DAYS: String(config.runRetentionDays), MEMBERS: watched },
    });
    new events.Rule(this, 'AuditTrail', {
      description: `etcd-replace ${cluster}: record every status change of every execution`,
      eventPattern: { source: ['aws.states'], detailType: ['Step Functions Execution Status Change'], detail: { stateMachineArn: [this.stateMachine.stateMachineArn] } },
      targets: [new targets.LambdaFunction(this.auditRecorder, { retryAttempts: 8, maxEventAge: Duration.hours(12) })],
    });
    // Only where the account has a CloudTrail trail does EventBridge receive API calls; without one the
    // recorder asks CloudTrail's event history once the execution has ended.
    new events.Rule(this, 'AuditStartedBy', {
      description: `etcd-replace ${cluster}: record who called StartExecution (CloudTrail)`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['states.amazonaws.com'], eventName: ['StartExecution'], requestParameters: { stateMachineArn: [this.stateMachine.stateMachineArn] } },
      },
      targets: [new targets.LambdaFunction(this.auditRecorder, { retryAttempts: 8, maxEventAge: Duration.hours(12) })],
    });

    // The stack's own alarms, and the dashboard -------------------------------------------------

    this.operationalAlarms = this.createOperationalAlarms(cluster, config);
    this.dashboard = this.createDashboard(cluster, config, memberHealth);

    this.acknowledgeFindings(stepRole, probeRole, notifyRole, auditRole, stateMachineName, alarmPrefix);
    this.acknowledgeEc2Findings(stepRole, signalRole, config, alarmPrefix);
  }

  /** One of the construct's functions: a handler of functions/handlers/, bundled as above, on nodejs22.x arm64 with tracing. */
  private handlerFunction(
    id: string,
    props: { description: string; handlerFile: string; memorySize: number; timeout: Duration; role: iam.IRole; logGroup: logs.ILogGroup; environment: Record<string, string> },
  ): NodejsFunction {
    return new NodejsFunction(this, id, {
      description: props.description,
      entry: join(PROJECT_ROOT, 'functions/handlers', props.handlerFile),
      handler: 'handler',
      ...projectFiles(),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: props.role,
      logGroup: props.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: props.environment,
      bundling: bundling(),
    });
  }

  /** A metric the audit recorder publishes for finished runs of one outcome (no label: an alarm on a labelled metric becomes a metric-math alarm). */
  private runMetric(name: string, outcome: string, statistic: string, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { ClusterName: this.config.clusterName, Outcome: outcome },
      statistic,
      period,
    });
  }

  private createOperationalAlarms(cluster: string, config: DeploymentConfig): EtcdReplacement['operationalAlarms'] {
    const names = operationalAlarmNames(cluster);
    const fiveMinutes = Duration.minutes(5);
    const onRun = (id: string, alarmName: string, outcome: string, what: string) =>
      new cloudwatch.Alarm(this, id, {
        alarmName,
        alarmDescription: `A replacement run of ${cluster} ended ${what}. The outcome notification names the run and the reason; \`etcd-replace history --target aws\` shows its audit record.`,
        metric: this.runMetric(METRICS.runs, outcome, cloudwatch.Stats.SUM, fiveMinutes),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const onErrors = (id: string, alarmName: string, fn: NodejsFunction, what: string) =>
      new cloudwatch.Alarm(this, id, {
        alarmName,
        alarmDescription: `${what} of ${cluster} failed (after EventBridge's retries it may be lost); see its log group.`,
        metric: fn.metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const first = config.members[0]!;
    const probe = probeTiming(config);
    const alarms = {
      runFailed: onRun('RunFailedAlarm', names.runFailed, 'failed', 'failed (or timed out, or was stopped)'),
      runRefused: onRun('RunRefusedAlarm', names.runRefused, 'refused', 'refused: nothing unsafe was done, and the member is not replaced'),
      // The probe publishes every member's value each minute it can ask etcd at all: no sample means it
      // did not run, failed, or reached no member host (then member alarms cannot fire either).
      probe: new cloudwatch.Alarm(this, 'ProbeAlarm', {
        alarmName: names.probe,
        alarmDescription: `The etcd health probe of ${cluster} has published no member health for ${probe.silentPeriods * probe.intervalMinutes} minutes: it is not running, fails (ProbeFailed, errors in its log group), or reaches no member host through SSM. While it does, no member alarm can start a replacement.`,
        metric: new cloudwatch.Metric({
          namespace: METRIC_NAMESPACE,
          metricName: HEALTH_METRIC,
          dimensionsMap: Object.fromEntries(memberDimensions(cluster, first).map((d) => [d.Name, d.Value])),
          statistic: cloudwatch.Stats.SAMPLE_COUNT,
          period: Duration.minutes(probe.intervalMinutes),
        }),
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        threshold: 1,
        evaluationPeriods: probe.silentPeriods,
        datapointsToAlarm: probe.silentPeriods,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      audit: onErrors('AuditAlarm', names.audit, this.auditRecorder, 'Writing the audit record of an execution'),
      notify: onErrors('NotifyAlarm', names.notify, this.notifier, 'Sending a run-outcome notification'),
    };
    const action = new cwActions.SnsAction(this.outcomeTopic);
    for (const alarm of Object.values(alarms)) alarm.addAlarmAction(action);
    return alarms;
  }

  private createDashboard(cluster: string, config: DeploymentConfig, memberHealth: (m: DeploymentConfig['members'][number]) => cloudwatch.Metric): cloudwatch.Dashboard {
    const day = Duration.days(1);
    const outcomes = ['succeeded', 'refused', 'failed'];
    const stepSearch = `SEARCH('{${METRIC_NAMESPACE},ClusterName,Step} MetricName="${METRICS.stepDuration}" ClusterName="${cluster}"', 'Maximum', 300)`;
    const probe = probeTiming(config);
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `etcd-replace-${cluster}`, defaultInterval: Duration.days(7) });
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: [
          `# etcd-replace ${cluster}`,
          `Member health comes from the probe every ${probe.intervalMinutes === 1 ? 'minute' : `${probe.intervalMinutes} minutes`}; a member unhealthy in ${probe.memberPeriods} probe(s) in a row, a failed EC2 system status check for ${config.statusCheckMinutes} minutes, or its instance stopping or terminating starts a replacement.`,
          'Runs: `etcd-replace history --target aws --state-machine-arn ARN` (audit records), and the state machine\'s executions.',
        ].join('\n\n'),
        width: 12,
        height: 4,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms, ...this.statusCheckAlarms, ...Object.values(this.operationalAlarms)], width: 12, height: 4 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Member health (1 healthy, 0 not)', left: config.members.map((m) => memberHealth(m).with({ label: m.name })), leftYAxis: { min: 0, max: 1 }, width: 12 }),
      new cloudwatch.GraphWidget({
        title: 'Health probe',
        left: [this.healthProbe.metricInvocations({ period: Duration.minutes(5) }), this.healthProbe.metricErrors({ period: Duration.minutes(5) })],
        right: [
          new cloudwatch.Metric({
            namespace: METRIC_NAMESPACE,
            metricName: PROBE_FAILED_METRIC,
            dimensionsMap: { ClusterName: cluster },
            statistic: cloudwatch.Stats.SUM,
            period: Duration.minutes(5),
            label: 'ProbeFailed',
          }),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Runs by outcome (per day)', left: outcomes.map((o) => this.runMetric(METRICS.runs, o, cloudwatch.Stats.SUM, day).with({ label: o })), width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Run duration (s)', left: outcomes.map((o) => this.runMetric(METRICS.runDuration, o, cloudwatch.Stats.MAXIMUM, day).with({ label: o })), width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Executions (Step Functions)',
        left: [
          this.stateMachine.metricStarted({ period: day }),
          this.stateMachine.metricSucceeded({ period: day }),
          this.stateMachine.metricFailed({ period: day }),
          this.stateMachine.metricTimedOut({ period: day }),
          this.stateMachine.metricAborted({ period: day }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Step duration (ms), each step', left: [new cloudwatch.MathExpression({ expression: stepSearch, label: '', period: Duration.minutes(5) })], width: 12 }),
      new cloudwatch.LogQueryWidget({
        title: 'Step errors (newest first)',
        logGroupNames: [this.stepLogs.logGroupName],
        queryLines: ['fields @timestamp, runId, step, error, message', 'filter level = "ERROR"', 'sort @timestamp desc', 'limit 50'],
        width: 12,
      }),
    );
    return dashboard;
  }

  /**
   * What a run that launches its replacement host may do, and no more: RunInstances from the configured
   * launch template only, the instance and its volumes carrying the spare tag, the run tag and
   * `etcd-replace:launched-by` at creation (tags only as part of RunInstances); pass only the template's
   * instance role, only to EC2; terminate only an instance carrying `etcd-replace:launched-by` and the
   * spare tag. Without a launch template nothing is launched: only the termination is granted (harmless:
   * no instance carries those tags but one a run launched).
   */
  private grantLaunch(role: iam.Role, config: DeploymentConfig): void {
    const ec2Arn = (resource: string, account: string = Aws.ACCOUNT_ID) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${account}:${resource}`;
    const cluster = config.clusterName;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TerminateLaunchedHosts',
        actions: ['ec2:TerminateInstances'],
        resources: [ec2Arn('instance/*')],
        conditions: { StringEquals: { [`aws:ResourceTag/${LAUNCHED_BY_TAG}`]: LAUNCHED_BY_VALUE, [`aws:ResourceTag/${config.spareTagKey}`]: cluster } },
      }),
    );
    const template = config.replacementLaunchTemplate;
    if (!template) return;
    // With an ID, exactly that template; with a name (the ARN carries the ID), any template tagged for the cluster's spare pool.
    const templateArn = ec2Arn(`launch-template/${template.launchTemplateId ?? '*'}`);
    const fromTemplate = { ArnLike: { 'ec2:LaunchTemplate': templateArn } };
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LaunchTaggedReplacement',
        actions: ['ec2:RunInstances'],
        resources: [ec2Arn('instance/*'), ec2Arn('volume/*')],
        conditions: {
          ...fromTemplate,
          StringEquals: { [`aws:RequestTag/${config.spareTagKey}`]: cluster, [`aws:RequestTag/${LAUNCHED_BY_TAG}`]: LAUNCHED_BY_VALUE },
          Null: { [`aws:RequestTag/${RUN_TAG}`]: 'false' },
        },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LaunchFromTemplate',
        actions: ['ec2:RunInstances'],
        resources: [
          ec2Arn('subnet/*'),
          ec2Arn('security-group/*'),
          ec2Arn('network-interface/*'),
          ec2Arn('key-pair/*'),
          ec2Arn('image/*', ''),
          ec2Arn('snapshot/*', ''),
          ...(template.launchTemplateId ? [templateArn] : []),
        ],
        conditions: fromTemplate,
      }),
    );
    if (!template.launchTemplateId) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'LaunchTemplateOfThePool',
          actions: ['ec2:RunInstances'],
          resources: [templateArn],
          conditions: { StringEquals: { [`aws:ResourceTag/${config.spareTagKey}`]: cluster } },
        }),
      );
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TagAtLaunchOnly',
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn('instance/*'), ec2Arn('volume/*')],
        conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      }),
    );
    if (template.instanceRoleArn) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'PassTemplateInstanceRole',
          actions: ['iam:PassRole'],
          resources: [template.instanceRoleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
        }),
      );
    }
  }

  /**
   * SSM Run Command, least privilege: only the AWS-RunShellScript document, only on instances that
   * carry the cluster tag (and, for the steps, the spare-pool tag: the replacement before it joins).
   */
  private grantRunCommand(role: iam.Role, config: DeploymentConfig, options: { includeSparePool: boolean }): void {
    const instances = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RunShellScriptDocument',
        actions: ['ssm:SendCommand'],
        resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}::document/AWS-RunShellScript`],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RunCommandOnClusterHosts',
        actions: ['ssm:SendCommand'],
        resources: [instances],
        conditions: { StringEquals: { [`ssm:resourceTag/${config.clusterTagKey}`]: config.clusterName } },
      }),
    );
    if (options.includeSparePool) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'RunCommandOnSpareHosts',
          actions: ['ssm:SendCommand'],
          resources: [instances],
          conditions: { StringEquals: { [`ssm:resourceTag/${config.spareTagKey}`]: config.clusterName } },
        }),
      );
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'FollowCommands',
        actions: ['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:CancelCommand', 'ssm:DescribeInstanceInformation'],
        resources: ['*'],
      }),
    );
  }

  /** cdk-nag findings of launching and terminating replacement hosts and of the EC2 signal function, each with its reason. */
  private acknowledgeEc2Findings(stepRole: iam.Role, signalRole: iam.Role, config: DeploymentConfig, alarmPrefix: string): void {
    const ec2 = (resource: string, account = '<AWS::AccountId>') => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:${account}:${resource}]`;
    const template = config.replacementLaunchTemplate;
    if (template) {
      Validations.of(stepRole).acknowledge({
        id: ec2('volume/*'),
        reason: 'RunInstances creates the volumes of the launch template only with the run\'s request tags (aws:RequestTag conditions) and from the configured template (ec2:LaunchTemplate); CreateTags only as part of RunInstances (ec2:CreateAction).',
      });
      for (const resource of ['subnet/*', 'network-interface/*', 'key-pair/*']) {
        Validations.of(stepRole).acknowledge({
          id: ec2(resource),
          reason: 'RunInstances uses the network and key pair the launch template names, only when launching from the configured template (ec2:LaunchTemplate condition); they are not known at deploy time.',
        });
      }
      for (const resource of ['image/*', 'snapshot/*']) {
        Validations.of(stepRole).acknowledge({
          id: ec2(resource, ''),
          reason: 'RunInstances reads the AMI (and its snapshots) the launch template names, only when launching from the configured template (ec2:LaunchTemplate condition).',
        });
      }
      if (!template.launchTemplateId) {
        Validations.of(stepRole).acknowledge({
          id: ec2('launch-template/*'),
          reason: 'The launch template is configured by name, and its ARN carries its ID: RunInstances is allowed only from a template tagged with the cluster\'s spare-pool tag (aws:ResourceTag condition).',
        });
      }
    }
    Validations.of(signalRole).acknowledge({
      id: ec2('instance/*'),
      reason: 'ec2:CreateTags of the one tag etcd-replace:replaced-by (aws:TagKeys), on instances carrying the cluster tag (aws:ResourceTag) only; instance IDs change as members are replaced.',
    });
    Validations.of(signalRole).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'ec2:DescribeInstances and X-Ray trace upload do not support resource-level permissions.' });
    Validations.of(signalRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*]',
      reason: `cloudwatch:DescribeAlarms (read only) lists the run-time status-check alarms by the name prefix ${alarmPrefix}; a listing is authorized against all alarms, not the prefix.`,
    });
    Validations.of(signalRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:${watchedAlarmPattern(config.clusterName)}]`,
      reason: 'PutMetricAlarm and DeleteAlarms of the run-time status-check alarms only (a name pattern no alarm of the stack has), with no alarm action; their instances are chosen at run time.',
    });
  }

  /** cdk-nag findings that are acknowledged, each with the reason it is right here. */
  private acknowledgeFindings(stepRole: iam.Role, probeRole: iam.Role, notifyRole: iam.Role, auditRole: iam.Role, stateMachineName: string, alarmPrefix: string): void {
    const instanceWildcard = 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]';
    const starResource = 'AwsSolutions-IAM5[Resource::*]';
    const executions = `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${stateMachineName}:*]`;
    for (const role of [stepRole, probeRole]) {
      Validations.of(role).acknowledge({
        id: instanceWildcard,
        reason: 'ssm:SendCommand on instances is limited by the ssm:resourceTag condition to the cluster\'s (and the spare pool\'s) instances; their IDs change as members are replaced.',
      });
      Validations.of(role).acknowledge({
        id: starResource,
        reason:
          'Only actions without resource-level permissions use "*": ssm:GetCommandInvocation/ListCommandInvocations/CancelCommand/DescribeInstanceInformation, ec2:Describe*, cloudwatch:PutMetricData (limited by the cloudwatch:namespace condition) and X-Ray trace upload.',
      });
    }
    Validations.of(stepRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*]',
      reason: 'Ingress changes are limited by the aws:ResourceTag condition to security groups carrying the cluster tag; the new member\'s group is not known at deploy time.',
    });
    Validations.of(stepRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.artifactBucket.node.defaultChild as s3.CfnBucket)}.Arn>/*]`,
      reason: 'Artifact keys are chosen per run (snapshots, backups, certificate bundles); access is limited to objects of this one bucket.',
    });
    Validations.of(stepRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.artifactBucket.node.defaultChild as s3.CfnBucket)}.Arn>/${ARTIFACT_PREFIXES.artifacts}runs/*/bundle-*]`,
      reason: 'Deleting object versions is limited to the key bundles of this bucket; run IDs and host names are chosen per run.',
    });
    for (const role of [notifyRole, auditRole, stepRole]) {
      Validations.of(role).acknowledge({ id: executions, reason: 'The history of any execution of this one state machine: execution names are chosen per run.' });
    }
    Validations.of(notifyRole).acknowledge({ id: starResource, reason: 'X-Ray trace upload does not support resource-level permissions.' });
    Validations.of(auditRole).acknowledge({ id: starResource, reason: 'cloudtrail:LookupEvents and X-Ray trace upload do not support resource-level permissions.' });
    Validations.of(auditRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:${alarmPrefix}*]`,
      reason: 'The alarm history of this cluster\'s member alarms only, whose names share the prefix; members change as they are replaced.',
    });
    Validations.of(this.stateMachine).acknowledge({
      id: starResource,
      reason: 'CloudWatch Logs log delivery (logs:CreateLogDelivery and related) and X-Ray trace upload do not support resource-level permissions.',
    });
    for (const fn of this.node.children.filter((c): c is NodejsFunction => c instanceof NodejsFunction)) {
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason: 'Pinned to nodejs22.x: the runtime the bundle is built for (esbuild target node22) and tested on; move with the project\'s Node version.',
      });
    }
  }
}
