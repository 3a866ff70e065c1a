// Whether the Step Functions execution that holds a cluster's lock still runs: what DynamoLock judges a
// holder by before its expiry (functions/adapters/aws/dynamoLock.ts). The holder names its execution
// as `sfn:<execution name>`; the execution's ARN is the state machine's with `:execution:<name>`.

import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { LockInfo } from '../../ports.ts';

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * true while the holder's execution runs, false once it has ended (or never existed), null when that cannot
 * be told. Where several state machines' runs share the lock (the replacement's and the restore's), the
 * holder's execution is looked for in each: running in any, true; ended or absent in every one, false.
 */
export function executionLiveness(
  sfn: SFNClient,
  stateMachineArns: string | readonly string[] | undefined,
): (holder: Pick<LockInfo, 'execution'>) => Promise<boolean | null> {
  const machines = (typeof stateMachineArns === 'string' ? [stateMachineArns] : (stateMachineArns ?? [])).filter((arn) => arn.includes(':stateMachine:'));
  return async (holder) => {
    const name = holder.execution?.startsWith('sfn:') ? holder.execution.slice(4) : null;
    if (machines.length === 0 || name === null || !EXECUTION_NAME.test(name)) return null;
    let unknown = false;
    for (const machine of machines) {
      const executionArn = `${machine.replace(':stateMachine:', ':execution:')}:${name}`;
      try {
        const answer = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        if (answer.status === 'RUNNING') return true;
      } catch (error) {
        if ((error as { name?: string } | undefined)?.name !== 'ExecutionDoesNotExist') unknown = true;
      }
    }
    return unknown ? null : false;
  };
}
