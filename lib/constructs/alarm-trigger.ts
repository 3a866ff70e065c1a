// The rule that starts a run when a member alarm (the probe's, or EC2's status check) goes to ALARM.

import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { ReplacementContext } from './shared.ts';

/** Created on the EtcdReplacement's own scope, so the logical ID is the one it always had. */
export class AlarmTrigger {
  readonly rule: events.Rule;

  constructor(scope: Construct, ctx: ReplacementContext, stateMachine: sfn.StateMachine) {
    const { cluster, config } = ctx;
    // EventBridge delivers "CloudWatch Alarm State Change" at least once and cannot name the execution.
    // A duplicate delivery starts a second execution, whose AcquireLock finds the first run's lock and
    // ends Refused (LockHeldError) before it changes anything: the lock is the deduplication.
    this.rule = new events.Rule(scope, 'AlarmTrigger', {
      description: `etcd-replace ${cluster}: a member alarm in ALARM starts a replacement of that member`,
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: {
          alarmName: events.Match.prefix(ctx.alarmPrefix),
          state: { value: ['ALARM'] },
        },
      },
      targets: [
        new targets.SfnStateMachine(stateMachine, {
          input: events.RuleTargetInput.fromObject({
            cluster,
            // The instance ID: discovery finds the instance in any state, even stopped or terminated.
            failed: events.EventField.fromPath('$.detail.configuration.metrics[0].metricStat.metric.dimensions.InstanceId'),
            replacement: config.alarmReplacement,
            startedBy: `alarm:${events.EventField.fromPath('$.detail.alarmName')}`,
            // What reported the failure, for the run record; final only when the deployment says so (finalSignals).
            evidence: {
              signal: 'alarm',
              state: 'ALARM',
              at: events.EventField.time,
              ...(config.finalSignals.includes('alarm') ? { final: true } : {}),
            },
            options: { graceSeconds: config.alarmGraceSeconds, learner: 'auto' },
          }),
          retryAttempts: 8,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });
  }
}
