// Many signals, one run: a run that waits for the lock asks the holder to take its failed member in
// (AcquireLock), the holder takes it in at its second observation when that member does not answer
// either (ConfirmMemberFailed, functions/cluster/takeIn.ts), prepares its replacement and observes every
// member again; the waiting run then finds itself covered and ends Covered. Both engines take the same
// path for the Covered ending and for the loop a member taken in adds.

import { describe, expect, it } from 'vitest';
import { LockWaitingError } from '../../functions/errors.ts';
import type { Inventory, RunRecord, StepRecord } from '../../functions/ports.ts';
import { runViewOfRecord } from '../../functions/workflow/runView.ts';
import { AcquireLock } from '../../functions/steps/AcquireLock.ts';
import { ConfirmMemberFailed } from '../../functions/steps/ConfirmMemberFailed.ts';
import { CheckClusterHealth } from '../../functions/steps/CheckClusterHealth.ts';
import { lockOwner } from '../../functions/workflow/lockRenewal.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { MemberPhase, WorkflowContext } from '../../statemachine/context.ts';
import { currentSlots, enterLoop, loadSlot } from '../../statemachine/members.ts';
import { FakeCluster, fakeDeps, fakeMember as member, host, memberId as ID, unitInventory, validatedContext } from '../support/fakeCluster.ts';
import { FakeLock } from '../support/fakePorts.ts';
import type { StepFake } from '../support/xstateRun.ts';
import { bothEngines as inBothEngines, tasksOf } from '../support/bothEngines.ts';

const NOW = new Date('2026-01-01T00:00:00Z');
const five: Inventory = unitInventory([
  host('master-3', '198.51.100.5', ['master', 'etcd']),
  host('master-4', '198.51.100.6', ['master', 'etcd']),
  host('etcd-spare-1', '198.51.100.10', ['spare']),
]);
const byName = (name: string) => five.hosts.find((h) => h.name === name)!;
const fiveMembers = (down: string[]) =>
  ['master-0', 'master-1', 'master-2', 'master-3', 'master-4'].map((name, i) => member(0xa0 + i, name, byName(name).ip, !down.includes(name)));

/** A world of five members with `down` silent, one lock, and the clock at `now`. */
function world(down: string[], now = NOW) {
  const lock = new FakeLock(() => now);
  const deps: StepDeps = { ...fakeDeps(new FakeCluster(fiveMembers(down)), now), lock, log: () => {} };
  return { lock, deps };
}

/** A one-member run for `failed`, after its first observation (CheckClusterHealth), holding the lock. */
async function holder(down: string[], failed = 'master-3', options: Partial<WorkflowContext['options']> = {}) {
  const w = world(down);
  const base = validatedContext(five, failed, '', { runId: 'r-holder-0001' });
  delete base.replacement;
  delete base.request.replacement;
  const context: WorkflowContext = {
    ...base,
    options: { ...base.options, ...options },
    replacement: byName('etcd-spare-0'),
    replacementChoice: 'spare',
    validatedAt: NOW.toISOString(),
  };
  const first = await CheckClusterHealth(context, w.deps);
  const observed: WorkflowContext = { ...context, ...first.output };
  await w.lock.acquire('unit', lockOwner(observed, w.deps), 600);
  return { ...w, context: observed, first };
}

/** A run for `failed` waiting on the holder's lock: it asks to be taken in. */
async function waiter(deps: StepDeps, failed = 'master-4', replacement?: string) {
  const context: WorkflowContext = {
    ...validatedContext(five, failed, replacement ?? '', { runId: 'r-waiter-0002' }),
    validatedAt: NOW.toISOString(),
  };
  if (replacement === undefined) {
    delete context.replacement;
    delete context.request.replacement;
  }
  const error = await AcquireLock(context, deps).then(
    () => null,
    (e: unknown) => e,
  );
  return { context, error };
}

describe('Many signals, one run: the holder takes a waiting run in at its second observation', () => {
  it('the first observation goes on with the other silent member noted; the waiter asks; the second observation takes it in with the next free spare, then observes both again', async () => {
    const h = await holder(['master-3', 'master-4']);
    expect(h.first.output.silentVoters).toEqual([ID(0xa4)]);
    const w = await waiter(h.deps);
    expect(w.error).toBeInstanceOf(LockWaitingError);

    const taken = await ConfirmMemberFailed(h.context, h.deps);
    expect(taken.output.takenIn).toBe(true);
    expect(taken.output.memberPhase).toBe('prepare');
    expect(taken.output.memberIndex).toBe(0);
    const slots = taken.output.members!;
    expect(slots.map((s) => [s.failedHost?.name, s.replacement?.name, s.replacementChoice])).toEqual([
      ['master-3', 'etcd-spare-0', 'spare'],
      ['master-4', 'etcd-spare-1', 'spare'],
    ]);
    // master-4 was silent at the first observation already: no new grace window.
    expect(taken.output.confirmFailureAfter).toBe(h.context.confirmFailureAfter);
    expect(taken.detail).toMatch(
      /^took in master-4 → etcd-spare-1 \(asked by run r-waiter-0002, started by test\): its replacement is prepared, then every member is observed again, before any removal$/,
    );

    // The prepare loop loads the member taken in; the lock the holder takes before its next step covers it.
    const after: WorkflowContext = { ...h.context, ...taken.output };
    const entered = enterLoop(after, 'prepare')!;
    expect(entered).toMatchObject({ memberIndex: 1, anotherMember: false, replacement: { name: 'etcd-spare-1' }, failedHost: { name: 'master-4' } });
    const prepared: WorkflowContext = { ...after, ...entered };
    await h.lock.acquire('unit', lockOwner(prepared, h.deps), 600);
    const covered = await AcquireLock(w.context, h.deps);
    expect(covered.output).toEqual({ covered: true, coveredBy: 'r-holder-0001' });

    // The second observation again: nothing left to take in, both confirmed, and the choice goes on to the removals.
    const confirmed = await ConfirmMemberFailed(prepared, h.deps);
    expect(confirmed.output.takenIn).toBe(false);
    expect(confirmed.output.members?.map((s) => s.failureConfirmation?.memberId)).toEqual([ID(0xa3), ID(0xa4)]);
  });

  it('is the same on a retry: the join requests stay closed and the same member is taken in', async () => {
    const h = await holder(['master-3', 'master-4']);
    await waiter(h.deps);
    const once = await ConfirmMemberFailed(h.context, h.deps);
    const twice = await ConfirmMemberFailed(h.context, h.deps);
    expect(twice.output).toEqual(once.output);
    // A run asking after the joins closed is told so, and only waits.
    const late = await waiter(h.deps, 'master-4');
    expect(String((late.error as Error).message)).toMatch(/has passed its second observation/);
  });

  it('a member that answered at the first observation and fails after it gets its own grace window before the removals', async () => {
    const h = await holder(['master-3'], 'master-3', { graceSeconds: 10 });
    expect(h.first.output.silentVoters).toEqual([]);
    const later = world(['master-3', 'master-4'], new Date(NOW.getTime() + 5_000));
    const deps = { ...later.deps, lock: h.lock };
    await waiter(deps);
    const taken = await ConfirmMemberFailed(h.context, deps);
    expect(taken.output.takenIn).toBe(true);
    expect(taken.output.confirmFailureAfter).toBe(new Date(NOW.getTime() + 5_000 + h.context.options.graceSeconds * 1000).toISOString());
    expect(taken.detail).toMatch(/observed again after the grace window/);
  });

  it('the first observation refuses at once where nothing could be taken in: a silent CA host, or a run of the scaleup playbook', async () => {
    const refusal = async (down: string[], extra: Partial<WorkflowContext> = {}) => {
      const w = world(down);
      const context = { ...validatedContext(five, 'master-3', 'etcd-spare-0', { runId: 'r-holder-0001' }), ...extra };
      return CheckClusterHealth(context, w.deps).then(
        () => null,
        (e: unknown) => e as Error,
      );
    };
    const ca = await refusal(['master-3', 'master-0']);
    expect(ca?.name).toBe('RefusedError');
    expect(ca?.message).toMatch(/master-0\.example\.test \(00000000000000a0\) do not answer either at the first observation/);
    const playbook = await refusal(['master-3', 'master-4'], { addByPlaybook: true });
    expect(playbook?.message).toMatch(/master-4\.example\.test \(00000000000000a4\) do not answer either at the first observation/);
    // The same silent member, a run that can take it in: it goes on.
    expect(await refusal(['master-3', 'master-4'])).toBeNull();
  });

  it('takes in nothing, and goes on to its own second observation, for a member that answers, with the scaleup playbook, or with no spare left', async () => {
    // master-4 answers: the holder confirms its own member; the waiter keeps waiting.
    const answering = await holder(['master-3']);
    await waiter(answering.deps);
    const own = await ConfirmMemberFailed(answering.context, answering.deps);
    expect(own.output.takenIn).toBe(false);
    expect(own.output.members).toBeUndefined();
    expect(own.output.failureConfirmation?.memberId).toBe(ID(0xa3));

    // The scaleup playbook replaces one member per run: the second observation refuses the silent member.
    const playbook = await holder(['master-3', 'master-4']);
    await waiter(playbook.deps);
    const refusal = await ConfirmMemberFailed({ ...playbook.context, addByPlaybook: true }, playbook.deps).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(refusal?.name).toBe('RefusedError');
    expect(refusal?.message).toMatch(/master-4\.example\.test \(00000000000000a4\) do not answer either at the second observation/);

    // A replacement named that is the holder's own: declined, refused the same way.
    const clash = await holder(['master-3', 'master-4']);
    await waiter(clash.deps, 'master-4', 'etcd-spare-0');
    const clashed = await ConfirmMemberFailed(clash.context, clash.deps).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(clashed?.name).toBe('RefusedError');
  });
});

describe('Many signals, one run: the record of a run that took a member in', () => {
  it("shows the steps it ran with one member as the first member's, beside the member taken in", () => {
    const one = { failed: 'master-3', failedHost: byName('master-3'), replacement: byName('etcd-spare-0'), replacementChoice: 'spare' as const };
    const taken = { failed: 'master-4', failedHost: byName('master-4'), replacement: byName('etcd-spare-1'), replacementChoice: 'spare' as const };
    const at = NOW.toISOString();
    const step = (name: string, member?: string): StepRecord => ({
      name,
      status: 'succeeded',
      startedAt: at,
      endedAt: at,
      attempts: 1,
      ...(member ? { member } : {}),
    });
    const record = {
      runId: 'r-holder-0001',
      cluster: 'unit',
      target: 'sandbox',
      startedBy: 'test',
      request: { failed: 'master-3' },
      outcome: 'succeeded',
      startedAt: at,
      endedAt: at,
      state: 'Succeeded',
      context: { ...validatedContext(five, 'master-3', 'etcd-spare-0'), members: [one, taken], memberIndex: 1, ...loadSlot(taken) },
      steps: [
        step('CheckClusterHealth'),
        step('IssueCertificates'),
        step('ConfirmMemberFailed'),
        step('IssueCertificates', 'master-4 → etcd-spare-1 (2 of 2)'),
      ],
    } as unknown as RunRecord;
    const view = runViewOfRecord(record);
    expect(view.members?.map((m) => [m.failed, m.steps.map((st) => st.name)])).toEqual([
      ['master-3', ['IssueCertificates']],
      ['master-4', ['IssueCertificates']],
    ]);
  });
});

// Conformance: the Covered ending, and a one-member run that takes a second member in, in both engines.
const input: WorkflowContext = {
  runId: 'run-conformance-3',
  request: { cluster: 'ocp', failed: 'master-3', startedBy: 'test' },
  options: { graceSeconds: 30, learner: 'auto' },
};

const bothEngines = (fakes: () => Record<string, StepFake>) => inBothEngines(fakes, input);

describe('Conformance: many signals, one run, in the compiled ASL and the XState machine', () => {
  it('end Covered, a success, right after AcquireLock: no lock taken, nothing released, nothing changed', async () => {
    const run = await bothEngines(() => ({
      AcquireLock: async () => ({ covered: true, coveredBy: 'r-holder-0001' }),
    }));
    expect(run.path).toEqual(['ValidateInput', 'AcquireLock', 'IsCoveredByAnotherRun', 'Covered']);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.finalContext.coveredBy).toBe('r-holder-0001');
  });

  it('wait for the lock, retried, then go on as a run of its own once the holder is gone', async () => {
    let calls = 0;
    const run = await bothEngines(() => {
      calls = 0;
      return {
        AcquireLock: async () => {
          calls += 1;
          if (calls <= 2) throw new LockWaitingError('run r-holder-0001 holds the lock of cluster ocp');
          return {};
        },
      };
    });
    expect(run.invocations.filter((i) => i === 'AcquireLock')).toHaveLength(3);
    expect(run.finalState).toBe('Succeeded');
  });

  it('take a member in at the second observation: its replacement prepared, both observed again, then both removed and both added', async () => {
    const one = { failedHost: byName('master-3'), replacement: byName('etcd-spare-0'), replacementChoice: 'spare' as const };
    const entering =
      (phase: MemberPhase, output: Partial<WorkflowContext> = {}): StepFake =>
      async (context) => ({ ...(enterLoop(context, phase) ?? {}), ...output });
    const run = await bothEngines(() => {
      let confirmations = 0;
      return {
        ValidateInput: async () => ({ ...one, survivors: [] }),
        ConfirmMemberFailed: async (context) => {
          confirmations += 1;
          if (confirmations > 1) return { takenIn: false };
          const slots = [
            { failed: 'master-3', ...one },
            { failed: 'master-4', failedHost: byName('master-4'), replacement: byName('etcd-spare-1'), replacementChoice: 'spare' as const },
          ];
          return { members: slots, memberIndex: 0, memberPhase: 'prepare' as const, ...loadSlot({ ...slots[0]!, ...context }), takenIn: true };
        },
        IssueCertificates: entering('prepare'),
        RemoveFailedMember: entering('remove', { failedMemberRemoved: true }),
        StopFailedMember: async () => ({ failedHostReachable: false }),
        ConfigureNewMember: entering('add'),
        AddMember: async (c) => ({ memberAdded: true, addedAsLearner: false, newMemberId: c.replacement!.name === 'etcd-spare-0' ? ID(0xb0) : ID(0xb1) }),
        StartNewMember: async () => ({ newMemberStartedAt: '2030-01-01T00:00:00.000Z' }),
      };
    });
    expect(run.finalState).toBe('Succeeded');
    const tasks = tasksOf(run.path);
    const prepare = ['IssueCertificates', 'VerifyCertificates', 'OpenEtcdPorts', 'InstallEtcd'];
    // Its own replacement prepared, the first confirmation takes master-4 in, its replacement prepared, the second confirms both.
    expect(tasks.slice(tasks.indexOf('IssueCertificates'), tasks.indexOf('RemoveFailedMember'))).toEqual([
      ...prepare,
      'ConfirmMemberFailed',
      ...prepare,
      'ConfirmMemberFailed',
    ]);
    expect(run.path.filter((s) => s === 'IsMemberTakenIn' || s === 'WaitGraceWindow')).toEqual([
      'WaitGraceWindow',
      'IsMemberTakenIn',
      'WaitGraceWindow',
      'IsMemberTakenIn',
    ]);
    expect(tasks.filter((t) => t === 'RemoveFailedMember' || t === 'AddMember' || t === 'StartNewMember')).toEqual([
      'RemoveFailedMember',
      'RemoveFailedMember',
      'AddMember',
      'StartNewMember',
      'AddMember',
      'StartNewMember',
    ]);
    expect(currentSlots(run.finalContext).map((s) => [s.failedHost?.name, s.failedMemberRemoved, s.newMemberId])).toEqual([
      ['master-3', true, ID(0xb0)],
      ['master-4', true, ID(0xb1)],
    ]);
  });
});
