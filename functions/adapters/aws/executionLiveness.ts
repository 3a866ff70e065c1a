// Whether the Step Functions execution that holds a cluster's lock still runs: what DynamoLock judges a
// holder by before its expiry (functions/adapters/aws/dynamoLock.ts). The holder names its execution
// as `sfn:<execution name>`; the execution's ARN is the state machine's with `:execution:<name>`.

import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { LockInfo } from '../../ports.ts';

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** true while the holder's execution runs, false once it has ended (or never existed), null when that cannot be told. */
export function executionLiveness(sfn: SFNClient, stateMachineArn: string | undefined): (holder: Pick<LockInfo, 'execution'>) => Promise<boolean | null> {
  return async (holder) => {
    const name = holder.execution?.startsWith('sfn:') ? holder.execution.slice(4) : null;
    if (!stateMachineArn?.includes(':stateMachine:') || name === null || !EXECUTION_NAME.test(name)) return null;
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    try {
      const answer = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      return answer.status === 'RUNNING';
    } catch (error) {
      return (error as { name?: string } | undefined)?.name === 'ExecutionDoesNotExist' ? false : null;
    }
  };
}
