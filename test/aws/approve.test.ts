// A restore's approval on AWS: AwaitApproval over the run table and the topic (functions/adapters/aws/
// approvals.ts) keeps the task token under `approval#<runId>` and publishes one request, once; `etcd-replace
// approve` finds the token by run ID and answers with SendTaskSuccess (the Approval) or SendTaskFailure
// RefusedError, then forgets it; no pending approval, or a wait that has ended, exits 3; the token is never
// printed or published.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListTagsForResourceCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RUN_TABLE_TAG } from '../../cli/aws/auditHistory.ts';
import type { ApproveDeps } from '../../cli/aws/approve.ts';
import { approveCommand } from '../../cli/commands/approve.ts';
import { approvalKey, DynamoSnsApprovals, executionConsoleLink } from '../../functions/adapters/aws/approvals.ts';
import { DynamoLock } from '../../functions/adapters/aws/dynamoLock.ts';
import { createStepHandler, type StepImplementation } from '../../functions/handlers/step.ts';
import { AwaitApproval, type ApprovalStepDeps } from '../../functions/steps/AwaitApproval.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import { captureOutput, type CapturedOutput } from '../support/captureOutput.ts';
import { unitInventory } from '../support/fakeCluster.ts';
import { NOW, RUN_ID, stepWorld } from '../support/stepHarness.ts';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-restore-ocp311';
const TABLE = 'etcd-replace-runs';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:etcd-replace-outcomes';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAsecret-task-token-0123456789';
const KEY = JSON.stringify([approvalKey(RUN_ID).pk, approvalKey(RUN_ID).sk]);

const sfnMock = mockClient(SFNClient);
const docMock = mockClient(DynamoDBDocumentClient);
const snsMock = mockClient(SNSClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
let table: FakeDynamoTable;
let output: CapturedOutput;

const cliDeps: ApproveDeps = {
  client: (region) => new SFNClient({ region: region ?? 'us-east-1' }),
  dynamo: () => doc,
  now: () => new Date('2026-01-01T00:10:00.000Z'),
  user: () => 'alice',
};

function restoreContext(): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'ocp311', failed: '', startedBy: 'alarm:quorum' },
    options: { graceSeconds: 30, learner: 'auto', approvalTimeoutSeconds: 3600 },
    inventory: unitInventory(),
    formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({ host, memberId: `aa0${i + 1}`, name: host, isLearner: false })),
    survivor: { kind: 'member', host: 'master-1', memberId: 'aa02', revision: 500, raftIndex: 600, etcd: 'running', chosenBy: 'rank' },
    expectedLoss: {
      highestRevision: 500,
      highestOn: ['master-1'],
      chosenRevision: 500,
      revisionsLost: 0,
      unread: [],
      text: 'nothing is expected to be lost: master-1 at revision 500 holds the highest revision seen (500, on master-1)',
    },
  };
}

function stepDeps(token = TOKEN): StepDeps & ApprovalStepDeps {
  const approvals = new DynamoSnsApprovals({
    doc,
    table: TABLE,
    sns: new SNSClient({ region: 'eu-west-1' }),
    topicArn: TOPIC,
    stateMachineArn: ARN,
    now: () => NOW,
  });
  return { ...stepWorld([]).deps, lock: new DynamoLock({ doc, table: TABLE, now: () => NOW }), execution: `sfn:${RUN_ID}`, approvals, taskToken: token };
}

const approve = (...args: string[]) => approveCommand([RUN_ID, '--target', 'aws', '--state-machine-arn', ARN, ...args], cliDeps);

beforeEach(async () => {
  sfnMock.reset();
  docMock.reset();
  snsMock.reset();
  table = new FakeDynamoTable();
  table.attach(docMock);
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  sfnMock.on(ListTagsForResourceCommand).resolves({ tags: [{ key: RUN_TABLE_TAG, value: TABLE }] });
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
  output = captureOutput();
  // The run holds its cluster's lock, as it does once AcquireLock has run.
  await new DynamoLock({ doc, table: TABLE, now: () => NOW }).acquire('ocp311', { runId: RUN_ID, startedBy: 'alarm:quorum', execution: `sfn:${RUN_ID}` }, 7200);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('AwaitApproval over the run table and the topic', () => {
  it('keeps the token under approval#<runId> and publishes one request; a retried invocation publishes none', async () => {
    const first = await AwaitApproval(restoreContext(), stepDeps());
    const item = table.items.get(KEY);
    expect(item).toMatchObject({ pk: `approval#${RUN_ID}`, sk: 'approval', token: TOKEN, runId: RUN_ID, stateMachineArn: ARN, publishedAt: NOW.toISOString() });
    expect(item?.['expiresAt']).toBe(new Date(NOW.getTime() + 3600_000).toISOString());
    expect(item?.['ttl']).toBe(Math.ceil((NOW.getTime() + 3600_000) / 1000) + 86400);
    const published = snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ TopicArn: TOPIC, Subject: `ocp311: APPROVE restore of etcd quorum from master-1? (run ${RUN_ID})` });
    expect(published[0]?.MessageAttributes?.['outcome']?.StringValue).toBe('awaiting-approval');
    expect(published[0]?.Message).toContain(`Approve: etcd-replace approve ${RUN_ID} --target aws --state-machine-arn ${ARN}\n`);
    expect(published[0]?.Message).toContain(`Console: ${executionConsoleLink(ARN, RUN_ID)}\n`);
    expect(executionConsoleLink(ARN, RUN_ID)).toBe(
      `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:etcd-restore-ocp311:${RUN_ID}`,
    );
    expect(JSON.stringify([published, first])).not.toContain(TOKEN);

    const again = await AwaitApproval(restoreContext(), stepDeps(`${TOKEN}-retry`));
    expect(again.skipped).toBe(true);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
    expect(table.items.get(KEY)?.['token']).toBe(`${TOKEN}-retry`);
  });

  it('through the step Lambda: the token as the compiled ASL passes it (Payload.taskToken) reaches the step, never the log or the context', async () => {
    const lines: string[] = [];
    const { taskToken: _none, ...base } = stepDeps();
    const handler = createStepHandler<StepDeps>({
      steps: { AwaitApproval: AwaitApproval as unknown as StepImplementation<StepDeps> },
      deps: () => base,
      log: (line) => void lines.push(line),
    });
    const next = await handler({ step: 'AwaitApproval', context: restoreContext(), executionName: RUN_ID, taskToken: TOKEN });
    expect(table.items.get(KEY)?.['token']).toBe(TOKEN);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
    expect(next).toEqual(restoreContext());
    expect(JSON.stringify([lines, next])).not.toContain(TOKEN);
    // Without the token (a plain invoke) the step refuses: nothing is kept or published.
    table.items.clear();
    await expect(handler({ step: 'AwaitApproval', context: restoreContext(), executionName: RUN_ID })).rejects.toMatchObject({ name: 'RefusedError' });
    expect(table.items.size).toBe(0);
  });

  it('a publish that fails leaves the request unpublished, so the retry publishes it', async () => {
    snsMock.on(PublishCommand).rejectsOnce(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    await expect(AwaitApproval(restoreContext(), stepDeps())).rejects.toThrow('throttled');
    expect(table.items.get(KEY)?.['publishedAt']).toBeUndefined();
    await AwaitApproval(restoreContext(), stepDeps());
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(2);
    expect(table.items.get(KEY)?.['publishedAt']).toBe(NOW.toISOString());
  });
});

describe('etcd-replace approve --target aws', () => {
  beforeEach(async () => {
    await AwaitApproval(restoreContext(), stepDeps());
  });

  it('approves: SendTaskSuccess with the token and the Approval, then the approval is forgotten; a second answer finds none (exit 3)', async () => {
    expect(await approve('--json')).toBe(0);
    const calls = sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([{ taskToken: TOKEN, output: JSON.stringify({ by: 'cli:alice', at: '2026-01-01T00:10:00.000Z' }) }]);
    expect(sfnMock.commandCalls(SendTaskFailureCommand)).toEqual([]);
    expect(JSON.parse(output.out)).toEqual({ runId: RUN_ID, answer: 'approved', by: 'cli:alice', at: '2026-01-01T00:10:00.000Z' });
    expect(table.items.has(KEY)).toBe(false);
    expect(output.out + output.err).not.toContain(TOKEN);

    expect(await approve()).toBe(3);
    expect(output.err).toContain(`run ${RUN_ID} has no pending approval`);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('declines: SendTaskFailure RefusedError with who and why', async () => {
    expect(await approve('--decline', '--reason', 'master-2 is back')).toBe(0);
    expect(sfnMock.commandCalls(SendTaskFailureCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: TOKEN, error: 'RefusedError', cause: 'declined by cli:alice at 2026-01-01T00:10:00.000Z: master-2 is back' },
    ]);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toEqual([]);
    expect(output.err).toContain(`run ${RUN_ID} declined by cli:alice`);
    expect(table.items.has(KEY)).toBe(false);
  });

  it('a wait that has ended (TaskTimedOut) exits 3 and forgets the token', async () => {
    sfnMock.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    expect(await approve()).toBe(3);
    expect(output.err).toContain('no longer waits for approval (TaskTimedOut');
    expect(table.items.has(KEY)).toBe(false);
  });

  it('no such run, or another state machine: exit 3, nothing answered', async () => {
    expect(await approveCommand(['r-unknown-0001', '--target', 'aws', '--state-machine-arn', ARN], cliDeps)).toBe(3);
    const other = ARN.replace('etcd-restore-ocp311', 'etcd-restore-other');
    expect(await approveCommand([RUN_ID, '--target', 'aws', '--state-machine-arn', other, '--table', TABLE], cliDeps)).toBe(3);
    expect(output.err).toContain(`waits for approval in state machine ${ARN}`);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toEqual([]);
    expect(table.items.has(KEY)).toBe(true);
  });

  it.each([
    [[RUN_ID, '--state-machine-arn', ARN], '--target aws is required'],
    [[RUN_ID, '--target', 'sandbox', '--state-machine-arn', ARN], '--state-machine-arn and --table go with --target aws'],
    [[RUN_ID, '--target', 'aws', '--state-machine-arn', ARN, '--sandbox', 'lab'], '--sandbox goes with --target sandbox'],
    [['--target', 'aws', '--state-machine-arn', ARN], 'RUN_ID is required'],
    [[RUN_ID, '--target', 'aws', '--state-machine-arn', ARN, '--reason', 'x'], '--reason goes with --decline'],
    [[RUN_ID, '--target', 'aws', '--state-machine-arn', ARN, '--decline', '--reason', 'a\nb'], '--reason must be one line'],
    [[RUN_ID, '--target', 'aws'], '--state-machine-arn is required'],
    [['Not_A_Run', '--target', 'aws', '--state-machine-arn', ARN], 'RUN_ID'],
  ])('bad arguments %j: exit 2, nothing read or answered', async (argv, message) => {
    expect(await approveCommand(argv, cliDeps)).toBe(2);
    expect(output.err).toContain(message);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toEqual([]);
    expect(sfnMock.commandCalls(SendTaskFailureCommand)).toEqual([]);
  });
});
