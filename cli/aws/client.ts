// What the commands against AWS run on: a Step Functions client in the region of the ARN (the only
// region the execution can be reached in), credentials from the standard AWS SDK chain. Tests pass a
// mocked client, a fake clock and an instant sleep.

import { SFNClient } from '@aws-sdk/client-sfn';
import { isStateMachineArn, regionOfArn, StepFunctionsExecutions } from '../../functions/adapters/aws/executions.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { UsageError } from '../common.ts';

export interface AwsCliDeps {
  client?: (region: string | undefined) => SFNClient;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
  user?: () => string;
}

export function clientFor(arn: string, deps: AwsCliDeps): SFNClient {
  const region = regionOfArn(arn);
  return deps.client ? deps.client(region) : new SFNClient(region ? { region } : {});
}

/** The restore's state machine is named etcd-restore-<cluster> (lib/constructs/restore-workflow.ts): its executions' ARNs say so. */
const RESTORE_ARN = /:(?:stateMachine|execution):etcd-restore-[^:]+(?::[^:]+)?$/;

/** The executions of the state machine `arn` names (or of its execution): a restore's timeline lists the restore's tasks. */
export function executions(arn: string, deps: AwsCliDeps): StepFunctionsExecutions {
  const restore = RESTORE_ARN.test(arn);
  return new StepFunctionsExecutions(clientFor(arn, deps), restore ? { taskNames: RESTORE_WORKFLOW.tasks.map((t) => t.name) } : {});
}

/** `--state-machine-arn`, required with --target aws. */
export function stateMachineArnOption(value: string | undefined, usage: string): string {
  if (!value) throw new UsageError(`--state-machine-arn is required with --target aws (the stack's StateMachineArn output)\n${usage}`);
  if (!isStateMachineArn(value))
    throw new UsageError(`--state-machine-arn: "${value}" is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)`);
  return value;
}
