// The stack's own alarms, each notifying the outcome topic: failed and refused runs, a silent probe,
// and errors of the audit writer and of the notifier.

import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { HEALTH_METRIC, memberDimensions } from '../../functions/handlers/healthProbe.ts';
import { METRICS } from '../../functions/handlers/observability.ts';
import { METRIC_NAMESPACE, operationalAlarmNames, probeTiming, runMetric, type ReplacementContext } from './shared.ts';

export type OperationalAlarmSet = Record<keyof ReturnType<typeof operationalAlarmNames>, cloudwatch.Alarm>;

/** Created on the EtcdReplacement's own scope, so the logical IDs are those it always had. */
export class OperationalAlarms {
  readonly alarms: OperationalAlarmSet;

  constructor(scope: Construct, ctx: ReplacementContext, props: { auditRecorder: NodejsFunction; notifier: NodejsFunction; topic: sns.Topic }) {
    const { cluster, config } = ctx;
    const names = operationalAlarmNames(cluster);
    const fiveMinutes = Duration.minutes(5);
    const onRun = (id: string, alarmName: string, outcome: string, what: string) =>
      new cloudwatch.Alarm(scope, id, {
        alarmName,
        alarmDescription: `A replacement run of ${cluster} ended ${what}. The outcome notification names the run and the reason; \`etcd-replace history --target aws\` shows its audit record.`,
        metric: runMetric(cluster, METRICS.runs, outcome, cloudwatch.Stats.SUM, fiveMinutes),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const onErrors = (id: string, alarmName: string, fn: NodejsFunction, what: string) =>
      new cloudwatch.Alarm(scope, id, {
        alarmName,
        alarmDescription: `${what} of ${cluster} failed (after EventBridge's retries it may be lost); see its log group.`,
        metric: fn.metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const first = config.members[0]!;
    const probe = probeTiming(config);
    this.alarms = {
      runFailed: onRun('RunFailedAlarm', names.runFailed, 'failed', 'failed (or timed out, or was stopped)'),
      runRefused: onRun('RunRefusedAlarm', names.runRefused, 'refused', 'refused: nothing unsafe was done, and the member is not replaced'),
      // The probe publishes every member's value each minute it can ask etcd at all: no sample means it
      // did not run, failed, or reached no member host (then member alarms cannot fire either).
      probe: new cloudwatch.Alarm(scope, 'ProbeAlarm', {
        alarmName: names.probe,
        alarmDescription: `The etcd health probe of ${cluster} has published no member health for ${probe.silentPeriods * probe.intervalMinutes} minutes: it is not running, fails (ProbeFailed, errors in its log group), or reaches no member host through SSM. While it does, no member alarm can start a replacement.`,
        metric: new cloudwatch.Metric({
          namespace: METRIC_NAMESPACE,
          metricName: HEALTH_METRIC,
          dimensionsMap: Object.fromEntries(memberDimensions(cluster, first).map((d) => [d.Name, d.Value])),
          statistic: cloudwatch.Stats.SAMPLE_COUNT,
          period: Duration.minutes(probe.intervalMinutes),
        }),
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        threshold: 1,
        evaluationPeriods: probe.silentPeriods,
        datapointsToAlarm: probe.silentPeriods,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      audit: onErrors('AuditAlarm', names.audit, props.auditRecorder, 'Writing the audit record of an execution'),
      notify: onErrors('NotifyAlarm', names.notify, props.notifier, 'Sending a run-outcome notification'),
    };
    const action = new cwActions.SnsAction(props.topic);
    for (const alarm of Object.values(this.alarms)) alarm.addAlarmAction(action);
  }
}
