// Run outcomes: the SNS topic (and its e-mail subscription), and the function that writes a message
// when a run ends.

import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { handlerFunction } from './handler-function.ts';
import { acknowledgeExecutionHistory, readStepDetails, type ReplacementContext } from './shared.ts';

/** Created on the EtcdReplacement's own scope, so the logical IDs are those it always had. */
export class Outcomes {
  readonly topic: sns.Topic;
  readonly notifier: NodejsFunction;

  constructor(scope: Construct, ctx: ReplacementContext, props: { key: kms.Key; table: dynamodb.Table; stateMachine: sfn.StateMachine }) {
    const { cluster, config } = ctx;
    const { key, table, stateMachine } = props;
    this.topic = new sns.Topic(scope, 'Outcomes', {
      displayName: `etcd-replace ${cluster} run outcomes`,
      masterKey: key,
      enforceSSL: true,
    });
    if (config.notificationEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(config.notificationEmail));
    // A small function writes the message: how the run ended in the workflow's words (refused is not
    // failed), the member replaced and its replacement, the timeline, the reason and what is left for a
    // person. It reads the execution history and sends only named fields: the execution's input and
    // output stay in the execution history and the audit record.
    const notifyLogs = new logs.LogGroup(scope, 'NotifyLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    const notifyRole = new iam.Role(scope, 'NotifyRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: run-outcome notifications`,
    });
    notifyLogs.grantWrite(notifyRole);
    notifyRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'PublishOutcome', actions: ['sns:Publish'], resources: [this.topic.topicArn] }));
    notifyRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'EncryptOutcome', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [key.keyArn] }),
    );
    notifyRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadFinalContext', actions: ['states:GetExecutionHistory'], resources: [ctx.executionsArn] }),
    );
    notifyRole.addToPrincipalPolicy(readStepDetails(table));
    this.notifier = handlerFunction(scope, 'NotifyOutcome', {
      description: `etcd-replace ${cluster}: run-outcome notifications`,
      handlerFile: 'notifyOutcome.ts',
      memorySize: 256,
      timeout: Duration.seconds(30),
      role: notifyRole,
      logGroup: notifyLogs,
      environment: { ...ctx.observability, TOPIC_ARN: this.topic.topicArn, MEMBERS: ctx.watched, TABLE: table.tableName },
      runtime: ctx.runtime,
    });
    new events.Rule(scope, 'RunOutcome', {
      description: `etcd-replace ${cluster}: notify when a run ends`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [stateMachine.stateMachineArn],
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
      targets: [new targets.LambdaFunction(this.notifier, { retryAttempts: 4, maxEventAge: Duration.hours(6) })],
    });

    acknowledgeExecutionHistory(notifyRole, ctx);
    Validations.of(notifyRole).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray trace upload does not support resource-level permissions.' });
  }
}
