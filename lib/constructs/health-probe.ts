// The health probe (a scheduled function that asks each member's etcd through SSM and publishes its
// health), an alarm per member on that health, and an EC2 system status-check alarm per member.

import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { statusAlarmDescription, statusAlarmName, statusAlarmSettings } from '../../functions/adapters/aws/statusAlarms.ts';
import { handlerFunction } from './handler-function.ts';
import { acknowledgeRunCommand, grantRunCommand } from './host-grants.ts';
import { memberHealthMetric, METRIC_NAMESPACE, probeTiming, type ReplacementContext } from './shared.ts';

/** Created on the EtcdReplacement's own scope, so the logical IDs are those it always had. */
export class HealthProbe {
  readonly function: NodejsFunction;
  /** One per member: ALARM starts a replacement of that member. */
  readonly memberAlarms: cloudwatch.Alarm[];
  /** One per member on its EC2 system status check: ALARM starts a replacement of that member. */
  readonly statusCheckAlarms: cloudwatch.Alarm[];

  constructor(scope: Construct, ctx: ReplacementContext) {
    const { cluster, config } = ctx;
    const probeLogs = new logs.LogGroup(scope, 'ProbeLogs', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.RETAIN });
    const probeRole = new iam.Role(scope, 'ProbeRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `etcd-replace ${cluster}: the etcd health probe`,
    });
    probeLogs.grantWrite(probeRole);
    grantRunCommand(probeRole, config, { includeSparePool: false });
    probeRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishHealthMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );
    acknowledgeRunCommand(probeRole);
    this.function = handlerFunction(scope, 'HealthProbe', {
      description: `etcd-replace ${cluster}: etcd member health metrics`,
      handlerFile: 'healthProbe.ts',
      memorySize: 256,
      timeout: Duration.seconds(55),
      role: probeRole,
      logGroup: probeLogs,
      environment: { ...ctx.observability, METRIC_NAMESPACE, MEMBERS: ctx.watched, SCRIPTS_DIR: '/var/task/scripts' },
      runtime: ctx.runtime,
    });
    const probe = probeTiming(config);
    new events.Rule(scope, 'ProbeSchedule', {
      description: `etcd-replace ${cluster}: run the etcd health probe every ${probe.intervalMinutes === 1 ? 'minute' : `${probe.intervalMinutes} minutes`}`,
      schedule: events.Schedule.rate(Duration.minutes(probe.intervalMinutes)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });

    this.memberAlarms = config.members.map(
      (member) =>
        new cloudwatch.Alarm(scope, `MemberAlarm-${member.name}`, {
          alarmName: `${ctx.alarmPrefix}${member.name}`,
          alarmDescription: `etcd member ${member.hostname} (${member.instanceId}) of ${cluster} has not been healthy in ${probe.memberPeriods} probe(s) in a row (${probe.memberPeriods * probe.intervalMinutes} minutes); ALARM starts a replacement`,
          metric: memberHealthMetric(ctx, member),
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          threshold: 1,
          evaluationPeriods: probe.memberPeriods,
          datapointsToAlarm: probe.memberPeriods,
          // No data means the probe could not ask etcd at all, not that this member failed: a broken
          // probe must not start replacements (the probe alarm says the probe is broken).
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );

    // EC2's own signal: the system status check, which EC2 runs on every running instance every minute
    // (hardware, power, network of the host). Its ALARM goes through the same rule as the probe's alarms:
    // the rule's input names the failed member by the alarm's InstanceId dimension.
    const status = statusAlarmSettings(config.statusCheckMinutes);
    this.statusCheckAlarms = config.members.map(
      (member) =>
        new cloudwatch.Alarm(scope, `StatusCheckAlarm-${member.name}`, {
          alarmName: statusAlarmName(cluster, member.name),
          alarmDescription: statusAlarmDescription(cluster, member, config.statusCheckMinutes),
          metric: new cloudwatch.Metric({
            namespace: status.namespace,
            metricName: status.metricName,
            dimensionsMap: { InstanceId: member.instanceId },
            statistic: cloudwatch.Stats.MAXIMUM,
            period: Duration.seconds(status.periodSeconds),
          }),
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          threshold: status.threshold,
          evaluationPeriods: status.evaluationPeriods,
          datapointsToAlarm: status.datapointsToAlarm,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );
  }
}
