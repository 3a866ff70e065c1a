// The CloudWatch dashboard: what starts a run, the alarms, member health, the probe, runs by outcome
// and duration, executions, step durations and step errors.

import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { PROBE_FAILED_METRIC } from '../../functions/handlers/healthProbe.ts';
import { METRICS } from '../../functions/handlers/observability.ts';
import { memberHealthMetric, METRIC_NAMESPACE, probeTiming, runMetric, type ReplacementContext } from './shared.ts';

export interface DashboardProps {
  healthProbe: NodejsFunction;
  stateMachine: sfn.StateMachine;
  stepLogs: logs.LogGroup;
  /** Every alarm of the construct, in the order the alarm widget shows them. */
  alarms: cloudwatch.Alarm[];
}

/** Created on the EtcdReplacement's own scope, so the logical ID is the one it always had. */
export class ReplacementDashboard {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, ctx: ReplacementContext, props: DashboardProps) {
    const { cluster, config } = ctx;
    const { healthProbe, stateMachine } = props;
    const day = Duration.days(1);
    const outcomes = ['succeeded', 'refused', 'failed'];
    const stepSearch = `SEARCH('{${METRIC_NAMESPACE},ClusterName,Step} MetricName="${METRICS.stepDuration}" ClusterName="${cluster}"', 'Maximum', 300)`;
    const probe = probeTiming(config);
    const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', { dashboardName: `etcd-replace-${cluster}`, defaultInterval: Duration.days(7) });
    this.dashboard = dashboard;
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: [
          `# etcd-replace ${cluster}`,
          `Member health comes from the probe every ${probe.intervalMinutes === 1 ? 'minute' : `${probe.intervalMinutes} minutes`}; a member unhealthy in ${probe.memberPeriods} probe(s) in a row, a failed EC2 system status check for ${config.statusCheckMinutes} minutes, or its instance stopping or terminating starts a replacement.`,
          "Runs: `etcd-replace history --target aws --state-machine-arn ARN` (audit records), and the state machine's executions.",
        ].join('\n\n'),
        width: 12,
        height: 4,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: props.alarms, width: 12, height: 4 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Member health (1 healthy, 0 not)',
        left: config.members.map((m) => memberHealthMetric(ctx, m).with({ label: m.name })),
        leftYAxis: { min: 0, max: 1 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Health probe',
        left: [healthProbe.metricInvocations({ period: Duration.minutes(5) }), healthProbe.metricErrors({ period: Duration.minutes(5) })],
        right: [
          new cloudwatch.Metric({
            namespace: METRIC_NAMESPACE,
            metricName: PROBE_FAILED_METRIC,
            dimensionsMap: { ClusterName: cluster },
            statistic: cloudwatch.Stats.SUM,
            period: Duration.minutes(5),
            label: 'ProbeFailed',
          }),
        ],
        width: 12,
      }),
    );
    const run = (name: string, outcome: string, statistic: string) => runMetric(cluster, name, outcome, statistic, day).with({ label: outcome });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Runs by outcome (per day)', left: outcomes.map((o) => run(METRICS.runs, o, cloudwatch.Stats.SUM)), width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Run duration (s)', left: outcomes.map((o) => run(METRICS.runDuration, o, cloudwatch.Stats.MAXIMUM)), width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Executions (Step Functions)',
        left: [
          stateMachine.metricStarted({ period: day }),
          stateMachine.metricSucceeded({ period: day }),
          stateMachine.metricFailed({ period: day }),
          stateMachine.metricTimedOut({ period: day }),
          stateMachine.metricAborted({ period: day }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Step duration (ms), each step',
        left: [new cloudwatch.MathExpression({ expression: stepSearch, label: '', period: Duration.minutes(5) })],
        width: 12,
      }),
      new cloudwatch.LogQueryWidget({
        title: 'Step errors (newest first)',
        logGroupNames: [props.stepLogs.logGroupName],
        queryLines: ['fields @timestamp, runId, step, error, message', 'filter level = "ERROR"', 'sort @timestamp desc', 'limit 50'],
        width: 12,
      }),
    );
  }
}
