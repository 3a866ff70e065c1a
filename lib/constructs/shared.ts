// What the parts of EtcdReplacement (lib/etcd-replacement.ts) share: the names and prefixes other
// code reads too, the probe's timing, and the context each part is built from.

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { TaskSpec } from '../../statemachine/spec.ts';
import { HEALTH_METRIC, memberDimensions } from '../../functions/handlers/healthProbe.ts';
import { SERVICE_NAME } from '../../functions/handlers/observability.ts';
import { memberAlarmPrefix } from '../../functions/adapters/aws/statusAlarms.ts';
import type { DeploymentConfig } from '../config.ts';

/** The repository root: entries, scripts and the lock file are found from here. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Lambda's own limit on a function's timeout. */
const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
/** A step Lambda may run this much longer than its state's TimeoutSeconds (cold start, SDK setup). */
const LAMBDA_TIMEOUT_MARGIN_SECONDS = 30;
export const METRIC_NAMESPACE = 'EtcdReplace';
/** The tag every resource carries, with the cluster's name. */
export const CLUSTER_RESOURCE_TAG = 'etcd-replace:cluster';
/** The state machine's tag naming its run table, where the audit records are (cli/aws/auditHistory.ts reads it). */
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

/**
 * The probe's schedule and what its alarms count: a member alarm after ceil(alarmMinutes / interval)
 * unhealthy probes in a row; the probe alarm after no sample in max(2, ceil(5 / interval)) periods (two
 * at least, so one invocation that lands in the next period never looks like a silent probe).
 */
export function probeTiming(config: Pick<DeploymentConfig, 'alarmMinutes' | 'probeIntervalMinutes'>): {
  intervalMinutes: number;
  memberPeriods: number;
  silentPeriods: number;
} {
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

/** What every part is built from: the configuration and the names derived from it. */
export interface ReplacementContext {
  readonly config: DeploymentConfig;
  readonly cluster: string;
  readonly stateMachineName: string;
  /** Built from the fixed name, so the step functions can be given it without a reference cycle. */
  readonly stateMachineArn: string;
  readonly executionsArn: string;
  /** The prefix of the member alarms' names, which the alarm rule matches. */
  readonly alarmPrefix: string;
  /** The environment every function gets (Powertools, the cluster). */
  readonly observability: Record<string, string>;
  /** The configured members, as the functions read them (MEMBERS). */
  readonly watched: string;
  /** The runtime every function runs on. */
  readonly runtime: lambda.Runtime;
}

export function replacementContext(config: DeploymentConfig, functions: { runtime: lambda.Runtime }): ReplacementContext {
  const cluster = config.clusterName;
  const stateMachineName = `etcd-replace-${cluster}`;
  return {
    config,
    cluster,
    stateMachineName,
    stateMachineArn: `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:${stateMachineName}`,
    executionsArn: `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${stateMachineName}:*`,
    alarmPrefix: memberAlarmPrefix(cluster),
    observability: {
      CLUSTER_NAME: cluster,
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    },
    watched: JSON.stringify(config.members),
    runtime: functions.runtime,
  };
}

/** The restore-quorum workflow's names: its state machine (at most 80 characters for any cluster name the config allows) and its alarm. */
export function restoreNames(cluster: string) {
  const stateMachineName = `etcd-restore-${cluster}`;
  return {
    stateMachineName,
    stateMachineArn: `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:${stateMachineName}`,
    executionsArn: `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${stateMachineName}:*`,
    quorumAlarm: `etcd-replace-${cluster}-quorum-lost`,
  };
}

/** A member's health as the probe publishes it (1 healthy, 0 not), one period per probe. */
export function memberHealthMetric(ctx: ReplacementContext, member: DeploymentConfig['members'][number]): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName: HEALTH_METRIC,
    dimensionsMap: Object.fromEntries(memberDimensions(ctx.cluster, member).map((d) => [d.Name, d.Value])),
    statistic: cloudwatch.Stats.MAXIMUM,
    period: Duration.minutes(probeTiming(ctx.config).intervalMinutes),
  });
}

/** A metric the audit recorder publishes for finished runs of one outcome (no label: an alarm on a labelled metric becomes a metric-math alarm). */
export function runMetric(cluster: string, name: string, outcome: string, statistic: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName: name,
    dimensionsMap: { ClusterName: cluster, Outcome: outcome },
    statistic,
    period,
  });
}

/** The cdk-nag finding of a role that reads the executions of the one state machine. */
export function acknowledgeExecutionHistory(role: iam.Role, ctx: ReplacementContext): void {
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${ctx.stateMachineName}:*]`,
    reason: 'The history of any execution of this one state machine: execution names are chosen per run.',
  });
}

/** What each step reported (a step that found its work done is named skipped in the timeline): the notifier and the audit recorder read it. */
export function readStepDetails(table: dynamodb.Table): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'ReadStepDetails',
    actions: ['dynamodb:Query'],
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['steps#*'] } },
  });
}
