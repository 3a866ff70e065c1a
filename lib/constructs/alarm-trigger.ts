// The rule that starts a run when an alarm goes to ALARM: a member alarm (the probe's, or EC2's status
// check) starts a replacement of that member; the quorum-lost alarm starts a restore
// (lib/constructs/restore-workflow.ts gives its own alarm name and input).

import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { ReplacementContext } from './shared.ts';

/** Which alarms start which execution input. */
export interface AlarmTriggerSpec {
  /** The rule's logical ID. */
  id: string;
  description: string;
  /** The alarm names the rule matches (a prefix, or exact names). */
  alarmName: string[];
  /** The execution input; EventField values are filled in from the alarm's event. */
  input: Record<string, unknown>;
}

/** The replacement's: any member alarm, naming the failed member by the alarm's InstanceId dimension. */
function replacementTrigger(ctx: ReplacementContext): AlarmTriggerSpec {
  const { cluster, config } = ctx;
  return {
    id: 'AlarmTrigger',
    description: `etcd-replace ${cluster}: a member alarm in ALARM starts a replacement of that member`,
    alarmName: events.Match.prefix(ctx.alarmPrefix),
    input: {
      cluster,
      // The instance ID: discovery finds the instance in any state, even stopped or terminated.
      failed: events.EventField.fromPath('$.detail.configuration.metrics[0].metricStat.metric.dimensions.InstanceId'),
      // No replacement unless the config pins one: the pool's next free host, as an EC2-started run takes it,
      // so a second member's alarm can be taken into the first run (functions/cluster/takeIn.ts).
      ...(config.alarmReplacement === undefined ? {} : { replacement: config.alarmReplacement }),
      startedBy: `alarm:${events.EventField.fromPath('$.detail.alarmName')}`,
      // What reported the failure, for the run record; final only when the deployment says so (finalSignals).
      evidence: {
        signal: 'alarm',
        state: 'ALARM',
        at: events.EventField.time,
        ...(config.finalSignals.includes('alarm') ? { final: true } : {}),
      },
      options: { graceSeconds: config.alarmGraceSeconds, learner: 'auto' },
    },
  };
}

/** Created on the EtcdReplacement's own scope, so the logical ID is the one it always had. */
export class AlarmTrigger {
  readonly rule: events.Rule;

  constructor(scope: Construct, ctx: ReplacementContext, stateMachine: sfn.StateMachine, trigger: AlarmTriggerSpec = replacementTrigger(ctx)) {
    // EventBridge delivers "CloudWatch Alarm State Change" at least once and cannot name the execution.
    // A duplicate delivery starts a second execution, whose AcquireLock finds the first run's lock and
    // ends Refused (LockHeldError) before it changes anything: the lock is the deduplication.
    this.rule = new events.Rule(scope, trigger.id, {
      description: trigger.description,
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: {
          alarmName: trigger.alarmName,
          state: { value: ['ALARM'] },
        },
      },
      targets: [
        new targets.SfnStateMachine(stateMachine, {
          input: events.RuleTargetInput.fromObject(trigger.input),
          retryAttempts: 8,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });
  }
}
