// The restore-quorum workflow on AWS (statemachine/restoreSpec.ts RESTORE_WORKFLOW), beside the
// replacement's and built from the same parts: its own Standard state machine compiled by the same
// compiler, one bundled step Lambda per task (the same entry, functions/handlers/step.ts, told the workflow
// by WORKFLOW), on a role of its own, with the replacement's run table, lock, artifact bucket, key, step
// log group and outcome notifications. Besides:
//
// - the approval: AwaitApproval keeps the task token under `approval#<runId>` in the run table and
//   publishes the request to the outcome topic (functions/adapters/aws/approvals.ts); a managed policy
//   lets an operator answer it with `etcd-replace approve RUN_ID` (SendTaskSuccess/SendTaskFailure). The
//   lock's lease is the replacement's; AwaitApproval extends it over its run's approval window before the
//   wait, since no step renews it while Step Functions waits;
// - the network fence (functions/adapters/aws/ec2Fence.ts): a quarantine security group with no rule
//   (created here in the configured VPC, or the configured one), put in place of a former member's
//   groups on its network interfaces; StopInstances too where the config says `fenceUnreachable:
//   stop-instance`; each allowed only on resources that carry the cluster tag where EC2 can tell;
// - the quorum-lost alarm: the sum of the members' health from the probe below a majority, whose ALARM
//   starts a restore through the same alarm rule as a member alarm's replacement (alarm-trigger.ts).

import { Aws, CfnOutput, Duration, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import type { TaskSpec } from '../../statemachine/spec.ts';
import { AlarmTrigger } from './alarm-trigger.ts';
import { ARTIFACT_PREFIXES, memberHealthMetric, probeTiming, restoreNames, type ReplacementContext } from './shared.ts';
import { Workflow } from './state-machine.ts';
import { StepLambdas } from './step-lambdas.ts';
import type { Storage } from './storage.ts';

/** The restore's task states, in the spec's order. */
export const RESTORE_TASK_NAMES: readonly string[] = RESTORE_WORKFLOW.tasks.map((t) => t.name);

/** What the restore step functions read to tell their workflow (functions/handlers/step.ts). */
export const RESTORE_WORKFLOW_ENV = 'restore-quorum';

/** The majority of a cluster of `members` voting members. */
export const majorityOf = (members: number) => Math.floor(members / 2) + 1;

const ec2Arn = (resource: string) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;

export interface RestoreWorkflowProps {
  storage: Storage;
  /** The replacement's step functions: their log group is shared. */
  replacementSteps: StepLambdas;
  topic: sns.Topic;
  notifier: NodejsFunction;
  /** The health probe: with a quarantine group, it fences a returned former member on the host (functions/handlers/formerMembers.ts). */
  probe: NodejsFunction;
}

/** Created on the EtcdReplacement's own scope, like every other part. */
export class RestoreWorkflow {
  readonly stateMachine: sfn.StateMachine;
  readonly functions: Record<string, NodejsFunction>;
  readonly role: iam.Role;
  /** The stack's quarantine group (absent when the config names its own, or none). */
  readonly quarantineGroup?: ec2.CfnSecurityGroup;
  /** The quarantine group's ID the fence uses (absent: no group, and a restore never forces). */
  readonly quarantineSecurityGroupId?: string;
  /** ALARM starts a restore (absent when the config says `quorumAlarm: false`). */
  readonly quorumAlarm?: cloudwatch.Alarm;
  /** What an operator needs to answer an approval (`etcd-replace approve`). */
  readonly approverPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, ctx: ReplacementContext, props: RestoreWorkflowProps) {
    const { cluster, config } = ctx;
    const restore = config.restore;
    const { storage, topic } = props;
    const names = restoreNames(cluster);

    // No inbound rule, and in place of the default egress rule one that matches nothing (what CDK's
    // allowAllOutbound: false writes): the fence checks that no rule lets 2379/2380 through.
    if (restore.vpcId) {
      this.quarantineGroup = new ec2.CfnSecurityGroup(scope, 'QuarantineGroup', {
        groupDescription: `etcd-replace ${cluster}: quarantine of a fenced former etcd member (no traffic in or out)`,
        vpcId: restore.vpcId,
        securityGroupEgress: [{ cidrIp: '255.255.255.255/32', description: 'Disallow all traffic', ipProtocol: 'icmp', fromPort: 252, toPort: 86 }],
      });
      // The fence may put in place only groups that carry the cluster tag (IAM below).
      Tags.of(this.quarantineGroup).add(config.clusterTagKey, cluster);
      Tags.of(this.quarantineGroup).add('Name', `etcd-replace-${cluster}-quarantine`);
      this.quarantineSecurityGroupId = this.quarantineGroup.attrGroupId;
    } else if (restore.quarantineSecurityGroupId) {
      this.quarantineSecurityGroupId = restore.quarantineSecurityGroupId;
    }

    const clusterTagged = { StringEquals: { [`aws:ResourceTag/${config.clusterTagKey}`]: cluster } };
    const statements = [
      // AwaitApproval's request, to the outcome topic (encrypted with the stack's key, which the role may use).
      new iam.PolicyStatement({ sid: 'PublishApprovalRequest', actions: ['sns:Publish'], resources: [topic.topicArn] }),
      new iam.PolicyStatement({ sid: 'DescribeFence', actions: ['ec2:DescribeNetworkInterfaces'], resources: ['*'] }),
      // ModifyNetworkInterfaceAttribute is authorized on the interface and on every group it is given. Network
      // interfaces do not carry their instance's tags: any interface, but only groups (the quarantine
      // group, and the groups put back when the fence is lifted) and instances that carry the cluster tag.
      new iam.PolicyStatement({ sid: 'FenceNetworkInterfaces', actions: ['ec2:ModifyNetworkInterfaceAttribute'], resources: [ec2Arn('network-interface/*')] }),
      new iam.PolicyStatement({
        sid: 'FenceWithClusterGroups',
        actions: ['ec2:ModifyNetworkInterfaceAttribute'],
        resources: [ec2Arn('security-group/*'), ec2Arn('instance/*')],
        conditions: clusterTagged,
      }),
      ...(restore.fenceUnreachable === 'stop-instance'
        ? [
            new iam.PolicyStatement({
              sid: 'StopUnreachableMembers',
              actions: ['ec2:StopInstances'],
              resources: [ec2Arn('instance/*')],
              conditions: clusterTagged,
            }),
          ]
        : []),
    ];

    const steps = new StepLambdas(scope, ctx, storage, {
      tasks: RESTORE_TASK_NAMES,
      taskSpec: (name) => RESTORE_WORKFLOW.tasks.find((t) => t.name === name) as TaskSpec,
      functionId: 'RestoreSteps',
      functionLabel: 'restore-quorum',
      roleId: 'RestoreStepRole',
      roleDescription: "the restore-quorum workflow's step function",
      logs: props.replacementSteps.logs,
      stateMachineArn: names.stateMachineArn,
      // Either workflow's run may hold the cluster lock.
      lockHolderExecutionsArns: [names.executionsArn, ctx.executionsArn],
      extraLeadingKeys: ['approval#*'],
      environment: {
        WORKFLOW: RESTORE_WORKFLOW_ENV,
        TOPIC_ARN: topic.topicArn,
        ...(this.quarantineSecurityGroupId ? { QUARANTINE_SG_ID: this.quarantineSecurityGroupId } : {}),
        RESTORE_FENCE_UNREACHABLE: restore.fenceUnreachable,
        RESTORE_APPROVAL_WAIVERS: restore.approvalWaivers.join(','),
        RESTORE_APPROVAL_TIMEOUT_SECONDS: String(restore.approvalTimeoutSeconds),
        // The lock's lease is the replacement's: AwaitApproval extends it over the wait of its own run
        // (functions/steps/AwaitApproval.ts), and the lock's liveness keeps it while the execution runs.
      },
      statements,
    });
    this.functions = steps.functions;
    this.role = steps.role;

    this.stateMachine = new Workflow(scope, ctx, steps, storage.table, {
      spec: RESTORE_WORKFLOW,
      stateMachineName: names.stateMachineName,
      id: 'RestoreStateMachine',
      logsId: 'RestoreStateMachineLogs',
      tasks: RESTORE_TASK_NAMES,
    }).stateMachine;

    // The probe is the next observation after a restore: a former member that came back with its old data,
    // held by the network fence, is fenced on the host as well (its etcd stopped, its pod moved, its data
    // uploaded under runs/), where SSM reaches it. On only with a quarantine group.
    if (this.quarantineSecurityGroupId) {
      props.probe.addEnvironment('QUARANTINE_SG_ID', this.quarantineSecurityGroupId);
      props.probe.addEnvironment('BUCKET', storage.artifactBucket.bucketName);
      props.probe.addEnvironment('KMS_KEY_ID', storage.key.keyArn);
      props.probe.addEnvironment('ARTIFACT_PREFIX', ARTIFACT_PREFIXES.artifacts);
      const probePolicy = new iam.Policy(scope, 'ProbeFormerMembersPolicy', {
        roles: [props.probe.role!],
        statements: [
          new iam.PolicyStatement({ sid: 'ReadFences', actions: ['ec2:DescribeInstances', 'ec2:DescribeNetworkInterfaces'], resources: ['*'] }),
          new iam.PolicyStatement({
            sid: 'StoreFormerMemberData',
            actions: ['s3:PutObject', 's3:GetObject'],
            resources: [storage.artifactBucket.arnForObjects(`${ARTIFACT_PREFIXES.artifacts}runs/*`)],
          }),
          new iam.PolicyStatement({ sid: 'EncryptFormerMemberData', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [storage.key.keyArn] }),
        ],
      });
      Validations.of(probePolicy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ec2:DescribeInstances and DescribeNetworkInterfaces support no resource-level permission.',
      });
      const bucketId = Stack.of(scope).getLogicalId(storage.artifactBucket.node.defaultChild as s3.CfnBucket);
      Validations.of(probePolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${ARTIFACT_PREFIXES.artifacts}runs/*]`,
        reason: "A returned former member's data goes under runs/former-<membership>/, named at run time.",
      });
    }

    // The same notifications as a replacement's: the notifier reads the restore's executions too.
    const notifyPolicy = new iam.Policy(scope, 'RestoreNotifyPolicy', {
      roles: [props.notifier.role!],
      statements: [new iam.PolicyStatement({ sid: 'ReadRestoreContext', actions: ['states:GetExecutionHistory'], resources: [names.executionsArn] })],
    });
    Validations.of(notifyPolicy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${names.stateMachineName}:*]`,
      reason: 'The history of any execution of the restore state machine: execution names are chosen per run.',
    });
    new events.Rule(scope, 'RestoreOutcome', {
      description: `etcd-replace ${cluster}: notify when a restore ends`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [this.stateMachine.stateMachineArn], status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      targets: [new targets.LambdaFunction(props.notifier, { retryAttempts: 4, maxEventAge: Duration.hours(6) })],
    });

    // The quorum-lost alarm: fewer than a majority of the configured members healthy in as many probes in a
    // row as a member alarm needs. A probe that cannot ask etcd at all publishes no member value: no data,
    // not breaching (a broken probe must not start a restore; the probe alarm says it is broken).
    if (restore.quorumAlarm) {
      const probe = probeTiming(config);
      const majority = majorityOf(config.members.length);
      const usingMetrics = Object.fromEntries(config.members.map((member, i) => [`m${i}`, memberHealthMetric(ctx, member)]));
      this.quorumAlarm = new cloudwatch.Alarm(scope, 'QuorumLostAlarm', {
        alarmName: names.quorumAlarm,
        alarmDescription: `etcd of ${cluster}: fewer than ${majority} of its ${config.members.length} members healthy in ${probe.memberPeriods} probe(s) in a row; ALARM starts a restore (it waits for approval)`,
        metric: new cloudwatch.MathExpression({
          expression: Object.keys(usingMetrics).join(' + '),
          usingMetrics,
          label: 'members healthy',
          period: Duration.minutes(probe.intervalMinutes),
        }),
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        threshold: majority,
        evaluationPeriods: probe.memberPeriods,
        datapointsToAlarm: probe.memberPeriods,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      new AlarmTrigger(scope, ctx, this.stateMachine, {
        id: 'QuorumLostTrigger',
        description: `etcd-replace ${cluster}: the quorum-lost alarm in ALARM starts a restore`,
        alarmName: [names.quorumAlarm],
        input: {
          cluster,
          startedBy: `alarm:${events.EventField.fromPath('$.detail.alarmName')}`,
          options: {
            graceSeconds: restore.graceSeconds,
            approvalTimeoutSeconds: restore.approvalTimeoutSeconds,
            ...(restore.approvalWaivers.length > 0 ? { approvalWaivers: restore.approvalWaivers } : {}),
            fenceUnreachable: restore.fenceUnreachable,
          },
        },
      });
    }

    // `etcd-replace approve RUN_ID --target aws --state-machine-arn ARN`: the run table from the state
    // machine's tag, the pending approval (read, then forgotten), and the answer.
    this.approverPolicy = new iam.ManagedPolicy(scope, 'RestoreApproverPolicy', {
      description: `etcd-replace ${cluster}: answer a restore's approval (etcd-replace approve)`,
      statements: [
        // SendTaskSuccess/SendTaskFailure have no resource type (IAM's service reference): the task token is
        // what names the task, and the only place it is kept is the approval item below.
        new iam.PolicyStatement({ sid: 'AnswerApproval', actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'], resources: ['*'] }),
        new iam.PolicyStatement({ sid: 'FindRunTable', actions: ['states:ListTagsForResource'], resources: [names.stateMachineArn] }),
        new iam.PolicyStatement({
          sid: 'PendingApprovals',
          actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'],
          resources: [storage.table.tableArn],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['approval#*'] } },
        }),
        // The run table is encrypted with the stack's key: reading an item needs it.
        new iam.PolicyStatement({ sid: 'DecryptRunTable', actions: ['kms:Decrypt'], resources: [storage.key.keyArn] }),
      ],
    });

    Validations.of(this.approverPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'states:SendTaskSuccess and SendTaskFailure support no resource-level permission; the task token they need is readable only from approval# items of the run table, which this policy alone grants.',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]',
      reason:
        "The fence changes the groups of a former member's network interfaces, found at run time; interfaces carry no cluster tag, so the groups and instances involved are limited by the cluster tag instead.",
    });
  }
}

/** The restore's outputs, for the CLI (restore-quorum, approve) and the operators' policy. */
export function restoreOutputs(scope: Construct, restore: RestoreWorkflow): void {
  new CfnOutput(scope, 'RestoreStateMachineArn', {
    value: restore.stateMachine.stateMachineArn,
    description: 'etcd-replace restore-quorum/approve --target aws --state-machine-arn',
  });
  new CfnOutput(scope, 'RestoreApproverPolicyArn', {
    value: restore.approverPolicy.managedPolicyArn,
    description: 'attach to whoever answers a restore approval (etcd-replace approve)',
  });
  if (restore.quarantineSecurityGroupId) new CfnOutput(scope, 'QuarantineSecurityGroupId', { value: restore.quarantineSecurityGroupId });
}
