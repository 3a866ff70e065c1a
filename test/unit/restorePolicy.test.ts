// The restore-quorum policy (statemachine/restorePolicy.ts) with concrete numbers: the quorum-loss verdict,
// the survivor among restore points as DescribeRestorePoint.sh reports them, --from and --snapshot, the
// newest verified snapshot when no member has usable data, the expected loss, and the approval waivers.

import { describe, expect, it } from 'vitest';
import type { MemberHealth } from '../../statemachine/quorum.ts';
import {
  approvalNeeded,
  chooseSurvivor,
  compareRestorePoints,
  expectedLoss,
  quorumLoss,
  unknownWaivers,
  verifiedSnapshots,
  type RestorePoint,
  type Survivor,
  type VerifiedSnapshot,
} from '../../statemachine/restorePolicy.ts';

const health = (answering: string[], silent: string[], learners: string[] = []): MemberHealth[] => [
  ...answering.map((name) => ({ id: `id-${name}`, name, isLearner: false, healthy: true })),
  ...silent.map((name) => ({ id: `id-${name}`, name, isLearner: false, healthy: false })),
  ...learners.map((name) => ({ id: `id-${name}`, name, isLearner: true, healthy: true })),
];

const CLUSTER = 'c1c2c3c4c5c6c7c8';
const ip = { 'master-0': '198.51.100.2', 'master-1': '198.51.100.3', 'master-2': '198.51.100.4' } as const;
const memberIdOf = { 'master-0': '00000000000000a0', 'master-1': '00000000000000a1', 'master-2': '00000000000000a2' } as const;

function point(
  host: keyof typeof ip,
  etcd: 'running' | 'stopped',
  revision: number | null,
  raftIndex: number | null,
  extra: Partial<RestorePoint> = {},
): RestorePoint {
  return {
    host,
    hostname: `${host}.example.test`,
    ip: ip[host],
    etcd,
    source: etcd === 'running' ? 'endpoint' : 'backend',
    memberId: memberIdOf[host],
    clusterId: CLUSTER,
    name: etcd === 'running' ? `${host}.example.test` : null,
    leaderId: etcd === 'running' ? '0000000000000000' : null,
    members: etcd === 'running' ? 3 : null,
    version: etcd === 'running' ? '3.2.22' : null,
    revision,
    raftIndex,
    raftTerm: etcd === 'running' ? 9 : null,
    dbBytes: 2_000_000,
    keys: etcd === 'running' ? null : 1_000,
    ...extra,
  };
}

const snapshot = (key: string, runId: string, at: string, revision: number): VerifiedSnapshot => ({
  key,
  runId,
  at,
  revision,
  bytes: 33_554_432,
  sha256: 'a'.repeat(64),
  location: `s3://unit-artifacts/${key}`,
});

describe('quorumLoss', () => {
  it('1 of 3 voting members answering: lost, 2 needed', () => {
    expect(quorumLoss(health(['master-2'], ['master-0', 'master-1']))).toEqual({
      lost: true,
      voters: 3,
      answering: 1,
      needed: 2,
      silent: ['master-0', 'master-1'],
      reason: 'quorum is lost: 1 of 3 voting members answer and 2 are needed',
    });
  });

  it('2 of 5 answering: lost; 0 of 3: lost', () => {
    expect(quorumLoss(health(['m0', 'm1'], ['m2', 'm3', 'm4']))).toMatchObject({ lost: true, answering: 2, needed: 3 });
    expect(quorumLoss(health([], ['m0', 'm1', 'm2']))).toMatchObject({ lost: true, answering: 0, needed: 2 });
  });

  it('a learner that answers does not bring quorum back: 1 of 3 voters and a learner is still lost', () => {
    expect(quorumLoss(health(['master-2'], ['master-0', 'master-1'], ['etcd-spare-0']))).toMatchObject({ lost: true, voters: 3, answering: 1 });
  });

  it('3 of 3 answering: refused, quorum is back', () => {
    const verdict = quorumLoss(health(['master-0', 'master-1', 'master-2'], []));
    expect(verdict).toMatchObject({ lost: false, refusal: 'quorum-back', answering: 3, needed: 2 });
    expect(verdict.reason).toBe('quorum is back: 3 of 3 voting members answer and 2 are needed; nothing was changed');
  });

  it('2 of 3 answering: refused, one member missing, which `run` replaces', () => {
    const verdict = quorumLoss(health(['master-0', 'master-1'], ['master-2']));
    expect(verdict).toMatchObject({ lost: false, refusal: 'one-member-missing', silent: ['master-2'] });
    expect(verdict.reason).toBe(
      'quorum holds with one member missing (master-2): 2 of 3 voting members answer and 2 are needed; `run --failed master-2` replaces it, nothing was changed',
    );
  });

  it('3 of 5 answering: quorum is back, two missing for `run`', () => {
    const verdict = quorumLoss(health(['m0', 'm1', 'm2'], ['m3', 'm4']));
    expect(verdict).toMatchObject({ lost: false, refusal: 'quorum-back', answering: 3, needed: 3 });
    expect(verdict.reason).toContain('the 2 that do not answer (m3, m4)');
  });

  it('no voting member: refused, nothing to restore', () => {
    expect(quorumLoss([])).toMatchObject({ lost: false, refusal: 'no-members' });
  });
});

describe('chooseSurvivor', () => {
  // master-0 stopped first (revision 1200), then master-1 (1240); master-2 answers without a leader at 1240
  // with a higher raft index than master-1's backend (which lags what it applied).
  const points = [point('master-0', 'stopped', 1200, 1500), point('master-1', 'stopped', 1240, 1530), point('master-2', 'running', 1240, 1544)];

  it('the highest revision, then raft index: master-2 (1240, 1544) over master-1 (1240, 1530) over master-0 (1200)', () => {
    const choice = chooseSurvivor({ points, clusterId: CLUSTER, memberIds: Object.values(memberIdOf) });
    expect(choice).toMatchObject({
      ok: true,
      survivor: { kind: 'member', host: 'master-2', memberId: memberIdOf['master-2'], revision: 1240, raftIndex: 1544, etcd: 'running', chosenBy: 'rank' },
      rejected: [],
    });
    expect(choice.ok && choice.candidates.map((c) => c.host)).toEqual(['master-2', 'master-1', 'master-0']);
  });

  it('a higher revision wins over a higher raft index: 1241 at index 1400 beats 1240 at 1544', () => {
    const choice = chooseSurvivor({ points: [point('master-2', 'running', 1240, 1544), point('master-0', 'stopped', 1241, 1400)] });
    expect(choice).toMatchObject({ ok: true, survivor: { host: 'master-0', revision: 1241 } });
  });

  it('equal revision and raft index: the answering member over the stopped one, then the host name', () => {
    expect(compareRestorePoints(point('master-0', 'stopped', 1240, 1544), point('master-2', 'running', 1240, 1544))).toBeGreaterThan(0);
    const tie = [point('master-1', 'stopped', 1240, 1544), point('master-0', 'stopped', 1240, 1544)];
    expect(chooseSurvivor({ points: tie })).toMatchObject({ ok: true, survivor: { host: 'master-0' } });
    expect(chooseSurvivor({ points: [...tie].reverse() })).toMatchObject({ ok: true, survivor: { host: 'master-0' } });
  });

  it('passes over a data directory without a member, another cluster, and a member not in the list', () => {
    const choice = chooseSurvivor({
      points: [
        point('master-0', 'stopped', null, null, { source: 'none', memberId: null, clusterId: null }),
        point('master-1', 'stopped', 9999, 9999, { clusterId: 'ffffffffffffffff' }),
        point('master-2', 'stopped', 8888, 8888, { memberId: '00000000000000ff' }),
      ],
      clusterId: CLUSTER,
      memberIds: Object.values(memberIdOf),
      snapshots: [snapshot('runs/r-old/snapshot-master-0.example.test.db', 'r-old', '2025-12-01T00:00:00Z', 1100)],
    });
    expect(choice).toMatchObject({
      ok: true,
      survivor: { kind: 'snapshot', key: 'runs/r-old/snapshot-master-0.example.test.db', revision: 1100, chosenBy: 'newest' },
      candidates: [],
      rejected: [
        { host: 'master-0', reason: 'its data directory holds no member' },
        { host: 'master-1', reason: `its data is of cluster ffffffffffffffff, not ${CLUSTER}` },
        { host: 'master-2', reason: 'its member 00000000000000ff is not in the member list' },
      ],
    });
  });

  it('never a learner: its data may not have caught up, whatever its revision', () => {
    const choice = chooseSurvivor({
      points: [...points, point('master-0', 'running', 9999, 9999, { memberId: '00000000000000b0' })].slice(1),
      memberIds: [...Object.values(memberIdOf), '00000000000000b0'],
      learnerIds: ['00000000000000b0'],
    });
    expect(choice).toMatchObject({
      ok: true,
      survivor: { host: 'master-2' },
      rejected: [{ host: 'master-0', reason: 'its member 00000000000000b0 is a learner, which may not have caught up' }],
    });
    expect(
      chooseSurvivor({
        points: [point('master-0', 'running', 9999, 9999, { memberId: '00000000000000b0' })],
        learnerIds: ['00000000000000b0'],
        from: 'master-0',
      }),
    ).toMatchObject({ ok: false, invalid: 'from' });
  });

  it('--from overrides the ranking: master-0 at 1200 by host name, hostname, IP or member ID', () => {
    for (const from of ['master-0', 'master-0.example.test', '198.51.100.2', memberIdOf['master-0']]) {
      expect(chooseSurvivor({ points, from })).toMatchObject({ ok: true, survivor: { host: 'master-0', revision: 1200, chosenBy: 'from' } });
    }
  });

  it('--from naming a member with no restore point is bad input (exit 2), saying why', () => {
    expect(chooseSurvivor({ points, from: 'master-3' })).toEqual({
      ok: false,
      invalid: 'from',
      reason: 'master-3 has no restore point: it names no member host whose data was read',
    });
    expect(chooseSurvivor({ points: points.slice(1), unread: [{ host: 'master-0', reason: 'unreachable: powered off' }], from: 'master-0' })).toEqual({
      ok: false,
      invalid: 'from',
      reason: 'master-0 has no restore point: master-0 could not be read (unreachable: powered off)',
    });
    const empty = point('master-0', 'stopped', null, null, { source: 'none' });
    expect(chooseSurvivor({ points: [empty], from: 'master-0' })).toMatchObject({
      ok: false,
      invalid: 'from',
      reason: 'master-0 has no usable restore point: its data directory holds no member',
    });
    expect(chooseSurvivor({ points, from: 'MASTER-0' })).toMatchObject({ ok: false, invalid: 'from' });
  });

  it('--snapshot chooses a verified snapshot over every member; an unknown key is bad input', () => {
    const snapshots = [
      snapshot('runs/r-1/snapshot-a.db', 'r-1', '2025-12-01T00:00:00Z', 1000),
      snapshot('runs/r-2/snapshot-b.db', 'r-2', '2025-12-20T00:00:00Z', 1150),
    ];
    expect(chooseSurvivor({ points, snapshots, snapshot: 'runs/r-1/snapshot-a.db' })).toMatchObject({
      ok: true,
      survivor: { kind: 'snapshot', key: 'runs/r-1/snapshot-a.db', runId: 'r-1', revision: 1000, chosenBy: 'snapshot' },
    });
    expect(chooseSurvivor({ points, snapshots, snapshot: 'runs/r-9/nothing.db' })).toEqual({
      ok: false,
      invalid: 'snapshot',
      reason: 'runs/r-9/nothing.db is not a snapshot a run verified and the store holds; verified snapshots: runs/r-2/snapshot-b.db, runs/r-1/snapshot-a.db',
    });
    expect(chooseSurvivor({ points, snapshots, snapshot: 'runs/r-1/snapshot-a.db', from: 'master-0' })).toMatchObject({ ok: false, invalid: 'from' });
  });

  it('no usable member: the newest verified snapshot (the newest run, 1150 of run r-2); none at all: refused', () => {
    const snapshots = [
      snapshot('runs/r-1/snapshot-a.db', 'r-1', '2025-12-01T00:00:00Z', 1000),
      snapshot('runs/r-2/snapshot-b.db', 'r-2', '2025-12-20T00:00:00Z', 1150),
    ];
    expect(chooseSurvivor({ points: [], snapshots })).toMatchObject({
      ok: true,
      survivor: { kind: 'snapshot', runId: 'r-2', revision: 1150, chosenBy: 'newest' },
    });
    expect(chooseSurvivor({ points: [], snapshots: [] })).toMatchObject({
      ok: false,
      refused: true,
      reason: expect.stringMatching(/^no member has usable data/),
    });
  });
});

describe('verifiedSnapshots', () => {
  it('reads snapshotKey and snapshotVerified of the cluster records, whatever their outcome; passes over the rest', () => {
    const verified = { location: 's3://b/runs/r-1/snapshot-m.db', bytes: 4096, sha256: 'b'.repeat(64), revision: 77 };
    const records = [
      { runId: 'r-1', cluster: 'unit', startedAt: '2025-12-01T00:00:00Z', context: { snapshotKey: 'runs/r-1/snapshot-m.db', snapshotVerified: verified } },
      { runId: 'r-2', cluster: 'unit', startedAt: '2025-12-02T00:00:00Z', context: { snapshotKey: 'runs/r-2/snapshot-m.db' } },
      { runId: 'r-3', cluster: 'other', startedAt: '2025-12-03T00:00:00Z', context: { snapshotKey: 'runs/r-3/snapshot-m.db', snapshotVerified: verified } },
      { runId: 'r-4', cluster: 'unit', startedAt: '2025-12-04T00:00:00Z', context: { snapshotKey: 'k', snapshotVerified: { ...verified, revision: '77' } } },
    ];
    expect(verifiedSnapshots(records, 'unit')).toEqual([
      {
        key: 'runs/r-1/snapshot-m.db',
        runId: 'r-1',
        at: '2025-12-01T00:00:00Z',
        revision: 77,
        bytes: 4096,
        sha256: 'b'.repeat(64),
        location: verified.location,
      },
    ]);
  });
});

describe('expectedLoss', () => {
  const points = [point('master-0', 'stopped', 1200, 1500), point('master-1', 'stopped', 1240, 1530), point('master-2', 'running', 1240, 1544)];
  const member = (host: string, revision: number): Survivor => ({
    kind: 'member',
    host,
    memberId: null,
    revision,
    raftIndex: null,
    etcd: 'stopped',
    chosenBy: 'from',
  });

  it('the best survivor loses nothing that was seen', () => {
    expect(expectedLoss(member('master-2', 1240), points)).toEqual({
      highestRevision: 1240,
      highestOn: ['master-1', 'master-2'],
      chosenRevision: 1240,
      revisionsLost: 0,
      unread: [],
      text: 'nothing is expected to be lost: master-2 at revision 1240 holds the highest revision seen (1240, on master-1, master-2)',
    });
  });

  it('--from master-0 at 1200 loses 40 revisions', () => {
    const loss = expectedLoss(member('master-0', 1200), points);
    expect(loss).toMatchObject({ highestRevision: 1240, chosenRevision: 1200, revisionsLost: 40 });
    expect(loss.text).toBe('restoring master-0 at revision 1200 loses the 40 revision(s) after it up to 1240, the highest seen (on master-1, master-2)');
  });

  it('names the hosts it could not read, which may hold more', () => {
    const loss = expectedLoss(member('master-2', 1240), points.slice(2), [{ host: 'master-1', reason: 'unreachable' }]);
    expect(loss).toMatchObject({ revisionsLost: 0, unread: ['master-1'] });
    expect(loss.text).toMatch(/; not read: master-1 \(unreachable\), which may hold more$/);
  });

  it('a snapshot at 1100 against 1240 seen: 140 lost; with nothing read, the amount is not known', () => {
    const snap: Survivor = { kind: 'snapshot', ...snapshot('runs/r-2/s.db', 'r-2', '2025-12-20T00:00:00Z', 1100), chosenBy: 'newest' };
    expect(expectedLoss(snap, points)).toMatchObject({
      revisionsLost: 140,
      text: expect.stringContaining('restoring snapshot runs/r-2/s.db (run r-2) at revision 1100 loses the 140'),
    });
    const blind = expectedLoss(snap, [], [{ host: 'master-0', reason: 'unreachable' }]);
    expect(blind).toMatchObject({ highestRevision: null, highestOn: [], revisionsLost: null });
    expect(blind.text).toContain("no member's data could be read");
  });
});

describe('approvalNeeded', () => {
  const survivor: Survivor = { kind: 'member', host: 'master-2', memberId: null, revision: 1240, raftIndex: null, etcd: 'running', chosenBy: 'rank' };
  const terminated = [
    { host: 'master-0', instanceId: 'i-0000000000000000a', instanceState: 'terminated' },
    { host: 'master-1', instanceId: 'i-0000000000000000b', instanceState: 'terminated' },
    { host: 'master-2', instanceId: 'i-0000000000000000c', instanceState: 'running' },
  ];

  it('without waivers in the config, approval is required', () => {
    expect(approvalNeeded([], survivor, terminated)).toEqual({
      required: true,
      reason: 'approval is required: the cluster config waives it under no condition',
    });
  });

  it('all-others-terminated waives it when every member but the survivor is a terminated instance', () => {
    expect(approvalNeeded(['all-others-terminated'], survivor, terminated)).toMatchObject({ required: false, waivedBy: 'all-others-terminated' });
  });

  it('one other member stopped (not terminated), or a host without an instance: approval is required, saying which', () => {
    const stopped = terminated.map((m) => (m.host === 'master-1' ? { ...m, instanceState: 'stopped' } : m));
    expect(approvalNeeded(['all-others-terminated'], survivor, stopped)).toEqual({
      required: true,
      reason: 'approval is required: all-others-terminated does not hold (not terminated: master-1 (stopped))',
    });
    const sandbox = [{ host: 'master-0' }, { host: 'master-1' }, { host: 'master-2' }];
    expect(approvalNeeded(['all-others-terminated'], survivor, sandbox).reason).toContain('master-0 (no EC2 instance), master-1 (no EC2 instance)');
  });

  it('for a snapshot every member is one of the others: the running master-2 keeps the approval', () => {
    const snap: Survivor = { kind: 'snapshot', ...snapshot('k', 'r-1', '2025-12-01T00:00:00Z', 1), chosenBy: 'snapshot' };
    expect(approvalNeeded(['all-others-terminated'], snap, terminated)).toMatchObject({ required: true });
    expect(approvalNeeded(['all-others-terminated'], snap, terminated.slice(0, 2))).toMatchObject({ required: false });
  });

  it('a name that is no condition waives nothing, and the config check names it', () => {
    expect(approvalNeeded(['always', 'quorum-lost'], survivor, terminated)).toMatchObject({ required: true });
    expect(unknownWaivers(['all-others-terminated', 'always', 'toString'])).toEqual(['always', 'toString']);
  });
});
