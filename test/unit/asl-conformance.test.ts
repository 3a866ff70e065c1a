// Conformance: the compiled ASL, run locally by aws-local-stepfunctions, and the XState machine take
// the same path (every state, including Choices and Waits), make the same step invocations (retries
// included) and end on the same final state with the same recorded errors, for the same step fakes.

import { describe, expect, it } from 'vitest';
import { compileAsl } from '../../statemachine/asl.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import type { EarlierReplacement } from '../../statemachine/earlierRun.ts';
import { ADD_METHOD_TASKS, COMPENSATION_TASKS, REFUSED_ERRORS, TASKS } from '../../statemachine/spec.ts';
import * as errors from '../../functions/errors.ts';
import { EtcdUnhealthyClusterError, LockHeldError, LockLostError, QuorumLostError, RefusedError, ScriptFailedError } from '../../functions/errors.ts';
import { runAslLocally, taskFnFromSteps } from '../support/aslLocalRun.ts';
import { runXState, type StepFake } from '../support/xstateRun.ts';
import { createStepHandler } from '../../functions/handlers/step.ts';

const asl = compileAsl();

const input: WorkflowContext = {
  runId: 'run-conformance-1',
  request: { cluster: 'ocp', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'test' },
  options: { graceSeconds: 30, learner: 'auto' },
};

/** Builds a fresh set of fakes per engine, so counters start at zero for each run. */
type Scenario = () => Record<string, StepFake>;

async function runBoth(scenario: Scenario) {
  const xstate = await runXState(scenario(), input);
  const local = await runAslLocally(asl, input, taskFnFromSteps(scenario()));
  return { xstate, local };
}

const tasksOf = (path: string[]) => path.filter((s) => TASKS.some((t) => t.name === s));

/** A step that throws `error()` on its first `times` calls, then returns `output`. */
function failing(times: number, error: () => Error, output: Partial<WorkflowContext> = {}): StepFake {
  let calls = 0;
  return async () => {
    calls += 1;
    if (calls <= times) throw error();
    return output;
  };
}

const guardsTrue: Scenario = () => ({
  CheckClusterHealth: async () => ({ peerUrlsOnLocalhost: true }),
  StopFailedMember: async () => ({ failedHostReachable: true }),
  AddMember: async () => ({ addedAsLearner: true, memberAdded: true, newMemberId: '8e9e05c52164694d' }),
});

describe('Conformance: compiled ASL and XState machine', () => {
  it('take the same full path to Succeeded when every guard is true', async () => {
    const { xstate, local } = await runBoth(guardsTrue);
    expect(local.path).toEqual(xstate.path);
    expect(local.invocations).toEqual(xstate.invocations);
    expect(local.finalState).toBe('Succeeded');
    expect(local.status).toBe('SUCCEEDED');
    expect(xstate.finalState).toBe('Succeeded');
    expect(local.path).toEqual(
      expect.arrayContaining(['IsFailedHostReachable', 'BackUpFailedMemberData', 'FixLocalhostPeerUrls', 'PromoteNewMember', 'WaitGraceWindow']),
    );
    expect(tasksOf(local.path)).toEqual(TASKS.map((t) => t.name).filter((n) => !COMPENSATION_TASKS.includes(n) && !ADD_METHOD_TASKS.ansible.includes(n)));
    expect(local.finalContext).toEqual(xstate.finalContext);
    expect(local.finalContext.newMemberId).toBe('8e9e05c52164694d');
  });

  it('route around VerifyCertificates when IssueCertificates checked the certificates, and run it when not', async () => {
    const { xstate, local } = await runBoth(() => ({ IssueCertificates: async () => ({ certificatesChecked: true }) }));
    expect(local.path).toEqual(xstate.path);
    expect(local.invocations).toEqual(xstate.invocations);
    expect(local.finalState).toBe('Succeeded');
    expect(local.path).toContain('AreCertificatesChecked');
    expect(local.invocations).not.toContain('VerifyCertificates');
    const unchecked = await runBoth(() => ({ IssueCertificates: async () => ({ certificatesChecked: false }) }));
    expect(unchecked.local.invocations).toEqual(unchecked.xstate.invocations);
    expect(unchecked.local.invocations).toContain('VerifyCertificates');
  });

  it('wait for the snapshot once the new member has joined: a learner before its promotion, a voter before full strength', async () => {
    for (const learner of [true, false]) {
      const { xstate, local } = await runBoth(() => ({
        AddMember: async () => ({ addedAsLearner: learner, memberAdded: true, newMemberId: '8e9e05c52164694d' }),
      }));
      expect(local.path).toEqual(xstate.path);
      expect(local.finalState).toBe('Succeeded');
      const joined = tasksOf(local.path);
      expect(joined.slice(joined.indexOf('StartNewMember'), joined.indexOf('VerifyClusterHealth') + 1)).toEqual([
        'StartNewMember',
        'AwaitSnapshot',
        ...(learner ? ['PromoteNewMember'] : []),
        'VerifyClusterHealth',
      ]);
    }
  });

  it('remove a learner again when the snapshot cannot be stored, and leave a voter in place: the run ends Failed either way', async () => {
    for (const learner of [true, false]) {
      const { xstate, local } = await runBoth(() => ({
        AddMember: async () => ({ addedAsLearner: learner, memberAdded: true, newMemberId: '8e9e05c52164694d' }),
        AwaitSnapshot: failing(Infinity, () => new errors.ArtifactStoreError('snapshot upload incomplete: host wrote 4096 bytes, store holds nothing')),
      }));
      expect(local.path).toEqual(xstate.path);
      expect(local.invocations).toEqual(xstate.invocations);
      expect(local.finalState).toBe('Failed');
      expect(xstate.finalState).toBe('Failed');
      const after = local.path.slice(local.path.indexOf('AwaitSnapshot'));
      expect(after.slice(0, 3)).toEqual(['AwaitSnapshot', 'IsLearnerToCompensate', learner ? 'CompensateNewMember' : 'DiscardKeyBundle']);
      for (const later of ['PromoteNewMember', 'VerifyClusterHealth', 'RollMasters']) expect(local.invocations).not.toContain(later);
      expect(local.finalContext.error).toEqual(xstate.finalContext.error);
    }
  });

  it('take the same scaleup playbook path when ValidateInput chose the ansible add method, and its compensation when the playbook fails', async () => {
    const playbook = () => ({
      ...guardsTrue(),
      ValidateInput: async () => ({ addByPlaybook: true }),
      AddMember: async () => {
        throw new Error('the ansible path never adds by hand');
      },
      RunScaleupPlaybook: async () => ({ addedAsLearner: false, memberAdded: true, newMemberId: '8e9e05c52164694d' }),
    });
    const ok = await runBoth(playbook);
    expect(ok.local.path).toEqual(ok.xstate.path);
    expect(ok.local.finalState).toBe('Succeeded');
    expect(tasksOf(ok.local.path)).toEqual(
      TASKS.map((t) => t.name).filter((n) => !COMPENSATION_TASKS.includes(n) && !ADD_METHOD_TASKS.manual.includes(n) && n !== 'PromoteNewMember'),
    );
    expect(ok.local.finalContext).toEqual(ok.xstate.finalContext);

    const failed = await runBoth(() => ({
      ...playbook(),
      RunScaleupPlaybook: async () => {
        throw new errors.ScaleupFailedError('the scaleup playbook failed at TASK [Add new etcd members to cluster] on master-0');
      },
    }));
    expect(failed.local.path).toEqual(failed.xstate.path);
    expect(failed.local.finalState).toBe('Failed');
    const after = failed.local.path.slice(failed.local.path.indexOf('RunScaleupPlaybook'));
    expect(tasksOf(after).slice(0, 5)).toEqual(['RunScaleupPlaybook', 'RestoreInventory', 'RestoreMasterUrls', 'CompensateNewMember', 'DiscardKeyBundle']);
    expect(failed.local.finalContext.error).toEqual(failed.xstate.finalContext.error);
  });

  it('take the same path past the guarded states when every guard is false', async () => {
    const { xstate, local } = await runBoth(() => ({
      CheckClusterHealth: async () => ({ peerUrlsOnLocalhost: false }),
      StopFailedMember: async () => ({ failedHostReachable: false }),
      AddMember: async () => ({ addedAsLearner: false, memberAdded: true }),
    }));
    expect(local.path).toEqual(xstate.path);
    expect(local.finalState).toBe('Succeeded');
    for (const skipped of ['BackUpFailedMemberData', 'FixLocalhostPeerUrls', 'PromoteNewMember']) expect(local.path).not.toContain(skipped);
    expect(local.path).toEqual(expect.arrayContaining(['IsFailedHostReachable', 'ArePeerUrlsOnLocalhost', 'IsNewMemberLearner']));
    expect(local.finalContext).toEqual(xstate.finalContext);
  });

  it('take the same short path to Succeeded for a request an earlier run carried out, with no membership change', async () => {
    const replacedBy: EarlierReplacement = {
      runId: 'r-earlier',
      at: '2030-01-01T00:00:00.000Z',
      newMemberId: '8e9e05c52164694d',
      peerURL: 'https://198.51.100.20:2380',
      replacement: { name: 'etcd-spare-0', hostname: 'etcd-spare-0.example.com', ip: '198.51.100.20', roles: ['spare'] },
      choice: 'spare',
      failedMember: { id: '1c3c2e9a4b5d6f70', name: 'master-2.example.com', peerURL: 'https://198.51.100.12:2380' },
      remaining: [],
    };
    for (const reachable of [true, false]) {
      const { xstate, local } = await runBoth(() => ({
        ValidateInput: async () => ({ alreadyReplaced: true, replacedBy, newMemberId: replacedBy.newMemberId }),
        StopFailedMember: async () => ({ failedHostReachable: reachable }),
      }));
      expect(local.path).toEqual(xstate.path);
      expect(local.invocations).toEqual(xstate.invocations);
      expect(local.finalState).toBe('Succeeded');
      expect(xstate.finalState).toBe('Succeeded');
      expect(tasksOf(local.path)).toEqual([
        'ValidateInput',
        'AcquireLock',
        'StopFailedMember',
        ...(reachable ? ['BackUpFailedMemberData'] : []),
        'VerifyClusterHealth',
        'UpdateInventory',
        'RollMasters',
        'UpdateFlannel',
        'DiscardKeyBundle',
        'TerminateLaunchedHost',
        'RecordClusterState',
        'ReleaseLock',
      ]);
      expect(local.path).toEqual(expect.arrayContaining(['IsAlreadyReplaced', 'IsFailedHostReachable', 'IsNewMemberInPlace']));
      expect(local.finalContext).toEqual(xstate.finalContext);
    }
  });

  it('treat a guard field that is absent like false', async () => {
    const { xstate, local } = await runBoth(() => ({}));
    expect(local.path).toEqual(xstate.path);
    expect(local.path).not.toContain('BackUpFailedMemberData');
    expect(local.finalState).toBe('Succeeded');
  });

  it('retry a retryable error and call the step twice in both engines', async () => {
    const { xstate, local } = await runBoth(() => ({
      RemoveFailedMember: failing(1, () => new EtcdUnhealthyClusterError('etcdserver: unhealthy cluster')),
    }));
    expect(local.path).toEqual(xstate.path);
    expect(local.invocations).toEqual(xstate.invocations);
    expect(local.invocations.filter((n) => n === 'RemoveFailedMember')).toHaveLength(2);
    expect(local.finalState).toBe('Succeeded');
    expect(xstate.finalState).toBe('Succeeded');
    expect(local.finalContext.error).toBeUndefined();
  });

  it('compensate when the new member cannot start: CompensateNewMember, the closing steps, ReleaseLock, Failed', async () => {
    const { xstate, local } = await runBoth(() => ({
      StartNewMember: failing(Infinity, () => new ScriptFailedError('etcd-spare-0', 'StartNewMember', 1, 'etcd did not start')),
    }));
    expect(local.path).toEqual(xstate.path);
    expect(local.invocations).toEqual(xstate.invocations);
    // ScriptFailedError is retried once by the spec: two tries.
    expect(local.invocations.filter((n) => n === 'StartNewMember')).toHaveLength(2);
    expect(local.path.slice(-8)).toEqual([
      'StartNewMember',
      'CompensateNewMember',
      'DiscardKeyBundle',
      'TerminateLaunchedHost',
      'RecordClusterState',
      'ReleaseLock',
      'RouteOutcome',
      'Failed',
    ]);
    expect(xstate.finalState).toBe('Failed');
    expect(local.status).toBe('FAILED');
    expect(local.finalContext.error).toEqual(xstate.finalContext.error);
    expect(local.finalContext.error?.Error).toBe('ScriptFailedError');
    expect(local.executionError).toEqual(local.finalContext.error);
  });

  it('keep the first error and record the cleanup error when compensation fails too', async () => {
    const { xstate, local } = await runBoth(() => ({
      StartNewMember: failing(Infinity, () => new ScriptFailedError('etcd-spare-0', 'StartNewMember', 1, 'boom')),
      CompensateNewMember: failing(Infinity, () => new Error('also broken')),
    }));
    expect(local.path).toEqual(xstate.path);
    expect(local.finalState).toBe('Failed');
    expect(local.finalContext.error).toEqual(xstate.finalContext.error);
    expect(local.finalContext.cleanupError).toEqual(xstate.finalContext.cleanupError);
    expect(local.finalContext.cleanupError).toEqual({ Error: 'Error', Cause: 'also broken' });
  });

  it('end Refused after releasing the lock when a preflight step refuses', async () => {
    const { xstate, local } = await runBoth(() => ({
      CheckClusterHealth: failing(Infinity, () => new RefusedError('removing master-2 would lose quorum')),
    }));
    expect(local.path).toEqual(xstate.path);
    expect(local.path.slice(-7)).toEqual([
      'CheckClusterHealth',
      'DiscardKeyBundle',
      'TerminateLaunchedHost',
      'RecordClusterState',
      'ReleaseLock',
      'RouteOutcome',
      'Refused',
    ]);
    expect(xstate.finalState).toBe('Refused');
    expect(local.invocations.filter((n) => n === 'CheckClusterHealth')).toHaveLength(1);
    expect(local.executionError).toEqual({ Error: 'RefusedError', Cause: 'removing master-2 would lose quorum' });
    expect(local.finalContext.error).toEqual(xstate.finalContext.error);
  });

  it('list every refusal class by name: Step Functions matches names, not inheritance', () => {
    const refusals = Object.values(errors).filter(
      (value) => typeof value === 'function' && (value === RefusedError || value.prototype instanceof RefusedError),
    );
    expect(refusals.map((c) => c.name).sort()).toEqual([...REFUSED_ERRORS].sort());
  });

  it('end Refused through the closing steps when the run has lost its lock (LockLostError), in both engines', async () => {
    const { xstate, local } = await runBoth(() => ({
      RemoveFailedMember: failing(Infinity, () => new LockLostError('run run-conformance-1 no longer holds the lock of ocp')),
    }));
    expect(local.path).toEqual(xstate.path);
    expect(local.path.slice(-7)).toEqual([
      'RemoveFailedMember',
      'DiscardKeyBundle',
      'TerminateLaunchedHost',
      'RecordClusterState',
      'ReleaseLock',
      'RouteOutcome',
      'Refused',
    ]);
    expect(xstate.finalState).toBe('Refused');
    expect(local.executionError?.Error).toBe('LockLostError');
    expect(local.invocations.filter((n) => n === 'RemoveFailedMember')).toHaveLength(1);
  });

  it('stop at once when compensation finds quorum lost: no retry, both errors kept, the closing steps still run', async () => {
    const { xstate, local } = await runBoth(() => ({
      StartNewMember: failing(Infinity, () => new QuorumLostError('member cannot join: quorum is lost')),
      CompensateNewMember: failing(Infinity, () => new QuorumLostError('CompensateNewMember changes nothing: quorum is lost')),
    }));
    expect(local.path).toEqual(xstate.path);
    expect(local.invocations.filter((n) => n === 'StartNewMember')).toHaveLength(1);
    expect(local.invocations.filter((n) => n === 'CompensateNewMember')).toHaveLength(1);
    expect(local.path.slice(-6)).toEqual(['DiscardKeyBundle', 'TerminateLaunchedHost', 'RecordClusterState', 'ReleaseLock', 'RouteOutcome', 'Failed']);
    expect(local.finalContext.error?.Error).toBe('QuorumLostError');
    expect(local.finalContext.cleanupError?.Error).toBe('QuorumLostError');
    expect(local.finalContext.cleanupError).toEqual(xstate.finalContext.cleanupError);
  });

  it('end Refused without touching the lock when another run holds it', async () => {
    const { xstate, local } = await runBoth(() => ({
      AcquireLock: failing(Infinity, () => new LockHeldError('run-other holds the lock of ocp')),
    }));
    expect(local.path).toEqual(xstate.path);
    expect(local.path).toEqual(['ValidateInput', 'AcquireLock', 'Refused']);
    expect(local.invocations).not.toContain('ReleaseLock');
    expect(xstate.finalState).toBe('Refused');
    expect(local.executionError?.Error).toBe('LockHeldError');
  });

  it('fail at once, without the lock, when the input is invalid', async () => {
    const invalid = () => Object.assign(new Error('invalid failed: empty'), { name: 'InvalidInputError' });
    const { xstate, local } = await runBoth(() => ({ ValidateInput: failing(Infinity, invalid) }));
    expect(local.path).toEqual(xstate.path);
    expect(local.path).toEqual(['ValidateInput', 'Failed']);
    expect(local.executionError).toEqual({ Error: 'InvalidInputError', Cause: 'invalid failed: empty' });
  });

  it('run a console start (a bare request) through the step Lambda handler to Succeeded, named after the execution', async () => {
    const seen: string[] = [];
    const steps = Object.fromEntries(
      TASKS.map((t) => [
        t.name,
        async (context: WorkflowContext) => {
          seen.push(`${t.name}:${context.runId}`);
          return t.name === 'ValidateInput' ? { output: { inventory: { cluster: context.request.cluster, hosts: [] } }, detail: 'ok' } : {};
        },
      ]),
    );
    const handler = createStepHandler({ steps, deps: () => ({}), log: () => {} });
    const request = { cluster: 'ocp', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'console:jane', options: { graceSeconds: 5 } };
    const run = await runAslLocally(asl, request, (step, context, { executionName }) => handler({ step, context, executionName }), {
      executionName: 'Console-Start-1',
    });
    expect(run.finalState).toBe('Succeeded');
    expect(run.finalContext.runId).toBe('console-start-1');
    expect(run.finalContext.request).toEqual(request);
    expect(run.finalContext.options).toEqual({ graceSeconds: 5, learner: 'auto' });
    expect(run.finalContext.inventory).toEqual({ cluster: 'ocp', hosts: [] });
    expect(seen[0]).toBe('ValidateInput:console-start-1');
    expect(new Set(seen.map((s) => s.split(':')[1]))).toEqual(new Set(['console-start-1']));
  });
});
