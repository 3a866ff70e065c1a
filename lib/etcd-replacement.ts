// EtcdReplacement: everything that replaces a failed etcd member of one OpenShift 3.11 cluster on AWS,
// as one construct to put into any CDK stack (lib/replacement-stack.ts is the thin stack around it).
// It only wires its parts, each in lib/constructs/:
//
// - storage.ts: the KMS key, the artifact bucket (and its access logs), the lock and run table;
// - step-lambdas.ts: one Lambda per task state of the workflow, on one least-privilege role
//   (host-grants.ts: SSM Run Command, and launching a replacement host from the launch template only);
// - state-machine.ts: the workflow compiled from the XState model as a Standard state machine;
// - health-probe.ts: the health probe, an alarm per member, and an EC2 system status-check alarm per member;
// - alarm-trigger.ts: the rule that starts a run when one of those alarms fires;
// - ec2-signals.ts: the state changes of the cluster's etcd instances, through a function that reads the
//   instance's tags (EventBridge cannot match on them) and starts the run;
// - outcomes.ts: outcome notifications to an SNS topic;
// - audit-trail.ts: the function that writes each execution's record, with who started it;
// - restore-workflow.ts: the restore-quorum workflow beside the replacement's (its state machine and steps,
//   the approval, the network fence's quarantine group, the quorum-lost alarm that starts it);
// - operational-alarms.ts and dashboard.ts: the stack's own alarms on the same topic, and the dashboard.
//
// The parts are plain classes that create their resources on this construct's own scope, not
// constructs of their own: the construct paths, and so every logical ID, are those of the resources
// when this file defined them all (test/cdk/templateStable.test.ts holds the template to that).
// Every resource carries the tag etcd-replace:cluster = clusterName, and the configuration's `tags`.

import { Tags } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { DeploymentConfig } from './config.ts';
import { AlarmTrigger } from './constructs/alarm-trigger.ts';
import { AuditTrail } from './constructs/audit-trail.ts';
import { ReplacementDashboard } from './constructs/dashboard.ts';
import { Ec2Signals } from './constructs/ec2-signals.ts';
import { HealthProbe } from './constructs/health-probe.ts';
import { OperationalAlarms, type OperationalAlarmSet } from './constructs/operational-alarms.ts';
import { Outcomes } from './constructs/outcomes.ts';
import { RestoreWorkflow } from './constructs/restore-workflow.ts';
import { CLUSTER_RESOURCE_TAG, replacementContext } from './constructs/shared.ts';
import { Workflow } from './constructs/state-machine.ts';
import { StepLambdas } from './constructs/step-lambdas.ts';
import { Storage } from './constructs/storage.ts';

export { CLUSTER_RESOURCE_TAG, METRIC_NAMESPACE, operationalAlarmNames, PROJECT_ROOT, probeTiming, RUN_TABLE_TAG } from './constructs/shared.ts';

export interface EtcdReplacementProps {
  /** The cluster's configuration: parseConfig() of lib/config.ts checks it against its JSON Schema. */
  config: DeploymentConfig;
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
  readonly operationalAlarms: OperationalAlarmSet;
  readonly dashboard: cloudwatch.Dashboard;
  readonly stepLogs: logs.LogGroup;
  /** The restore-quorum workflow: its state machine, steps, approval policy, quarantine group and alarm. */
  readonly restore: RestoreWorkflow;

  constructor(scope: Construct, id: string, props: EtcdReplacementProps) {
    super(scope, id);
    // Whatever the host app's feature flags: the artifact bucket's access logs are delivered under a
    // bucket policy, not an ACL (the log bucket enforces bucket-owner object ownership, no ACLs).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const { config } = props;
    this.config = config;
    const ctx = replacementContext(config, {
      // Every function runs on the Node.js the bundles are built for (esbuild target node22), on arm64.
      runtime: lambda.Runtime.NODEJS_22_X,
    });

    Tags.of(this).add(CLUSTER_RESOURCE_TAG, config.clusterName);
    for (const [key, value] of Object.entries(config.tags ?? {})) Tags.of(this).add(key, value);

    const storage = new Storage(this, ctx);
    this.key = storage.key;
    this.artifactBucket = storage.artifactBucket;
    this.table = storage.table;

    const steps = new StepLambdas(this, ctx, storage);
    this.stepFunctions = steps.functions;
    this.stepLogs = steps.logs;

    this.stateMachine = new Workflow(this, ctx, steps, storage.table).stateMachine;
    const stateMachine = this.stateMachine;

    const probe = new HealthProbe(this, ctx);
    this.healthProbe = probe.function;
    this.alarms = probe.memberAlarms;
    this.statusCheckAlarms = probe.statusCheckAlarms;

    new AlarmTrigger(this, ctx, stateMachine);
    const ec2Signals = new Ec2Signals(this, ctx, stateMachine);
    this.ec2Signal = ec2Signals.function;

    const outcomes = new Outcomes(this, ctx, { key: storage.key, table: storage.table, stateMachine });
    this.outcomeTopic = outcomes.topic;
    this.notifier = outcomes.notifier;

    this.restore = new RestoreWorkflow(this, ctx, {
      storage,
      replacementSteps: steps,
      topic: this.outcomeTopic,
      notifier: this.notifier,
      probe: this.healthProbe,
    });
    ec2Signals.watchRunsOf(this.restore.stateMachine);

    this.auditRecorder = new AuditTrail(this, ctx, { key: storage.key, table: storage.table, stateMachine }).recorder;

    this.operationalAlarms = new OperationalAlarms(this, ctx, { auditRecorder: this.auditRecorder, notifier: this.notifier, topic: this.outcomeTopic }).alarms;
    this.dashboard = new ReplacementDashboard(this, ctx, {
      healthProbe: this.healthProbe,
      stateMachine,
      stepLogs: this.stepLogs,
      alarms: [...this.alarms, ...this.statusCheckAlarms, ...Object.values(this.operationalAlarms)],
    }).dashboard;
  }
}
