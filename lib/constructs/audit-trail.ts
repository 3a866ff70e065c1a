// The audit trail: a function that writes each execution's record on every status change, and takes
// the principal that started it from CloudTrail. It follows both state machines: the replacement's and
// the restore's (`etcd-restore-<cluster>`, restore-workflow.ts), whose name, and so ARN, is fixed by the
// cluster's name (shared.ts restoreNames), so its rules and grants need not wait for that construct.

import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { handlerFunction } from './handler-function.ts';
import { acknowledgeExecutionHistory, readStepDetails, restoreNames, type ReplacementContext } from './shared.ts';

/** Created on the EtcdReplacement's own scope, so the logical IDs are those it always had. */
export class AuditTrail {
  readonly recorder: NodejsFunction;

  constructor(scope: Construct, ctx: ReplacementContext, props: { key: kms.Key; table: dynamodb.Table; stateMachine: sfn.StateMachine }) {
    const { cluster, config } = ctx;
    const { key, table, stateMachine } = props;
    const restore = restoreNames(cluster);
    // Both workflows' executions: a restore's record is kept, and shown by `history --target aws`, as a replacement's.
    const stateMachineArns = [stateMachine.stateMachineArn, restore.stateMachineArn];
    const auditLogs = new logs.LogGroup(scope, 'AuditLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    const auditRole = new iam.Role(scope, 'AuditRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: the audit record of every execution`,
    });
    auditLogs.grantWrite(auditRole);
    auditRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadExecutions',
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        resources: [ctx.executionsArn, restore.executionsArn],
      }),
    );
    auditRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteAuditRecords',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['run#*'] } },
      }),
    );
    auditRole.addToPrincipalPolicy(readStepDetails(table));
    auditRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptRecords',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [key.keyArn],
      }),
    );
    auditRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'FindWhoStartedIt', actions: ['cloudtrail:LookupEvents'], resources: ['*'] }));
    auditRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadMemberAlarmHistory',
        actions: ['cloudwatch:DescribeAlarmHistory'],
        resources: [
          `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${ctx.alarmPrefix}*`,
          `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${restore.quorumAlarm}`,
        ],
      }),
    );
    this.recorder = handlerFunction(scope, 'AuditRecorder', {
      description: `etcd-replace ${cluster}: the audit record of every execution`,
      handlerFile: 'auditRecorder.ts',
      memorySize: 256,
      timeout: Duration.seconds(60),
      role: auditRole,
      logGroup: auditLogs,
      environment: {
        ...ctx.observability,
        TABLE: table.tableName,
        STATE_MACHINE_ARN: ctx.stateMachineArn,
        RESTORE_STATE_MACHINE_ARN: restore.stateMachineArn,
        QUORUM_ALARM_NAME: restore.quorumAlarm,
        RUN_RETENTION_DAYS: String(config.runRetentionDays),
        MEMBERS: ctx.watched,
      },
      runtime: ctx.runtime,
    });
    new events.Rule(scope, 'AuditTrail', {
      description: `etcd-replace ${cluster}: record every status change of every execution`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: stateMachineArns },
      },
      targets: [new targets.LambdaFunction(this.recorder, { retryAttempts: 8, maxEventAge: Duration.hours(12) })],
    });
    // Only where the account has a CloudTrail trail does EventBridge receive API calls; without one the
    // recorder asks CloudTrail's event history once the execution has ended.
    new events.Rule(scope, 'AuditStartedBy', {
      description: `etcd-replace ${cluster}: record who called StartExecution (CloudTrail)`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['states.amazonaws.com'],
          eventName: ['StartExecution'],
          requestParameters: { stateMachineArn: stateMachineArns },
        },
      },
      targets: [new targets.LambdaFunction(this.recorder, { retryAttempts: 8, maxEventAge: Duration.hours(12) })],
    });

    acknowledgeExecutionHistory(auditRole, ctx);
    Validations.of(auditRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${restore.stateMachineName}:*]`,
      reason: 'The history of any execution of the restore state machine: execution names are chosen per run.',
    });
    Validations.of(auditRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'cloudtrail:LookupEvents and X-Ray trace upload do not support resource-level permissions.',
    });
    Validations.of(auditRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:${ctx.alarmPrefix}*]`,
      reason: "The alarm history of this cluster's member alarms only, whose names share the prefix; members change as they are replaced.",
    });
  }
}
