// The step Lambda: one function for every task state of the workflow, on one role and one log group,
// with what functions/adapters/aws/deps.ts and functions/handlers/step.ts read from the environment.
// One function, not one per task: a run's steps follow each other within seconds, so only its first
// step starts a cold environment (Lambda's Init phase, about 200 ms for this bundle) where every step's
// own function started cold on every run. Each step keeps its own time bound: the state's TimeoutSeconds,
// which the handler also holds the step to (functions/handlers/step.ts), the function's own timeout
// being the longest step's.

import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { replaceMemberMachine, specOf } from '../../statemachine/machine.ts';
import type { TaskSpec } from '../../statemachine/spec.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { handlerFunction } from './handler-function.ts';
import { acknowledgeLaunch, acknowledgeRunCommand, grantLaunch, grantRunCommand } from './host-grants.ts';
import { acknowledgeExecutionHistory, ARTIFACT_PREFIXES, lambdaTimeoutSeconds, restoreNames, type ReplacementContext } from './shared.ts';
import type { Storage } from './storage.ts';

/** The workflow's task states, in the machine's order. */
export const TASK_NAMES = Object.keys(replaceMemberMachine.root.states).filter((name) => specOf(replaceMemberMachine, name).kind === 'task');

/**
 * Which workflow's steps: the replacement's (the default, with the logical IDs it always had), or another
 * workflow's (the restore's, lib/constructs/restore-workflow.ts) on a role and functions of its own.
 */
export interface StepWorkflow {
  /** Its task states, in the machine's order. */
  tasks: readonly string[];
  taskSpec: (name: string) => TaskSpec;
  /** Logical ID of the function (`Steps`) and the role's ID. */
  functionId: string;
  roleId: string;
  roleDescription: string;
  /** The workflow's name in the function's description (`restore-quorum`). */
  functionLabel?: string;
  /** The log group (the replacement's is created here; another workflow's steps write to the same one). */
  logs?: logs.LogGroup;
  /** The state machine these steps run in (STATE_MACHINE_ARN). */
  stateMachineArn: string;
  /** Every state machine whose executions may hold the cluster lock (LockHolderLiveness). */
  lockHolderExecutionsArns: string[];
  /** Run-table items the steps write besides the lock's and the step details' (dynamodb:LeadingKeys). */
  extraLeadingKeys?: string[];
  /** Environment beside the replacement's (the restore's approval and fence settings). */
  environment?: Record<string, string>;
  /** Statements of this workflow alone, added before the functions. */
  statements?: iam.PolicyStatement[];
}

const REPLACEMENT: Omit<StepWorkflow, 'stateMachineArn' | 'lockHolderExecutionsArns'> = {
  tasks: TASK_NAMES,
  taskSpec: (name) => specOf(replaceMemberMachine, name) as TaskSpec,
  functionId: 'Steps',
  roleId: 'StepRole',
  roleDescription: "the workflow's step function",
};

/** Created on the EtcdReplacement's own scope, so the logical IDs are those it always had. */
export class StepLambdas {
  readonly logs: logs.LogGroup;
  readonly role: iam.Role;
  /** The function every task state invokes. */
  readonly function: NodejsFunction;
  /** By task state name: the same function for each. */
  readonly functions: Record<string, NodejsFunction> = {};

  constructor(scope: Construct, ctx: ReplacementContext, storage: Storage, given?: StepWorkflow) {
    const { cluster, config } = ctx;
    const { artifactBucket, table, key } = storage;
    const restore = restoreNames(cluster);
    const workflow: StepWorkflow = given ?? {
      ...REPLACEMENT,
      stateMachineArn: ctx.stateMachineArn,
      // A restore's run may hold the cluster lock too.
      lockHolderExecutionsArns: [ctx.executionsArn, restore.executionsArn],
    };
    this.logs = workflow.logs ?? new logs.LogGroup(scope, 'StepLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    const role = new iam.Role(scope, workflow.roleId, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: ${workflow.roleDescription}`,
    });
    this.role = role;
    this.logs.grantWrite(role);
    grantRunCommand(role, config, { includeSparePool: true });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DiscoverHostsAndGroups',
        actions: ['ec2:DescribeInstances', 'ec2:DescribeSecurityGroups', 'ec2:DescribeSecurityGroupRules', 'ec2:DescribeTags'],
        resources: ['*'],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'OpenEtcdPortsOnClusterGroups',
        actions: ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress'],
        resources: [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:security-group/*`],
        conditions: { StringEquals: { [`aws:ResourceTag/${config.clusterTagKey}`]: cluster } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ArtifactObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [artifactBucket.arnForObjects('*')],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ArtifactListing', actions: ['s3:ListBucket', 's3:ListBucketVersions'], resources: [artifactBucket.bucketArn] }),
    );
    // A key bundle (the new member's private keys) leaves no noncurrent version behind: its versions
    // are deleted one by one. Only bundles: every other artifact keeps its versions until the lifecycle.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KeyBundleVersions',
        actions: ['s3:DeleteObjectVersion'],
        resources: [artifactBucket.arnForObjects(`${ARTIFACT_PREFIXES.artifacts}runs/*/bundle-*`)],
      }),
    );
    // The steps write only the cluster's lock and what each step reported: never an audit record.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LockAndStepDetails',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
        resources: [table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['lock#*', 'steps#*', ...(workflow.extraLeadingKeys ?? [])] } },
      }),
    );
    // Earlier runs on the cluster (a member an earlier run removed), read from the audit records.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadPastRuns',
        actions: ['dynamodb:Query'],
        resources: [`${table.tableArn}/index/${TABLE_SCHEMA.indexes.byCluster.name}`],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptArtifactsAndRecords',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [key.keyArn],
      }),
    );

    // What functions/adapters/aws/deps.ts and functions/handlers/step.ts read.
    const environment: Record<string, string> = {
      ...ctx.observability,
      CLUSTER_TAG_KEY: config.clusterTagKey,
      SPARE_TAG_KEY: config.spareTagKey,
      ETCD_SG_ID: config.etcdSecurityGroupId,
      BUCKET: artifactBucket.bucketName,
      KMS_KEY_ID: key.keyArn,
      ARTIFACT_PREFIX: ARTIFACT_PREFIXES.artifacts,
      TABLE: table.tableName,
      RUN_RETENTION_DAYS: String(config.runRetentionDays),
      STATE_MACHINE_ARN: workflow.stateMachineArn,
      // Whose runs share the cluster lock: a holder's execution is looked for in each (executionLiveness.ts).
      LOCK_STATE_MACHINE_ARNS: [ctx.stateMachineArn, restore.stateMachineArn].join(','),
      SCRIPTS_DIR: '/var/task/scripts',
      DEFAULT_ADD_METHOD: config.defaultAddMethod,
      ...(config.ansible
        ? {
            INSTALLER_INSTANCE_ID: config.ansible.installerInstanceId,
            ...(config.ansible.openshiftAnsibleDir ? { OPENSHIFT_ANSIBLE_DIR: config.ansible.openshiftAnsibleDir } : {}),
          }
        : {}),
    };
    if (config.ssmOutputToBucket) {
      environment['OUTPUT_BUCKET'] = artifactBucket.bucketName;
      environment['OUTPUT_PREFIX'] = ARTIFACT_PREFIXES.ssmOutput;
    }
    const template = config.replacementLaunchTemplate;
    if (template) {
      if (template.launchTemplateId) environment['LAUNCH_TEMPLATE_ID'] = template.launchTemplateId;
      if (template.launchTemplateName) environment['LAUNCH_TEMPLATE_NAME'] = template.launchTemplateName;
      environment['LAUNCH_TEMPLATE_VERSION'] = template.version;
      if (template.subnetId) environment['REPLACEMENT_SUBNET_ID'] = template.subnetId;
    }
    grantLaunch(role, config);
    Object.assign(environment, workflow.environment ?? {});
    for (const statement of workflow.statements ?? []) role.addToPrincipalPolicy(statement);

    this.function = handlerFunction(scope, workflow.functionId, {
      description: `etcd-replace ${cluster}: every step of the ${workflow.functionLabel ?? 'replacement'} workflow`,
      handlerFile: 'step.ts',
      memorySize: 512,
      timeout: Duration.seconds(Math.max(...workflow.tasks.map((name) => lambdaTimeoutSeconds(workflow.taskSpec(name))))),
      role,
      logGroup: this.logs,
      environment,
      runtime: ctx.runtime,
    });
    for (const name of workflow.tasks) this.functions[name] = this.function;
    // A contender for the cluster lock asks whether the holder's execution still runs (executionLiveness.ts).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'LockHolderLiveness', actions: ['states:DescribeExecution'], resources: workflow.lockHolderExecutionsArns }),
    );

    acknowledgeRunCommand(role);
    acknowledgeLaunch(role, config);
    acknowledgeExecutionHistory(role, ctx);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${restore.stateMachineName}:*]`,
      reason: "Whether a restore's execution that holds the cluster lock still runs: execution names are chosen per run.",
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*]',
      reason:
        "Ingress changes are limited by the aws:ResourceTag condition to security groups carrying the cluster tag; the new member's group is not known at deploy time.",
    });
    const bucketId = Stack.of(scope).getLogicalId(artifactBucket.node.defaultChild as s3.CfnBucket);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      reason: 'Artifact keys are chosen per run (snapshots, backups, certificate bundles); access is limited to objects of this one bucket.',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${ARTIFACT_PREFIXES.artifacts}runs/*/bundle-*]`,
      reason: 'Deleting object versions is limited to the key bundles of this bucket; run IDs and host names are chosen per run.',
    });
  }
}
