// `etcd-replace plan` with several --failed: the whole sequence the run would take, worked out by the run's own
// ValidateInput and first observation (CheckClusterHealth) on a fake cluster, refused where and as the run refuses.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { planReplacement, planSteps, type PlannedStep, type PlanRequest } from '../../functions/workflow/plan.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import type { Inventory } from '../../functions/ports.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import { CheckClusterHealth } from '../../functions/steps/CheckClusterHealth.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { STATES } from '../../statemachine/spec.ts';
import { formatPlan } from '../../cli/printers/text.ts';
import { planDocument, planTitle } from '../../cli/commands/plan.ts';
import { main } from '../../cli/main.ts';
import { captureOutput } from '../support/captureOutput.ts';
import { FakeCluster, fakeDeps, fakeMember as member, host, memberId as ID, unitInventory } from '../support/fakeCluster.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

const MASTERS = ['master-0', 'master-1', 'master-2', 'master-3', 'master-4', 'master-5', 'master-6'];
/** unitInventory with `masters` masters (master-0 to master-N) and two spares. */
function inventoryOf(masters: number): Inventory {
  return unitInventory([
    ...MASTERS.slice(3, masters).map((name, i) => host(name, `198.51.100.${5 + i}`, ['master', 'etcd'])),
    host('etcd-spare-1', '198.51.100.20', ['spare']),
  ]);
}

function depsFor(masters: number, down: string[], version = '3.2.22') {
  const inventory = inventoryOf(masters);
  const members = MASTERS.slice(0, masters).map((name, i) =>
    member(0xa0 + i, name, inventory.hosts.find((h) => h.name === name)!.ip, !down.includes(name), { version }),
  );
  const cluster = new FakeCluster(members);
  return { cluster, deps: { ...fakeDeps(cluster), resolveInventory: async () => inventory } };
}

const TWO: PlanRequest = {
  cluster: 'unit',
  failed: 'master-3',
  replacement: 'etcd-spare-0',
  also: [{ failed: 'master-4', replacement: 'etcd-spare-1' }],
  learner: 'auto',
  addMethod: 'manual',
};
const ARGS = { sandbox: 'lab', ...TWO };

/** The run's own verdict on the same request: ValidateInput, then CheckClusterHealth's error or detail. */
async function runVerdict(asked: PlanRequest, deps: ReturnType<typeof depsFor>['deps']): Promise<string> {
  let context: WorkflowContext = {
    runId: 'r-unit-run',
    request: { cluster: asked.cluster, failed: asked.failed, replacement: asked.replacement!, also: asked.also, startedBy: 'test' },
    options: { graceSeconds: 0, learner: asked.learner },
  };
  context = { ...context, ...(await ValidateInput(context, deps)).output };
  return CheckClusterHealth(context, deps).then(
    (r) => `would proceed: ${r.detail}`,
    (e: Error) => `would refuse: ${e.message}`,
  );
}

const line = (s: PlannedStep) => `${s.name}${s.member ? ` ${s.member}` : ''}`;
const tasksOf = (steps: PlannedStep[], member?: string) => steps.filter((s) => s.kind === 'task' && (member === undefined || s.member?.startsWith(member)));

describe('plan --failed A --failed B', () => {
  it('two of five down on etcd 3.2: both prepared, then the grace window, both removed, then each added and started in turn, masters and flannel once', async () => {
    const { deps, cluster } = depsFor(5, ['master-3', 'master-4']);
    const plan = await planReplacement(TWO, deps);
    expect(cluster.calls.every((c) => c === 'memberList' || c.startsWith('status ') || c.startsWith('view '))).toBe(true);
    expect(plan.refused).toBe(false);
    expect(plan.verdict).toBe(await runVerdict(TWO, depsFor(5, ['master-3', 'master-4']).deps));
    const names = plan.steps.map(line);
    const at = (name: string) => names.indexOf(name);
    const m1 = 'master-3 → etcd-spare-0 (1 of 2)';
    const m2 = 'master-4 → etcd-spare-1 (2 of 2)';
    // Every preparation before the second observation, every removal before the first add, each new member healthy before the next add.
    const order = [
      'CheckClusterHealth',
      `IssueCertificates ${m1}`,
      `InstallEtcd ${m1}`,
      `IssueCertificates ${m2}`,
      `InstallEtcd ${m2}`,
      'WaitGraceWindow',
      'ConfirmMemberFailed',
      `RemoveFailedMember ${m1}`,
      `BackUpFailedMemberData ${m1}`,
      `RemoveFailedMember ${m2}`,
      `BackUpFailedMemberData ${m2}`,
      `ConfigureNewMember ${m1}`,
      `AddMember ${m1}`,
      `StartNewMember ${m1}`,
      `VerifyClusterHealth ${m1}`,
      `ConfigureNewMember ${m2}`,
      `AddMember ${m2}`,
      `StartNewMember ${m2}`,
      `VerifyClusterHealth ${m2}`,
      'RollMasters',
      'UpdateFlannel',
      'ReleaseLock',
    ];
    const positions = order.map(at);
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const once of ['CheckClusterHealth', 'ConfirmMemberFailed', 'RollMasters', 'UpdateFlannel', 'CompensateNewMember', 'ReleaseLock'])
      expect(names.filter((n) => n === once)).toHaveLength(1);
    // Each member's steps are the loops' bodies, once each: prepare 8, remove 5, add 13 states.
    expect(plan.members?.map((m) => [m.failed, m.replacement, m.chosen, m.failedMemberId, m.steps.length])).toEqual([
      ['master-3', 'etcd-spare-0', 'named', ID(0xa3), 26],
      ['master-4', 'etcd-spare-1', 'named', ID(0xa4), 26],
    ]);
    expect(plan.steps).toHaveLength(STATES.length + 26);
    // The commands are each member's: its certificates, its removal, its add.
    const commandsOf = (name: string) => plan.steps[at(name)]!.commands.map((c) => `${c.host}: ${c.command}`).join('\n');
    expect(commandsOf(`IssueCertificates ${m2}`)).toMatch(
      /^master-0: bash functions\/scripts\/IssueCertificates\.sh 'etcd-spare-1\.example\.test' '198\.51\.100\.20'/,
    );
    expect(commandsOf(`RemoveFailedMember ${m2}`)).toContain(
      `'member-remove' 'https://198.51.100.3:2379,https://198.51.100.4:2379,https://198.51.100.2:2379' '${ID(0xa4)}'`,
    );
    expect(commandsOf(`AddMember ${m1}`)).toContain(
      "'member-add' 'https://198.51.100.3:2379,https://198.51.100.4:2379,https://198.51.100.2:2379' 'https://198.51.100.9:2380'",
    );
    // The second add goes through the members that answer by then: the first new member among them.
    expect(commandsOf(`AddMember ${m2}`)).toContain(
      "'member-add' 'https://198.51.100.3:2379,https://198.51.100.4:2379,https://198.51.100.2:2379,https://198.51.100.9:2379' 'https://198.51.100.20:2380'",
    );
    expect(commandsOf('CheckClusterHealth')).toMatch(
      /etcd-spare-0: bash functions\/scripts\/DescribeEtcdHost\.sh\netcd-spare-1: bash functions\/scripts\/DescribeEtcdHost\.sh/,
    );
    // Quorum before and after each change, as quorum.ts works it out: no learner on 3.2, so each new member votes from its add.
    const quorum = plan.steps.filter((s) => s.quorumAfter).map((s) => `${line(s)}: ${s.quorumBefore!.text} → ${s.quorumAfter!.text}`);
    expect(quorum).toEqual([
      `RemoveFailedMember ${m1}: quorum holds: 3 of 5 voting members answer and 3 are needed → quorum holds: 3 of 4 voting members answer and 3 are needed`,
      `RemoveFailedMember ${m2}: quorum holds: 3 of 4 voting members answer and 3 are needed → quorum holds: 3 of 3 voting members answer and 2 are needed`,
      `AddMember ${m1}: quorum holds: 3 of 3 voting members answer and 2 are needed → quorum holds: 3 of 4 voting members answer and 3 are needed`,
      `StartNewMember ${m1}: quorum holds: 3 of 4 voting members answer and 3 are needed → quorum holds: 4 of 4 voting members answer and 3 are needed`,
      `AddMember ${m2}: quorum holds: 4 of 4 voting members answer and 3 are needed → quorum holds: 4 of 5 voting members answer and 3 are needed`,
      `StartNewMember ${m2}: quorum holds: 4 of 5 voting members answer and 3 are needed → quorum holds: 5 of 5 voting members answer and 3 are needed`,
    ]);
    expect(plan.steps[at(`AddMember ${m1}`)]!.note).toMatch(/votes from the add: until it has started, the cluster is one failure from losing quorum/);
    expect(plan.steps[at(`PromoteNewMember ${m1}`)]!.note).toBe('the member is added as a voting member');
  });

  it('on etcd 3.4 each new member joins as a learner: the vote counts at its promotion', async () => {
    const { deps } = depsFor(5, ['master-3', 'master-4'], '3.4.27');
    const plan = await planReplacement(TWO, deps);
    const quorum = plan.steps
      .filter((s) => s.quorumAfter)
      .map((s) => `${s.name}: ${[s.quorumBefore!, s.quorumAfter!].map((q) => `${q.answering}/${q.voters} need ${q.needed}`).join(' → ')}`);
    expect(quorum).toEqual([
      'RemoveFailedMember: 3/5 need 3 → 3/4 need 3',
      'RemoveFailedMember: 3/4 need 3 → 3/3 need 2',
      'AddMember: 3/3 need 2 → 3/3 need 2',
      'PromoteNewMember: 3/3 need 2 → 4/4 need 3',
      'AddMember: 4/4 need 3 → 4/4 need 3',
      'PromoteNewMember: 4/4 need 3 → 5/5 need 3',
    ]);
    expect(tasksOf(plan.steps, 'master-4').find((s) => s.name === 'AddMember')!.commands[1]!.command).toContain("'member-add-learner'");
  });

  it('prints the members, then the sequence with each member named and the quorum after each change; --json carries each member with its steps', async () => {
    const { deps } = depsFor(5, ['master-3', 'master-4']);
    const plan = await planReplacement(TWO, deps);
    const text = formatPlan(planTitle(plan, ARGS), plan.verdict, plan.steps, plan.members).split('\n');
    // Each loop's steps are numbered where the sequence has them: the first and last state of each loop's body, per member.
    const numbered = (state: string, label: string) => plan.steps.findIndex((s) => s.name === state && s.member === label) + 1;
    const loops = (label: string) =>
      `prepared in steps ${numbered('IsCertificateIssuedByPlaybook', label)}-${numbered('IsAnotherReplacementToPrepare', label)}, ` +
      `removed in steps ${numbered('RemoveFailedMember', label)}-${numbered('IsAnotherMemberToRemove', label)}, ` +
      `added in steps ${numbered('IsMemberAddedByPlaybook', label)}-${numbered('IsAnotherMemberToAdd', label)}`;
    const m1 = 'master-3 → etcd-spare-0 (1 of 2)';
    const m2 = 'master-4 → etcd-spare-1 (2 of 2)';
    expect(numbered('RemoveFailedMember', m2)).toBe(numbered('IsAnotherMemberToRemove', m1) + 1);
    expect(text.slice(0, 4)).toEqual([
      'plan: replace master-3 with etcd-spare-0 and master-4 with etcd-spare-1 on sandbox lab, add method manual',
      plan.verdict,
      `  member 1 of 2: master-3 (${ID(0xa3)}) → etcd-spare-0, named: ${loops(m1)}`,
      `  member 2 of 2: master-4 (${ID(0xa4)}) → etcd-spare-1, named: ${loops(m2)}`,
    ]);
    const removal = `${numbered('RemoveFailedMember', m1)}. RemoveFailedMember (${m1}) — member remove <failed member ID> from a surviving member`;
    expect(text.slice(text.indexOf(removal) + 3, text.indexOf(removal) + 5)).toEqual([
      '      before it: quorum holds: 3 of 5 voting members answer and 3 are needed',
      '      after it: quorum holds: 3 of 4 voting members answer and 3 are needed',
    ]);
    const doc = JSON.parse(JSON.stringify(planDocument(plan, ARGS))) as {
      failed: string;
      replacement: string;
      steps: PlannedStep[];
      members: Array<{ failed: string; replacement: string; failedMemberId: string; steps: PlannedStep[] }>;
    };
    expect([doc.failed, doc.replacement]).toEqual(['master-3', 'etcd-spare-0']);
    expect(doc.members.map((m) => [m.failed, m.replacement, m.failedMemberId])).toEqual([
      ['master-3', 'etcd-spare-0', ID(0xa3)],
      ['master-4', 'etcd-spare-1', ID(0xa4)],
    ]);
    expect(doc.members[1]!.steps.filter((s) => s.kind === 'task').map((s) => `${s.phase} ${s.name}`)).toEqual([
      'prepare CheckScaleupPlaybook',
      'prepare IssueCertificates',
      'prepare VerifyCertificates',
      'prepare OpenEtcdPorts',
      'prepare InstallEtcd',
      'remove RemoveFailedMember',
      'remove StopFailedMember',
      'remove BackUpFailedMemberData',
      'add PrepareInventory',
      'add RunScaleupPlaybook',
      'add ConfigureNewMember',
      'add AddMember',
      'add StartNewMember',
      'add AwaitSnapshot',
      'add PromoteNewMember',
      'add VerifyClusterHealth',
      'add UpdateInventory',
    ]);
    expect(doc.steps.filter((s) => s.member === 'master-4 → etcd-spare-1 (2 of 2)')).toEqual(doc.members[1]!.steps);
  });

  it('takes the spare pool in order when no replacement is named', async () => {
    const { deps } = depsFor(5, ['master-3', 'master-4']);
    const plan = await planReplacement({ ...TWO, replacement: undefined, also: [{ failed: 'master-4' }] } as PlanRequest, deps);
    expect(plan.members?.map((m) => `${m.failed} → ${m.replacement} ${m.chosen}`)).toEqual(['master-3 → etcd-spare-0 spare', 'master-4 → etcd-spare-1 spare']);
    expect(planTitle(plan, { ...ARGS, replacement: undefined, also: [{ failed: 'master-4' }] })).toBe(
      'plan: replace master-3 with etcd-spare-0 (from the spare pool) and master-4 with etcd-spare-1 (from the spare pool) on sandbox lab, add method manual',
    );
  });

  it.each([
    [
      'three of five down: no quorum, with the restore procedure',
      5,
      ['master-2', 'master-3', 'master-4'],
      /the cluster has no quorum: 2 of 5 voting members answer and 3 are needed[\s\S]*restore-quorum/,
    ],
    ['two of six: the cluster would end even', 6, ['master-3', 'master-4'], /the cluster would end with 6 members: an etcd cluster must end with an odd count/],
    ['a named member answers', 5, ['master-3'], /member\(s\) master-4\.example\.test \(00000000000000a4\) answer health checks at the first observation/],
  ])('refuses as the run refuses (exit 3): %s', async (_, masters, down, reason) => {
    const plan = await planReplacement(TWO, depsFor(masters, down).deps);
    expect(plan.refused).toBe(true);
    expect(plan.verdict).toMatch(reason);
    expect(plan.verdict).toBe(await runVerdict(TWO, depsFor(masters, down).deps));
    // Nothing observed: no quorum figures to give, the sequence still shown.
    expect(plan.steps.some((s) => s.quorumBefore ?? s.quorumAfter)).toBe(false);
    expect(plan.members).toHaveLength(2);
  });

  it('reports another voter that does not answer at the first observation, as the run does, and that the second observation refuses it unless taken in', async () => {
    const down = ['master-3', 'master-4', 'master-5'];
    const plan = await planReplacement(TWO, depsFor(7, down).deps);
    expect(plan.refused).toBe(false);
    expect(plan.verdict).toBe(await runVerdict(TWO, depsFor(7, down).deps));
    expect(plan.verdict).toMatch(/member\(s\) master-5\.example\.test \(00000000000000a5\) do not answer either/);
    expect(plan.steps.find((s) => s.name === 'ConfirmMemberFailed')!.note).toMatch(
      new RegExp(`refuses member\\(s\\) ${ID(0xa5)}, silent at the first observation too, unless a run for them has been taken in`),
    );
    // The silent member stays a voter that does not answer: quorum counts it.
    const text = formatPlan(planTitle(plan, ARGS), plan.verdict, plan.steps, plan.members);
    expect(plan.steps.filter((s) => s.name === 'RemoveFailedMember').map((s) => `${s.quorumBefore!.text} → ${s.quorumAfter!.text}`)).toEqual([
      'quorum holds: 4 of 7 voting members answer and 4 are needed → quorum holds: 4 of 6 voting members answer and 4 are needed',
      'quorum holds: 4 of 6 voting members answer and 4 are needed → quorum holds: 4 of 5 voting members answer and 3 are needed',
    ]);
    expect(text).toContain('      after it: quorum holds: 4 of 5 voting members answer and 3 are needed');
  });

  it('fails on bad input as the run does (InvalidInputError: exit 2)', async () => {
    const error = await planReplacement({ ...TWO, also: [{ failed: 'master-3', replacement: 'etcd-spare-1' }] }, depsFor(5, ['master-3']).deps).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/master-3 is named twice/);
  });

  it('leaves the one-member plan as it was: every state once, no member, no quorum figures', async () => {
    const { deps } = depsFor(5, ['master-3']);
    const plan = await planReplacement({ ...TWO, also: [] }, deps);
    expect(plan.members).toBeUndefined();
    expect(plan.steps.map((s) => s.name)).toEqual(STATES.map((s) => s.name));
    expect(plan.steps).toEqual(planSteps(plan.context));
    expect(plan.steps.some((s) => s.member !== undefined || s.quorumBefore !== undefined || s.quorumAfter !== undefined || s.phase !== undefined)).toBe(false);
    const text = formatPlan(planTitle(plan, { ...ARGS, also: [] }), plan.verdict, plan.steps, plan.members).split('\n');
    expect(text.slice(0, 4)).toEqual([
      'plan: replace master-3 with etcd-spare-0 on sandbox lab, add method manual',
      plan.verdict,
      '',
      ' 1. ValidateInput — Validate the request and resolve the failed member, the replacement, the CA and installer hosts',
    ]);
    expect(Object.keys(planDocument(plan, ARGS))).toEqual(['cluster', 'failed', 'replacement', 'replacementChoice', 'addMethod', 'verdict', 'steps']);
  });
});

describe('CLI: plan with several --failed refuses before reading anything where run does (exit 2)', () => {
  it.each([
    [['--add-method', 'ansible'], /--add-method ansible replaces one member per run: several --failed take the manual add method/],
    [['--replacement', 'etcd-spare-0'], /2 --failed and 1 --replacement: give one --replacement per --failed/],
    [['--replacement', 'new', '--replacement', 'etcd-spare-1'], /--replacement new launches a host for one failed member only/],
  ])('%j', async (extra, message) => {
    const args = ['--failed', 'master-3', '--failed', 'master-4', ...extra, '--sandbox', 'x-absent'];
    const output = captureOutput();
    expect(await main(['plan', ...args])).toBe(2);
    expect(output.err).toMatch(message);
    expect(output.out).toBe('');
    const planned = output.err.split('\n')[0];
    output.err = '';
    expect(await main(['run', ...args])).toBe(2);
    expect(output.err.split('\n')[0]).toBe(planned);
  });
});
