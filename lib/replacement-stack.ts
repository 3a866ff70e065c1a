// The deployable stack: one EtcdReplacement (lib/etcd-replacement.ts) for one cluster, and the outputs
// an operator needs. The construct's id is `Default`, which CDK leaves out of logical IDs: the
// resources keep the logical IDs they had when the stack defined them itself, so an existing
// deployment updates in place instead of replacing its bucket, table and key.

import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from './config.ts';
import { restoreOutputs } from './constructs/restore-workflow.ts';
import { EtcdReplacement } from './etcd-replacement.ts';

export { lambdaTimeoutSeconds, PROJECT_ROOT } from './constructs/shared.ts';

export interface ReplacementStackProps extends StackProps {
  config: DeploymentConfig;
}

export class ReplacementStack extends Stack {
  readonly replacement: EtcdReplacement;

  constructor(scope: Construct, id: string, props: ReplacementStackProps) {
    super(scope, id, props);
    this.replacement = new EtcdReplacement(this, 'Default', { config: props.config });
    const r = this.replacement;
    new CfnOutput(this, 'StateMachineArn', {
      value: r.stateMachine.stateMachineArn,
      description: 'etcd-replace run/status/history --target aws --state-machine-arn',
    });
    new CfnOutput(this, 'ArtifactBucketName', { value: r.artifactBucket.bucketName });
    new CfnOutput(this, 'RunTableName', {
      value: r.table.tableName,
      description: 'locks and the audit record of every run: etcd-replace history --target aws --table',
    });
    new CfnOutput(this, 'OutcomeTopicArn', { value: r.outcomeTopic.topicArn, description: "run outcomes and the stack's alarms" });
    new CfnOutput(this, 'DashboardName', { value: r.dashboard.dashboardName });
    restoreOutputs(this, r.restore);
  }

  get stateMachine(): sfn.StateMachine {
    return this.replacement.stateMachine;
  }
  get stepFunctions(): Record<string, NodejsFunction> {
    return this.replacement.stepFunctions;
  }
  get artifactBucket(): s3.Bucket {
    return this.replacement.artifactBucket;
  }
  get table(): dynamodb.Table {
    return this.replacement.table;
  }
  get key(): kms.Key {
    return this.replacement.key;
  }
  get outcomeTopic(): sns.Topic {
    return this.replacement.outcomeTopic;
  }
  get alarms(): cloudwatch.Alarm[] {
    return this.replacement.alarms;
  }
}
