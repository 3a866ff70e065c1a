// The cluster lock is shared by the replacement's runs and the restore's: a contender asks about the
// holder's execution in each state machine (LOCK_STATE_MACHINE_ARNS), so a replacement started by a member
// alarm while a restore waits for its approval (or the other way round) never takes over a live holder's
// lock because its execution is not in its own state machine.

import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { executionLiveness } from '../../functions/adapters/aws/executionLiveness.ts';

const REPLACE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311';
const RESTORE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-restore-ocp311';
const execution = (machine: string, name: string) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`;
const sfnMock = mockClient(SFNClient);
const sfn = new SFNClient({ region: 'eu-west-1' });
const absent = () => new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });

describe('Function: executionLiveness of both workflows', () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock.on(DescribeExecutionCommand).rejects(absent());
  });

  it("finds a running holder in the other workflow's state machine", async () => {
    sfnMock.on(DescribeExecutionCommand, { executionArn: execution(RESTORE, 'restore-1') }).resolves({ status: 'RUNNING' });
    sfnMock.on(DescribeExecutionCommand, { executionArn: execution(REPLACE, 'replace-1') }).resolves({ status: 'RUNNING' });
    const alive = executionLiveness(sfn, [REPLACE, RESTORE]);
    expect(await alive({ execution: 'sfn:restore-1' })).toBe(true);
    expect(await alive({ execution: 'sfn:replace-1' })).toBe(true);
    // Asked of its own state machine alone, as before, a restore's holder looked gone: the lock would have been taken over.
    expect(await executionLiveness(sfn, REPLACE)({ execution: 'sfn:restore-1' })).toBe(false);
  });

  it('takes a holder as ended only when no state machine runs it, and cannot tell when one of them does not answer', async () => {
    sfnMock.on(DescribeExecutionCommand, { executionArn: execution(RESTORE, 'restore-2') }).resolves({ status: 'SUCCEEDED' });
    const alive = executionLiveness(sfn, [REPLACE, RESTORE]);
    expect(await alive({ execution: 'sfn:restore-2' })).toBe(false);
    expect(await alive({ execution: 'sfn:never-ran' })).toBe(false);
    sfnMock.on(DescribeExecutionCommand, { executionArn: execution(REPLACE, 'restore-3') }).rejects(new Error('throttled'));
    expect(await alive({ execution: 'sfn:restore-3' })).toBeNull();
    expect(await executionLiveness(sfn, [])({ execution: 'sfn:restore-1' })).toBeNull();
  });
});
