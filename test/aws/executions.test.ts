import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  defaultExecutionName,
  EXECUTION_NAME,
  executionArnFor,
  reasonOf,
  regionOfArn,
  runDocumentFromHistory,
  startedByOf,
  StepFunctionsExecutions,
  type ExecutionFacts,
} from '../../functions/adapters/aws/executions.ts';
import { runIdFromExecutionName } from '../../functions/handlers/event.ts';
import * as validate from '../../functions/validate.ts';
import { TASKS } from '../../statemachine/spec.ts';
import { HistoryBuilder, lambdaCause, successfulRun, T0 } from '../support/aws/sfnHistory.ts';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311';
const NAME = 'ocp311-master-2-0f1e2d3c-20260302-10';
const EXECUTION = `arn:aws:states:eu-west-1:123456789012:execution:etcd-replace-ocp311:${NAME}`;
const REQUEST = { cluster: 'ocp311', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'console:jane' };

function facts(status: string, end?: Date): ExecutionFacts {
  return { executionArn: EXECUTION, name: NAME, status, startDate: new Date(T0), ...(end ? { stopDate: end } : {}) };
}

const stepOf = (doc: { steps: Array<{ name: string }> }, name: string) => doc.steps.find((s) => s.name === name);

describe('Function: runDocumentFromHistory', () => {
  it('maps a succeeded execution: every task in runbook order, retries as attempts, untaken branches skipped', () => {
    const h = successfulRun(REQUEST);
    const doc = runDocumentFromHistory(facts('SUCCEEDED', h.now), h.events);
    expect(doc).toMatchObject({
      runId: runIdFromExecutionName(NAME),
      outcome: 'succeeded',
      reason: null,
      startedAt: new Date(T0).toISOString(),
      endedAt: h.now.toISOString(),
      executionArn: EXECUTION,
      executionName: NAME,
      startedBy: 'console:jane',
    });
    expect(doc.steps.map((s) => s.name)).toEqual(TASKS.map((t) => t.name));
    expect(stepOf(doc, 'AcquireLock')).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(stepOf(doc, 'InstallEtcd')).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(stepOf(doc, 'ValidateInput')).toMatchObject({ status: 'succeeded', attempts: 1 });
    for (const skipped of ['BackUpFailedMemberData', 'FixLocalhostPeerUrls', 'CompensateNewMember']) {
      expect(stepOf(doc, skipped)).toEqual({ name: skipped, status: 'skipped', startedAt: doc.endedAt, endedAt: doc.endedAt, attempts: 0 });
    }
    // A step's times are its state's: entered to exited, retries included.
    const entered = h.events.find((e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === 'InstallEtcd')!;
    const exited = h.events.find((e) => e.type === 'TaskStateExited' && e.stateExitedEventDetails?.name === 'InstallEtcd')!;
    expect(stepOf(doc, 'InstallEtcd')).toMatchObject({ startedAt: entered.timestamp!.toISOString(), endedAt: exited.timestamp!.toISOString() });
    expect(doc.remaining).toBeUndefined();
  });

  it('maps a request an earlier run carried out: succeeded through the short path, the reason naming that run', () => {
    const replacedBy = {
      runId: 'r-20300101-000000-abcdef',
      at: '2030-01-01T00:01:02.000Z',
      newMemberId: 'a1b2c3d4e5f60718',
      peerURL: 'https://10.0.1.20:2380',
      replacement: { name: 'etcd-spare-0', hostname: 'etcd-spare-0.ec2.internal', ip: '10.0.1.20', roles: ['etcd'] },
      choice: 'spare',
      failedMember: { id: '8e9e05c52164694d', name: 'master-2', peerURL: 'https://10.0.1.12:2380' },
      remaining: [],
    };
    const h = new HistoryBuilder(REQUEST)
      .task('ValidateInput', { output: { alreadyReplaced: true, replacedBy } })
      .task('AcquireLock')
      .choice('IsAlreadyReplaced')
      .task('StopFailedMember', { output: { alreadyReplaced: true, replacedBy, failedHostReachable: false } });
    h.choice('IsFailedHostReachable').choice('IsNewMemberInPlace');
    for (const t of ['VerifyClusterHealth', 'RollMasters', 'UpdateFlannel', 'DiscardKeyBundle', 'TerminateLaunchedHost', 'RecordClusterState'])
      h.task(t, { output: { alreadyReplaced: true, replacedBy } });
    h.task('ReleaseLock', { output: { alreadyReplaced: true, replacedBy } })
      .choice('RouteOutcome')
      .succeed();
    const doc = runDocumentFromHistory(facts('SUCCEEDED', h.now), h.events);
    expect(doc.outcome).toBe('succeeded');
    expect(doc.reason).toBe('already done by run r-20300101-000000-abcdef on 2030-01-01 00:01:02Z: etcd-spare-0 is member a1b2c3d4e5f60718');
    for (const skipped of ['CheckClusterHealth', 'RemoveFailedMember', 'AddMember', 'StartNewMember'])
      expect(stepOf(doc, skipped)).toMatchObject({ status: 'skipped', attempts: 0 });
    expect(stepOf(doc, 'RollMasters')).toMatchObject({ status: 'succeeded' });
  });

  it('maps a refusal (LockHeldError caught into the Refused Fail state): outcome refused, reason from the Lambda error', () => {
    const h = new HistoryBuilder(REQUEST)
      .task('ValidateInput')
      .caughtTask('AcquireLock', 'LockHeldError', 'cluster ocp311 is locked by run r-1', { failures: ['ConditionalCheckFailedException'] })
      .choice('RouteOutcome')
      .fail('Refused');
    const doc = runDocumentFromHistory(facts('FAILED', h.now), h.events);
    expect(doc.outcome).toBe('refused');
    expect(doc.reason).toBe('LockHeldError: cluster ocp311 is locked by run r-1');
    expect(stepOf(doc, 'AcquireLock')).toMatchObject({ status: 'failed', attempts: 2 });
    expect(stepOf(doc, 'CheckClusterHealth')).toMatchObject({ status: 'skipped', attempts: 0 });
  });

  it('maps a failure through compensation to the Failed state, with what remains from the last task output', () => {
    const h = new HistoryBuilder(REQUEST)
      .task('ValidateInput')
      .task('AcquireLock')
      .task('CheckClusterHealth')
      .wait('WaitGraceWindow', 10)
      .task('ConfirmMemberFailed');
    for (const t of ['SnapshotCluster', 'IssueCertificates', 'VerifyCertificates', 'RemoveFailedMember', 'StopFailedMember']) h.task(t);
    h.choice('IsFailedHostReachable')
      .choice('ArePeerUrlsOnLocalhost')
      .task('AddMember')
      .caughtTask('ConfigureNewMember', 'HostCommandError', 'systemctl restart etcd exited 1');
    h.task('CompensateNewMember', { output: { remaining: ['remove the half-configured member from etcd-spare-0'] } })
      .task('ReleaseLock')
      .choice('RouteOutcome')
      .fail('Failed');
    const doc = runDocumentFromHistory(facts('FAILED', h.now), h.events);
    expect(doc.outcome).toBe('failed');
    expect(doc.reason).toBe('HostCommandError: systemctl restart etcd exited 1');
    expect(stepOf(doc, 'ConfigureNewMember')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(stepOf(doc, 'CompensateNewMember')).toMatchObject({ status: 'succeeded' });
    expect(stepOf(doc, 'InstallEtcd')).toMatchObject({ status: 'skipped' });
    expect(doc.remaining).toEqual(['remove the half-configured member from etcd-spare-0']);
  });

  it('maps invalid input (the first state fails into Failed) to a reason starting InvalidInputError', () => {
    const h = new HistoryBuilder({ ...REQUEST, failed: '' })
      .caughtTask('ValidateInput', 'InvalidInputError', 'invalid failed: expected a host')
      .choice('RouteOutcome')
      .fail('Failed');
    const doc = runDocumentFromHistory(facts('FAILED', h.now), h.events);
    expect(doc).toMatchObject({ outcome: 'failed', reason: 'InvalidInputError: invalid failed: expected a host' });
  });

  it('closes a task an uncaught error ended (no TaskStateExited): failed at the TaskFailed time', () => {
    const h = new HistoryBuilder(REQUEST).task('ValidateInput').uncaughtTask('AcquireLock', 'States.Runtime', 'An error occurred while executing the state');
    const doc = runDocumentFromHistory(facts('FAILED', h.now), h.events);
    const failedAt = h.events.find((e) => e.type === 'TaskFailed')!.timestamp!.toISOString();
    expect(doc.outcome).toBe('failed');
    expect(doc.reason).toBe('States.Runtime: An error occurred while executing the state');
    expect(stepOf(doc, 'AcquireLock')).toMatchObject({ status: 'failed', endedAt: failedAt, attempts: 1 });
  });

  it('maps a running execution: outcome running, no end, the current step running, steps not reached omitted', () => {
    const h = new HistoryBuilder(REQUEST)
      .task('ValidateInput')
      .task('AcquireLock')
      .task('CheckClusterHealth')
      .wait('WaitGraceWindow', 10)
      .runningTask('ConfirmMemberFailed');
    const doc = runDocumentFromHistory(facts('RUNNING'), h.events);
    expect(doc).toMatchObject({ outcome: 'running', reason: null, endedAt: null });
    expect(doc.steps.map((s) => [s.name, s.status])).toEqual([
      ['ValidateInput', 'succeeded'],
      ['AcquireLock', 'succeeded'],
      ['CheckClusterHealth', 'succeeded'],
      ['ConfirmMemberFailed', 'running'],
    ]);
    expect(stepOf(doc, 'ConfirmMemberFailed')).toMatchObject({ endedAt: null, attempts: 1 });
  });

  it('maps timed-out and aborted executions to failed, closing the interrupted step', () => {
    const timedOut = new HistoryBuilder(REQUEST).task('ValidateInput').runningTask('AcquireLock').timedOut();
    const t = runDocumentFromHistory(facts('TIMED_OUT', timedOut.now), timedOut.events);
    expect(t).toMatchObject({ outcome: 'failed', reason: 'States.Timeout: the execution exceeded its TimeoutSeconds', endedAt: timedOut.now.toISOString() });
    expect(stepOf(t, 'AcquireLock')).toMatchObject({ status: 'failed', endedAt: timedOut.now.toISOString() });
    const aborted = new HistoryBuilder(REQUEST).task('ValidateInput').aborted();
    expect(runDocumentFromHistory(facts('ABORTED', aborted.now), aborted.events)).toMatchObject({
      outcome: 'failed',
      reason: 'ExecutionAborted: the execution was stopped',
    });
  });

  it('adds up a task entered twice into one step', () => {
    const h = new HistoryBuilder(REQUEST)
      .task('ValidateInput')
      .task('AcquireLock')
      .caughtTask('ReleaseLock', 'DynamoDBError', 'throttled')
      .task('ReleaseLock')
      .choice('RouteOutcome')
      .succeed();
    const doc = runDocumentFromHistory(facts('SUCCEEDED', h.now), h.events);
    expect(stepOf(doc, 'ReleaseLock')).toMatchObject({ status: 'succeeded', attempts: 2 });
  });
});

describe('Function: defaultExecutionName', () => {
  const at = new Date('2026-03-02T10:17:45Z');

  it('is deterministic within the hour, names cluster and member, and is a valid run id', () => {
    const name = defaultExecutionName(REQUEST, at);
    expect(name).toMatch(/^ocp311-master-2-[0-9a-f]{8}-20260302-10$/);
    expect(defaultExecutionName(REQUEST, new Date('2026-03-02T10:59:59Z'))).toBe(name);
    expect(defaultExecutionName(REQUEST, new Date('2026-03-02T11:00:00Z'))).not.toBe(name);
    expect(validate.runId('runId', runIdFromExecutionName(name))).toBe(name);
  });

  it('stays within 80 valid characters for the longest inputs, and tells apart values with the same slug', () => {
    const long = defaultExecutionName({ cluster: `c${'x'.repeat(63)}`, failed: `https://${'a'.repeat(60)}.example.internal:2380` }, at);
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).toMatch(EXECUTION_NAME);
    expect(defaultExecutionName({ cluster: 'ocp311', failed: '10.0.1.12' }, at)).not.toBe(defaultExecutionName({ cluster: 'ocp311', failed: '10-0-1-12' }, at));
  });
});

describe('Function: helpers', () => {
  it('derive the execution ARN and region from a state machine ARN', () => {
    expect(executionArnFor(STATE_MACHINE, NAME)).toBe(EXECUTION);
    expect(regionOfArn(STATE_MACHINE)).toBe('eu-west-1');
    expect(regionOfArn(EXECUTION)).toBe('eu-west-1');
    expect(() => executionArnFor('arn:aws:lambda:eu-west-1:123456789012:function:x', NAME)).toThrow(/not a state machine ARN/);
  });

  it('read startedBy from a request or a context input', () => {
    expect(startedByOf(JSON.stringify(REQUEST))).toBe('console:jane');
    expect(startedByOf(JSON.stringify({ runId: 'r', request: { startedBy: 'alarm:x' }, options: {} }))).toBe('alarm:x');
    expect(startedByOf('not json')).toBeNull();
  });

  it('keep only the message of a Lambda error cause', () => {
    expect(reasonOf('RefusedError', lambdaCause('RefusedError', 'member master-2 recovered'))).toBe('RefusedError: member master-2 recovered');
    expect(reasonOf('States.Timeout', undefined)).toBe('States.Timeout');
    expect(reasonOf(undefined, undefined)).toBeNull();
  });
});

describe('Class: StepFunctionsExecutions', () => {
  const sfnMock = mockClient(SFNClient);
  const executions = new StepFunctionsExecutions(new SFNClient({ region: 'eu-west-1' }));
  beforeEach(() => sfnMock.reset());

  it('starts an execution under the given name with the request as input', async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    const result = await executions.start(STATE_MACHINE, NAME, REQUEST);
    expect(result).toEqual({ started: true, executionArn: EXECUTION, startDate: new Date(T0).toISOString() });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]!.args[0].input).toEqual({ executionArn: EXECUTION });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input).toEqual({
      stateMachineArn: STATE_MACHINE,
      name: NAME,
      input: JSON.stringify(REQUEST),
    });
  });

  it('starts nothing when an execution of that name exists, and returns it', async () => {
    const h = new HistoryBuilder(REQUEST).task('ValidateInput').runningTask('AcquireLock');
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXECUTION, name: NAME, status: 'RUNNING', startDate: new Date(T0), input: JSON.stringify(REQUEST) });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: h.events });
    const result = await executions.start(STATE_MACHINE, NAME, REQUEST);
    expect(result).toMatchObject({ started: false, existing: { outcome: 'running', executionArn: EXECUTION } });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('reports the existing execution when another start won the race (ExecutionAlreadyExists)', async () => {
    const h = successfulRun(REQUEST);
    sfnMock
      .on(DescribeExecutionCommand)
      .rejectsOnce(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }))
      .resolves({ executionArn: EXECUTION, name: NAME, status: 'SUCCEEDED', startDate: new Date(T0), stopDate: h.now });
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: h.events });
    expect(await executions.start(STATE_MACHINE, NAME, REQUEST)).toMatchObject({
      started: false,
      existing: { outcome: 'succeeded', startedBy: 'console:jane' },
    });
  });

  it('passes other errors through', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error('User is not authorized to perform: states:DescribeExecution'), { name: 'AccessDeniedException' }));
    await expect(executions.start(STATE_MACHINE, NAME, REQUEST)).rejects.toThrow(/not authorized/);
  });

  it('reads every page of the history, with execution data', async () => {
    const h = successfulRun(REQUEST);
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION, name: NAME, status: 'SUCCEEDED', startDate: new Date(T0), stopDate: h.now });
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: h.events.slice(0, 40), nextToken: 'page-2' })
      .resolves({ events: h.events.slice(40) });
    const doc = await executions.describeRun(EXECUTION);
    expect(doc.outcome).toBe('succeeded');
    expect(stepOf(doc, 'UpdateFlannel')).toMatchObject({ status: 'succeeded' });
    const calls = sfnMock.commandCalls(GetExecutionHistoryCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { executionArn: EXECUTION, maxResults: 1000, includeExecutionData: true },
      { executionArn: EXECUTION, maxResults: 1000, includeExecutionData: true, nextToken: 'page-2' },
    ]);
  });

  it('lists the newest executions up to the limit, each with its run document and who started it', async () => {
    const names = ['e3', 'e2', 'e1'].map((n) => `${NAME}-${n}`);
    const arnOf = (n: string) => `arn:aws:states:eu-west-1:123456789012:execution:etcd-replace-ocp311:${n}`;
    sfnMock
      .on(ListExecutionsCommand)
      .resolvesOnce({
        executions: names
          .slice(0, 2)
          .map((n) => ({ executionArn: arnOf(n), stateMachineArn: STATE_MACHINE, name: n, status: 'SUCCEEDED', startDate: new Date(T0) })),
        nextToken: 'more',
      })
      .resolves({
        executions: names.slice(2).map((n) => ({ executionArn: arnOf(n), stateMachineArn: STATE_MACHINE, name: n, status: 'FAILED', startDate: new Date(T0) })),
      });
    const ok = successfulRun({ ...REQUEST, startedBy: 'alarm:etcd-replace-ocp311-member-master-2' });
    const refused = new HistoryBuilder({ ...REQUEST, startedBy: 'cli:ops' })
      .task('ValidateInput')
      .caughtTask('AcquireLock', 'LockHeldError', 'locked')
      .choice('RouteOutcome')
      .fail('Refused');
    sfnMock.on(GetExecutionHistoryCommand, { executionArn: arnOf(names[0]!) }).resolves({ events: ok.events });
    sfnMock.on(GetExecutionHistoryCommand, { executionArn: arnOf(names[1]!) }).resolves({ events: ok.events });
    sfnMock.on(GetExecutionHistoryCommand, { executionArn: arnOf(names[2]!) }).resolves({ events: refused.events });

    const runs = await executions.listRuns(STATE_MACHINE, 3);
    expect(runs.map((r) => [r.executionName, r.outcome, r.startedBy])).toEqual([
      [names[0], 'succeeded', 'alarm:etcd-replace-ocp311-member-master-2'],
      [names[1], 'succeeded', 'alarm:etcd-replace-ocp311-member-master-2'],
      [names[2], 'refused', 'cli:ops'],
    ]);
    expect(sfnMock.commandCalls(ListExecutionsCommand).map((c) => c.args[0].input)).toEqual([
      { stateMachineArn: STATE_MACHINE, maxResults: 3 },
      { stateMachineArn: STATE_MACHINE, maxResults: 1, nextToken: 'more' },
    ]);
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it('stops listing at the limit', async () => {
    sfnMock.on(ListExecutionsCommand).resolves({
      executions: [1, 2, 3].map((i) => ({
        executionArn: `${EXECUTION}${i}`,
        stateMachineArn: STATE_MACHINE,
        name: `${NAME}${i}`,
        status: 'RUNNING',
        startDate: new Date(T0),
      })),
      nextToken: 'more',
    });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: new HistoryBuilder(REQUEST).runningTask('ValidateInput').events });
    const runs = await executions.listRuns(STATE_MACHINE, 2);
    expect(runs).toHaveLength(2);
    expect(sfnMock.commandCalls(ListExecutionsCommand)).toHaveLength(1);
  });
});
