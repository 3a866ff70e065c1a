// The workflow compiled from the XState model (statemachine/asl.ts) as a Standard state machine whose
// task states invoke the step Lambdas, with its log group and X-Ray tracing.

import { RemovalPolicy, Tags, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { compileAsl, functionArnPlaceholder, functionArnSubstitutionKey } from '../../statemachine/asl.ts';
import { replaceMemberMachine } from '../../statemachine/machine.ts';
import type { AnyWorkflowSpec } from '../../statemachine/spec.ts';
import { RUN_TABLE_TAG, type ReplacementContext } from './shared.ts';
import { TASK_NAMES, type StepLambdas } from './step-lambdas.ts';

/** Another workflow than the replacement (the restore's): its spec, its name and its logical IDs. */
export interface OtherWorkflow {
  spec: AnyWorkflowSpec;
  stateMachineName: string;
  /** Logical IDs: the state machine's, and its log group's. */
  id: string;
  logsId: string;
  tasks: readonly string[];
}

/** Created on the EtcdReplacement's own scope, so the logical IDs are those it always had. */
export class Workflow {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, ctx: ReplacementContext, steps: StepLambdas, table: dynamodb.Table, other?: OtherWorkflow) {
    const stateMachineName = other?.stateMachineName ?? ctx.stateMachineName;
    const tasks = other?.tasks ?? TASK_NAMES;
    // includeExecutionData is false: with it, every state's input and output (the whole workflow
    // context: hosts, addresses, artifact keys) would be copied into CloudWatch Logs. The context holds
    // no key material by design; keeping payloads out of the log group as well means the execution
    // history and the audit record, each under its own IAM, are where run data can be read.
    const machineLogs = new logs.LogGroup(scope, other?.logsId ?? 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const asl = compileAsl(other?.spec ?? replaceMemberMachine, { functionArn: functionArnPlaceholder });
    this.stateMachine = new sfn.StateMachine(scope, other?.id ?? 'StateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(asl)),
      definitionSubstitutions: Object.fromEntries(tasks.map((name) => [functionArnSubstitutionKey(name), steps.functions[name]!.functionArn])),
      logs: { destination: machineLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // `etcd-replace history --target aws --state-machine-arn ARN` finds the audit records through this tag.
    Tags.of(this.stateMachine).add(RUN_TABLE_TAG, table.tableName, { includeResourceTypes: ['AWS::StepFunctions::StateMachine'] });
    // The compiled tasks invoke the unqualified function ARNs: no version or alias wildcard needed.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'InvokeStepFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: [steps.function.functionArn],
      }),
    );
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'CloudWatch Logs log delivery (logs:CreateLogDelivery and related) and X-Ray trace upload do not support resource-level permissions.',
    });
  }
}
