// ChooseRestorePoint (functions/steps/ChooseRestorePoint.ts): DescribeRestorePoint.sh on every member host,
// the cluster observed through a host whose etcd answers, then the policy (statemachine/restorePolicy.ts):
// refused while quorum holds, the survivor chosen (ranked, --from, --snapshot, the newest verified snapshot),
// the expected loss. Read-only: a rerun reads again and changes nothing.

import { describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../../functions/errors.ts';
import { NO_LEADER, type RunRecord } from '../../../functions/ports.ts';
import { ChooseRestorePoint } from '../../../functions/steps/ChooseRestorePoint.ts';
import { fakeMember, memberId, threeMembers, unitInventory } from '../../support/fakeCluster.ts';
import { failure, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import type { RestoreContext, RestoreRunOptions } from '../../../statemachine/restoreContext.ts';

const CLUSTER_ID = 'c1c2c3c4c5c6c7c8';

function restoreContext(extra: Partial<RestoreContext> = {}, options: Partial<RestoreRunOptions> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 900, ...options },
    inventory: unitInventory(),
    ...extra,
  };
}

const running = (n: number, revision: number, raftIndex: number) => ({
  etcd: 'running',
  source: 'endpoint',
  memberId: memberId(n),
  clusterId: CLUSTER_ID,
  name: `master-${n - 0xa0}.example.test`,
  leaderId: NO_LEADER,
  members: 3,
  version: '3.2.22',
  revision,
  raftIndex,
  raftTerm: 12,
  dbBytes: 2_000_000,
  keys: null,
});
const stopped = (n: number, revision: number, raftIndex: number) => ({
  etcd: 'stopped',
  source: 'backend',
  memberId: memberId(n),
  clusterId: CLUSTER_ID,
  name: null,
  leaderId: null,
  members: null,
  version: null,
  revision,
  raftIndex,
  raftTerm: null,
  dbBytes: 2_000_000,
  keys: 1000,
});
const noData = { ...stopped(0, 0, 0), source: 'none', memberId: null, clusterId: null, revision: null, raftIndex: null, dbBytes: null, keys: null };

/** Etcd died on master-0 (at revision 1200), then on master-1 (1240); master-2 answers alone, without a leader. */
function quorumLost(): StepWorld {
  const world = stepWorld(threeMembers(['master-0', 'master-1']).map((m) => ({ ...m, leaderId: NO_LEADER })));
  world.runner
    .on('DescribeRestorePoint', { stdout: stopped(0xa0, 1200, 1500) }, { host: 'master-0' })
    .on('DescribeRestorePoint', { stdout: stopped(0xa1, 1240, 1530) }, { host: 'master-1' })
    .on('DescribeRestorePoint', { stdout: running(0xa2, 1240, 1544) }, { host: 'master-2' });
  return world;
}

describe('Step: ChooseRestorePoint', () => {
  it('reads every member host, confirms quorum is lost, and chooses master-2 (revision 1240, raft index 1544, answering); nothing lost', async () => {
    const world = quorumLost();
    const result = await ChooseRestorePoint(restoreContext(), world.deps);
    expect(world.runner.sent().sort()).toEqual(['DescribeRestorePoint@master-0', 'DescribeRestorePoint@master-1', 'DescribeRestorePoint@master-2']);
    expect(world.runner.requests.every((r) => r.args.length === 0 && r.timeoutSeconds === 300)).toBe(true);
    expect(result.output).toMatchObject({
      quorumLoss: { lost: true, voters: 3, answering: 1, needed: 2 },
      survivor: { kind: 'member', host: 'master-2', memberId: memberId(0xa2), revision: 1240, raftIndex: 1544, etcd: 'running', chosenBy: 'rank' },
      fromSnapshot: false,
      approvalWaived: false,
      expectedLoss: { highestRevision: 1240, highestOn: ['master-1', 'master-2'], chosenRevision: 1240, revisionsLost: 0, unread: [] },
      unread: [],
      clusterId: CLUSTER_ID,
      formerMembers: [
        { host: 'master-0', memberId: memberId(0xa0), name: 'master-0.example.test', isLearner: false },
        { host: 'master-1', memberId: memberId(0xa1), name: 'master-1.example.test', isLearner: false },
        { host: 'master-2', memberId: memberId(0xa2), name: 'master-2.example.test', isLearner: false },
      ],
    });
    expect(result.output.restorePoints?.map((p) => [p.host, p.hostname, p.ip, p.revision])).toEqual([
      ['master-0', 'master-0.example.test', '198.51.100.2', 1200],
      ['master-1', 'master-1.example.test', '198.51.100.3', 1240],
      ['master-2', 'master-2.example.test', '198.51.100.4', 1240],
    ]);
    expect(result.detail).toBe(
      'quorum is lost: 1 of 3 voting members answer and 2 are needed; survivor: master-2 at revision 1240, raft index 1544, etcd answering (ranked first of 3 usable restore point(s)); nothing is expected to be lost: master-2 at revision 1240 holds the highest revision seen (1240, on master-1, master-2); approval is required: the cluster config waives it under no condition',
    );
    expect(result.output).not.toHaveProperty('approvalWaivedBy');
    expect(result.skipped).toBeUndefined();
  });

  it('a rerun reads again, chooses the same, and changes nothing anywhere', async () => {
    const world = quorumLost();
    const first = await ChooseRestorePoint(restoreContext(), world.deps);
    const second = await ChooseRestorePoint({ ...restoreContext(), ...first.output }, world.deps);
    expect(second).toEqual(first);
    expect(new Set(world.runner.sent())).toEqual(new Set(['DescribeRestorePoint@master-0', 'DescribeRestorePoint@master-1', 'DescribeRestorePoint@master-2']));
    expect(world.cluster.changes).toEqual([]);
    expect(world.securityGroups.calls).toEqual([]);
  });

  it("waives the approval only under the config's all-others-terminated, where EC2 reports every other member's instance terminated now", async () => {
    const world = quorumLost();
    const inventory = unitInventory();
    inventory.hosts = inventory.hosts.map((h, i) => ({ ...h, instanceId: `i-0000000${i}` }));
    const asked: string[][] = [];
    /** EC2 as the instances port asks it: master-0's instance terminated, master-1's in `state1`, master-2 (the survivor) running. */
    const ec2 = (state1: string | null) => ({
      states: async (ids: readonly string[]) => {
        asked.push([...ids]);
        const all: Array<[string, string | null]> = [
          ['i-00000000', 'terminated'],
          ['i-00000001', state1],
          ['i-00000002', 'running'],
        ];
        return new Map(all.filter((e): e is [string, string] => e[1] !== null && ids.includes(e[0])));
      },
    });
    const waivers: Partial<RestoreRunOptions> = { approvalWaivers: ['all-others-terminated'] };
    const waived = await ChooseRestorePoint(restoreContext({ inventory }, waivers), { ...world.deps, instances: ec2('terminated') });
    expect(asked).toEqual([['i-00000000', 'i-00000001', 'i-00000002']]);
    expect(waived.output).toMatchObject({ approvalWaived: true, approvalWaivedBy: 'all-others-terminated' });
    // What the waiver was judged on is kept in the context, and so in the run record.
    expect(waived.output.instanceStates).toEqual([
      { host: 'master-0', instanceId: 'i-00000000', instanceState: 'terminated' },
      { host: 'master-1', instanceId: 'i-00000001', instanceState: 'terminated' },
      { host: 'master-2', instanceId: 'i-00000002', instanceState: 'running' },
    ]);
    expect(waived.detail).toMatch(
      /; approval waived by the config's all-others-terminated: every member but the survivor is an EC2 instance in terminated state/,
    );

    const stopped = await ChooseRestorePoint(restoreContext({ inventory }, waivers), { ...world.deps, instances: ec2('stopped') });
    expect(stopped.output.approvalWaived).toBe(false);
    expect(stopped.output).not.toHaveProperty('approvalWaivedBy');
    expect(stopped.detail).toMatch(/approval is required: all-others-terminated does not hold \(not terminated: master-1 \(stopped\)\)$/);

    // The facts missing: EC2 no longer lists master-1's instance, EC2 cannot be asked, no instances port (the
    // sandbox), or a state an earlier attempt left in the context: never waived.
    const gone = await ChooseRestorePoint(restoreContext({ inventory }, waivers), { ...world.deps, instances: ec2(null) });
    expect(gone.output.approvalWaived).toBe(false);
    expect(gone.detail).toMatch(/not terminated: master-1 \(state not known\)\)$/);
    const failing = await ChooseRestorePoint(restoreContext({ inventory }, waivers), {
      ...world.deps,
      instances: { states: () => Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' })) },
    });
    expect(failing.output.approvalWaived).toBe(false);
    expect(world.logs.join('\n')).toContain("the former members' instance states could not be read (Rate exceeded)");
    const stale = [
      { host: 'master-0', instanceId: 'i-00000000', instanceState: 'terminated' },
      { host: 'master-1', instanceId: 'i-00000001', instanceState: 'terminated' },
    ];
    const sandbox = await ChooseRestorePoint(restoreContext({ inventory, instanceStates: stale }, waivers), world.deps);
    expect(sandbox.output.approvalWaived).toBe(false);
    expect(sandbox.output.instanceStates).toEqual([
      { host: 'master-0', instanceId: 'i-00000000' },
      { host: 'master-1', instanceId: 'i-00000001' },
      { host: 'master-2', instanceId: 'i-00000002' },
    ]);

    // No waiver in the config: EC2 is not asked.
    asked.length = 0;
    const none = await ChooseRestorePoint(restoreContext({ inventory }), { ...world.deps, instances: ec2('terminated') });
    expect(none.output.approvalWaived).toBe(false);
    expect(none.output).not.toHaveProperty('instanceStates');
    expect(asked).toEqual([]);
  });

  it('--from master-0 overrides the ranking and states the loss: 40 revisions', async () => {
    const world = quorumLost();
    const result = await ChooseRestorePoint(restoreContext({}, { from: 'master-0.example.test' }), world.deps);
    expect(result.output.survivor).toMatchObject({ kind: 'member', host: 'master-0', revision: 1200, chosenBy: 'from' });
    expect(result.output.expectedLoss).toMatchObject({ revisionsLost: 40, highestRevision: 1240 });
    expect(result.detail).toContain('restoring master-0 at revision 1200 loses the 40 revision(s) after it up to 1240');
  });

  it('an unreachable host is read as nothing and named in the loss; --from naming it is bad input (exit 2)', async () => {
    const world = quorumLost();
    world.runner.on('DescribeRestorePoint', new HostUnreachableError('master-1 is powered off'), { host: 'master-1' });
    const result = await ChooseRestorePoint(restoreContext(), world.deps);
    expect(result.output.unread).toEqual([{ host: 'master-1', reason: 'unreachable: master-1 is powered off' }]);
    expect(result.output.survivor).toMatchObject({ host: 'master-2' });
    expect(result.output.expectedLoss?.text).toMatch(/not read: master-1 \(unreachable: master-1 is powered off\), which may hold more$/);
    const error = await failure(ChooseRestorePoint(restoreContext({}, { from: 'master-1' }), world.deps));
    expect(error.name).toBe('InvalidInputError');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe('invalid from: master-1 has no restore point: master-1 could not be read (unreachable: master-1 is powered off)');
  });

  it('refuses while quorum holds: all three answer (quorum is back), or one is missing (`run` replaces it)', async () => {
    const back = stepWorld(threeMembers([]));
    back.runner.on('DescribeRestorePoint', (r) => ({ stdout: running(0xa0 + Number(r.host.name.slice(-1)), 1240, 1544) }));
    const error = await failure(ChooseRestorePoint(restoreContext(), back.deps));
    expect(error).toMatchObject({ name: 'RefusedError', exitCode: 3 });
    expect(error.message).toBe('restore-quorum refused: quorum is back: 3 of 3 voting members answer and 2 are needed; nothing was changed');

    const one = stepWorld(threeMembers(['master-2']));
    one.runner.on('DescribeRestorePoint', (r) => ({
      stdout: r.host.name === 'master-2' ? stopped(0xa2, 1240, 1530) : running(0xa0 + Number(r.host.name.slice(-1)), 1240, 1544),
    }));
    const missing = await failure(ChooseRestorePoint(restoreContext(), one.deps));
    expect(missing.name).toBe('RefusedError');
    expect(missing.message).toMatch(/one member missing \(master-2\.example\.test\).*`run --failed master-2\.example\.test` replaces it/);
  });

  it('refuses a member on no host of the inventory: it could never be fenced', async () => {
    const world = quorumLost();
    world.cluster.members.push(fakeMember(0xa7, 'master-7', '198.51.100.77', false));
    const error = await failure(ChooseRestorePoint(restoreContext(), world.deps));
    expect(error.name).toBe('RefusedError');
    expect(error.message).toContain(`member ${memberId(0xa7)} (master-7.example.test, https://198.51.100.77:2380) runs on no host of the inventory`);
  });

  it('no etcd answers and no data directory holds a member: the newest verified snapshot the store still holds', async () => {
    const world = stepWorld(threeMembers(['master-0', 'master-1', 'master-2']));
    world.runner.on('DescribeRestorePoint', { stdout: noData });
    const record = (runId: string, startedAt: string, revision: number): RunRecord => ({
      runId,
      cluster: 'unit',
      target: 'sandbox',
      startedBy: 'test',
      request: {},
      outcome: 'succeeded',
      startedAt,
      state: 'Succeeded',
      steps: [],
      context: {
        snapshotKey: `runs/${runId}/snapshot-master-0.example.test.db`,
        snapshotVerified: { location: `s3://unit-artifacts/runs/${runId}/snapshot-master-0.example.test.db`, bytes: 4096, sha256: 'e'.repeat(64), revision },
      },
    });
    // Newest first, as the run store lists them: r-3's snapshot is gone from the store, r-2's is whole.
    world.deps.pastRuns = async () => [
      record('r-3', '2025-12-30T00:00:00Z', 1190),
      record('r-2', '2025-12-20T00:00:00Z', 1150),
      record('r-1', '2025-12-01T00:00:00Z', 1000),
    ];
    world.artifacts.put('runs/r-2/snapshot-master-0.example.test.db', 4096);
    world.artifacts.put('runs/r-1/snapshot-master-0.example.test.db', 4096);
    const result = await ChooseRestorePoint(restoreContext(), world.deps);
    expect(result.output.quorumLoss).toMatchObject({ lost: true, voters: 3, answering: 0 });
    expect(result.output.survivor).toMatchObject({ kind: 'snapshot', runId: 'r-2', revision: 1150, chosenBy: 'newest' });
    expect(result.output.fromSnapshot).toBe(true);
    expect(result.output.formerMembers?.map((m) => [m.host, m.memberId])).toEqual([
      ['master-0', null],
      ['master-1', null],
      ['master-2', null],
    ]);
    expect(world.cluster.calls).toEqual([]); // no etcd answered: no member list was asked for
    expect(result.detail).toContain(
      'survivor: snapshot runs/r-2/snapshot-master-0.example.test.db of run r-2 at revision 1150 (the newest verified snapshot: no member has usable data)',
    );

    world.deps.pastRuns = async () => [];
    const none = await failure(ChooseRestorePoint(restoreContext(), world.deps));
    expect(none.name).toBe('RefusedError');
    expect(none.message).toMatch(/^no member has usable data and no run has a verified snapshot/);
  });

  it('--snapshot naming no verified snapshot is bad input (exit 2)', async () => {
    const world = quorumLost();
    const error = await failure(ChooseRestorePoint(restoreContext({}, { snapshot: 'runs/r-9/snapshot.db' }), world.deps));
    expect(error).toMatchObject({ name: 'InvalidInputError', exitCode: 2 });
    expect(error.message).toBe(
      'invalid snapshot: runs/r-9/snapshot.db is not a snapshot a run verified and the store holds; no run has a verified snapshot of this cluster',
    );
  });

  it('DescribeRestorePoint exit 4 (an etcd that runs and answers nowhere) fails the step for another try', async () => {
    const world = quorumLost();
    world.runner.exits('DescribeRestorePoint', 4, 'etcd runs on this host and answers at no client URL', { host: 'master-0' });
    expect((await failure(ChooseRestorePoint(restoreContext(), world.deps))).name).toBe('ScriptTimedOutError');
  });
});
