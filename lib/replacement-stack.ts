// The AWS deployment: the workflow compiled from the XState model as a Standard state machine, one
// Lambda per task state, the artifact bucket, the lock and run-record table, the health probe with an
// alarm per member, the alarm trigger, and run-outcome notifications.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
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
import type { Construct } from 'constructs';
import { compileAsl, functionArnPlaceholder, functionArnSubstitutionKey } from '../statemachine/asl.ts';
import { replaceMemberMachine, specOf } from '../statemachine/machine.ts';
import type { TaskSpec } from '../statemachine/spec.ts';
import { HEALTH_METRIC, memberDimensions } from '../functions/handlers/healthProbe.ts';
import { TABLE_SCHEMA } from '../functions/adapters/aws/dynamoTable.ts';
import type { DeploymentConfig } from './config.ts';

/** The repository root: entries, scripts and the lock file are found from here. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Lambda's own limit on a function's timeout. */
const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
/** A step Lambda may run this much longer than its state's TimeoutSeconds (cold start, SDK setup). */
const LAMBDA_TIMEOUT_MARGIN_SECONDS = 30;
export const METRIC_NAMESPACE = 'EtcdReplace';

/** Key prefixes of the artifact bucket, each with its own lifetime. */
export const ARTIFACT_PREFIXES = {
  /** The artifact store's prefix (ARTIFACT_PREFIX): each run's snapshot, backups and bundle under runs/<runId>/. */
  artifacts: 'etcd-replace/',
  /** Full SSM command output when it exceeds what GetCommandInvocation returns inline. */
  ssmOutput: 'ssm-output/',
} as const;

export interface ReplacementStackProps extends StackProps {
  config: DeploymentConfig;
}

/** The Lambda timeout of a task: its state's timeout plus a margin, within Lambda's limit. */
export function lambdaTimeoutSeconds(task: TaskSpec): number {
  return Math.min(LAMBDA_MAX_TIMEOUT_SECONDS, task.timeoutSeconds + LAMBDA_TIMEOUT_MARGIN_SECONDS);
}

/** Local esbuild (no Docker), the host scripts copied beside the bundle for SSM to send. */
function bundling(): BundlingOptions {
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
      afterBundling: (inputDir: string, outputDir: string) => [
        `mkdir -p "${outputDir}/scripts/lib"`,
        `cp "${inputDir}/functions/scripts/"*.sh "${outputDir}/scripts/"`,
        `cp "${inputDir}/functions/scripts/lib/"*.sh "${outputDir}/scripts/lib/"`,
      ],
    },
  };
}

/** One of the stack's functions: a handler of functions/handlers/, bundled as above, on nodejs22.x arm64 with tracing. */
function handlerFunction(
  scope: Construct,
  id: string,
  props: { description: string; handlerFile: string; memorySize: number; timeout: Duration; role: iam.IRole; logGroup: logs.ILogGroup; environment: Record<string, string> },
): NodejsFunction {
  return new NodejsFunction(scope, id, {
    description: props.description,
    entry: join(PROJECT_ROOT, 'functions/handlers', props.handlerFile),
    handler: 'handler',
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
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

export class ReplacementStack extends Stack {
  readonly stateMachine: sfn.StateMachine;
  readonly stepFunctions: Record<string, NodejsFunction>;
  readonly artifactBucket: s3.Bucket;
  readonly table: dynamodb.Table;
  readonly key: kms.Key;
  readonly outcomeTopic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: ReplacementStackProps) {
    super(scope, id, props);
    const { config } = props;
    const cluster = config.clusterName;

    // Encryption and storage ------------------------------------------------------------------

    this.key = new kms.Key(this, 'Key', {
      description: `etcd-replace ${cluster}: artifacts, run records and notifications`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // EventBridge publishes run outcomes to the encrypted topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
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

    // Locks and run records, as functions/adapters/aws/dynamoTable.ts lays them out.
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

    const stepLogs = new logs.LogGroup(this, 'StepLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    const stepRole = new iam.Role(this, 'StepRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: the workflow's step functions`,
    });
    stepLogs.grantWrite(stepRole);
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
      new iam.PolicyStatement({ sid: 'ArtifactListing', actions: ['s3:ListBucket'], resources: [this.artifactBucket.bucketArn] }),
    );
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LocksAndRunRecords',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'],
        resources: [this.table.tableArn, ...Object.values(TABLE_SCHEMA.indexes).map((index) => `${this.table.tableArn}/index/${index.name}`)],
      }),
    );
    stepRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptArtifactsAndRecords',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [this.key.keyArn],
      }),
    );

    // What functions/adapters/aws/deps.ts reads.
    const environment: Record<string, string> = {
      CLUSTER_NAME: cluster,
      CLUSTER_TAG_KEY: config.clusterTagKey,
      SPARE_TAG_KEY: config.spareTagKey,
      ETCD_SG_ID: config.etcdSecurityGroupId,
      BUCKET: this.artifactBucket.bucketName,
      KMS_KEY_ID: this.key.keyArn,
      ARTIFACT_PREFIX: ARTIFACT_PREFIXES.artifacts,
      TABLE: this.table.tableName,
      SCRIPTS_DIR: '/var/task/scripts',
      NODE_OPTIONS: '--enable-source-maps',
    };
    if (config.runRetentionDays !== undefined) environment['RUN_RETENTION_DAYS'] = String(config.runRetentionDays);
    if (config.ssmOutputToBucket) {
      environment['OUTPUT_BUCKET'] = this.artifactBucket.bucketName;
      environment['OUTPUT_PREFIX'] = ARTIFACT_PREFIXES.ssmOutput;
    }

    const taskNames = Object.keys(replaceMemberMachine.root.states).filter((name) => specOf(replaceMemberMachine, name).kind === 'task');
    this.stepFunctions = {};
    for (const name of taskNames) {
      const spec = specOf(replaceMemberMachine, name) as TaskSpec;
      this.stepFunctions[name] = handlerFunction(this, `Step${name}`, {
        description: `etcd-replace ${cluster}: ${name}`,
        handlerFile: 'step.ts',
        memorySize: 512,
        timeout: Duration.seconds(lambdaTimeoutSeconds(spec)),
        role: stepRole,
        logGroup: stepLogs,
        environment: { ...environment, STEP_NAME: name },
      });
    }

    // State machine ---------------------------------------------------------------------------

    // includeExecutionData is false: with it, every state's input and output (the whole workflow
    // context: hosts, addresses, artifact keys) would be copied into CloudWatch Logs. The context holds
    // no key material by design; keeping payloads out of the log group as well means the execution
    // history, under Step Functions' own IAM, is the single place where run data can be read.
    const machineLogs = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/etcd-replace-${cluster}`,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const asl = compileAsl(replaceMemberMachine, { functionArn: functionArnPlaceholder });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: `etcd-replace-${cluster}`,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(asl)),
      definitionSubstitutions: Object.fromEntries(taskNames.map((name) => [functionArnSubstitutionKey(name), this.stepFunctions[name]!.functionArn])),
      logs: { destination: machineLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
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
    const probe = handlerFunction(this, 'HealthProbe', {
      description: `etcd-replace ${cluster}: etcd member health metrics`,
      handlerFile: 'healthProbe.ts',
      memorySize: 256,
      timeout: Duration.seconds(55),
      role: probeRole,
      logGroup: probeLogs,
      environment: {
        CLUSTER_NAME: cluster,
        METRIC_NAMESPACE,
        MEMBERS: JSON.stringify(config.members),
        SCRIPTS_DIR: '/var/task/scripts',
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    new events.Rule(this, 'ProbeSchedule', {
      description: `etcd-replace ${cluster}: run the etcd health probe every minute`,
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(probe, { retryAttempts: 0 })],
    });

    const alarmPrefix = `etcd-replace-${cluster}-member-`;
    this.alarms = config.members.map(
      (member) =>
        new cloudwatch.Alarm(this, `MemberAlarm-${member.name}`, {
          alarmName: `${alarmPrefix}${member.name}`,
          alarmDescription: `etcd member ${member.hostname} (${member.instanceId}) of ${cluster} has not been healthy for ${config.alarmMinutes} minutes; ALARM starts a replacement`,
          metric: new cloudwatch.Metric({
            namespace: METRIC_NAMESPACE,
            metricName: HEALTH_METRIC,
            dimensionsMap: Object.fromEntries(memberDimensions(cluster, member).map((d) => [d.Name, d.Value])),
            statistic: cloudwatch.Stats.MAXIMUM,
            period: Duration.minutes(1),
          }),
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          threshold: 1,
          evaluationPeriods: config.alarmMinutes,
          datapointsToAlarm: config.alarmMinutes,
          // No data means the probe could not ask etcd at all, not that this member failed: a broken
          // probe must not start replacements (the probe publishes ProbeFailed for that).
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

    // Run outcomes ----------------------------------------------------------------------------

    this.outcomeTopic = new sns.Topic(this, 'Outcomes', {
      displayName: `etcd-replace ${cluster} run outcomes`,
      masterKey: this.key,
      enforceSSL: true,
    });
    if (config.notificationEmail) this.outcomeTopic.addSubscription(new subscriptions.EmailSubscription(config.notificationEmail));
    // A small function writes the message: how the run ended in the workflow's words (refused is not
    // failed), the member replaced and its replacement, the reason and what is left for a person. It
    // reads the final context (the output, or for a Fail state the execution history) and sends only
    // those fields: the execution's input and output stay in the execution history.
    const notifyLogs = new logs.LogGroup(this, 'NotifyLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    const notifyRole = new iam.Role(this, 'NotifyRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: run-outcome notifications`,
    });
    notifyLogs.grantWrite(notifyRole);
    notifyRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'PublishOutcome', actions: ['sns:Publish'], resources: [this.outcomeTopic.topicArn] }));
    notifyRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'EncryptOutcome', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.key.keyArn] }));
    notifyRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadFinalContext',
        actions: ['states:GetExecutionHistory'],
        resources: [`arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:etcd-replace-${cluster}:*`],
      }),
    );
    const notify = handlerFunction(this, 'NotifyOutcome', {
      description: `etcd-replace ${cluster}: run-outcome notifications`,
      handlerFile: 'notifyOutcome.ts',
      memorySize: 256,
      timeout: Duration.seconds(30),
      role: notifyRole,
      logGroup: notifyLogs,
      environment: { CLUSTER_NAME: cluster, TOPIC_ARN: this.outcomeTopic.topicArn, NODE_OPTIONS: '--enable-source-maps' },
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
      targets: [new targets.LambdaFunction(notify, { retryAttempts: 4, maxEventAge: Duration.hours(6) })],
    });

    this.acknowledgeFindings(stepRole, probeRole, notifyRole, cluster);

    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn, description: 'etcd-replace run --target aws --state-machine-arn' });
    new CfnOutput(this, 'ArtifactBucketName', { value: this.artifactBucket.bucketName });
    new CfnOutput(this, 'RunTableName', { value: this.table.tableName });
    new CfnOutput(this, 'OutcomeTopicArn', { value: this.outcomeTopic.topicArn });
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

  /** cdk-nag findings that are acknowledged, each with the reason it is right here. */
  private acknowledgeFindings(stepRole: iam.Role, probeRole: iam.Role, notifyRole: iam.Role, cluster: string): void {
    const instanceWildcard = 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]';
    const starResource = 'AwsSolutions-IAM5[Resource::*]';
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
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.artifactBucket.node.defaultChild as s3.CfnBucket)}.Arn>/*]`,
      reason: 'Artifact keys are chosen per run (snapshots, backups, certificate bundles); access is limited to objects of this one bucket.',
    });
    Validations.of(notifyRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:etcd-replace-${cluster}:*]`,
      reason: 'The history of any execution of this one state machine: execution names are chosen per run.',
    });
    Validations.of(notifyRole).acknowledge({ id: starResource, reason: 'X-Ray trace upload does not support resource-level permissions.' });
    Validations.of(this.stateMachine).acknowledge({
      id: starResource,
      reason: 'CloudWatch Logs log delivery (logs:CreateLogDelivery and related) and X-Ray trace upload do not support resource-level permissions.',
    });
    const functions = [...Object.values(this.stepFunctions), ...this.node.children.filter((c): c is NodejsFunction => c instanceof NodejsFunction && !Object.values(this.stepFunctions).includes(c))];
    for (const fn of functions) {
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason: 'Pinned to nodejs22.x: the runtime the bundle is built for (esbuild target node22) and tested on; move with the project\'s Node version.',
      });
    }
  }
}
