// EC2's own failure signals: the state changes of the cluster's etcd instances (stopping, stopped,
// shutting-down, terminated) through a small function that reads the instance's tags (EventBridge
// cannot match on them) and starts the run; after a successful run, the same function keeps
// status-check alarms on the members the configuration does not list yet.

import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { FAILURE_STATES } from '../../functions/adapters/aws/ec2Signals.ts';
import { DEFAULT_TAG_KEYS } from '../../functions/adapters/aws/discovery.ts';
import { REPLACED_BY_TAG } from '../../functions/adapters/aws/launchTags.ts';
import { watchedAlarmPattern } from '../../functions/adapters/aws/statusAlarms.ts';
import { handlerFunction } from './handler-function.ts';
import type { ReplacementContext } from './shared.ts';

/** Created on the EtcdReplacement's own scope, so the logical IDs are those it always had. */
export class Ec2Signals {
  /** Starts a replacement when a member's instance stops or terminates; keeps status-check alarms on members the configuration does not list yet. */
  readonly function: NodejsFunction;
  readonly #watchRule: events.Rule;

  constructor(scope: Construct, ctx: ReplacementContext, stateMachine: sfn.StateMachine) {
    const { cluster, config } = ctx;
    // EventBridge cannot match on tags, so the rule sends the state changes of every instance of the
    // account and region; the function reads each instance and acts only on an etcd member of this cluster
    // (functions/adapters/aws/ec2Signals.ts). Its execution name is the CLI's per-hour default: stopping
    // then stopped, or a redelivered event, start one execution.
    const signalLogs = new logs.LogGroup(scope, 'SignalLogs', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.RETAIN });
    const signalRole = new iam.Role(scope, 'SignalRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: EC2 state changes of the etcd members, and their status-check alarms`,
    });
    signalLogs.grantWrite(signalRole);
    signalRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadInstanceTags', actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    signalRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'StartReplacement', actions: ['states:StartExecution'], resources: [ctx.stateMachineArn] }));
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
    this.function = handlerFunction(scope, 'Ec2Signal', {
      description: `etcd-replace ${cluster}: EC2 state changes of the etcd members, and their status-check alarms`,
      handlerFile: 'ec2Signal.ts',
      memorySize: 256,
      timeout: Duration.seconds(30),
      role: signalRole,
      logGroup: signalLogs,
      environment: {
        ...ctx.observability,
        CLUSTER_TAG_KEY: config.clusterTagKey,
        STATE_MACHINE_ARN: ctx.stateMachineArn,
        GRACE_SECONDS: String(config.alarmGraceSeconds),
        FINAL_STATES: config.finalSignals.flatMap((f) => (f.startsWith('ec2:') ? [f.slice('ec2:'.length)] : [])).join(','),
        STATUS_CHECK_MINUTES: String(config.statusCheckMinutes),
        MEMBERS: ctx.watched,
      },
      runtime: ctx.runtime,
    });
    new events.Rule(scope, 'Ec2StateTrigger', {
      description: `etcd-replace ${cluster}: an etcd member of ${cluster} stopping or terminating starts its replacement (other instances are ignored)`,
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EC2 Instance State-change Notification'],
        detail: { state: [...FAILURE_STATES] },
      },
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 4, maxEventAge: Duration.hours(1) })],
    });
    this.#watchRule = new events.Rule(scope, 'WatchReplacedMembers', {
      description: `etcd-replace ${cluster}: after a successful run, status-check alarms on the members the configuration does not list yet`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [stateMachine.stateMachineArn], status: ['SUCCEEDED'] },
      },
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });

    const instances = 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]';
    Validations.of(signalRole).acknowledge({
      id: instances,
      reason:
        'ec2:CreateTags of the one tag etcd-replace:replaced-by (aws:TagKeys), on instances carrying the cluster tag (aws:ResourceTag) only; instance IDs change as members are replaced.',
    });
    Validations.of(signalRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeInstances and X-Ray trace upload do not support resource-level permissions.',
    });
    Validations.of(signalRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*]',
      reason: `cloudwatch:DescribeAlarms (read only) lists the run-time status-check alarms by the name prefix ${ctx.alarmPrefix}; a listing is authorized against all alarms, not the prefix.`,
    });
    Validations.of(signalRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:${watchedAlarmPattern(cluster)}]`,
      reason:
        'PutMetricAlarm and DeleteAlarms of the run-time status-check alarms only (a name pattern no alarm of the stack has), with no alarm action; their instances are chosen at run time.',
    });
  }

  /**
   * The runs of another state machine change membership too (the restore re-adds members, on spares as well):
   * after each of its successful runs, the same tags and status-check alarms.
   */
  watchRunsOf(stateMachine: sfn.StateMachine): void {
    this.#watchRule.addEventPattern({ detail: { stateMachineArn: [stateMachine.stateMachineArn] } });
  }
}
