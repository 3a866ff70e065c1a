import { describe, expect, it } from 'vitest';
import { createActor, toPromise } from 'xstate';
import { plainly, stepActors } from '../../statemachine/stepActors.ts';
import { replaceMemberMachine, type StepOutput } from '../../statemachine/machine.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { ADD_METHOD_TASKS, COMPENSATION_TASKS, STATES, TASKS } from '../../statemachine/spec.ts';
import { RefusedError, ScriptFailedError } from '../../functions/errors.ts';

type StepImpl = (ctx: WorkflowContext) => Promise<StepOutput>;

function runWith(overrides: Record<string, StepImpl>, visited: string[]) {
  const actors = stepActors({ run: (task, input) => (overrides[task.name] ?? (async () => ({})))(input), sleep: async () => {}, around: plainly });
  const machine = replaceMemberMachine.provide({ actors, delays: { graceWindow: 0 } });
  const actor = createActor(machine, {
    input: {
      runId: 'run-test-1',
      request: { cluster: 'c', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'test' },
      options: { graceSeconds: 0, learner: 'auto' },
    },
  });
  actor.subscribe((s) => {
    const v = String(s.value);
    if (visited.at(-1) !== v) visited.push(v);
  });
  actor.start();
  return toPromise(actor).then(() => actor.getSnapshot());
}

describe('Machine: ReplaceFailedEtcdMember', () => {
  it('walks every task in runbook order to Succeeded when every step succeeds and guards are true', async () => {
    const visited: string[] = [];
    const snap = await runWith(
      {
        CheckClusterHealth: async () => ({ peerUrlsOnLocalhost: true }),
        StopFailedMember: async () => ({ failedHostReachable: true }),
        AddMember: async () => ({ addedAsLearner: true, memberAdded: true }),
      },
      visited,
    );
    expect(snap.value).toBe('Succeeded');
    const tasksVisited = visited.filter((v) => TASKS.some((t) => t.name === v));
    expect(tasksVisited).toEqual(TASKS.map((t) => t.name).filter((n) => !COMPENSATION_TASKS.includes(n) && !ADD_METHOD_TASKS.ansible.includes(n)));
  });

  it('adds the member with the scaleup playbook when ValidateInput chose it, and with no manual add step', async () => {
    const visited: string[] = [];
    const snap = await runWith(
      {
        ValidateInput: async () => ({ addByPlaybook: true }),
        CheckClusterHealth: async () => ({ peerUrlsOnLocalhost: true }),
        StopFailedMember: async () => ({ failedHostReachable: true }),
        RunScaleupPlaybook: async () => ({ addedAsLearner: false, memberAdded: true }),
      },
      visited,
    );
    expect(snap.value).toBe('Succeeded');
    const tasksVisited = visited.filter((v) => TASKS.some((t) => t.name === v));
    expect(tasksVisited).toEqual(
      TASKS.map((t) => t.name).filter((n) => !COMPENSATION_TASKS.includes(n) && !ADD_METHOD_TASKS.manual.includes(n) && n !== 'PromoteNewMember'),
    );
  });

  it('skips the guarded states when their fields are false', async () => {
    const visited: string[] = [];
    const snap = await runWith({ StopFailedMember: async () => ({ failedHostReachable: false }) }, visited);
    expect(snap.value).toBe('Succeeded');
    for (const skipped of ['BackUpFailedMemberData', 'FixLocalhostPeerUrls', 'PromoteNewMember']) expect(visited).not.toContain(skipped);
  });

  it('takes the short path under the lock when an earlier run already did the replacement: no observation, no membership change', async () => {
    const visited: string[] = [];
    const snap = await runWith(
      { ValidateInput: async () => ({ alreadyReplaced: true }), StopFailedMember: async () => ({ failedHostReachable: true }) },
      visited,
    );
    expect(snap.value).toBe('Succeeded');
    const tasksVisited = visited.filter((v) => TASKS.some((t) => t.name === v));
    expect(tasksVisited).toEqual([
      'ValidateInput',
      'AcquireLock',
      'StopFailedMember',
      'BackUpFailedMemberData',
      'VerifyClusterHealth',
      'UpdateInventory',
      'RollMasters',
      'UpdateFlannel',
      'DiscardKeyBundle',
      'TerminateLaunchedHost',
      'RecordClusterState',
      'ReleaseLock',
    ]);
  });

  it('ends the short path through the closing steps when one of its steps fails; nothing is compensated', async () => {
    const visited: string[] = [];
    const snap = await runWith(
      {
        ValidateInput: async () => ({ alreadyReplaced: true }),
        VerifyClusterHealth: async () => {
          throw new RefusedError('member gone');
        },
      },
      visited,
    );
    expect(snap.value).toBe('Refused');
    expect(visited).not.toContain('RollMasters');
    expect(visited).not.toContain('CompensateNewMember');
    expect(visited.slice(-2)).toEqual(['ReleaseLock', 'Refused']);
  });

  it('ends Refused, releasing the lock, when a preflight step refuses', async () => {
    const visited: string[] = [];
    const snap = await runWith(
      {
        CheckClusterHealth: async () => {
          throw new RefusedError('no quorum');
        },
      },
      visited,
    );
    expect(snap.value).toBe('Refused');
    expect(snap.context.error).toEqual({ Error: 'RefusedError', Cause: 'no quorum' });
    expect(visited.slice(-2)).toEqual(['ReleaseLock', 'Refused']);
    expect(visited).not.toContain('RemoveFailedMember');
  });

  it('compensates when the new member fails to start, and keeps the first error', async () => {
    const visited: string[] = [];
    const snap = await runWith(
      {
        StartNewMember: async () => {
          throw new ScriptFailedError('etcd-spare-0', 'StartNewMember', 1, 'boom');
        },
        CompensateNewMember: async () => {
          throw new Error('also broken');
        },
      },
      visited,
    );
    expect(snap.value).toBe('Failed');
    expect(visited).toContain('CompensateNewMember');
    expect(snap.context.error?.Error).toBe('ScriptFailedError');
    expect(snap.context.cleanupError?.Cause).toBe('also broken');
  });

  it('names every state with a valid Step Functions state name', () => {
    for (const s of STATES) expect(s.name).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });
});

describe('STEPS: one step per task, in runbook order', () => {
  it('lists exactly the tasks of the spec, in the order the runbook runs them', async () => {
    const { STEPS } = await import('../../functions/steps/index.ts');
    expect(Object.keys(STEPS)).toEqual(TASKS.map((t) => t.name));
  });
});
