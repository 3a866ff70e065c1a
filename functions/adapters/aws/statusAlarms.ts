// EC2 system status-check alarms of the cluster's etcd members. Each watches AWS/EC2
// StatusCheckFailed_System {InstanceId} (EC2 checks every running instance every minute); its ALARM
// state starts a replacement through the stack's alarm rule, whose input names the failed member by the
// alarm's InstanceId dimension, as for the probe's member alarms.
//
// Names share the member alarms' prefix `etcd-replace-<cluster>-member-` (the alarm rule and the audit
// trail's alarm history cover them), with a `.` that no member name contains:
// - `…-member-<name>.ec2-status`: the stack's, one per configured member (CloudFormation owns them);
// - `…-member-<name>.ec2-status.<instance ID>`: put at run time for a member the configuration does not
//   list yet (a replaced member's new host), deleted when that instance is gone or replaced. IAM lets the
//   function that keeps them touch these names only (watchedAlarmPattern).

import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  type CloudWatchClient,
  type PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';

export const STATUS_CHECK_NAMESPACE = 'AWS/EC2';
export const STATUS_CHECK_METRIC = 'StatusCheckFailed_System';

const WATCHED = /\.ec2-status\.(i-(?:[0-9a-f]{8}|[0-9a-f]{17}))$/;

/** The prefix of every alarm that starts a replacement of a member of this cluster. */
export function memberAlarmPrefix(cluster: string): string {
  return `etcd-replace-${cluster}-member-`;
}

/** The stack's status-check alarm of a configured member. */
export function statusAlarmName(cluster: string, memberName: string): string {
  return `${memberAlarmPrefix(cluster)}${memberName}.ec2-status`;
}

/** A status-check alarm put at run time, for a member the configuration does not list. */
export function watchedAlarmName(cluster: string, memberName: string, instanceId: string): string {
  return `${statusAlarmName(cluster, memberName)}.${instanceId}`;
}

/** The alarm names (IAM resource pattern) the run-time alarms have, and no alarm of the stack has. */
export function watchedAlarmPattern(cluster: string): string {
  return `${memberAlarmPrefix(cluster)}*.ec2-status.i-*`;
}

/** The instance a run-time status-check alarm watches, or undefined for any other name. */
export function instanceOfWatchedAlarm(alarmName: string): string | undefined {
  return WATCHED.exec(alarmName)?.[1];
}

/** What every status-check alarm is, the stack's and the run-time ones alike. */
export function statusAlarmSettings(minutes: number) {
  return {
    namespace: STATUS_CHECK_NAMESPACE,
    metricName: STATUS_CHECK_METRIC,
    statistic: 'Maximum',
    periodSeconds: 60,
    evaluationPeriods: minutes,
    datapointsToAlarm: minutes,
    threshold: 1,
    comparisonOperator: 'GreaterThanOrEqualToThreshold',
    // No data: the instance is stopped or gone, which its state-change event reports; not a failed check.
    treatMissingData: 'notBreaching',
  } as const;
}

export function statusAlarmDescription(cluster: string, member: { name: string; instanceId: string }, minutes: number): string {
  return `EC2 system status check of etcd member ${member.name} (${member.instanceId}) of ${cluster} failed for ${minutes} minutes; ALARM starts a replacement`;
}

export interface WatchedMember {
  name: string;
  instanceId: string;
}

/** The run-time status-check alarms of one cluster. */
export class WatchedStatusAlarms {
  constructor(private readonly config: { cloudwatch: Pick<CloudWatchClient, 'send'>; cluster: string; minutes: number }) {}

  /** Instance ID → alarm name of every run-time status-check alarm of the cluster. */
  async list(): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    let token: string | undefined;
    do {
      const page = await this.config.cloudwatch.send(
        new DescribeAlarmsCommand({
          AlarmNamePrefix: memberAlarmPrefix(this.config.cluster),
          AlarmTypes: ['MetricAlarm'],
          ...(token ? { NextToken: token } : {}),
        }),
      );
      for (const alarm of page.MetricAlarms ?? []) {
        const instanceId = alarm.AlarmName ? instanceOfWatchedAlarm(alarm.AlarmName) : undefined;
        if (instanceId && alarm.AlarmName) found.set(instanceId, alarm.AlarmName);
      }
      token = page.NextToken;
    } while (token);
    return found;
  }

  async put(member: WatchedMember): Promise<string> {
    const { cluster, minutes } = this.config;
    const s = statusAlarmSettings(minutes);
    const input: PutMetricAlarmCommandInput = {
      AlarmName: watchedAlarmName(cluster, member.name, member.instanceId),
      AlarmDescription: `${statusAlarmDescription(cluster, member, minutes)} (put at run time; the stack's own alarm takes over once the member is in the configuration)`,
      Namespace: s.namespace,
      MetricName: s.metricName,
      Dimensions: [{ Name: 'InstanceId', Value: member.instanceId }],
      Statistic: s.statistic,
      Period: s.periodSeconds,
      EvaluationPeriods: s.evaluationPeriods,
      DatapointsToAlarm: s.datapointsToAlarm,
      Threshold: s.threshold,
      ComparisonOperator: s.comparisonOperator,
      TreatMissingData: s.treatMissingData,
    };
    await this.config.cloudwatch.send(new PutMetricAlarmCommand(input));
    return input.AlarmName as string;
  }

  async delete(alarmNames: string[]): Promise<void> {
    const names = alarmNames.filter((n) => instanceOfWatchedAlarm(n) !== undefined);
    // DeleteAlarms takes at most 100 names.
    for (let i = 0; i < names.length; i += 100) await this.config.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: names.slice(i, i + 100) }));
  }
}
