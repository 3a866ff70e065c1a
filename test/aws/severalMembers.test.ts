// A run that replaces two members, read back on AWS: the execution history names no member, yet `status`
// (the run document), the audit record (`history --target aws`) and the outcome notification show each
// failed member with its replacement and its own steps, as the sandbox's run record does. The history is
// the compiled machine's, with the context each step leaves (each loop's first step loading its member);
// Step Functions and SNS are faked with aws-sdk-client-mock.

import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildAuditRecord, type StepDetail } from '../../functions/adapters/aws/auditRecord.ts';
import { runDocumentFromHistory, type ExecutionFacts } from '../../functions/adapters/aws/executions.ts';
import { memberStepsFromHistory } from '../../functions/adapters/aws/historyMembers.ts';
import { notify, type RunSummary } from '../../functions/handlers/notifyOutcome.ts';
import type { MemberPhase, MemberSlot, WorkflowContext } from '../../statemachine/context.ts';
import { enterLoop, loadSlot } from '../../statemachine/members.ts';
import { formatAuditRecord, formatRun } from '../../cli/printers/awsText.ts';
import { formatTimeline } from '../../cli/printers/text.ts';
import { statusCommand } from '../../cli/commands/status.ts';
import { captureOutput } from '../support/captureOutput.ts';
import { HistoryBuilder, T0 } from '../support/aws/sfnHistory.ts';
import { executionArnOf, REGION, STATE_MACHINE } from '../support/aws/runHistories.ts';

const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);
beforeEach(() => {
  sfn.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const host = (name: string, ip: string, roles: string[]) => ({
  name,
  hostname: `${name}.ocp311.example.internal`,
  ip,
  instanceId: `i-0a1b2c3d4e5f607${ip.slice(-2)}`,
  roles,
});
const HOSTS = [
  ...['master-0', 'master-1', 'master-2', 'master-3', 'master-4'].map((name, i) => host(name, `10.0.1.1${i}`, ['master', 'etcd'])),
  host('etcd-spare-0', '10.0.1.20', ['spare']),
  host('etcd-spare-1', '10.0.1.21', ['spare']),
];
const byName = (name: string) => HOSTS.find((h) => h.name === name)!;
const ref = (id: string, name: string) => ({
  id,
  name: byName(name).hostname,
  peerURL: `https://${byName(name).ip}:2380`,
  clientURL: `https://${byName(name).ip}:2379`,
});

const REQUEST = {
  cluster: 'ocp311',
  failed: ['master-3', 'master-4'],
  replacement: ['etcd-spare-0', 'etcd-spare-1'],
  startedBy: 'alarm:etcd-replace-ocp311-member-master-3',
};
const NAME = 'ocp311-master-3-0d1e2f3a-20260302-10';
const NEW_IDS = ['b0b0b0b0b0b0b0b0', 'b1b1b1b1b1b1b1b1'];
const M1 = 'master-3 → etcd-spare-0 (1 of 2)';
const M2 = 'master-4 → etcd-spare-1 (2 of 2)';

/** A step that leaves `output(context)` in the context. */
type Out = (context: WorkflowContext) => Record<string, unknown>;
/** The first step of a loop's body: it loads the member the loop works on next (statemachine/members.ts), then does its part. */
const entering =
  (phase: MemberPhase, output: Out = () => ({})): Out =>
  (context) => {
    const entered = enterLoop(context, phase) ?? {};
    return { ...entered, ...output({ ...context, ...entered } as WorkflowContext) };
  };

/**
 * The history of a run that replaces master-3 with etcd-spare-0 and master-4 with etcd-spare-1 on a cluster
 * of five: both prepared, both removed, then each added and started in turn. `secondStart`: how the second
 * new member's start ends (the run compensates it and fails when it does not start).
 */
function twoMemberRun(secondStart: 'starts' | 'fails' = 'starts'): HistoryBuilder {
  const slots: MemberSlot[] = [
    { failed: 'master-3', asked: 'etcd-spare-0', failedHost: byName('master-3'), replacement: byName('etcd-spare-0'), replacementChoice: 'named' },
    { failed: 'master-4', asked: 'etcd-spare-1', failedHost: byName('master-4'), replacement: byName('etcd-spare-1'), replacementChoice: 'named' },
  ] as MemberSlot[];
  const b = new HistoryBuilder(REQUEST, T0);
  const step = (name: string, output?: Out, failures?: string[]) =>
    b.task(name, { ...(output ? { output: output(b.context as unknown as WorkflowContext) } : {}), ...(failures ? { failures } : {}) });
  step('ValidateInput', () => ({
    runId: NAME,
    request: {
      cluster: 'ocp311',
      failed: 'master-3',
      replacement: 'etcd-spare-0',
      also: [{ failed: 'master-4', replacement: 'etcd-spare-1' }],
      startedBy: REQUEST.startedBy,
    },
    options: { graceSeconds: 60, learner: 'never' },
    inventory: { cluster: 'ocp311', hosts: HOSTS },
    members: slots,
    memberIndex: 0,
    ...loadSlot(slots[0]!),
  }));
  step('AcquireLock');
  step('CheckClusterHealth', () => ({
    survivors: [ref('a0a0a0a0a0a0a0a0', 'master-0'), ref('a1a1a1a1a1a1a1a1', 'master-1'), ref('a2a2a2a2a2a2a2a2', 'master-2')],
    members: [
      { ...slots[0], failedMember: ref('a3a3a3a3a3a3a3a3', 'master-3') },
      { ...slots[1], failedMember: ref('a4a4a4a4a4a4a4a4', 'master-4') },
    ],
    failedMember: ref('a3a3a3a3a3a3a3a3', 'master-3'),
  }));
  step('SnapshotCluster');
  for (const i of [0, 1]) {
    step('IssueCertificates', entering('prepare'));
    step('VerifyCertificates');
    step('OpenEtcdPorts');
    step('InstallEtcd', undefined, i === 1 ? ['HostCommandError'] : undefined);
    b.choice('IsAnotherReplacementToPrepare');
  }
  b.wait('WaitGraceWindow', 60);
  step('ConfirmMemberFailed');
  for (const _ of [0, 1]) {
    step(
      'RemoveFailedMember',
      entering('remove', () => ({ failedMemberRemoved: true })),
    );
    step('StopFailedMember', () => ({ failedHostReachable: false }));
    b.choice('IsFailedHostReachable').choice('IsAnotherMemberToRemove');
  }
  for (const i of [0, 1]) {
    step('ConfigureNewMember', entering('add'));
    step('AddMember', () => ({ memberAdded: true, addedAsLearner: false, newMemberId: NEW_IDS[i], memberAddedAt: new Date(T0).toISOString() }));
    if (i === 1 && secondStart === 'fails') {
      b.caughtTask('StartNewMember', 'NewMemberFailedError', 'etcd on etcd-spare-1 did not start listening');
      step('CompensateNewMember', () => ({ remaining: ['the cluster runs with 4 members: replace master-4 with another spare (etcd-replace run)'] }));
      step('ReleaseLock');
      return b.choice('RouteOutcome').fail('Failed');
    }
    step('StartNewMember', () => ({ newMemberStartedAt: new Date(T0 + 60_000).toISOString() }));
    step('VerifyClusterHealth');
    b.choice('IsAnotherMemberToAdd');
  }
  step('RollMasters');
  step('UpdateFlannel');
  step('ReleaseLock');
  return b.choice('RouteOutcome').succeed();
}

function facts(run: HistoryBuilder, status: string): ExecutionFacts {
  return { executionArn: executionArnOf(NAME), name: NAME, status, startDate: new Date(T0), stopDate: run.now };
}

const lines = (steps: ReadonlyArray<{ name: string; status: string; member?: string }>) =>
  steps.map((s) => `${s.name} ${s.status}${s.member ? ` ${s.member}` : ''}`);

describe('Several failed members on AWS: the run read back from its execution history', () => {
  it('each per-member step once per member, named with its member, in the order it ran', () => {
    const run = twoMemberRun();
    const steps = memberStepsFromHistory(run.events, run.now.toISOString());
    expect(lines(steps).filter((l) => /^(RemoveFailedMember|AddMember|StartNewMember) /.test(l))).toEqual([
      `RemoveFailedMember succeeded ${M1}`,
      `RemoveFailedMember succeeded ${M2}`,
      `AddMember succeeded ${M1}`,
      `StartNewMember succeeded ${M1}`,
      `AddMember succeeded ${M2}`,
      `StartNewMember succeeded ${M2}`,
    ]);
    expect(steps.find((s) => s.name === 'InstallEtcd' && s.member === M2)?.attempts).toBe(2);
    // Steps that work on the whole cluster are no member's.
    expect(steps.map((s) => s.name)).not.toContain('ConfirmMemberFailed');
    expect(steps.map((s) => s.name)).not.toContain('RollMasters');
  });

  it('names the member a loop was loading when its first step failed: the next one, not the one before', () => {
    const run = twoMemberRun();
    // Cut the history at the second removal and make it fail, uncaught.
    const cut = run.events.findIndex(
      (e, i) =>
        e.stateEnteredEventDetails?.name === 'RemoveFailedMember' && i > run.events.findIndex((x) => x.stateEnteredEventDetails?.name === 'RemoveFailedMember'),
    );
    const events = [
      ...run.events.slice(0, cut + 1),
      { id: 9001, timestamp: new Date(T0 + 900_000), type: 'TaskScheduled' as const },
      {
        id: 9002,
        timestamp: new Date(T0 + 905_000),
        type: 'TaskFailed' as const,
        taskFailedEventDetails: { resourceType: 'lambda', resource: 'invoke', error: 'QuorumLossError', cause: 'no' },
      },
      { id: 9003, timestamp: new Date(T0 + 905_000), type: 'ExecutionFailed' as const, executionFailedEventDetails: { error: 'QuorumLossError', cause: 'no' } },
    ];
    const removals = memberStepsFromHistory(events, new Date(T0 + 905_000).toISOString()).filter((s) => s.name === 'RemoveFailedMember');
    expect(lines(removals)).toEqual([`RemoveFailedMember succeeded ${M1}`, `RemoveFailedMember failed ${M2}`]);
  });

  it('status: the run document lists each member with its replacement, what was done for it and its steps; the steps stay one per task', async () => {
    const run = twoMemberRun('fails');
    const doc = runDocumentFromHistory(facts(run, 'FAILED'), run.events);
    expect(doc.members?.map((m) => [m.failed, m.replacement, m.chosen, m.failedMemberId, m.removed, m.newMemberId, m.joined])).toEqual([
      ['master-3', 'etcd-spare-0', 'named', 'a3a3a3a3a3a3a3a3', true, NEW_IDS[0], true],
      ['master-4', 'etcd-spare-1', 'named', 'a4a4a4a4a4a4a4a4', true, NEW_IDS[1], false],
    ]);
    expect(doc.members![1]!.steps.map((s) => `${s.name} ${s.status}`)).toEqual([
      'IssueCertificates succeeded',
      'VerifyCertificates succeeded',
      'OpenEtcdPorts succeeded',
      'InstallEtcd succeeded',
      'RemoveFailedMember succeeded',
      'StopFailedMember succeeded',
      'ConfigureNewMember succeeded',
      'AddMember succeeded',
      'StartNewMember failed',
      'CompensateNewMember succeeded',
    ]);
    expect(doc.steps.filter((s) => s.name === 'RemoveFailedMember')).toHaveLength(1);
    expect(doc.steps.find((s) => s.name === 'RemoveFailedMember')!.attempts).toBe(2);

    // `etcd-replace status ARN`, text and --json, from the faked Step Functions.
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: executionArnOf(NAME),
      stateMachineArn: STATE_MACHINE,
      name: NAME,
      status: 'FAILED',
      startDate: new Date(T0),
      stopDate: run.now,
      input: JSON.stringify(REQUEST),
    });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: run.events });
    const deps = { client: () => new SFNClient({ region: REGION }) };
    const output = captureOutput();
    expect(await statusCommand([executionArnOf(NAME)], deps)).toBe(1);
    expect(output.out).toContain(`  member 1 of 2: master-3 → etcd-spare-0, named in the request: removed a3a3a3a3a3a3a3a3, added ${NEW_IDS[0]}, started`);
    expect(output.out).toContain(`  member 2 of 2: master-4 → etcd-spare-1, named in the request: removed a4a4a4a4a4a4a4a4, added ${NEW_IDS[1]}, not started`);
    expect(output.out).toMatch(/\n {4}IssueCertificates succeeded \d+\.\ds, .*StartNewMember failed \d+\.\ds, CompensateNewMember succeeded \d+\.\ds\n/);
    expect(output.out).toBe(`${formatRun(doc)}\n`);
    output.out = '';
    expect(await statusCommand([executionArnOf(NAME), '--json'], deps)).toBe(1);
    expect((JSON.parse(output.out) as { members: unknown }).members).toEqual(JSON.parse(JSON.stringify(doc.members)));
  });

  it('the audit record: each per-member step with its member and its own detail, in the order the steps ran; history shows each member', () => {
    const run = twoMemberRun();
    const at = (name: string, nth: number) => run.events.filter((e) => e.stateEnteredEventDetails?.name === name)[nth]!.timestamp!.getTime();
    const details: StepDetail[] = [0, 1].map((i) => ({
      step: 'RemoveFailedMember',
      startedAt: new Date(at('RemoveFailedMember', i) + 500).toISOString(),
      outcome: 'succeeded',
      detail: `${i === 0 ? M1 : M2}: removed ${i === 0 ? 'a3a3a3a3a3a3a3a3' : 'a4a4a4a4a4a4a4a4'}`,
      durationMs: 800,
    }));
    const record = buildAuditRecord({ facts: facts(run, 'SUCCEEDED'), events: run.events, details, cluster: 'ocp311', now: run.now });
    // The membership changes read: remove, remove, add, start, add, start.
    const changes = record.steps.filter((s) => ['RemoveFailedMember', 'AddMember', 'StartNewMember'].includes(s.name));
    expect(changes.map((s) => `${s.name} ${s.member}`)).toEqual([
      `RemoveFailedMember ${M1}`,
      `RemoveFailedMember ${M2}`,
      `AddMember ${M1}`,
      `StartNewMember ${M1}`,
      `AddMember ${M2}`,
      `StartNewMember ${M2}`,
    ]);
    expect(changes.slice(0, 2).map((s) => s.detail)).toEqual([`${M1}: removed a3a3a3a3a3a3a3a3`, `${M2}: removed a4a4a4a4a4a4a4a4`]);
    expect(record.steps.map((s) => s.startedAt)).toEqual([...record.steps.map((s) => s.startedAt)].sort());
    expect(record.steps.filter((s) => s.name === 'ConfirmMemberFailed' || s.name === 'RollMasters').map((s) => s.member)).toEqual([undefined, undefined]);

    const text = formatTimeline(record);
    expect(text).toContain(`  member 1 of 2: master-3 → etcd-spare-0, named in the request: removed a3a3a3a3a3a3a3a3, added ${NEW_IDS[0]}, started`);
    expect(text).toContain(`  member 2 of 2: master-4 → etcd-spare-1, named in the request: removed a4a4a4a4a4a4a4a4, added ${NEW_IDS[1]}, started`);
    // The task timeline keeps one line per task.
    expect(text.split('\n').filter((l) => /^ {2}RemoveFailedMember /.test(l))).toHaveLength(1);
    expect(formatAuditRecord(record, true)).toContain(`    RemoveFailedMember (${M2}): succeeded, 1 attempt, `);
  });

  it("a run that took a member in at its second observation: the steps it ran with one member are the first member's", () => {
    const one: MemberSlot = {
      failed: 'master-3',
      failedHost: byName('master-3'),
      replacement: byName('etcd-spare-0'),
      replacementChoice: 'spare',
    } as MemberSlot;
    const taken: MemberSlot = {
      failed: 'master-4',
      failedHost: byName('master-4'),
      replacement: byName('etcd-spare-1'),
      replacementChoice: 'spare',
    } as MemberSlot;
    const b = new HistoryBuilder({ cluster: 'ocp311', failed: 'master-3', startedBy: 'cli:ops' }, T0);
    const step = (name: string, output?: Out) => b.task(name, output ? { output: output(b.context as unknown as WorkflowContext) } : {});
    step('ValidateInput', () => ({
      runId: NAME,
      request: { cluster: 'ocp311', failed: 'master-3', startedBy: 'cli:ops' },
      options: { graceSeconds: 60, learner: 'never' },
      inventory: { cluster: 'ocp311', hosts: HOSTS },
      ...loadSlot(one),
    }));
    step('IssueCertificates');
    step('InstallEtcd');
    b.choice('IsAnotherReplacementToPrepare').wait('WaitGraceWindow', 60);
    step('ConfirmMemberFailed', () => ({ members: [one, taken], memberIndex: 0, memberPhase: 'prepare', takenIn: true }));
    b.choice('IsMemberTakenIn').choice('IsCertificateIssuedByPlaybook');
    step('IssueCertificates', entering('prepare'));
    step('InstallEtcd');
    b.choice('IsAnotherReplacementToPrepare').wait('WaitGraceWindow', 0);
    step('ConfirmMemberFailed', () => ({ takenIn: false }));
    step('ReleaseLock');
    b.choice('RouteOutcome').succeed();
    const first = 'master-3 → etcd-spare-0 (1 of 2)';
    const second = 'master-4 → etcd-spare-1 (2 of 2)';
    expect(memberStepsFromHistory(b.events, b.now.toISOString()).map((st) => [st.name, st.member])).toEqual([
      ['IssueCertificates', first],
      ['InstallEtcd', first],
      ['IssueCertificates', second],
      ['InstallEtcd', second],
    ]);
    const doc = runDocumentFromHistory(facts(b, 'SUCCEEDED'), b.events);
    expect(doc.members?.map((m) => [m.failed, m.steps.map((st) => st.name)])).toEqual([
      ['master-3', ['IssueCertificates', 'InstallEtcd']],
      ['master-4', ['IssueCertificates', 'InstallEtcd']],
    ]);
  });

  it('a run that replaces one member keeps its record as it was: no member on any step', () => {
    const b = new HistoryBuilder({ cluster: 'ocp311', failed: 'master-3', startedBy: 'cli:ops' }, T0)
      .task('ValidateInput', {
        output: { runId: NAME, request: { cluster: 'ocp311', failed: 'master-3', startedBy: 'cli:ops' }, options: {}, failedHost: byName('master-3') },
      })
      .task('RemoveFailedMember', { output: { failedMemberRemoved: true } })
      .task('ReleaseLock')
      .choice('RouteOutcome')
      .succeed();
    expect(memberStepsFromHistory(b.events, b.now.toISOString())).toEqual([]);
    const record = buildAuditRecord({ facts: facts(b, 'SUCCEEDED'), events: b.events, cluster: 'ocp311', now: b.now });
    expect(record.steps.map((s) => s.name)).toEqual(['ValidateInput', 'RemoveFailedMember', 'ReleaseLock']);
    expect(record.steps.some((s) => 'member' in s)).toBe(false);
    expect(runDocumentFromHistory(facts(b, 'SUCCEEDED'), b.events).members).toBeUndefined();
  });
});

describe('Several failed members on AWS: the outcome notification', () => {
  it('names both members, each with its replacement and a line per step; the timeline says whose each step was; the run attribute carries them', async () => {
    const run = twoMemberRun('fails');
    sfn.on(GetExecutionHistoryCommand, { executionArn: executionArnOf(NAME) }).resolves({ events: run.events });
    const event = {
      detail: {
        executionArn: executionArnOf(NAME),
        name: NAME,
        status: 'FAILED',
        startDate: T0,
        stopDate: run.now.getTime(),
        input: JSON.stringify(REQUEST),
        error: 'NewMemberFailedError',
        cause: 'etcd on etcd-spare-1 did not start listening',
      },
    };
    const watched = HOSTS.filter((h) => h.roles.includes('etcd')).map((h) => ({ name: h.name, hostname: h.hostname, instanceId: h.instanceId }));
    const env = { TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:outcomes', CLUSTER_NAME: 'ocp311', MEMBERS: JSON.stringify(watched) };
    const out = await notify(event, env, { sfn, sns });
    const published = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(published.Subject).toMatch(/^ocp311: FAILED to replace master-3 and master-4 with etcd-spare-0 and etcd-spare-1 at StartNewMem/);
    const body = published.Message!.split('\n');
    const members = body.slice(body.indexOf('Members:') + 1, body.indexOf('Timeline:') - 1);
    expect(members[0]).toBe(`  1 of 2: master-3 → etcd-spare-0: removed, added ${NEW_IDS[0]}, started`);
    const second = members.indexOf(`  2 of 2: master-4 → etcd-spare-1: removed, added ${NEW_IDS[1]}, not started`);
    expect(second).toBeGreaterThan(0);
    const stepsOf = (from: number, to: number) => members.slice(from + 1, to).map((l) => l.trim().split(/\s+/).slice(1, 3).join(' '));
    expect(stepsOf(0, second)).toEqual([
      'IssueCertificates succeeded',
      'VerifyCertificates succeeded',
      'OpenEtcdPorts succeeded',
      'InstallEtcd succeeded',
      'RemoveFailedMember succeeded',
      'StopFailedMember succeeded',
      'ConfigureNewMember succeeded',
      'AddMember succeeded',
      'StartNewMember succeeded',
      'VerifyClusterHealth succeeded',
    ]);
    expect(stepsOf(second, members.length).slice(-3)).toEqual(['AddMember succeeded', 'StartNewMember failed', 'CompensateNewMember succeeded']);
    expect(members.find((l) => l.includes('InstallEtcd') && members.indexOf(l) > second)).toMatch(/\(2 attempts\)$/);
    // The timeline: in the order the steps ran, each per-member step with whose it was.
    const timeline = body.slice(body.indexOf('Timeline:') + 1);
    expect(
      timeline
        .filter((l) => /\s(RemoveFailedMember|AddMember|StartNewMember)\s/.test(l))
        .map((l) => `${l.trim().split(/\s+/)[1]} ${/\((\d of \d)\)$/.exec(l)?.[1]}`),
    ).toEqual([
      'RemoveFailedMember 1 of 2',
      'RemoveFailedMember 2 of 2',
      'AddMember 1 of 2',
      'StartNewMember 1 of 2',
      'AddMember 2 of 2',
      'StartNewMember 2 of 2',
    ]);
    expect(timeline.find((l) => l.includes('ConfirmMemberFailed'))).not.toMatch(/of 2\)$/);
    // For machines: each member and each step's member, with no address.
    const summary = JSON.parse(published.MessageAttributes!['run']!.StringValue!) as RunSummary;
    expect(summary.members?.map((m) => [m.failed, m.replacement, m.joined, m.steps.length])).toEqual([
      ['master-3', 'etcd-spare-0', true, 10],
      ['master-4', 'etcd-spare-1', false, 10],
    ]);
    expect(summary.steps.filter((s) => s.name === 'StartNewMember').map((s) => [s.member, s.status])).toEqual([
      [M1, 'succeeded'],
      [M2, 'failed'],
    ]);
    expect(published.MessageAttributes!['run']!.StringValue).not.toMatch(/10\.0\.1\./);
    expect(out.run).toEqual(summary);
    // The deployment follows both removals, and the new member that joined (it stays); the other once it has joined.
    expect(summary.remaining).toEqual([
      'the cluster runs with 4 members: replace master-4 with another spare (etcd-replace run)',
      `Edit "members" in the deployment configuration: remove master-3 (${byName('master-3').instanceId}), remove master-4 (${byName('master-4').instanceId}), ` +
        `add etcd-spare-0 (etcd-spare-0.ocp311.example.internal, ${byName('etcd-spare-0').instanceId}), add each other new member once it has joined; ` +
        'then deploy the stack again (npx cdk deploy -c etcdReplaceConfig=FILE). Until then the alarm etcd-replace-ocp311-member-master-3 stays in ALARM and will not start another run, ' +
        'and the alarm etcd-replace-ocp311-member-master-4 stays in ALARM and will not start another run, and etcd-spare-0 is not watched by the health probe.',
    ]);
  });
});
