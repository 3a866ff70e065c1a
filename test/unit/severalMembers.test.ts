// Several failed members in one run: the request (ValidateInput), the observations (assessFailure), the
// per-member loops (statemachine/members.ts), and the compiled ASL and the XState machine taking the same
// path for two members, compensation included.

import { describe, expect, it } from 'vitest';
import { assessFailure } from '../../functions/cluster/assessFailure.ts';
import { quorumForRemovals } from '../../functions/cluster/assessSeveral.ts';
import { InvalidInputError, NewMemberFailedError, RefusedError } from '../../functions/errors.ts';
import type { Inventory, RunRecord, StepRecord } from '../../functions/ports.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import { STEPS } from '../../functions/steps/index.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { compileAsl } from '../../statemachine/asl.ts';
import type { MemberPhase, MemberSlot, ReplaceRequest, WorkflowContext } from '../../statemachine/context.ts';
import { currentSlots, enterLoop, LOOP_ENTRY, loadSlot, memberOfFailedStep, slotLabel } from '../../statemachine/members.ts';
import { formatRunView, runViewOfRecord } from '../../functions/workflow/runView.ts';
import { outcomeMessage } from '../../functions/handlers/notifyOutcome.ts';
import { coveredByRecord } from '../../cli/commands/run.ts';
import { findPastRemoval } from '../../statemachine/pastRemoval.ts';
import { findEarlierReplacement } from '../../statemachine/earlierRun.ts';
import type { AuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import { TASKS } from '../../statemachine/spec.ts';
import { FakeCluster, fakeDeps, fakeMember as member, host, memberId as ID, unitInventory } from '../support/fakeCluster.ts';
import { runXState, type StepFake } from '../support/xstateRun.ts';
import { bothEngines as inBothEngines, tasksOf } from '../support/bothEngines.ts';

const five: Inventory = unitInventory([
  host('master-3', '198.51.100.5', ['master', 'etcd']),
  host('master-4', '198.51.100.6', ['master', 'etcd']),
  host('etcd-spare-1', '198.51.100.10', ['spare']),
]);
const byName = (name: string) => five.hosts.find((h) => h.name === name)!;
const fiveMembers = (down: string[]) =>
  ['master-0', 'master-1', 'master-2', 'master-3', 'master-4'].map((name, i) => member(0xa0 + i, name, byName(name).ip, !down.includes(name)));

function request(extra: Partial<ReplaceRequest> | Record<string, unknown>): WorkflowContext {
  return {
    runId: 'r-unit-several',
    request: { cluster: 'unit', failed: 'master-3', startedBy: 'test', ...(extra as Partial<ReplaceRequest>) },
    options: { graceSeconds: 1, learner: 'auto' },
  };
}
const validateDeps = {
  now: () => new Date(),
  resolveInventory: async () => five,
  etcd: () => new FakeCluster(fiveMembers(['master-3', 'master-4'])),
} as unknown as StepDeps;

describe('Several failed members: the request', () => {
  it('takes failed and replacement as lists, pairs them in order and loads the first', async () => {
    const { output, detail } = await ValidateInput(
      request({ failed: ['master-3', 'master-4'], replacement: ['etcd-spare-1', 'etcd-spare-0'] }) as WorkflowContext,
      validateDeps,
    );
    expect(output.members?.map((m) => [m.failedHost?.name, m.replacement?.name, m.replacementChoice])).toEqual([
      ['master-3', 'etcd-spare-1', 'named'],
      ['master-4', 'etcd-spare-0', 'named'],
    ]);
    expect(output.memberIndex).toBe(0);
    expect(output.failedHost?.name).toBe('master-3');
    expect(output.replacement?.name).toBe('etcd-spare-1');
    // The request as the run works on it: the first pair, the others in `also`.
    expect(output.request).toMatchObject({ failed: 'master-3', replacement: 'etcd-spare-1', also: [{ failed: 'master-4', replacement: 'etcd-spare-0' }] });
    expect(detail).toMatch(/2 failed members, replaced one at a time: master-3 → etcd-spare-1 \(named\), master-4 → etcd-spare-0 \(named\)/);
  });

  it('takes a spare of the pool for each failed member, each its own', async () => {
    const { output } = await ValidateInput(request({ failed: ['master-3', 'master-4'] }), validateDeps);
    expect(output.members?.map((m) => [m.replacement?.name, m.replacementChoice])).toEqual([
      ['etcd-spare-0', 'spare'],
      ['etcd-spare-1', 'spare'],
    ]);
    // The same run given as the CLI gives it: the first pair and `also`.
    const again = await ValidateInput(request({ failed: 'master-3', also: [{ failed: 'master-4' }] }), validateDeps);
    expect(again.output.members).toEqual(output.members);
  });

  it('refuses, before anything is read, a list it cannot pair, a member named twice, a launch or the scaleup playbook', async () => {
    const cases: Array<[Record<string, unknown>, RegExp, Partial<WorkflowContext['options']>?]> = [
      [{ failed: ['master-3', 'master-4'], replacement: ['etcd-spare-1'] }, /2 failed members and 1 replacement\(s\): name one replacement per failed member/],
      [{ failed: ['master-3', 'master-3'] }, /master-3 is named twice/],
      [{ failed: ['master-3', 'master-4'], replacement: ['etcd-spare-1', 'etcd-spare-1'] }, /etcd-spare-1 is named twice/],
      [{ failed: [] }, /an empty list names nothing/],
      [{ failed: ['master-3', 'master-4', 'master-2', 'master-1'] }, /at most 3 failed members/],
      [{ failed: ['master-3', 'master-4'], replacement: ['new', 'etcd-spare-1'] }, /launching a host \(new\) replaces one member per run/],
      [{ failed: ['master-3', 'master-4'] }, /the scaleup playbook adds one member per run/, { addMethod: 'ansible' }],
      [{ failed: ['master-3', 7] }, /invalid failed: name the failed member/],
    ];
    for (const [asked, message, options] of cases) {
      const context = request(asked);
      if (options) context.options = { ...context.options, ...options };
      const error = await ValidateInput(context, validateDeps).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('leaves a one-member request as it was', async () => {
    const { output } = await ValidateInput(request({ failed: ['master-3'], replacement: ['etcd-spare-1'] }), validateDeps);
    expect(output.members).toBeUndefined();
    expect(output.request).toEqual({ cluster: 'unit', failed: 'master-3', replacement: 'etcd-spare-1', startedBy: 'test' });
  });
});

/** A context as ValidateInput leaves it for master-3 → etcd-spare-0 and master-4 → etcd-spare-1. */
function validatedTwo(): WorkflowContext {
  const slots: MemberSlot[] = [
    { failed: 'master-3', failedHost: byName('master-3'), replacement: byName('etcd-spare-0'), replacementChoice: 'spare' },
    { failed: 'master-4', failedHost: byName('master-4'), replacement: byName('etcd-spare-1'), replacementChoice: 'spare' },
  ];
  return {
    runId: 'r-unit-several',
    request: { cluster: 'unit', failed: 'master-3', startedBy: 'test', also: [{ failed: 'master-4' }] },
    options: { graceSeconds: 0, learner: 'auto' },
    inventory: five,
    caHost: byName('master-0'),
    installerHost: byName('master-0'),
    members: slots,
    memberIndex: 0,
    ...loadSlot(slots[0]!),
  };
}

async function observation(down: string[], context = validatedTwo(), which: 'first' | 'second' = 'first') {
  const cluster = new FakeCluster(fiveMembers(down));
  const result = await assessFailure(context, fakeDeps(cluster), which);
  expect(cluster.calls.every((c) => c === 'memberList' || c.startsWith('status ') || c.startsWith('view '))).toBe(true);
  return result;
}

async function refused(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e as Error,
  );
  expect(error).not.toBeNull();
  return error!;
}

describe('Several failed members: the observations', () => {
  it('confirms both members of five down: each removal keeps quorum, the cluster ends with five', async () => {
    const { output, detail } = await observation(['master-3', 'master-4']);
    expect(output.members?.map((m) => m.failedMember?.id)).toEqual([ID(0xa3), ID(0xa4)]);
    expect(output.failedMember?.id).toBe(ID(0xa3));
    expect(output.survivors?.map((s) => s.id).sort()).toEqual([ID(0xa0), ID(0xa1), ID(0xa2)]);
    expect(detail).toMatch(/removed one at a time: 3 of 4 voting members answer; 2 needed after the change; the cluster ends with 5 members/);
    // The second observation confirms each member for this execution.
    const second = await observation(['master-3', 'master-4'], { ...validatedTwo(), ...output } as WorkflowContext, 'second');
    expect(second.output.members?.map((m) => m.failureConfirmation?.memberId)).toEqual([ID(0xa3), ID(0xa4)]);
    expect(second.output.failureConfirmation?.memberId).toBe(ID(0xa3));
  });

  it('refuses three of five down, changing nothing, with the restore procedure', async () => {
    const error = await refused(observation(['master-2', 'master-3', 'master-4']));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/the cluster has no quorum: 2 of 5 voting members answer and 3 are needed/);
    expect(error.message).toMatch(/restore-quorum/);
  });

  it('refuses two names of the same member', async () => {
    const [slot] = validatedTwo().members!;
    const byIp = { ...slot!, failed: '198.51.100.5', replacement: byName('etcd-spare-1') };
    const error = await refused(observation(['master-3', 'master-4'], { ...validatedTwo(), members: [slot!, byIp] }));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/two of the failed members named are the same member 00000000000000a3/);
  });

  it('refuses a named member that answers', async () => {
    const error = await refused(observation(['master-3']));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/member\(s\) master-4\.example\.test \(00000000000000a4\) answer health checks at the first observation/);
  });

  it('counts quorum removal by removal', () => {
    const health = fiveMembers(['master-2', 'master-3']).map((m) => ({ id: m.id, name: m.name, isLearner: false, healthy: m.up }));
    expect(quorumForRemovals(health, [ID(0xa2), ID(0xa3)]).ok).toBe(true);
    const three = fiveMembers(['master-2', 'master-3', 'master-4']).map((m) => ({ id: m.id, name: m.name, isLearner: false, healthy: m.up }));
    expect(quorumForRemovals(three, [ID(0xa2), ID(0xa3), ID(0xa4)]).ok).toBe(false);
  });
});

describe('Several failed members: the loops', () => {
  it('enter each loop at the first member and come round to the next, the joined member a survivor from then on', () => {
    let context = validatedTwo();
    const step = (phase: MemberPhase, output: Partial<WorkflowContext> = {}) => {
      context = { ...context, ...enterLoop(context, phase)!, ...output };
      return context;
    };
    expect(step('prepare')).toMatchObject({ memberIndex: 0, anotherMember: true, replacement: byName('etcd-spare-0') });
    expect(step('prepare')).toMatchObject({ memberIndex: 1, anotherMember: false, replacement: byName('etcd-spare-1') });
    expect(step('remove', { failedMemberRemoved: true })).toMatchObject({ memberIndex: 0, failedHost: byName('master-3') });
    expect(step('remove', { failedMemberRemoved: true })).toMatchObject({ memberIndex: 1, failedHost: byName('master-4') });
    context.survivors = [];
    step('add', { memberAdded: true, newMemberId: ID(0xb0), newMemberStartedAt: '2026-01-01T00:00:00Z' });
    expect(context).toMatchObject({ memberIndex: 0, anotherMember: true, replacement: byName('etcd-spare-0') });
    step('add', { memberAdded: true, newMemberId: ID(0xb1) });
    expect(context).toMatchObject({ memberIndex: 1, anotherMember: false, newMemberId: ID(0xb1) });
    expect(context.survivors).toEqual([
      { id: ID(0xb0), name: 'etcd-spare-0.example.test', peerURL: 'https://198.51.100.9:2380', clientURL: 'https://198.51.100.9:2379' },
    ]);
    expect(currentSlots(context).map((s) => [s.failedMemberRemoved, s.newMemberId])).toEqual([
      [true, ID(0xb0)],
      [true, ID(0xb1)],
    ]);
  });

  it('load the same member when a step is tried again on the same input', () => {
    const context = { ...validatedTwo(), memberPhase: 'remove' as const, memberIndex: 0 };
    expect(enterLoop(context, 'remove')).toEqual(enterLoop(context, 'remove'));
    expect(enterLoop(context, 'remove')?.memberIndex).toBe(1);
  });

  it("name the member a failed step worked on: a loop's first step had loaded the next one, the others their input's", () => {
    const context = { ...validatedTwo(), memberPhase: 'prepare' as const, memberIndex: 0 };
    expect(memberOfFailedStep('IssueCertificates', context)).toBe('master-4 → etcd-spare-1 (2 of 2)');
    expect(memberOfFailedStep('VerifyCertificates', context)).toBe('master-3 → etcd-spare-0 (1 of 2)');
    expect(memberOfFailedStep('RemoveFailedMember', context)).toBe('master-3 → etcd-spare-0 (1 of 2)');
    expect(memberOfFailedStep('SnapshotCluster', context)).toBeNull();
  });

  it('leave a one-member run alone', () => {
    expect(enterLoop({ ...validatedTwo(), members: undefined }, 'add')).toBeNull();
  });

  it('are entered by the steps the spec loops back to', () => {
    const loopTargets = compileAsl().States;
    expect(loopTargets['IsAnotherReplacementToPrepare']).toMatchObject({ Default: 'WaitGraceWindow' });
    for (const entry of Object.values(LOOP_ENTRY)) {
      expect(TASKS.some((t) => t.name === entry)).toBe(true);
      expect(STEPS[entry as keyof typeof STEPS].name).not.toBe(entry);
    }
  });
});

// Conformance: two members through both engines, with fakes that load each member as the steps do.
const two: WorkflowContext = {
  runId: 'run-conformance-2',
  request: { cluster: 'ocp', failed: 'master-3', startedBy: 'test' },
  options: { graceSeconds: 30, learner: 'auto' },
};

function twoMemberFakes(overrides: Record<string, StepFake> = {}): Record<string, StepFake> {
  const entering =
    (phase: MemberPhase, output: (c: WorkflowContext) => Partial<WorkflowContext> = () => ({})): StepFake =>
    async (context) => {
      const entered = enterLoop(context, phase) ?? {};
      return { ...entered, ...output({ ...context, ...entered }) };
    };
  return {
    ValidateInput: async () => {
      const slots = validatedTwo().members!;
      return { members: slots, memberIndex: 0, ...loadSlot(slots[0]!), survivors: [] };
    },
    IssueCertificates: entering('prepare'),
    RemoveFailedMember: entering('remove', () => ({ failedMemberRemoved: true })),
    StopFailedMember: async () => ({ failedHostReachable: false }),
    ConfigureNewMember: entering('add'),
    AddMember: async (c) => ({ memberAdded: true, addedAsLearner: false, newMemberId: c.replacement!.name === 'etcd-spare-0' ? ID(0xb0) : ID(0xb1) }),
    StartNewMember: async () => ({ newMemberStartedAt: '2030-01-01T00:00:00.000Z' }),
    CompensateNewMember: async (c) => ({ remaining: [`removed ${c.newMemberId}`] }),
    ...overrides,
  };
}

const bothEngines = (fakes: () => Record<string, StepFake>) => inBothEngines(fakes, two);

describe('Conformance: two failed members in the compiled ASL and the XState machine', () => {
  it('prepare both replacements, remove both members, then add and start each in turn', async () => {
    const run = await bothEngines(() => twoMemberFakes());
    expect(run.finalState).toBe('Succeeded');
    const tasks = tasksOf(run.path);
    const prepare = ['IssueCertificates', 'VerifyCertificates', 'OpenEtcdPorts', 'InstallEtcd'];
    const add = ['ConfigureNewMember', 'AddMember', 'StartNewMember', 'AwaitSnapshot', 'VerifyClusterHealth', 'UpdateInventory'];
    expect(tasks.slice(tasks.indexOf('IssueCertificates'), tasks.indexOf('ConfirmMemberFailed'))).toEqual([...prepare, ...prepare]);
    expect(tasks.slice(tasks.indexOf('ConfirmMemberFailed'), tasks.indexOf('ConfigureNewMember'))).toEqual([
      'ConfirmMemberFailed',
      'RemoveFailedMember',
      'StopFailedMember',
      'RemoveFailedMember',
      'StopFailedMember',
    ]);
    expect(tasks.slice(tasks.indexOf('ConfigureNewMember'), tasks.indexOf('RollMasters'))).toEqual([...add, ...add]);
    expect(run.path.filter((s) => s.startsWith('IsAnother'))).toEqual([
      'IsAnotherReplacementToPrepare',
      'IsAnotherReplacementToPrepare',
      'IsAnotherMemberToRemove',
      'IsAnotherMemberToRemove',
      'IsAnotherMemberToAdd',
      'IsAnotherMemberToAdd',
    ]);
    const slots = currentSlots(run.finalContext);
    expect(slots.map((s) => [s.failedHost?.name, s.failedMemberRemoved, s.replacement?.name, s.newMemberId])).toEqual([
      ['master-3', true, 'etcd-spare-0', ID(0xb0)],
      ['master-4', true, 'etcd-spare-1', ID(0xb1)],
    ]);
  });

  it('compensate only the member that did not join: the second start fails, the first new member stays', async () => {
    const run = await bothEngines(() =>
      twoMemberFakes({
        StartNewMember: async (c) => {
          if (c.memberIndex === 1) throw new NewMemberFailedError('etcd on etcd-spare-1 did not start listening');
          return { newMemberStartedAt: '2030-01-01T00:00:00.000Z' };
        },
      }),
    );
    expect(run.finalState).toBe('Failed');
    expect(run.finalContext.remaining).toEqual([`removed ${ID(0xb1)}`]);
    const tasks = tasksOf(run.path);
    expect(tasks.filter((t) => t === 'CompensateNewMember')).toHaveLength(1);
    expect(tasks.filter((t) => t === 'AddMember')).toHaveLength(2);
    expect(currentSlots(run.finalContext)[0]).toMatchObject({ newMemberId: ID(0xb0), newMemberStartedAt: '2030-01-01T00:00:00.000Z' });
  });
});

describe('Several failed members: the console input schema', () => {
  it('takes failed and replacement as lists of at most three, each named once', async () => {
    const { readFileSync } = await import('node:fs');
    const { Ajv } = await import('ajv');
    const schema = JSON.parse(readFileSync(new URL('../../schemas/replace-request.schema.json', import.meta.url), 'utf8')) as object;
    const check = new Ajv({ allErrors: true, strict: true }).compile(schema);
    const base = { cluster: 'ocp311', startedBy: 'alarm:etcd-member-master-3' };
    expect(check({ ...base, failed: ['master-3', 'master-4'] })).toBe(true);
    expect(check({ ...base, failed: ['master-3', 'master-4'], replacement: ['etcd-spare-0', 'etcd-spare-1'] })).toBe(true);
    expect(check({ ...base, failed: 'master-3', replacement: 'etcd-spare-0' })).toBe(true);
    for (const bad of [{ failed: [] }, { failed: ['master-3', 'master-3'] }, { failed: ['a', 'b', 'c', 'd'] }, { failed: ['master-3; reboot'] }]) {
      expect(check({ ...base, ...bad })).toBe(false);
    }
  });
});

describe('Several failed members: the record, the timeline and the notification', () => {
  /** The context and step records of a run that removed both members, added and started the first, and failed to start the second. */
  async function partlyJoined() {
    const run = await runXState(
      twoMemberFakes({
        StartNewMember: async (c) => {
          if (c.memberIndex === 1) throw new NewMemberFailedError('etcd on etcd-spare-1 did not start listening');
          return { newMemberStartedAt: '2030-01-01T00:00:00.000Z' };
        },
      }),
      two,
    );
    const context = run.finalContext;
    const slots = currentSlots(context);
    const at = '2030-01-01T00:00:00.000Z';
    const step = (name: string, i: number, status: StepRecord['status'] = 'succeeded'): StepRecord => ({
      name,
      status,
      startedAt: at,
      endedAt: at,
      attempts: 1,
      member: slotLabel(slots[i]!, i, 2),
    });
    const steps = [
      step('RemoveFailedMember', 0),
      step('RemoveFailedMember', 1),
      step('AddMember', 0),
      step('StartNewMember', 0),
      step('AddMember', 1),
      step('StartNewMember', 1, 'failed'),
    ];
    const record: RunRecord = {
      runId: 'r-two',
      cluster: 'ocp',
      target: 'sandbox',
      startedBy: 'test',
      request: { failed: 'master-3', also: [{ failed: 'master-4' }] },
      outcome: 'failed',
      reason: 'NewMemberFailedError: etcd on etcd-spare-1 did not start listening',
      startedAt: at,
      endedAt: at,
      state: 'Failed',
      context: context as unknown as Record<string, unknown>,
      steps,
    };
    return record;
  }

  it('shows each failed member with its replacement, what was done for it and its steps', async () => {
    const record = await partlyJoined();
    const view = runViewOfRecord(record);
    expect(view.replacement).toBeUndefined();
    expect(view.members?.map((m) => [m.failed, m.replacement, m.removed, m.newMemberId, m.joined, m.steps.map((s) => `${s.name} ${s.status}`)])).toEqual([
      ['master-3', 'etcd-spare-0', true, ID(0xb0), true, ['RemoveFailedMember succeeded', 'AddMember succeeded', 'StartNewMember succeeded']],
      ['master-4', 'etcd-spare-1', true, ID(0xb1), false, ['RemoveFailedMember succeeded', 'AddMember succeeded', 'StartNewMember failed']],
    ]);
    const text = formatRunView(view, 'run r-two');
    expect(text).toContain(`  member 1 of 2: master-3 → etcd-spare-0, from the spare pool: removed, added ${ID(0xb0)}, started`);
    expect(text).toContain(`  member 2 of 2: master-4 → etcd-spare-1, from the spare pool: removed, added ${ID(0xb1)}, not started`);
    expect(text).toContain('    RemoveFailedMember succeeded 0.0s, AddMember succeeded 0.0s, StartNewMember failed 0.0s');
  });

  it('names both members in the notification', async () => {
    const record = await partlyJoined();
    const audit = {
      ...record,
      target: 'aws',
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:sm:r-two',
      executionName: 'r-two',
      executionStatus: 'FAILED',
      principal: null,
      historyEvents: 1,
      recordedAt: record.startedAt,
    } as AuditRecord;
    const message = outcomeMessage(audit, { outcome: 'failed' });
    expect(message.subject).toMatch(/FAILED to replace master-3 and master-4 with etcd-spare-0 and etcd-spare-1/);
    expect(message.message).toContain(`  1 of 2: master-3 → etcd-spare-0: removed, added ${ID(0xb0)}, started`);
    expect(message.message).toContain(`  2 of 2: master-4 → etcd-spare-1: removed, added ${ID(0xb1)}, not started`);
  });
});

describe('Several failed members: many signals, one run', () => {
  it('a run covers the members its request names, by the text given or the failed host it resolved', () => {
    const context = validatedTwo();
    const record = { request: { failed: 'master-3', also: [{ failed: '198.51.100.6' }] }, context } as unknown as RunRecord;
    expect(coveredByRecord(record, ['master-4'])).toBe(true);
    expect(coveredByRecord(record, ['master-3.example.test', 'MASTER-4'])).toBe(true);
    expect(coveredByRecord(record, ['master-4', 'master-2'])).toBe(false);
    const one = {
      request: { failed: 'master-2' },
      context: { request: { cluster: 'unit', failed: 'master-2', startedBy: 'test' }, failedHost: byName('master-2') },
    } as unknown as RunRecord;
    expect(coveredByRecord(one, ['198.51.100.4'])).toBe(true);
    expect(coveredByRecord(one, ['master-3'])).toBe(false);
    // A run not yet validated covers its members as its request names them, every --failed included.
    const fresh = {
      request: {},
      context: { request: { cluster: 'unit', failed: 'master-3', also: [{ failed: 'master-4' }], startedBy: 'test' } },
    } as unknown as RunRecord;
    expect(coveredByRecord(fresh, ['master-4', 'master-3'])).toBe(true);
    expect(coveredByRecord(fresh, ['198.51.100.6'])).toBe(false);
    // A record whose context lacks the request: its own copy of the request stands in.
    const bare = { request: { failed: 'master-2' }, context: {} } as unknown as RunRecord;
    expect(coveredByRecord(bare, ['master-2'])).toBe(true);
    expect(coveredByRecord({ request: {}, context: {} } as unknown as RunRecord, ['master-2'])).toBe(false);
  });
});

describe('Several failed members: the same request after a run that did part of it', () => {
  const at = '2030-01-01T00:00:00.000Z';
  /** The record of a two-member run that removed both, then added and started `joined` of the new members, and failed. */
  function earlierRun(joined: number, outcome: RunRecord['outcome'] = 'failed'): RunRecord {
    const slots: MemberSlot[] = validatedTwo().members!.map((slot, i) => ({
      ...slot,
      failedMember: { id: ID(0xa3 + i), name: `master-${3 + i}.example.test`, peerURL: `https://${slot.failedHost!.ip}:2380`, clientURL: '' },
      failedMemberRemoved: true,
      ...(i < joined ? { memberAdded: true, newMemberId: ID(0xb0 + i), newMemberStartedAt: at } : {}),
    }));
    const context: WorkflowContext = { ...validatedTwo(), runId: 'r-earlier', members: slots, memberIndex: 1, ...loadSlot(slots[1]!) };
    const step = (i: number): StepRecord => ({
      name: 'RemoveFailedMember',
      status: 'succeeded',
      startedAt: at,
      endedAt: at,
      attempts: 1,
      member: slotLabel(slots[i]!, i, 2),
      detail: `${slotLabel(slots[i]!, i, 2)}: removed member ${ID(0xa3 + i)} (master-${3 + i}.example.test); quorum`,
    });
    return {
      runId: 'r-earlier',
      cluster: 'unit',
      target: 'sandbox',
      startedBy: 'test',
      request: {},
      outcome,
      startedAt: at,
      endedAt: at,
      state: 'Failed',
      context: context as unknown as Record<string, unknown>,
      steps: [step(0), step(1)],
    };
  }
  const survivors = () => fiveMembers([]).slice(0, 3);
  const spare = (n: number) => member(0xb0 + n, `etcd-spare-${n}`, byName(`etcd-spare-${n}`).ip, true);

  it('reads each member of a run that replaced several: who removed it, and who replaced it', () => {
    const runs = [earlierRun(2, 'succeeded')];
    const listed = [...survivors(), spare(0), spare(1)].map((m) => ({ id: m.id, name: m.name, peerURLs: [`https://${m.ip}:2380`] }));
    expect(findPastRemoval(runs, { text: 'master-4', host: byName('master-4') })).toMatchObject({ runId: 'r-earlier', member: { id: ID(0xa4) } });
    expect(findEarlierReplacement(runs, { text: 'master-4', host: byName('master-4') }, listed)).toMatchObject({
      runId: 'r-earlier',
      newMemberId: ID(0xb1),
      replacement: { name: 'etcd-spare-1' },
    });
    // A run that did not succeed as a whole replaced master-3 all the same: only when asked for.
    const failedRun = [earlierRun(1)];
    expect(findEarlierReplacement(failedRun, { text: 'master-3', host: byName('master-3') }, listed.slice(0, 4))).toBeNull();
    expect(
      findEarlierReplacement(failedRun, { text: 'master-3', host: byName('master-3') }, listed.slice(0, 4), undefined, { anyOutcome: true }),
    ).toMatchObject({
      newMemberId: ID(0xb0),
    });
  });

  it('the same two-member request, one of them replaced by the run that failed: a one-member run for the other', async () => {
    const cluster = new FakeCluster([...survivors(), spare(0)]);
    const deps = { ...validateDeps, etcd: () => cluster, pastRuns: async () => [earlierRun(1)] } as unknown as StepDeps;
    const { output, detail } = await ValidateInput(request({ failed: ['master-3', 'master-4'], replacement: ['etcd-spare-0', 'etcd-spare-1'] }), deps);
    expect(output.members).toBeUndefined();
    expect(output.request).toMatchObject({ failed: 'master-4', replacement: 'etcd-spare-1' });
    expect(output.failedHost?.name).toBe('master-4');
    expect(detail).toMatch(/^master-3: already done by run r-earlier on .* \(etcd-spare-0\); failed master-4, replacement etcd-spare-1/);
  });

  it('the same two-member request after a run that removed both and added neither: both replacements added, nothing removed again', async () => {
    const context = validatedTwo();
    const deps = { ...fakeDeps(new FakeCluster(survivors())), pastRuns: async () => [earlierRun(0)] } as StepDeps;
    const { output, detail } = await assessFailure(context, deps, 'first');
    expect(output.members?.map((m) => [m.failedMember?.id, m.failedMemberRemoved])).toEqual([
      [ID(0xa3), true],
      [ID(0xa4), true],
    ]);
    expect(output.removedByRun).toBe('r-earlier');
    expect(detail).toMatch(/removed by run r-earlier.*this run adds one/);
  });
});
