// The rehearsal's Step Functions (rehearsal/stepFunctions.ts) runs a task-token state as Step Functions
// does, which aws-local-stepfunctions alone does not: the restore's own AwaitApproval state (compiled from
// RESTORE_WORKFLOW) gets a fresh token in its Payload, the execution waits after the function returns,
// and `etcd-replace approve` (cli/aws/approve.ts) answers it through the token the function kept under
// approval#<runId> (functions/adapters/aws/approvals.ts); a decline, a heartbeat that passes, a token
// answered twice or never handed out are answered as the API answers them. The function is a stand-in
// that keeps the token as AwaitApproval does; the clock of the heartbeat is faked, nothing is timed.

import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DeleteCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SNSClient } from '@aws-sdk/client-sns';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { answerApproval } from '../../cli/aws/approve.ts';
import { DynamoSnsApprovals } from '../../functions/adapters/aws/approvals.ts';
import { compileAsl, type AslTaskState } from '../../statemachine/asl.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { IamCheck } from '../../rehearsal/iam.ts';
import type { LambdaService } from '../../rehearsal/lambdaService.ts';
import { StepFunctionsService, TaskTokenError, type Execution } from '../../rehearsal/stepFunctions.ts';
import { AwsFront } from '../../rehearsal/awsFront.ts';
import type { SandboxCloud } from '../../rehearsal/hosts.ts';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:etcd-restore-ocp311`;
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:EtcdReplace-ocp311-RestoreStepAwaitApproval`;
const TABLE = 'EtcdReplace-ocp311-Runs';
const RUN_ID = 'r-20261207-0001';

/** The restore's AwaitApproval as compiled, then a Succeed (approved) or, through its Catch, another (caught). */
function definition(): Record<string, unknown> {
  const approval = compileAsl(RESTORE_WORKFLOW).States['AwaitApproval'] as AslTaskState;
  return {
    StartAt: 'AwaitApproval',
    States: {
      AwaitApproval: {
        ...approval,
        Parameters: { ...approval.Parameters, FunctionName: FUNCTION_ARN },
        Next: 'Approved',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Caught' }],
      },
      Approved: { Type: 'Succeed' },
      Caught: { Type: 'Succeed' },
    },
  };
}

/** A run table of one partition and sort key, for the approval items (the SET updates and deletes approvals.ts sends). */
function fakeTable(): { doc: DynamoDBDocumentClient; items: Map<string, Record<string, unknown>> } {
  const items = new Map<string, Record<string, unknown>>();
  const keyOf = (key: Record<string, unknown>) => `${String(key['pk'])}|${String(key['sk'])}`;
  const send = async (command: unknown) => {
    if (command instanceof UpdateCommand) {
      const { Key, UpdateExpression, ExpressionAttributeNames = {}, ExpressionAttributeValues = {}, ConditionExpression, ReturnValues } = command.input;
      const old = items.get(keyOf(Key!));
      if (ConditionExpression && !old) throw Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });
      const next: Record<string, unknown> = { ...(old ?? Key) };
      for (const part of UpdateExpression!.replace(/^SET /, '').split(', ')) {
        const [name, value] = part.split(' = ') as [string, string];
        next[ExpressionAttributeNames[name] ?? name] = ExpressionAttributeValues[value];
      }
      items.set(keyOf(Key!), next);
      return ReturnValues === 'ALL_OLD' ? { Attributes: old } : {};
    }
    if (command instanceof GetCommand) return { Item: items.get(keyOf(command.input.Key!)) };
    if (command instanceof DeleteCommand) {
      const key = keyOf(command.input.Key!);
      if (items.get(key)?.['token'] !== command.input.ExpressionAttributeValues?.[':token'])
        throw Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });
      items.delete(key);
      return {};
    }
    throw new Error(`not modelled: ${String(command)}`);
  };
  return { doc: { send } as unknown as DynamoDBDocumentClient, items };
}

function setup() {
  const table = fakeTable();
  const published: string[] = [];
  const approvals = new DynamoSnsApprovals({
    doc: table.doc,
    table: TABLE,
    sns: { send: async (c: { input: { Subject?: string } }) => void published.push(c.input.Subject ?? '') } as unknown as SNSClient,
    topicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:outcomes`,
    stateMachineArn: MACHINE_ARN,
  });
  const payloads: Array<Record<string, unknown>> = [];
  // AwaitApproval's stand-in: keeps the token under approval#<runId> and publishes the request, as the step does.
  const lambdas = {
    byAccessKey: () => undefined,
    invoke: async (_name: string, payload: unknown) => {
      const p = payload as { taskToken?: string; context: { runId: string } };
      payloads.push(p as unknown as Record<string, unknown>);
      const kept = await approvals.keep(p.context.runId, p.taskToken ?? '', '2026-12-07T16:00:00.000Z');
      if (kept.publishedAt === null)
        await approvals.publish({ runId: p.context.runId, cluster: 'ocp311', subject: 'APPROVE?', message: '', expiresAt: '2026-12-07T16:00:00.000Z' });
      return { payload: JSON.stringify({ output: {}, detail: 'approval requested' }) };
    },
  } as unknown as LambdaService;
  const machineRole = {
    logicalId: 'RestoreStateMachineRole',
    name: 'restore-machine',
    arn: `arn:aws:iam::${ACCOUNT}:role/restore-machine`,
    policies: [{ name: 'p', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: FUNCTION_ARN }] } }],
  };
  const statuses: string[] = [];
  const sfn = new StepFunctionsService(
    { arn: MACHINE_ARN, name: 'etcd-restore-ocp311', roleArn: machineRole.arn, definition: definition() },
    machineRole,
    lambdas,
    new IamCheck(ACCOUNT),
    REGION,
    (e) => statuses.push(e.status),
  );
  // The CLI's Step Functions client, answered by the emulated service as the API answers.
  const client = {
    send: async (command: unknown) => {
      try {
        if (command instanceof SendTaskSuccessCommand) return sfn.sendTaskSuccess(command.input.taskToken!, command.input.output!);
        if (command instanceof SendTaskFailureCommand) return sfn.sendTaskFailure(command.input.taskToken!, command.input.error, command.input.cause);
      } catch (error) {
        if (error instanceof TaskTokenError) throw Object.assign(new Error(error.message), { name: error.code });
        throw error;
      }
      throw new Error(`not modelled: ${String(command)}`);
    },
  } as unknown as SFNClient;
  const approve = (decline = false) =>
    answerApproval(
      { runId: RUN_ID, stateMachineArn: MACHINE_ARN, table: TABLE, decline, reason: decline ? 'not now' : undefined, json: true, usage: 'usage' },
      { client: () => client, dynamo: () => table.doc, user: () => 'jane', now: () => new Date('2026-12-07T15:30:00.000Z') },
    );
  return { sfn, table, published, payloads, statuses, approve, lambdas };
}

/** The operator's role: the restore's approver policy as the stack writes it (test/cdk/restore.test.ts checks the template's). */
const operatorRole = {
  logicalId: 'RestoreApproverPolicy',
  name: 'etcd-restore-operator',
  arn: `arn:aws:iam::${ACCOUNT}:role/etcd-restore-operator`,
  policies: [
    {
      name: 'RestoreApproverPolicy',
      document: {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'AnswerApproval', Effect: 'Allow', Action: ['states:SendTaskSuccess', 'states:SendTaskFailure'], Resource: '*' },
          { Sid: 'FindRunTable', Effect: 'Allow', Action: 'states:ListTagsForResource', Resource: MACHINE_ARN },
        ],
      },
    },
  ],
};

const input = JSON.stringify({ runId: RUN_ID, request: { cluster: 'ocp311' }, options: { approvalTimeoutSeconds: 900 } });
const types = (e: Execution) => e.history.map((h) => h.type);
/** Until the function has returned and the task waits (the emulated service's own events, no clock). */
async function submitted(e: Execution): Promise<void> {
  while (!types(e).includes('TaskSubmitted') && e.status === 'RUNNING') await new Promise((r) => setImmediate(r));
}

describe('Rehearsal Step Functions: a task that waits for its token', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands the function a new token, waits after it returns, and takes `approve` as the result at ResultPath', async () => {
    const { sfn, table, published, payloads, statuses, approve } = setup();
    const execution = sfn.start(input, 'restore-1');
    await submitted(execution);
    expect(execution.status).toBe('RUNNING');
    expect(types(execution)).toEqual(expect.arrayContaining(['TaskScheduled', 'TaskStarted', 'TaskSubmitted']));
    expect(types(execution)).not.toContain('TaskSucceeded');
    const token = String(payloads[0]!['taskToken']);
    expect(token.length).toBeGreaterThan(100);
    expect(sfn.waiting()).toEqual([{ executionArn: execution.executionArn, stateName: 'AwaitApproval', token }]);
    expect(table.items.get(`approval#${RUN_ID}|approval`)?.['token']).toBe(token);
    expect(published).toEqual(['APPROVE?']);
    // The token is never in what the history shows.
    expect(JSON.stringify(execution.history)).not.toContain(token);

    expect(await approve()).toBe(0);
    await execution.done;
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!)).toMatchObject({ runId: RUN_ID, approval: { by: 'cli:jane', at: '2026-12-07T15:30:00.000Z' } });
    expect(types(execution)).toContain('TaskSucceeded');
    expect(statuses).toEqual(['RUNNING', 'SUCCEEDED']);
    // Answered: the item is gone, the token is dead.
    expect(table.items.has(`approval#${RUN_ID}|approval`)).toBe(false);
    expect(() => sfn.sendTaskSuccess(token, '{}')).toThrow(expect.objectContaining({ code: 'TaskTimedOut' }));
    expect(() => sfn.sendTaskSuccess('never-handed-out', '{}')).toThrow(expect.objectContaining({ code: 'InvalidToken' }));
    await expect(approve()).rejects.toMatchObject({ name: 'RefusedError' });
  });

  it('fails the task with the error a decline sends, for the Catch to route', async () => {
    const { sfn, approve } = setup();
    const execution = sfn.start(input, 'restore-2');
    await submitted(execution);
    expect(await approve(true)).toBe(0);
    await execution.done;
    expect(execution.status).toBe('SUCCEEDED');
    const output = JSON.parse(execution.output!) as { error: { Error: string; Cause: string }; approval?: unknown };
    expect(output.error.Error).toBe('RefusedError');
    expect(output.error.Cause).toContain('declined by cli:jane');
    expect(output.approval).toBeUndefined();
    expect(execution.history.find((h) => h.type === 'TaskFailed')).toMatchObject({ taskFailedEventDetails: { error: 'RefusedError' } });
  });

  it("ends the wait with States.HeartbeatTimeout once the options' seconds pass with no answer; a heartbeat starts them again", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { sfn, approve } = setup();
    const execution = sfn.start(input, 'restore-3');
    await submitted(execution);
    const token = sfn.waiting()[0]!.token;
    await vi.advanceTimersByTimeAsync(899_000);
    sfn.sendTaskHeartbeat(token);
    await vi.advanceTimersByTimeAsync(899_000);
    expect(execution.status).toBe('RUNNING');
    expect(types(execution)).not.toContain('TaskTimedOut');
    await vi.advanceTimersByTimeAsync(2_000);
    await execution.done;
    const output = JSON.parse(execution.output!) as { error: { Error: string } };
    expect(output.error.Error).toBe('States.HeartbeatTimeout');
    expect(types(execution)).toContain('TaskTimedOut');
    expect(sfn.waiting()).toEqual([]);
    // The token outlived its task: approve finds the item, Step Functions says TaskTimedOut, nothing is answered.
    await expect(approve()).rejects.toMatchObject({ name: 'RefusedError', message: expect.stringContaining('TaskTimedOut') });
  });

  it("is answered through the rehearsal's endpoint by approve's own SDK calls, each checked against the operator's policy", async () => {
    const { sfn, table, lambdas } = setup();
    const iam = new IamCheck(ACCOUNT);
    const operator = { accessKeyId: 'AKIAOPERATOR000000001', name: 'operator', role: operatorRole };
    const nobody = { accessKeyId: 'AKIANOBODY00000000001', name: 'nobody', role: { ...operatorRole, name: 'nobody', policies: [] } };
    const front = new AwsFront({
      host: '127.0.0.1',
      account: ACCOUNT,
      region: REGION,
      lambdas,
      roles: [],
      iam,
      cloud: {} as SandboxCloud,
      dynamo: { port: 0, tableName: TABLE, tableArn: '', partitionKey: 'pk', indexPartitionKeys: {} },
      s3: { port: 0, bucket: '', bucketArn: '', keyArn: '', admin: {} as never },
      sns: { topicArn: '' },
      people: [operator, nobody],
    });
    front.sfn = sfn;
    sfn.tags = { 'etcd-replace:run-table': TABLE };
    await front.start();
    try {
      const client = (who: { accessKeyId: string }) =>
        new SFNClient({ region: REGION, endpoint: front.url, credentials: { accessKeyId: who.accessKeyId, secretAccessKey: 'not-checked' } });
      const approve = (who: { accessKeyId: string; name: string }, tableName?: string) =>
        answerApproval(
          // Without --table: the table from the state machine's tag (ListTagsForResource).
          { runId: RUN_ID, stateMachineArn: MACHINE_ARN, table: tableName, decline: false, reason: undefined, json: true, usage: 'usage' },
          { client: () => client(who), dynamo: () => table.doc, user: () => who.name, now: () => new Date('2026-12-07T15:30:00.000Z') },
        );
      const execution = sfn.start(input, 'restore-4');
      await submitted(execution);
      // Without the policy: AccessDenied (given the table, which it cannot look up), the task still waits.
      await expect(approve(nobody, TABLE)).rejects.toMatchObject({ name: 'AccessDeniedException' });
      expect(execution.status).toBe('RUNNING');
      expect(await approve(operator)).toBe(0);
      await execution.done;
      expect(JSON.parse(execution.output!)).toMatchObject({ approval: { by: 'cli:operator' } });
      const calls = iam.calls.filter((c) => c.caller === 'operator').map((c) => [c.action, c.resource, c.verdict]);
      expect(calls).toEqual([
        ['states:ListTagsForResource', MACHINE_ARN, 'Allowed'],
        ['states:SendTaskSuccess', '*', 'Allowed'],
      ]);
      expect(iam.denied().map((c) => [c.caller, c.action])).toEqual([['nobody', 'states:SendTaskSuccess']]);
    } finally {
      await front.close();
    }
  });
});
