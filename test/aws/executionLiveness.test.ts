import { mockClient } from 'aws-sdk-client-mock';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { executionLiveness } from '../../functions/adapters/aws/executionLiveness.ts';

const sfnMock = mockClient(SFNClient);
const sfn = new SFNClient({ region: 'eu-west-1' });
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311';

beforeEach(() => sfnMock.reset());

describe('Function: executionLiveness', () => {
  it("asks DescribeExecution for the holder's execution: RUNNING is alive, any other status has ended", async () => {
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:etcd-replace-ocp311:r-1' })
      .resolves({ status: 'RUNNING' });
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:etcd-replace-ocp311:r-2' })
      .resolves({ status: 'FAILED' });
    const alive = executionLiveness(sfn, MACHINE);
    expect(await alive({ execution: 'sfn:r-1' })).toBe(true);
    expect(await alive({ execution: 'sfn:r-2' })).toBe(false);
  });

  it('takes an execution that does not exist as ended, and cannot tell on other errors or without an execution', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .rejectsOnce(new ExecutionDoesNotExist({ message: 'no', $metadata: {} }))
      .rejectsOnce(new Error('throttled'));
    const alive = executionLiveness(sfn, MACHINE);
    expect(await alive({ execution: 'sfn:gone' })).toBe(false);
    expect(await alive({ execution: 'sfn:r-3' })).toBeNull();
    expect(await alive({})).toBeNull();
    expect(await alive({ execution: 'local:host:1:ab' })).toBeNull();
    expect(await alive({ execution: 'sfn:../x' })).toBeNull();
    expect(await executionLiveness(sfn, undefined)({ execution: 'sfn:r-1' })).toBeNull();
  });
});
