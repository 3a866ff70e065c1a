// The restore-quorum workflow's model (statemachine/restoreSpec.ts) through the same compilers as the
// replacement: its ASL validates, its approval is a task-token wait, the steps both workflows run keep the
// replacement's policy, and the XState machine and the compiled ASL (run by aws-local-stepfunctions) take
// the same path for the same step fakes: approved from a survivor, from a snapshot, approval waived,
// approval timed out or declined, quorum back at the second observation, a re-added member that cannot join.

import { describe, expect, it } from 'vitest';
import {
  compileAsl,
  LAMBDA_INVOKE_RESOURCE,
  LAMBDA_INVOKE_WAIT_FOR_TOKEN_RESOURCE,
  taskStateNames,
  transitionTargets,
  type AslDefinition,
  type AslState,
  type AslTaskState,
} from '../../statemachine/asl.ts';
import { toMermaid } from '../../statemachine/graph.ts';
import { buildMachine } from '../../statemachine/machine.ts';
import { APPROVAL_TIMEOUT_MAX_SECONDS, type RestoreContext } from '../../statemachine/restoreContext.ts';
import { RESTORE_REFUSED_ERRORS, RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { REFUSED_ERRORS, taskSpec } from '../../statemachine/spec.ts';
import { RefusedError, ScriptFailedError } from '../../functions/errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { runAslLocally } from '../support/aslLocalRun.ts';
import { validateAsl } from '../support/aslValidate.ts';
import { RESTORE_STATES, RESTORE_TASKS_FROM_SURVIVOR } from '../support/restorePaths.ts';
import { runXState, type StepFake } from '../support/xstateRun.ts';

const asl = compileAsl(RESTORE_WORKFLOW);
const replacementAsl = compileAsl();

function taskState(definition: AslDefinition, name: string): AslTaskState {
  const s: AslState | undefined = definition.States[name];
  if (s?.Type !== 'Task') throw new Error(`${name} is not a Task`);
  return s;
}

/** The replacement's steps the restore runs too (its re-add loop, the masters, flannel, the lock and the closing steps). */
const SHARED = [
  'AcquireLock',
  'IssueCertificates',
  'VerifyCertificates',
  'OpenEtcdPorts',
  'InstallEtcd',
  'ConfigureNewMember',
  'AddMember',
  'StartNewMember',
  'PromoteNewMember',
  'VerifyClusterHealth',
  'RollMasters',
  'UpdateFlannel',
  'CompensateNewMember',
  'DiscardKeyBundle',
  'ReleaseLock',
];

describe('The restore-quorum model', () => {
  it('has the states in runbook order, the same in the spec, the machine and the ASL', () => {
    const names = RESTORE_WORKFLOW.states.map((s) => s.name);
    expect(names).toEqual(RESTORE_STATES);
    expect(Object.keys(buildMachine(RESTORE_WORKFLOW).root.states)).toEqual(names);
    expect(Object.keys(asl.States)).toEqual(names);
    expect(taskStateNames(asl)).toEqual(RESTORE_WORKFLOW.tasks.map((t) => t.name));
  });

  it('compiles to ASL that asl-validator accepts, a state machine of its own, bounded past the longest approval wait', () => {
    const result = validateAsl(asl);
    expect(result.errorsText).toBe('');
    expect(result.isValid).toBe(true);
    expect(validateAsl(compileAsl(RESTORE_WORKFLOW, { functionArn: (n) => `arn:aws:lambda:eu-west-1:123456789012:function:etcd-restore-${n}` })).isValid).toBe(
      true,
    );
    expect(asl.StartAt).toBe('ValidateRestoreRequest');
    expect(asl.Comment).toMatch(/^RestoreEtcdQuorum: /);
    expect(asl.TimeoutSeconds).toBeGreaterThan(APPROVAL_TIMEOUT_MAX_SECONDS);
    for (const [name, state] of Object.entries(asl.States)) {
      for (const target of transitionTargets(state)) expect({ from: name, known: target in asl.States }).toEqual({ from: name, known: true });
    }
    // Compiled from the spec or from its machine: the same definition, to the byte.
    expect(JSON.stringify(compileAsl(buildMachine(RESTORE_WORKFLOW)))).toBe(JSON.stringify(asl));
  });

  it('waits for the approval with a task token: waitForTaskToken, the token in the payload, the answer in $.approval, the window from the options', () => {
    const approval = taskState(asl, 'AwaitApproval');
    expect(approval).toEqual({
      Type: 'Task',
      Comment: expect.stringMatching(/approve/),
      Resource: LAMBDA_INVOKE_WAIT_FOR_TOKEN_RESOURCE,
      Parameters: {
        FunctionName: '${AwaitApprovalFunctionArn}',
        Payload: { step: 'AwaitApproval', 'context.$': '$', 'executionName.$': '$$.Execution.Name', 'taskToken.$': '$$.Task.Token' },
      },
      ResultPath: '$.approval',
      TimeoutSeconds: APPROVAL_TIMEOUT_MAX_SECONDS + 300,
      HeartbeatSecondsPath: '$.options.approvalTimeoutSeconds',
      Retry: expect.any(Array),
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'DiscardKeyBundle' }],
      Next: 'FenceFormerMembers',
    });
    expect(LAMBDA_INVOKE_WAIT_FOR_TOKEN_RESOURCE).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    // Every other task is a plain invoke whose Lambda returns the new context, without a token or a heartbeat.
    for (const name of taskStateNames(asl).filter((n) => n !== 'AwaitApproval')) {
      const t = taskState(asl, name);
      expect({ name, Resource: t.Resource, OutputPath: t.OutputPath, heartbeat: t.HeartbeatSecondsPath, token: t.Parameters.Payload['taskToken.$'] }).toEqual({
        name,
        Resource: LAMBDA_INVOKE_RESOURCE,
        OutputPath: '$.Payload',
        heartbeat: undefined,
        token: undefined,
      });
    }
    // Its timeout is a refusal here only: the replacement has no heartbeat, and a task's own time limit stays a failure.
    expect(RESTORE_REFUSED_ERRORS).toEqual([...REFUSED_ERRORS, 'States.HeartbeatTimeout']);
    expect(RESTORE_REFUSED_ERRORS).not.toContain('States.Timeout');
  });

  it("runs the replacement's shared steps under the replacement's policy: retries, time limit, lock, catches", () => {
    for (const name of SHARED) {
      const mine = taskState(asl, name);
      const theirs = taskState(replacementAsl, name);
      expect({ name, Retry: mine.Retry, TimeoutSeconds: mine.TimeoutSeconds, Parameters: mine.Parameters }).toEqual({
        name,
        Retry: theirs.Retry,
        TimeoutSeconds: theirs.TimeoutSeconds,
        Parameters: theirs.Parameters,
      });
      const spec = RESTORE_WORKFLOW.tasks.find((t) => t.name === name);
      expect({ name, holdsLock: spec?.holdsLock }).toEqual({ name, holdsLock: taskSpec(name).holdsLock });
    }
    // Joining members are compensated as in the replacement; the closing steps' own failures hide nothing.
    for (const name of ['AddMember', 'StartNewMember', 'PromoteNewMember']) expect(taskState(asl, name).Catch[0]?.Next).toBe('CompensateNewMember');
    expect(taskState(asl, 'DiscardKeyBundle').Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'ReleaseLock' }]);
    expect(taskState(asl, 'AcquireLock').Catch).toEqual(taskState(replacementAsl, 'AcquireLock').Catch);
  });

  it('waits the grace window until the time the first observation wrote', () => {
    expect(asl.States.WaitGraceWindow).toEqual({
      Type: 'Wait',
      Comment: expect.any(String),
      TimestampPath: '$.confirmQuorumLossAfter',
      Next: 'ConfirmQuorumLost',
    });
  });

  it('draws as a Mermaid flowchart with the approval, the force or the snapshot, and the re-add loop', () => {
    const graph = toMermaid(RESTORE_WORKFLOW);
    expect(graph).toMatch(/^flowchart TD\n/);
    for (const edge of [
      '  IsApprovalWaived -- approvalWaived --> FenceFormerMembers',
      '  IsApprovalWaived -- otherwise --> AwaitApproval',
      '  AwaitApproval -. error .-> DiscardKeyBundle',
      '  IsFromSnapshot -- fromSnapshot --> RestoreFromSnapshot',
      '  IsFromSnapshot -- otherwise --> ForceNewCluster',
      '  WaitGraceWindow -- graceWindow --> ConfirmQuorumLost',
      '  IsAnotherMemberToReAdd -- anotherMember --> PrepareFormerMember',
      '  VerifyRestoredMember --> PrepareFormerMember',
      '  RouteOutcome -- refused --> Refused',
    ])
      expect(graph).toContain(edge);
    expect(graph).toBe(toMermaid(buildMachine(RESTORE_WORKFLOW)));
  });
});

// Conformance ----------------------------------------------------------------------------------

const input: RestoreContext = {
  runId: 'run-restore-1',
  request: { cluster: 'ocp', failed: '', startedBy: 'test' },
  options: { graceSeconds: 30, learner: 'auto', approvalTimeoutSeconds: 900 },
};

type Fakes = Record<string, StepFake<RestoreContext>>;
/** Builds a fresh set of fakes per engine, so counters start at zero for each run. */
type Scenario = () => Fakes;

/**
 * aws-local-stepfunctions runs no task-token integration: it calls the task's local handler and takes what
 * it returns, with no token to hand out, nothing to wait for and no heartbeat. The local run therefore gets
 * AwaitApproval as a plain invoke whose fake is the answer (`{approval}`), or the error Step Functions would
 * end the wait with; the task-token shape itself is checked above.
 */
function withApprovalAsPlainInvoke(definition: AslDefinition): AslDefinition {
  const copy = structuredClone(definition);
  const approval = taskState(copy, 'AwaitApproval');
  const { ResultPath: _resultPath, HeartbeatSecondsPath: _heartbeat, ...rest } = approval;
  const { 'taskToken.$': _token, ...payload } = approval.Parameters.Payload;
  copy.States.AwaitApproval = { ...rest, Resource: LAMBDA_INVOKE_RESOURCE, Parameters: { ...approval.Parameters, Payload: payload }, OutputPath: '$.Payload' };
  return copy;
}
const localAsl = withApprovalAsPlainInvoke(asl);

async function runBoth(scenario: Scenario) {
  const xstate = await runXState(scenario(), input, RESTORE_WORKFLOW);
  const fakes = scenario();
  const local = await runAslLocally(localAsl, input, async (name, context) => {
    const step = fakes[name];
    return { ...context, ...(step ? await step(context as RestoreContext) : {}) } as WorkflowContext;
  });
  expect(local.path).toEqual(xstate.path);
  expect(local.invocations).toEqual(xstate.invocations);
  expect(local.finalState).toBe(xstate.finalState);
  expect(local.finalContext).toEqual(xstate.finalContext);
  return { xstate, local };
}

const isTask = (name: string) => RESTORE_WORKFLOW.tasks.some((t) => t.name === name);
const tasksOf = (path: string[]) => path.filter(isTask);

/** Named like Step Functions' own error when a task-token wait sees no answer within its heartbeat. */
function heartbeatTimeout(): Error {
  return Object.assign(new Error('AwaitApproval: no answer within 900 s'), { name: 'States.HeartbeatTimeout' });
}

const APPROVAL = { by: 'cli:jane', at: '2030-01-01T00:05:00.000Z' };

/** Two former members to re-add: the loop's first step says whether another follows (statemachine/members.ts). */
const restored = (choice: Partial<RestoreContext>): Scenario => {
  return () => {
    let loaded = 0;
    return {
      ObserveQuorumLoss: async () => ({ confirmQuorumLossAfter: '2030-01-01T00:00:30.000Z' }),
      ConfirmQuorumLost: async () => ({ quorumLossConfirmedAt: '2030-01-01T00:00:31.000Z' }),
      ChooseRestorePoint: async () => ({ approvalWaived: false, fromSnapshot: false, ...choice }),
      AwaitApproval: async () => ({ approval: APPROVAL }),
      PrepareFormerMember: async () => {
        loaded += 1;
        return { anotherMember: loaded < 2, memberIndex: loaded - 1 };
      },
      AddMember: async () => ({ addedAsLearner: false, memberAdded: true }),
      RecordRestore: async () => ({
        restoreMeasures: {
          quorumLossConfirmedAt: '2030-01-01T00:00:31.000Z',
          fullStrengthAt: '2030-01-01T00:09:31.000Z',
          secondsToFullStrength: 540,
          revisionChosen: 1200,
          highestRevisionSeen: 1204,
          revisionsLost: 4,
          fenced: [
            { host: 'master-0', how: ['network', 'on-host'] },
            { host: 'master-1', how: ['network'] },
          ],
        },
      }),
    };
  };
};

const CLOSING = ['DiscardKeyBundle', 'ReleaseLock'];

describe('Conformance of the restore-quorum model: XState and the compiled ASL', () => {
  it('take the same path when approved, from a survivor: fenced, forced, verified, each former member re-added in turn, masters, flannel, recorded', async () => {
    const { local, xstate } = await runBoth(restored({}));
    expect(local.finalState).toBe('Succeeded');
    expect(local.status).toBe('SUCCEEDED');
    expect(tasksOf(local.path)).toEqual(RESTORE_TASKS_FROM_SURVIVOR);
    expect(local.path).toEqual(
      expect.arrayContaining(['WaitGraceWindow', 'IsApprovalWaived', 'IsFromSnapshot', 'IsNewMemberLearner', 'IsAnotherMemberToReAdd']),
    );
    expect(local.path).not.toContain('RestoreFromSnapshot');
    expect(xstate.finalContext.approval).toEqual(APPROVAL);
    expect(xstate.finalContext.restoreMeasures?.revisionsLost).toBe(4);
    expect(xstate.finalContext.error).toBeUndefined();
  });

  it('take the same path from a snapshot: restored on one host instead of forced, then the same re-add', async () => {
    const { local } = await runBoth(restored({ fromSnapshot: true }));
    expect(local.finalState).toBe('Succeeded');
    const tasks = tasksOf(local.path);
    expect(tasks.slice(tasks.indexOf('FenceFormerMembers'), tasks.indexOf('PrepareFormerMember'))).toEqual([
      'FenceFormerMembers',
      'RestoreFromSnapshot',
      'VerifyRestoredMember',
    ]);
    expect(tasks).not.toContain('ForceNewCluster');
  });

  it('take the same path when the config waives the approval: no wait, straight to the fence', async () => {
    const { local } = await runBoth(restored({ approvalWaived: true }));
    expect(local.finalState).toBe('Succeeded');
    expect(local.path).not.toContain('AwaitApproval');
    expect(local.path.slice(local.path.indexOf('ChooseRestorePoint'), local.path.indexOf('FenceFormerMembers') + 1)).toEqual([
      'ChooseRestorePoint',
      'IsApprovalWaived',
      'FenceFormerMembers',
    ]);
  });

  it('end Refused when the approval times out, with nothing after the wait but the closing steps', async () => {
    const { local, xstate } = await runBoth(() => ({ ...restored({})(), AwaitApproval: async () => Promise.reject(heartbeatTimeout()) }));
    expect(local.path.slice(local.path.indexOf('AwaitApproval'))).toEqual(['AwaitApproval', ...CLOSING, 'RouteOutcome', 'Refused']);
    expect(local.status).toBe('FAILED');
    expect(local.executionError).toEqual({ Error: 'States.HeartbeatTimeout', Cause: 'AwaitApproval: no answer within 900 s' });
    expect(xstate.finalState).toBe('Refused');
    expect(xstate.finalContext.approval).toBeUndefined();
    expect(local.invocations.filter((n) => n === 'AwaitApproval')).toHaveLength(1);
  });

  it('end Refused when a person declines, changing nothing', async () => {
    const { local } = await runBoth(() => ({
      ...restored({})(),
      AwaitApproval: async () => Promise.reject(new RefusedError('declined by cli:jane: the survivor is not the one we want')),
    }));
    expect(local.path.slice(local.path.indexOf('AwaitApproval'))).toEqual(['AwaitApproval', ...CLOSING, 'RouteOutcome', 'Refused']);
    expect(local.executionError?.Error).toBe('RefusedError');
  });

  it('end Refused when quorum is back at the second observation: no restore point chosen, nothing fenced', async () => {
    const { local, xstate } = await runBoth(() => ({
      ...restored({})(),
      ConfirmQuorumLost: async () => Promise.reject(new RefusedError('restore-quorum refused: quorum is back: 2 of 3 voting members answer and 2 are needed')),
    }));
    expect(local.path).toEqual([
      'ValidateRestoreRequest',
      'AcquireLock',
      'ObserveQuorumLoss',
      'WaitGraceWindow',
      'ConfirmQuorumLost',
      ...CLOSING,
      'RouteOutcome',
      'Refused',
    ]);
    expect(xstate.finalContext.error?.Error).toBe('RefusedError');
  });

  it('compensate a re-added member that cannot start, then close and end Failed', async () => {
    const { local } = await runBoth(() => ({
      ...restored({})(),
      StartNewMember: async () => Promise.reject(new ScriptFailedError('master-1', 'StartNewMember', 1, 'etcd did not start')),
    }));
    expect(local.path.slice(-6)).toEqual(['StartNewMember', 'CompensateNewMember', ...CLOSING, 'RouteOutcome', 'Failed']);
    // ScriptFailedError is retried once by the replacement's policy, here as there.
    expect(local.invocations.filter((n) => n === 'StartNewMember')).toHaveLength(2);
  });

  it('keep only the answer of the approval in XState, as ResultPath does in Step Functions', async () => {
    const run = await runXState(
      { ...restored({})(), AwaitApproval: async () => ({ approval: APPROVAL, fromSnapshot: true, approvalWaived: true }) },
      input,
      RESTORE_WORKFLOW,
    );
    expect(run.finalState).toBe('Succeeded');
    expect(run.path).toContain('ForceNewCluster');
    expect(run.finalContext.approval).toEqual(APPROVAL);
    expect(run.finalContext.fromSnapshot).toBe(false);
  });
});
