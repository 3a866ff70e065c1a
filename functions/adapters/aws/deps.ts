// The steps' ports over AWS: host scripts through SSM Run Command, etcd through etcdctl on surviving
// members (via SSM), ports in EC2 security groups, artifacts in S3 (SSE-KMS, presigned URLs), the lock
// and run records in DynamoDB, hosts discovered from EC2 tags, and their instances' states from EC2.
//
// Nothing is built at import time: awsDeps() creates the SDK clients when called, and the step handler
// calls it once per Lambda container (createStepHandler caches the result). Tests pass their own clients.
//
// Environment:
//   BUCKET             artifact bucket (default encryption SSE-KMS)            required
//   KMS_KEY_ID         the bucket's KMS key (id or ARN) to verify objects against
//   ARTIFACT_PREFIX    key prefix in BUCKET                                      default etcd-replace/
//   TABLE              DynamoDB table (dynamoTable.ts)                           required
//   RUN_RETENTION_DAYS TTL of finished run records
//   ETCD_SG_ID         the cluster's etcd security group (source of 2379/2380)   required
//   TARGET_SG_ID       group the rules go into (default: the host's primary group)
//   CLUSTER_TAG_KEY    default KubernetesCluster
//   SPARE_TAG_KEY      default etcd-replace-spare
//   ROLE_TAG_KEY       default openshift-role
//   HOSTNAME_TAG_KEY   default hostname
//   OUTPUT_BUCKET      SSM output bucket (full stdout/stderr beyond 24,000 / 8,000 characters)
//   OUTPUT_PREFIX      key prefix in OUTPUT_BUCKET
//   SSM_LOG_GROUP      CloudWatch Logs group for command output
//   SSM_DELIVERY_TIMEOUT_SECONDS   SendCommand TimeoutSeconds, default 60
//   SCRIPTS_DIR        where the functions/scripts/*.sh files are; default $LAMBDA_TASK_ROOT/scripts
//   LAUNCH_TEMPLATE_ID or LAUNCH_TEMPLATE_NAME   the launch template a replacement host is launched from
//                      (config replacementLaunchTemplate); neither: provisioning refuses, find and release work
//   LAUNCH_TEMPLATE_VERSION   $Default (default), $Latest or a version number
//   REPLACEMENT_SUBNET_ID     launch there instead of the failed member's subnet
//   MEMBER_START_SECONDS, MASTER_HEALTH_SECONDS, URL_TTL_SECONDS, LOCK_TTL_SECONDS: StepDeps.waits
//   QUARANTINE_SG_ID   the restore's quarantine group, which the network fence puts in place (ec2Fence.ts)
//   TOPIC_ARN          the restore's approval requests go here (approvals.ts), with STATE_MACHINE_ARN
//   LOCK_STATE_MACHINE_ARNS   the state machines whose runs share the cluster lock (default STATE_MACHINE_ARN)

import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvalidInputError } from '../../errors.ts';
import type { RunStore } from '../../ports.ts';
import { readScriptText } from '../scriptText.ts';
import { DEFAULT_WAITS, type StepDeps } from '../../workflow/stepDeps.ts';
import * as validate from '../../validate.ts';
import { EtcdctlMembership } from '../etcdctl.ts';
import { Ec2Discovery } from './discovery.ts';
import { Ec2InstanceStates } from './ec2InstanceStates.ts';
import { DynamoLock } from './dynamoLock.ts';
import { executionLiveness } from './executionLiveness.ts';
import { DynamoRunStore } from './dynamoRunStore.ts';
import { Ec2Provisioning, type LaunchTemplateRef } from './ec2Provisioning.ts';
import { Ec2SecurityGroups } from './ec2SecurityGroups.ts';
import { DynamoSnsApprovals } from './approvals.ts';
import { MAX_URL_TTL_SECONDS, S3ArtifactStore, type Presign } from './s3ArtifactStore.ts';
import { SsmHostRunner, type SsmCommandEvent } from './ssmHostRunner.ts';

export interface AwsClients {
  ssm: SSMClient;
  ec2: EC2Client;
  s3: S3Client;
  doc: DynamoDBDocumentClient;
  sfn: SFNClient;
}

export interface AwsDepsOptions {
  /** The restore's approval requests (TOPIC_ARN); default: a new SNS client. */
  sns?: SNSClient;
  /** Script text by name; default: read `<SCRIPTS_DIR>/<name>.sh`. */
  scripts?: (name: string) => string;
  log?: (message: string) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** Called after each SSM SendCommand (the benchmark counts them). */
  onCommand?: (event: SsmCommandEvent) => void;
  /** How artifact URLs are presigned; default @aws-sdk/s3-request-presigner (tests point URLs at a local server). */
  presign?: Presign;
}

export interface AwsDeps extends StepDeps {
  target: 'aws';
  runner: SsmHostRunner;
  securityGroups: Ec2SecurityGroups;
  artifacts: S3ArtifactStore;
  lock: DynamoLock;
  runs: RunStore;
  discovery: Ec2Discovery;
  provisioning: Ec2Provisioning;
  instances: Ec2InstanceStates;
  clients: AwsClients;
  /** The restore's approvals (functions/steps/AwaitApproval.ts), where TOPIC_ARN names the topic its requests go to. */
  approvals?: DynamoSnsApprovals;
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new InvalidInputError(name, 'must be set in the environment');
  return value.trim();
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function seconds(env: Env, name: string, fallback: number, max?: number): number {
  const value = optional(env, name);
  return value === undefined ? fallback : validate.positiveInt(name, value, max === undefined ? {} : { max });
}

function matchingEnv(env: Env, name: string, pattern: RegExp, what: string): string | undefined {
  const value = optional(env, name);
  if (value !== undefined && !pattern.test(value)) throw new InvalidInputError(name, `${JSON.stringify(value)} is not ${what}`);
  return value;
}

/** The launch template of LAUNCH_TEMPLATE_ID or LAUNCH_TEMPLATE_NAME (not both) and LAUNCH_TEMPLATE_VERSION; undefined when neither is set. */
export function launchTemplateFromEnv(env: Env): LaunchTemplateRef | undefined {
  const id = matchingEnv(env, 'LAUNCH_TEMPLATE_ID', /^lt-[0-9a-f]{8,17}$/, 'a launch template ID (lt-...)');
  const name = matchingEnv(env, 'LAUNCH_TEMPLATE_NAME', /^[A-Za-z0-9().\/_-]{3,128}$/, 'a launch template name');
  const version =
    matchingEnv(env, 'LAUNCH_TEMPLATE_VERSION', /^(?:\$Default|\$Latest|[1-9][0-9]{0,17})$/, '$Default, $Latest or a version number') ?? '$Default';
  if (id && name) throw new InvalidInputError('LAUNCH_TEMPLATE_NAME', 'set LAUNCH_TEMPLATE_ID or LAUNCH_TEMPLATE_NAME, not both');
  if (!id && !name) return undefined;
  return { ...(id ? { id } : { name: name as string }), version };
}

/**
 * SDK clients for one container: the given ones, new ones for the rest. The S3 client signs no checksum
 * into presigned PUTs (see s3ArtifactStore.ts); the document client drops undefined attributes.
 */
export function createAwsClients(env: Env = process.env, given: Partial<AwsClients> = {}): AwsClients {
  const region = optional(env, 'AWS_REGION');
  const config = region ? { region } : {};
  return {
    ssm: given.ssm ?? new SSMClient(config),
    ec2: given.ec2 ?? new EC2Client(config),
    s3: given.s3 ?? new S3Client({ ...config, requestChecksumCalculation: 'WHEN_REQUIRED' }),
    doc: given.doc ?? DynamoDBDocumentClient.from(new DynamoDBClient(config), { marshallOptions: { removeUndefinedValues: true } }),
    sfn: given.sfn ?? new SFNClient(config),
  };
}

/** Reads `<dir>/<name>.sh` with its lib files inlined (names checked, so nothing outside the directory is read). */
export function scriptReader(dir: string): (name: string) => string {
  return (name) => readScriptText(dir, name);
}

export async function awsDeps(env: Env = process.env, clients?: Partial<AwsClients>, options: AwsDepsOptions = {}): Promise<AwsDeps> {
  const bucket = required(env, 'BUCKET');
  const table = required(env, 'TABLE');
  const etcdSecurityGroupId = required(env, 'ETCD_SG_ID');
  const all = createAwsClients(env, clients);
  const log = options.log ?? ((message: string) => console.error(message));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? (() => new Date());
  const outputBucket = optional(env, 'OUTPUT_BUCKET');
  const outputKeyPrefix = optional(env, 'OUTPUT_PREFIX');
  const cloudWatchLogGroup = optional(env, 'SSM_LOG_GROUP');
  const retention = optional(env, 'RUN_RETENTION_DAYS');
  const kmsKeyId = optional(env, 'KMS_KEY_ID');
  const targetSecurityGroupId = optional(env, 'TARGET_SG_ID');
  const quarantineSecurityGroupId = optional(env, 'QUARANTINE_SG_ID');
  const topicArn = optional(env, 'TOPIC_ARN');
  const scripts = options.scripts ?? scriptReader(optional(env, 'SCRIPTS_DIR') ?? join(optional(env, 'LAMBDA_TASK_ROOT') ?? process.cwd(), 'scripts'));

  const runner = new SsmHostRunner({
    ssm: all.ssm,
    s3: all.s3,
    scripts,
    deliveryTimeoutSeconds: seconds(env, 'SSM_DELIVERY_TIMEOUT_SECONDS', 60),
    ...(outputBucket ? { outputBucket } : {}),
    ...(outputKeyPrefix ? { outputKeyPrefix } : {}),
    ...(cloudWatchLogGroup ? { cloudWatchLogGroup } : {}),
    ...(options.onCommand ? { onCommand: options.onCommand } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.now ? { now: () => now().getTime() } : {}),
  });
  const discovery = new Ec2Discovery({
    ec2: all.ec2,
    clusterTagKey: optional(env, 'CLUSTER_TAG_KEY') ?? 'KubernetesCluster',
    ...(optional(env, 'SPARE_TAG_KEY') ? { spareTagKey: optional(env, 'SPARE_TAG_KEY') } : {}),
    ...(optional(env, 'ROLE_TAG_KEY') ? { roleTagKey: optional(env, 'ROLE_TAG_KEY') } : {}),
    ...(optional(env, 'HOSTNAME_TAG_KEY') ? { hostnameTagKey: optional(env, 'HOSTNAME_TAG_KEY') } : {}),
  });

  const launchTemplate = launchTemplateFromEnv(env);
  const subnetId = matchingEnv(env, 'REPLACEMENT_SUBNET_ID', /^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, 'a subnet ID (subnet-...)');
  const provisioning = new Ec2Provisioning({
    ec2: all.ec2,
    ssm: all.ssm,
    ...(optional(env, 'SPARE_TAG_KEY') ? { spareTagKey: optional(env, 'SPARE_TAG_KEY') } : {}),
    ...(optional(env, 'HOSTNAME_TAG_KEY') ? { hostnameTagKey: optional(env, 'HOSTNAME_TAG_KEY') } : {}),
    ...(launchTemplate ? { launchTemplate } : {}),
    ...(subnetId ? { subnetId } : {}),
    configKey: 'replacementLaunchTemplate (LAUNCH_TEMPLATE_ID or LAUNCH_TEMPLATE_NAME)',
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.now ? { now: () => now().getTime() } : {}),
  });

  return {
    target: 'aws',
    runner,
    etcd: (via, endpoints) => new EtcdctlMembership(runner, via, endpoints),
    securityGroups: new Ec2SecurityGroups({
      ec2: all.ec2,
      etcdSecurityGroupId,
      ...(targetSecurityGroupId ? { targetSecurityGroupId } : {}),
      ...(quarantineSecurityGroupId ? { quarantineSecurityGroupId } : {}),
    }),
    artifacts: new S3ArtifactStore({
      s3: all.s3,
      bucket,
      prefix: optional(env, 'ARTIFACT_PREFIX') ?? 'etcd-replace/',
      ...(kmsKeyId ? { kmsKeyId } : {}),
      ...(options.presign ? { presign: options.presign } : {}),
    }),
    // Every state machine whose runs take the cluster lock (LOCK_STATE_MACHINE_ARNS: the replacement's and the restore's).
    lock: new DynamoLock({
      doc: all.doc,
      table,
      now,
      holderAlive: executionLiveness(all.sfn, optional(env, 'LOCK_STATE_MACHINE_ARNS')?.split(',') ?? optional(env, 'STATE_MACHINE_ARN')),
    }),
    // The restore's approval waivers read the former members' instance states (ChooseRestorePoint).
    instances: new Ec2InstanceStates({ ec2: all.ec2 }),
    runs: new DynamoRunStore({ doc: all.doc, table, ...(retention ? { retentionDays: validate.positiveInt('RUN_RETENTION_DAYS', retention) } : {}) }),
    discovery,
    provisioning,
    resolveInventory: (request) =>
      discovery.forRequest({
        cluster: request.cluster,
        failed: request.failed,
        ...(typeof request.replacement === 'string' ? { replacement: request.replacement } : {}),
        ...(request.inventory ? { inventory: request.inventory } : {}),
      }),
    sleep,
    now,
    log,
    waits: {
      memberStartSeconds: seconds(env, 'MEMBER_START_SECONDS', DEFAULT_WAITS.memberStartSeconds),
      memberCatchUpSeconds: seconds(env, 'MEMBER_CATCH_UP_SECONDS', DEFAULT_WAITS.memberCatchUpSeconds),
      masterHealthSeconds: seconds(env, 'MASTER_HEALTH_SECONDS', DEFAULT_WAITS.masterHealthSeconds),
      urlTtlSeconds: seconds(env, 'URL_TTL_SECONDS', DEFAULT_WAITS.urlTtlSeconds, MAX_URL_TTL_SECONDS),
      lockTtlSeconds: seconds(env, 'LOCK_TTL_SECONDS', DEFAULT_WAITS.lockTtlSeconds),
    },
    clients: all,
    ...(topicArn
      ? {
          approvals: new DynamoSnsApprovals({
            doc: all.doc,
            table,
            sns: options.sns ?? new SNSClient(optional(env, 'AWS_REGION') ? { region: optional(env, 'AWS_REGION') } : {}),
            topicArn,
            stateMachineArn: required(env, 'STATE_MACHINE_ARN'),
            now,
          }),
        }
      : {}),
  };
}
