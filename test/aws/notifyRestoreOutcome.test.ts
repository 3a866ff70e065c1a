// The outcome notification of a restore (RestoreEtcdQuorum): subject and body speak of the restore, with
// RecordRestore's measures in a `Restore:` block (the survivor or snapshot, the revision chosen against the
// highest seen, the seconds from quorum loss confirmed to full strength, every host fenced and how, every
// former member re-added and where, the approval), and the `run` attribute carries them for machines.
// Each case is a restore's execution history as Step Functions keeps it (GetExecutionHistory mocked), its
// context built with the workflow's own functions (expectedLoss, the re-add loop's enterLoop, RecordRestore).

import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_SUBJECT, notify, outcomeMessage, shortRefusal, type ExecutionStatusEvent, type RunSummary } from '../../functions/handlers/notifyOutcome.ts';
import { buildAuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import { RecordRestore } from '../../functions/steps/RecordRestore.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { MemberSlot, WorkflowContext } from '../../statemachine/context.ts';
import { enterLoop, loadSlot } from '../../statemachine/members.ts';
import type { FencedHost, RestoreContext } from '../../statemachine/restoreContext.ts';
import { expectedLoss, type RestorePoint, type Survivor, type UnreadHost } from '../../statemachine/restorePolicy.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { HistoryBuilder, lambdaCause, T0 } from '../support/aws/sfnHistory.ts';
import { ACCOUNT, MEMBERS, REGION } from '../support/aws/runHistories.ts';

const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);
const env = { TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:outcomes', CLUSTER_NAME: 'ocp311', MEMBERS: JSON.stringify(MEMBERS) };
const RESTORE_MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:etcd-restore-ocp311`;
const executionArnOf = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:execution:etcd-restore-ocp311:${name}`;
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

const REQUEST = {
  cluster: 'ocp311',
  startedBy: 'alarm:etcd-replace-ocp311-quorum-lost',
  options: { graceSeconds: 60, approvalTimeoutSeconds: 3600, fenceUnreachable: 'stop-instance' },
};

const host = (name: string, ip: string, instanceId: string, roles: string[]) => ({ name, hostname: `${name}.ocp311.example.internal`, ip, instanceId, roles });
const HOSTS = {
  'master-0': host('master-0', '10.0.1.10', 'i-0a1b2c3d4e5f60710', ['master', 'etcd']),
  'master-1': host('master-1', '10.0.1.11', 'i-0a1b2c3d4e5f60711', ['master', 'etcd']),
  'master-2': host('master-2', '10.0.1.12', 'i-0a1b2c3d4e5f60712', ['master', 'etcd']),
  'etcd-spare-0': host('etcd-spare-0', '10.0.1.20', 'i-0a1b2c3d4e5f60720', ['spare']),
  'etcd-spare-1': host('etcd-spare-1', '10.0.1.21', 'i-0a1b2c3d4e5f60721', ['spare']),
};
type HostName = keyof typeof HOSTS;
const MEMBER_IDS: Record<string, string> = { 'master-0': '8e9e05c52164694c', 'master-1': '8e9e05c52164694d', 'master-2': '8e9e05c52164694e' };

/** What DescribeRestorePoint.sh read on a member host: its data at `revision`, or nothing (`none`). */
function point(name: HostName, revision: number | null, etcd: 'running' | 'stopped' = 'stopped'): RestorePoint {
  const h = HOSTS[name];
  return {
    host: h.name,
    hostname: h.hostname,
    ip: h.ip,
    etcd,
    source: revision === null ? 'none' : 'backend',
    memberId: revision === null ? null : MEMBER_IDS[name]!,
    clusterId: revision === null ? null : 'cdf818194e3a8c32',
    name: revision === null ? null : name,
    leaderId: null,
    members: revision === null ? null : 3,
    version: revision === null ? null : '3.2.22',
    revision,
    raftIndex: revision === null ? null : revision + 311,
    raftTerm: revision === null ? null : 7,
    dbBytes: revision === null ? null : 2_400_000,
    keys: revision === null ? null : 1800,
  };
}

/** What ChooseRestorePoint writes: the former members, what it read, the survivor and what it loses. */
function chosen(points: RestorePoint[], unread: UnreadHost[], survivor: Survivor, approval: { waivedBy?: 'all-others-terminated' } = {}) {
  return {
    formerMembers: (['master-0', 'master-1', 'master-2'] as const).map((m) => ({ host: m, memberId: MEMBER_IDS[m]!, name: m, isLearner: false })),
    restorePoints: points,
    unread,
    survivor,
    expectedLoss: expectedLoss(survivor, points, unread),
    approvalWaived: approval.waivedBy !== undefined,
    ...(approval.waivedBy ? { approvalWaivedBy: approval.waivedBy } : {}),
    fromSnapshot: survivor.kind === 'snapshot',
  };
}

/** The restore's first steps: the request validated, the lock, two observations a grace window apart. */
function observed(name: string): HistoryBuilder {
  return new HistoryBuilder(REQUEST, T0)
    .task('ValidateRestoreRequest', {
      output: {
        runId: name,
        request: { ...REQUEST, failed: '' },
        options: REQUEST.options,
        inventory: { cluster: 'ocp311', hosts: Object.values(HOSTS) },
        caHost: HOSTS['master-0'],
      },
    })
    .task('AcquireLock')
    .task('ObserveQuorumLoss', {
      output: {
        quorumLossObserved: {
          at: at(8),
          verdict: {
            lost: true,
            voters: 3,
            answering: 1,
            needed: 2,
            silent: ['master-1', 'master-2'],
            reason: 'quorum is lost: 1 of 3 voting members answer and 2 are needed',
          },
        },
        confirmQuorumLossAfter: at(68),
      },
    })
    .wait('WaitGraceWindow', 60)
    .task('ConfirmQuorumLost', { output: { quorumLossConfirmedAt: at(72) } });
}

/** A former member's slot in the re-add loop (PrepareFormerMember): on its own host, or on a spare. */
function slot(former: HostName, on: HostName): MemberSlot {
  return {
    failed: former,
    failedHost: HOSTS[former],
    replacement: HOSTS[on],
    replacementChoice: former === on ? 'named' : 'spare',
    failedMember: null,
    failedMemberRemoved: true,
    failedHostReachable: false,
  } as MemberSlot;
}

/** The re-add loop's body for the member loaded, from IssueCertificates to VerifyClusterHealth; `verifiedAt`: its VerifyClusterHealth's time. */
function reAdd(b: HistoryBuilder, newMemberId: string, startedAt: string, verifiedAt: string): HistoryBuilder {
  return b
    .task('IssueCertificates')
    .task('VerifyCertificates')
    .task('OpenEtcdPorts')
    .task('InstallEtcd', { output: { newMemberVersion: '3.2.22' } })
    .task('ConfigureNewMember', { output: { bundleKey: `runs/${String(b.context['runId'])}/bundle-${newMemberId}.tgz` } })
    .task('AddMember', { output: { newMemberId, addedAsLearner: false, memberAdded: true, memberAddedAt: startedAt } })
    .task('StartNewMember', { output: { newMemberStartedAt: startedAt } })
    .choice('IsNewMemberLearner')
    .task('VerifyClusterHealth', { output: { clusterVerifiedAt: verifiedAt } })
    .choice('IsAnotherMemberToReAdd');
}

/** The next former member loaded, as the loop's first step loads it (statemachine/members.ts enterLoop). */
function nextFormer(b: HistoryBuilder): HistoryBuilder {
  return b.task('PrepareFormerMember', { output: enterLoop(b.context as unknown as WorkflowContext, 'readd')! as Record<string, unknown> });
}

/** The first visit of PrepareFormerMember: a slot of each former member but the restored one, the first loaded. */
function firstFormer(b: HistoryBuilder, restoredOn: HostName, slots: MemberSlot[], fenced: FencedHost[]): HistoryBuilder {
  return b.task('PrepareFormerMember', {
    output: {
      members: slots,
      memberIndex: 0,
      memberPhase: 'readd',
      anotherMember: slots.length > 1,
      ...loadSlot(slots[0]!),
      survivors: [
        { id: MEMBER_IDS[restoredOn], name: restoredOn, peerURL: `https://${HOSTS[restoredOn].ip}:2380`, clientURL: `https://${HOSTS[restoredOn].ip}:2379` },
      ],
      clusterId: '5a1f0e3c2b4d6e7f',
      clusterVersion: '3.2.22',
      learnerSupported: false,
      reAdds: slots.map((s) => ({ former: s.failed, on: s.replacement!.name, how: s.failed === s.replacement!.name ? 'same-host' : 'spare' })),
      fenced,
    },
  });
}

/** The survivor's forced cluster of one, as ForceNewCluster or RestoreFromSnapshot leaves it, and VerifyRestoredMember's reading. */
function restored(name: string, on: HostName, revision: number) {
  return {
    forced: {
      host: on,
      memberId: '2f1e0d9c8b7a6954',
      clusterId: '5a1f0e3c2b4d6e7f',
      name: on,
      peerUrl: `https://${HOSTS[on].ip}:2380`,
      revision,
      raftIndex: revision + 400,
      did: ['setFlag', 'startForced', 'stop', 'removeFlag', 'start'],
      peerUrlUpdated: false,
      backupKey: `restores/${name}/survivor-${on}.db`,
      backupBytes: 2_400_000,
      backupSha256: 'a'.repeat(64),
    },
    restoredMember: { host: on, memberId: '2f1e0d9c8b7a6954', revision, raftIndex: revision + 400, chosenRevision: revision, at: at(150) },
  };
}

/** RecordRestore on the context as the run left it: the step's own measures. */
async function recordRestore(b: HistoryBuilder): Promise<HistoryBuilder> {
  const deps = { now: () => new Date(T0 + 400_000) } as unknown as StepDeps;
  const { output } = await RecordRestore(b.context as unknown as RestoreContext, deps);
  return b.task('RecordRestore', { output: output as Record<string, unknown> });
}

/** The closing steps and the outcome. */
function closing(b: HistoryBuilder, end: 'Succeeded' | 'Failed' | 'Refused'): HistoryBuilder {
  b.task('DiscardKeyBundle').task('ReleaseLock').choice('RouteOutcome');
  return end === 'Succeeded' ? b.succeed() : b.fail(end);
}

/** What sets two restores from master-0's data apart, up to their second re-add. */
interface FromMaster0 {
  chosenBy: 'rank' | 'from';
  /** master-1's revision (master-0's is 4812). */
  master1Revision: number;
  /** Why master-2's data could not be read. */
  unread: string;
  approval: { by: string; at: string };
  /** How master-2, powered off, was fenced besides the network. */
  master2: Partial<FencedHost>;
}

/**
 * No quorum on ocp311: master-0 is forced from its own data (4812); master-2 is powered off and could not be
 * read. master-1, fenced on the host, goes back on its own host; master-2 on etcd-spare-0. The history up to
 * the second re-add's preparation, after master-1 has joined.
 */
function throughFirstReAdd(name: string, o: FromMaster0): HistoryBuilder {
  const survivor: Survivor = {
    kind: 'member',
    host: 'master-0',
    memberId: MEMBER_IDS['master-0']!,
    revision: 4812,
    raftIndex: 5123,
    etcd: 'stopped',
    chosenBy: o.chosenBy,
  };
  const fenced: FencedHost[] = [
    { host: 'master-1', how: ['network', 'on-host'], backupKey: `restores/${name}/former-master-1.db`, backupBytes: 2_300_000, backupSha256: 'b'.repeat(64) },
    { host: 'master-2', how: ['network', 'stopped-instance'], notOnHost: 'unreachable', ...o.master2 },
  ];
  const b = observed(name)
    .task('ChooseRestorePoint', {
      output: chosen([point('master-0', 4812), point('master-1', o.master1Revision)], [{ host: 'master-2', reason: o.unread }], survivor),
    })
    .choice('IsApprovalWaived')
    .task('AwaitApproval', { output: { approval: o.approval } })
    .task('FenceFormerMembers', { output: { fenced } })
    .choice('IsFromSnapshot')
    .task('ForceNewCluster', { output: restored(name, 'master-0', 4812) })
    .task('VerifyRestoredMember');
  const lifted = [{ ...fenced[0]!, networkLifted: { at: at(152), by: 'PrepareFormerMember' as const } }, fenced[1]!];
  firstFormer(b, 'master-0', [slot('master-1', 'master-1'), slot('master-2', 'etcd-spare-0')], lifted);
  reAdd(b, 'c3d4e5f60718a1b2', at(160), at(166));
  nextFormer(b);
  return b;
}

/** master-1's data less recent (4790), jane approved; both former members re-added, masters and flannel rolled. */
async function restoredFromMember(name: string): Promise<HistoryBuilder> {
  const b = throughFirstReAdd(name, {
    chosenBy: 'rank',
    master1Revision: 4790,
    unread: 'the instance is stopped',
    approval: { by: 'cli:jane', at: at(110) },
    master2: { notOnHostReason: 'SSM: the instance is not running', stoppedAlready: true },
  });
  reAdd(b, 'd4e5f60718a1b2c3', at(190), at(196));
  b.task('RollMasters').task('UpdateFlannel');
  await recordRestore(b);
  return closing(b, 'Succeeded');
}

/** The EventBridge event of a restore's end (the restore's state machine), its history behind GetExecutionHistory. */
function ended(name: string, run: HistoryBuilder, status: string, error?: { error: string; cause: string }): ExecutionStatusEvent {
  sfn.on(GetExecutionHistoryCommand, { executionArn: executionArnOf(name) }).resolves({ events: run.events });
  const input = run.events[0]!.executionStartedEventDetails!.input!;
  return {
    detail: {
      executionArn: executionArnOf(name),
      stateMachineArn: RESTORE_MACHINE,
      name,
      status,
      startDate: T0,
      stopDate: run.now.getTime(),
      input,
      ...(error ?? {}),
    },
  };
}

type Published = { Subject?: string; Message?: string; MessageAttributes?: Record<string, { DataType?: string; StringValue?: string }> };

function published(): Published {
  const calls = sns.commandCalls(PublishCommand);
  expect(calls).toHaveLength(1);
  return calls[0]!.args[0].input as Published;
}

/** The lines of the body's `Restore:` block. */
function restoreBlock(body: string): string[] {
  const lines = body.split('\n');
  const start = lines.indexOf('Restore:');
  expect(start).toBeGreaterThan(0);
  return lines.slice(start + 1, lines.indexOf('', start));
}

/** What no notification may carry: addresses, the fenced data's and the survivor's backups, checksums, the snapshot's location. */
const SECRET_OR_ADDRESS = /10\.0\.1\.|restores\/|bundle-|aaaaaaaa|bbbbbbbb|s3:\/\/|8e9e05c52164694/;

beforeEach(() => {
  sfn.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
});

describe('Handler: notifyOutcome, of a restore', () => {
  it('succeeded from a member: "quorum restored from master-0 in 2 min 4 s, 0 revisions lost", the Restore block, the members edit for the spare only', async () => {
    const name = 'ocp311-restore-quorum-0a1b2c3d-20260302-10';
    const out = await notify(ended(name, await restoredFromMember(name), 'SUCCEEDED'), env, { sfn, sns });
    expect(out.outcome).toBe('succeeded');
    const message = published();
    expect(message.Subject).toBe('ocp311: quorum restored from master-0 in 2 min 4 s, 0 revisions lost');
    const body = message.Message!;
    expect(body.split('\n')[0]).toBe(
      "ocp311: quorum was restored from master-0's data; the cluster is back at its former size, 2 min 4 s after the loss of quorum was confirmed; nothing was lost against the highest revision seen.",
    );
    expect(restoreBlock(body)).toEqual([
      '  Survivor:         master-0 (its own data, the best restore point)',
      '  Revision:         4812 chosen against 4812, the highest seen (on master-0): 0 revisions lost; not read: master-2, which may hold more',
      `  To full strength: 124 s (2 min 4 s) from quorum loss confirmed (${at(72)}) to full strength (${at(196)})`,
      '  Fenced:           master-1: network, on-host; network fence lifted by PrepareFormerMember',
      '                    master-2: network, stopped-instance; not on the host (it does not answer)',
      '  Re-added:         1 of 2: master-1 on master-1 (same host)',
      '                    2 of 2: master-2 on etcd-spare-0 (spare)',
      `  Approval:         given by cli:jane at ${at(110)}`,
    ]);
    // The timeline: the restore's tasks, the re-add loop's per member.
    expect(body).toMatch(/ConfirmQuorumLost\s+succeeded/);
    expect(body).toMatch(/ForceNewCluster\s+succeeded/);
    expect(body).toMatch(/StartNewMember\s+succeeded\s+\d+\.\d s\s+\(2 of 2\)/);
    expect(body).toMatch(/RecordRestore\s+succeeded/);
    // master-1 is back on its own host, watched as it was; master-2's place went to etcd-spare-0.
    expect(body).toContain(
      'Edit "members" in the deployment configuration: remove master-2 (i-0a1b2c3d4e5f60712), add etcd-spare-0 (etcd-spare-0.ocp311.example.internal, i-0a1b2c3d4e5f60720)',
    );
    expect(body).not.toContain('remove master-1');
    expect(body).not.toMatch(/replaced by|Members:/);
    expect(body).not.toMatch(SECRET_OR_ADDRESS);

    const attributes = message.MessageAttributes!;
    expect(attributes['failed']?.StringValue).toBe('master-1 and master-2');
    expect(attributes['replacement']?.StringValue).toBe('etcd-spare-0');
    const run = JSON.parse(attributes['run']!.StringValue!) as RunSummary;
    expect(run).toMatchObject({ runId: name, workflow: RESTORE_WORKFLOW.id, outcome: 'succeeded', startedBy: 'alarm:etcd-replace-ocp311-quorum-lost' });
    expect(run.restore).toEqual({
      survivor: { kind: 'member', host: 'master-0', chosenBy: 'rank' },
      restoredOn: 'master-0',
      measured: true,
      quorumLossConfirmedAt: at(72),
      fullStrengthAt: at(196),
      secondsToFullStrength: 124,
      revisionChosen: 4812,
      highestRevisionSeen: 4812,
      revisionsLost: 0,
      unread: ['master-2'],
      fenced: [
        { host: 'master-1', how: ['network', 'on-host'] },
        { host: 'master-2', how: ['network', 'stopped-instance'] },
      ],
      reAdds: [
        { former: 'master-1', on: 'master-1', how: 'same-host', joined: true },
        { former: 'master-2', on: 'etcd-spare-0', how: 'spare', joined: true },
      ],
      approval: { state: 'given', by: 'cli:jane', at: at(110) },
    });
    expect(run.members).toBeUndefined();
    expect(JSON.stringify(run)).not.toMatch(SECRET_OR_ADDRESS);
  });

  it('succeeded from a snapshot, approval waived, no member readable: "from snapshot of run R", loss not known', async () => {
    const name = 'ocp311-restore-quorum-0a1b2c3d-20260302-11';
    const snapshotRun = 'r-20260301-090000-a1b2c3';
    const survivor: Survivor = {
      kind: 'snapshot',
      key: `runs/${snapshotRun}/snapshot-master-0.db`,
      runId: snapshotRun,
      at: '2026-03-01T09:00:00.000Z',
      revision: 3900,
      bytes: 2_100_000,
      sha256: 'a'.repeat(64),
      location: `s3://etcd-replace-artifacts-ocp311/runs/${snapshotRun}/snapshot-master-0.db`,
      chosenBy: 'newest',
    };
    const fenced: FencedHost[] = [
      { host: 'master-0', how: ['network', 'on-host'], backupKey: `restores/${name}/former-master-0.db`, backupBytes: 1_900_000, backupSha256: 'b'.repeat(64) },
      { host: 'master-1', how: ['network', 'stopped-instance'], notOnHost: 'unreachable', stoppedAlready: true },
      { host: 'master-2', how: ['network', 'stopped-instance'], notOnHost: 'unreachable', stoppedAlready: true },
    ];
    const b = observed(name)
      .task('ChooseRestorePoint', {
        output: chosen(
          [point('master-0', null)],
          [
            { host: 'master-1', reason: 'the instance is stopped' },
            { host: 'master-2', reason: 'the instance is stopped' },
          ],
          survivor,
          { waivedBy: 'all-others-terminated' },
        ),
      })
      .choice('IsApprovalWaived')
      .task('FenceFormerMembers', { output: { fenced } })
      .choice('IsFromSnapshot')
      .task('RestoreFromSnapshot', {
        output: {
          ...restored(name, 'master-0', 3900),
          fenced: [{ ...fenced[0]!, networkLifted: { at: at(140), by: 'RestoreFromSnapshot' } }, fenced[1]!, fenced[2]!],
        },
      })
      .task('VerifyRestoredMember');
    firstFormer(b, 'master-0', [slot('master-1', 'etcd-spare-0'), slot('master-2', 'etcd-spare-1')], b.context['fenced'] as FencedHost[]);
    reAdd(b, 'c3d4e5f60718a1b2', at(200), at(206));
    nextFormer(b);
    reAdd(b, 'd4e5f60718a1b2c3', at(256), at(262));
    b.task('RollMasters').task('UpdateFlannel');
    await recordRestore(b);
    const run = closing(b, 'Succeeded');

    const out = await notify(ended(name, run, 'SUCCEEDED'), env, { sfn, sns });
    const message = published();
    expect(message.Subject).toBe(`ocp311: quorum restored from snapshot of run ${snapshotRun} in 3 min 10 s, loss not known`);
    const body = message.Message!;
    expect(body.split('\n')[0]).toBe(
      `ocp311: quorum was restored from the snapshot of run ${snapshotRun}; the cluster is back at its former size, 3 min 10 s after the loss of quorum was confirmed; how many revisions were lost is not known (no member's data showed a revision).`,
    );
    expect(restoreBlock(body)).toEqual([
      `  Survivor:         snapshot runs/${snapshotRun}/snapshot-master-0.db of run ${snapshotRun} (taken 2026-03-01T09:00:00.000Z; the newest verified one: no member's data was usable), restored on master-0`,
      "  Revision:         3900 chosen; no member's data showed a revision: how many were lost is not known; not read: master-1, master-2, which may hold more",
      `  To full strength: 190 s (3 min 10 s) from quorum loss confirmed (${at(72)}) to full strength (${at(262)})`,
      '  Fenced:           master-0: network, on-host; network fence lifted by RestoreFromSnapshot',
      '                    master-1: network, stopped-instance; not on the host (it does not answer)',
      '                    master-2: network, stopped-instance; not on the host (it does not answer)',
      '  Re-added:         1 of 2: master-1 on etcd-spare-0 (spare)',
      '                    2 of 2: master-2 on etcd-spare-1 (spare)',
      "  Approval:         waived by the cluster config's all-others-terminated: every member but the survivor is an EC2 instance in terminated state: none of them can ever come back",
    ]);
    expect(body).not.toMatch(/AwaitApproval|ForceNewCluster/);
    expect(body).not.toMatch(SECRET_OR_ADDRESS);
    expect(out.run.restore).toMatchObject({
      survivor: { kind: 'snapshot', key: `runs/${snapshotRun}/snapshot-master-0.db`, runId: snapshotRun, chosenBy: 'newest' },
      revisionChosen: 3900,
      highestRevisionSeen: null,
      revisionsLost: null,
      approval: { state: 'waived', waivedBy: 'all-others-terminated' },
    });
    expect(out.run.replacement).toBe('etcd-spare-0 and etcd-spare-1');

    // A snapshot of a run with a long name: the subject still fits, naming "a snapshot" (the body names it).
    const long = 'ocp311-master-2-0d1e2f3a-20260301-09';
    const context = { ...run.context, survivor: { ...survivor, runId: long, key: `runs/${long}/snapshot-master-0.db` } };
    const record = buildAuditRecord({
      facts: { executionArn: executionArnOf(name), name, status: 'SUCCEEDED', startDate: new Date(T0), stopDate: run.now, input: JSON.stringify(REQUEST) },
      workflow: { id: RESTORE_WORKFLOW.id, taskNames: RESTORE_WORKFLOW.tasks.map((t) => t.name) },
      events: run.events,
      cluster: 'ocp311',
      now: run.now,
    });
    const longSubject = outcomeMessage({ ...record, context }, { outcome: 'succeeded' }).subject;
    expect(longSubject).toBe('ocp311: quorum restored from a snapshot in 3 min 10 s, loss not known');
    expect(longSubject.length).toBeLessThanOrEqual(MAX_SUBJECT);
  });

  it('refused when nobody approved in time (States.HeartbeatTimeout): REFUSED, not FAILED; nothing was fenced or forced', async () => {
    const name = 'ocp311-restore-quorum-0a1b2c3d-20260302-12';
    const survivor: Survivor = {
      kind: 'member',
      host: 'master-1',
      memberId: MEMBER_IDS['master-1']!,
      revision: 4812,
      raftIndex: 5123,
      etcd: 'running',
      chosenBy: 'rank',
    };
    const run = observed(name)
      .task('ChooseRestorePoint', { output: chosen([point('master-0', 4790), point('master-1', 4812, 'running'), point('master-2', 4801)], [], survivor) })
      .choice('IsApprovalWaived')
      .caughtTask('AwaitApproval', 'States.HeartbeatTimeout', 'Task timed out.');
    closing(run, 'Refused');
    const out = await notify(
      ended(name, run, 'FAILED', { error: 'States.HeartbeatTimeout', cause: lambdaCause('States.HeartbeatTimeout', 'Task timed out.') }),
      env,
      {
        sfn,
        sns,
      },
    );
    expect(out.outcome).toBe('refused');
    const message = published();
    expect(message.Subject).toBe('ocp311: REFUSED to restore quorum (not approved in time)');
    expect(message.MessageAttributes?.['outcome']?.StringValue).toBe('refused');
    const body = message.Message!;
    expect(body.split('\n')[0]).toBe('ocp311: the run refused to restore quorum (not approved in time): nothing was changed.');
    expect(body).toContain('Reason:     States.HeartbeatTimeout: Task timed out.');
    expect(restoreBlock(body)).toEqual([
      '  Survivor:         master-1 (its own data, the best restore point)',
      '  Revision:         4812 chosen against 4812, the highest seen (on master-1): 0 revisions lost',
      `  To full strength: not reached (quorum loss confirmed ${at(72)})`,
      '  Fenced:           none (the run did not get to FenceFormerMembers)',
      '  Re-added:         none (the run did not get to PrepareFormerMember)',
      '  Approval:         not given within 1 h 0 min',
    ]);
    expect(body).toMatch(/AwaitApproval\s+failed\s+\d+\.\d s\s+States\.HeartbeatTimeout/);
    expect(body).toContain('Nothing is left to do.');
    expect(out.run.restore?.approval).toEqual({ state: 'timed-out', windowSeconds: 3600 });
    expect(out.run.failed).toBe('master-0 and master-2');
  });

  it('failed at a re-add step: "FAILED to restore quorum at StartNewMember", how far it got, the member not re-added', async () => {
    const name = 'ocp311-restore-quorum-0a1b2c3d-20260302-13';
    const notStarted = 'etcd on etcd-spare-0 has not started within 60 s';
    const b = throughFirstReAdd(name, {
      chosenBy: 'from',
      master1Revision: 4815,
      unread: 'SSM: the instance does not answer',
      approval: { by: 'console:ops', at: at(100) },
      master2: { stoppedAlready: false },
    });
    b.task('IssueCertificates')
      .task('VerifyCertificates')
      .task('OpenEtcdPorts')
      .task('InstallEtcd', { output: { newMemberVersion: '3.2.22' } })
      .task('ConfigureNewMember')
      .task('AddMember', { output: { newMemberId: 'd4e5f60718a1b2c3', addedAsLearner: false, memberAdded: true, memberAddedAt: at(190) } })
      .caughtTask('StartNewMember', 'NewMemberFailedError', notStarted, { failures: ['NewMemberFailedError'] })
      .task('CompensateNewMember', { output: { memberAdded: false } });
    const run = closing(b, 'Failed');

    const out = await notify(ended(name, run, 'FAILED', { error: 'NewMemberFailedError', cause: lambdaCause('NewMemberFailedError', notStarted) }), env, {
      sfn,
      sns,
    });
    expect(out.outcome).toBe('failed');
    const message = published();
    expect(message.Subject).toBe('ocp311: FAILED to restore quorum at StartNewMember (NewMemberFailedError)');
    const body = message.Message!;
    expect(body.split('\n')[0]).toBe(
      "ocp311: the restore of quorum failed at StartNewMember (master-2 → etcd-spare-0 (2 of 2)): the cluster runs on master-0 (forced from master-0's data) with 1 of 2 former member(s) re-added.",
    );
    expect(restoreBlock(body)).toEqual([
      '  Survivor:         master-0 (its own data, named by --from)',
      '  Revision:         4812 chosen against 4815, the highest seen (on master-1): 3 revisions lost; not read: master-2, which may hold more',
      `  To full strength: not reached (quorum loss confirmed ${at(72)})`,
      '  Fenced:           master-1: network, on-host; network fence lifted by PrepareFormerMember',
      '                    master-2: network, stopped-instance; not on the host (it does not answer)',
      '  Re-added:         1 of 2: master-1 on master-1 (same host)',
      '                    2 of 2: master-2 on etcd-spare-0 (spare): not re-added',
      `  Approval:         given by console:ops at ${at(100)}`,
    ]);
    expect(body).toMatch(/StartNewMember\s+failed\s+\d+\.\d s\s+\(2 attempts\)\s+NewMemberFailedError\s+\(2 of 2\)/);
    expect(body).toContain('remove master-2 (i-0a1b2c3d4e5f60712), add each other new member once it has joined');
    expect(body).not.toContain('remove master-1');
    expect(body).not.toMatch(SECRET_OR_ADDRESS);
    expect(out.run.restore).toMatchObject({ measured: false, fullStrengthAt: null, secondsToFullStrength: null, revisionsLost: 3 });
    expect(out.run.restore?.reAdds.map((r) => r.joined)).toEqual([true, false]);
  });

  it("knows a restore by its execution's state machine even when the history cannot be read", async () => {
    sfn.on(GetExecutionHistoryCommand).rejects(new Error('AccessDenied'));
    const name = 'ocp311-restore-quorum-0a1b2c3d-20260302-14';
    const out = await notify({ detail: { executionArn: executionArnOf(name), name, status: 'TIMED_OUT', startDate: T0, stopDate: T0 + 3_600_000 } }, env, {
      sfn,
      sns,
    });
    expect(out.outcome).toBe('timed out');
    const message = published();
    expect(message.Subject).toBe('ocp311: restore of quorum TIMED OUT after 1 h 0 min');
    expect(message.Message!.split('\n')[0]).toBe('ocp311: the restore of quorum ran past its time limit after 1 h 0 min: nothing was changed.');
    expect(message.Message).toContain('(the execution history could not be read; see the console)');
    expect(out.run.workflow).toBe(RESTORE_WORKFLOW.id);
  });

  it("reads the restore's refusals in a few words", () => {
    expect(shortRefusal('States.HeartbeatTimeout: Task timed out.')).toBe('not approved in time');
    expect(shortRefusal('States.HeartbeatTimeout')).toBe('not approved in time');
    expect(shortRefusal('RefusedError: declined by cli:jane at 2026-03-02T10:05:00.000Z: the old members come back')).toBe('approval declined');
    expect(shortRefusal('RefusedError: restore-quorum refused: quorum is back: 3 of 3 voting members answer and 2 are needed; nothing was changed')).toBe(
      'quorum is back',
    );
    expect(
      shortRefusal(
        'RefusedError: restore-quorum refused: quorum holds with one member missing (master-2): 2 of 3 voting members answer and 2 are needed; `run --failed master-2` replaces it, nothing was changed',
      ),
    ).toBe('one member missing, `run` replaces it');
    expect(shortRefusal('RefusedError: restore-quorum refused: something else entirely')).toBe('something else entirely');
  });
});
