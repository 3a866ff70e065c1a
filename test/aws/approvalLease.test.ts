// The cluster lock while a restore waits for its approval on AWS. No step runs while Step Functions waits
// for the task token, so nothing renews the lock then: AwaitApproval extends its lease over the run's own
// approval window (plus a margin) before it asks, the run's next step takes it back to the usual lease, and
// a contender judges the holder by its execution first (executionLiveness): a waiting execution keeps the
// lock whatever the lease, one that has ended loses it at once, and where Step Functions cannot be asked
// the lease decides. An approval not given in time goes through the closing steps to ReleaseLock.
// DynamoLock over a faked run table; Step Functions and SNS faked with aws-sdk-client-mock; the clock faked.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoSnsApprovals } from '../../functions/adapters/aws/approvals.ts';
import { DynamoLock } from '../../functions/adapters/aws/dynamoLock.ts';
import { executionLiveness } from '../../functions/adapters/aws/executionLiveness.ts';
import { LockHeldError } from '../../functions/errors.ts';
import { APPROVAL_LEASE_MARGIN_SECONDS, AwaitApproval, type ApprovalStepDeps } from '../../functions/steps/AwaitApproval.ts';
import { ReleaseLock } from '../../functions/steps/ReleaseLock.ts';
import { withLockHeld } from '../../functions/workflow/lockRenewal.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { compileAsl, type AslTaskState } from '../../statemachine/asl.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import { unitInventory } from '../support/fakeCluster.ts';
import { RUN_ID, stepWorld } from '../support/stepHarness.ts';

const REGION = 'eu-west-1';
const REPLACE = `arn:aws:states:${REGION}:123456789012:stateMachine:etcd-replace-ocp311`;
const RESTORE = `arn:aws:states:${REGION}:123456789012:stateMachine:etcd-restore-ocp311`;
const EXECUTION = `${RESTORE.replace(':stateMachine:', ':execution:')}:${RUN_ID}`;
const TABLE = 'etcd-replace-runs';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAsecret-task-token-0123456789';
/** Six hours to answer: longer than the usual lease (StepDeps.waits.lockTtlSeconds, 2 h). */
const WINDOW = 6 * 3600;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(ms).toISOString();

const sfnMock = mockClient(SFNClient);
const docMock = mockClient(DynamoDBDocumentClient);
const snsMock = mockClient(SNSClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION }));
let now: number;
let lock: DynamoLock;

const task = (name: string) => RESTORE_WORKFLOW.tasks.find((t) => t.name === name)!;

function context(): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'ocp311', failed: '', startedBy: 'alarm:etcd-replace-ocp311-quorum-lost' },
    options: { graceSeconds: 60, learner: 'auto', approvalTimeoutSeconds: WINDOW },
    inventory: unitInventory(),
    formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({ host, memberId: `aa0${i + 1}`, name: host, isLearner: false })),
    survivor: { kind: 'member', host: 'master-1', memberId: 'aa02', revision: 500, raftIndex: 600, etcd: 'running', chosenBy: 'rank' },
    expectedLoss: { highestRevision: 500, highestOn: ['master-1'], chosenRevision: 500, revisionsLost: 0, unread: [], text: 'nothing is expected to be lost' },
  };
}

/** What the restore's step functions run with on AWS: this execution, the run table's lock and approvals, the clock. */
function deps(): StepDeps & ApprovalStepDeps {
  const approvals = new DynamoSnsApprovals({
    doc,
    table: TABLE,
    sns: new SNSClient({ region: REGION }),
    topicArn: `arn:aws:sns:${REGION}:123456789012:etcd-replace-outcomes`,
    stateMachineArn: RESTORE,
    now: () => new Date(now),
  });
  return { ...stepWorld([]).deps, target: 'aws', lock, now: () => new Date(now), execution: `sfn:${RUN_ID}`, approvals, taskToken: TOKEN };
}

/** A step as the step handler runs it: as the run's owner, holding the lock where its task does (lockRenewal.ts). */
const runStep = <T>(name: string, ctx: WorkflowContext, d: StepDeps, step: () => Promise<T>) => withLockHeld(task(name), ctx, d, step);

/** Step Functions' answer for the restore's execution; every other execution does not exist. */
function execution(answer: 'RUNNING' | 'ABORTED' | 'TIMED_OUT' | Error): void {
  sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
  if (answer instanceof Error) sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION }).rejects(answer);
  else sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION }).resolves({ status: answer });
}

/** A replacement started by a member alarm while the restore waits: it asks for the lock. */
const contender = () =>
  lock.acquire('ocp311', { runId: 'r-replace-0002', startedBy: 'alarm:etcd-replace-ocp311-member-master-2', execution: 'sfn:r-replace-0002' }, 7200);

/** The run took its lock at T0 (AcquireLock) and waits at AwaitApproval from one minute later. */
async function waiting(): Promise<number> {
  now = T0;
  await lock.acquire('ocp311', { runId: RUN_ID, startedBy: 'alarm:etcd-replace-ocp311-quorum-lost', execution: `sfn:${RUN_ID}` }, 7200);
  now = T0 + 60_000;
  execution('RUNNING');
  const d = deps();
  await runStep('AwaitApproval', context(), d, () => AwaitApproval(context(), d));
  return now;
}

beforeEach(() => {
  for (const m of [sfnMock, docMock, snsMock]) m.reset();
  new FakeDynamoTable().attach(docMock);
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  lock = new DynamoLock({ doc, table: TABLE, now: () => new Date(now), holderAlive: executionLiveness(new SFNClient({ region: REGION }), [REPLACE, RESTORE]) });
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('The cluster lock while a restore waits for its approval on AWS', () => {
  it("lasts the run's whole approval window and the margin; a renewal meanwhile never shortens it; the next step takes it back to the usual lease", async () => {
    const asked = await waiting();
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
    expect((await lock.current('ocp311'))?.expiresAt).toBe(at(asked + (WINDOW + APPROVAL_LEASE_MARGIN_SECONDS) * 1000));
    // A step's periodic renewal (lockRenewal.ts: the usual lease) landing after the extension leaves it as it is.
    await lock.renew('ocp311', RUN_ID, 7200);
    expect((await lock.current('ocp311'))?.expiresAt).toBe(at(asked + (WINDOW + APPROVAL_LEASE_MARGIN_SECONDS) * 1000));

    // Approved five hours later: FenceFormerMembers takes the lock again, with the usual lease from then.
    now = asked + 5 * 3600_000;
    const d = deps();
    const approved = { ...context(), approval: { by: 'cli:jane', at: at(now) } };
    await runStep('FenceFormerMembers', approved, d, async () => ({ output: {}, detail: 'fenced' }));
    expect((await lock.current('ocp311'))?.expiresAt).toBe(at(now + 7200_000));
  });

  it('stays with the waiting execution past the usual lease, and passes at once to the next run when that execution has ended', async () => {
    const asked = await waiting();
    // Three hours on (past the usual 2 h lease), the execution still waits: the contender is refused.
    now = asked + 3 * 3600_000;
    await expect(contender()).rejects.toBeInstanceOf(LockHeldError);
    expect((await lock.current('ocp311'))?.runId).toBe(RUN_ID);

    // The execution was stopped (or timed out) while it waited: its lock is taken over at once, hours before the lease ends.
    execution('ABORTED');
    const taken = await contender();
    expect(taken).toMatchObject({ runId: 'r-replace-0002', takenOver: { runId: RUN_ID, reason: 'holder execution ended' } });
  });

  it('is kept by its lease alone where Step Functions cannot be asked: to the end of the approval window and the margin, then taken over', async () => {
    const asked = await waiting();
    execution(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    now = asked + WINDOW * 1000;
    await expect(contender()).rejects.toBeInstanceOf(LockHeldError);
    now = asked + (WINDOW + APPROVAL_LEASE_MARGIN_SECONDS) * 1000 - 1000;
    await expect(contender()).rejects.toBeInstanceOf(LockHeldError);
    now = asked + (WINDOW + APPROVAL_LEASE_MARGIN_SECONDS) * 1000 + 1000;
    expect(await contender()).toMatchObject({ runId: 'r-replace-0002', takenOver: { runId: RUN_ID, reason: 'expired' } });
    // The waiting run, answered after that, stops at its next step: it no longer holds the lock (LockLostError: Refused, nothing changed).
    execution('RUNNING');
    const d = deps();
    await expect(runStep('FenceFormerMembers', context(), d, async () => ({ output: {}, detail: 'fenced' }))).rejects.toMatchObject({ name: 'LockLostError' });
  });

  it('is released when nobody approves in time: the wait ends with States.HeartbeatTimeout, caught, through the closing steps to ReleaseLock', async () => {
    const compiled = compileAsl(RESTORE_WORKFLOW).States;
    const wait = compiled['AwaitApproval'] as AslTaskState;
    expect(wait.HeartbeatSecondsPath).toBe('$.options.approvalTimeoutSeconds');
    expect(wait.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'DiscardKeyBundle' })]);
    expect((compiled['DiscardKeyBundle'] as AslTaskState).Next).toBe('ReleaseLock');
    expect(JSON.stringify(compiled['RouteOutcome'])).toContain('States.HeartbeatTimeout');

    const asked = await waiting();
    // The heartbeat passes (the window, as Step Functions counts it from the task's start) and the closing steps run.
    now = asked + WINDOW * 1000 + 5000;
    const timedOut = { ...context(), error: { Error: 'States.HeartbeatTimeout', Cause: 'Task timed out.' } };
    const d = deps();
    await runStep('ReleaseLock', timedOut, d, () => ReleaseLock(timedOut, d));
    expect(await lock.current('ocp311')).toBeNull();
    expect(await lock.lastHolder('ocp311')).toMatchObject({ runId: RUN_ID, succeeded: false });
    expect(await contender()).toMatchObject({ runId: 'r-replace-0002' });
  });
});
