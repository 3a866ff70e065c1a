// RecordClusterState (functions/steps/RecordClusterState.ts): a run that did not succeed ends with the
// cluster as observed now in `remaining` (every member, the one this run added named, quorum), its own
// lines replaced when it runs again. Without quorum it names the run's snapshot (asking the snapshot
// host with AwaitSnapshot.sh RUN_ID 5 when the context has not verified it) and the restore procedure.
// It changes nothing and never fails over what it cannot see: each exit code of AwaitSnapshot.sh ends
// in a line, not in an error.

import { describe, expect, it } from 'vitest';
import { EtcdUnavailableError, HostUnreachableError } from '../../../functions/errors.ts';
import { CLUSTER_STATE_PREFIX, RecordClusterState } from '../../../functions/steps/RecordClusterState.ts';
import { DISASTER_RECOVERY_GUIDANCE } from '../../../statemachine/quorum.ts';
import { fakeMember, memberId, threeMembers } from '../../support/fakeCluster.ts';
import { after, confirmedContext, HOSTS, NEW_ID, RUN_ID, SPARE, stepWorld, survivingMembers } from '../../support/stepHarness.ts';

const ERROR = { Error: 'NewMemberFailedError', Cause: 'etcd did not start listening' };
const KEY = `runs/${RUN_ID}/snapshot-${HOSTS['master-1'].hostname}.db`;
const failed = (extra = {}) => confirmedContext({ error: ERROR, newMemberId: NEW_ID, memberAdded: true, addedAsLearner: true, ...extra });
const withSnapshot = (extra = {}) => failed({ snapshotKey: KEY, snapshotHost: 'master-1', ...extra });
const a = (n: number) => memberId(n);
/** master-0 answering, master-1 not: no quorum of two voters. */
const quorumLost = () => threeMembers(['master-1']).slice(0, 2);
const ownLines = (remaining: string[] = []) =>
  remaining.filter((line) => line.startsWith(CLUSTER_STATE_PREFIX)).map((line) => line.slice(CLUSTER_STATE_PREFIX.length));

describe('Step: RecordClusterState', () => {
  it('a run that succeeded: skipped, nothing observed', async () => {
    const world = stepWorld();
    expect(await RecordClusterState(confirmedContext(), world.deps)).toEqual({ output: {}, detail: 'the run succeeded: nothing to add', skipped: true });
    expect(world.cluster.calls).toEqual([]);
  });

  it('describes every member, the one this run added named, and what to do with it', async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xb0, '', SPARE.ip, false, { isLearner: true })]);
    const result = await RecordClusterState(failed(), world.deps);
    expect(ownLines(result.output.remaining)).toEqual([
      `quorum holds: 2 of 2 voting members answer and 2 are needed; 3 members: ${a(0xa0)} (master-0.example.test, voter) answers; ${a(0xa1)} (master-1.example.test, voter) answers; ${NEW_ID} (never started, learner, added by this run) does not answer`,
      `member ${NEW_ID} that this run added is still in the member list as a learner, never started: remove it (etcdctl member remove ${NEW_ID}) once quorum holds, or run the replacement again to finish it`,
    ]);
    expect(result.detail).toBe(ownLines(result.output.remaining)[0]);
    expect(world.cluster.changes).toEqual([]);
    expect(world.runner.requests).toEqual([]);
  });

  it('a second run replaces its own lines and keeps the others', async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xb0, '', SPARE.ip, false, { isLearner: true })]);
    const context = failed({ remaining: ['etcd-spare-0 is unreachable: stop etcd there'] });
    const first = await RecordClusterState(context, world.deps);
    world.cluster.members = survivingMembers();
    const second = await RecordClusterState(after(context, first), world.deps);
    expect(second.output.remaining).toEqual([
      'etcd-spare-0 is unreachable: stop etcd there',
      `${CLUSTER_STATE_PREFIX}quorum holds: 2 of 2 voting members answer and 2 are needed; 2 members: ${a(0xa0)} (master-0.example.test, voter) answers; ${a(0xa1)} (master-1.example.test, voter) answers`,
    ]);
  });

  it('the member this run added runs and votes: keep it', async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true)]);
    const result = await RecordClusterState(failed({ addedAsLearner: false }), world.deps);
    expect(ownLines(result.output.remaining)[1]).toBe(
      `member ${NEW_ID} that this run added runs and votes: keep it; run the replacement again to finish what is left`,
    );
  });

  it('a cleanup error alone is a run that did not succeed too', async () => {
    const world = stepWorld();
    const result = await RecordClusterState(confirmedContext({ cleanupError: { Error: 'EtcdUnavailableError', Cause: 'x' } }), world.deps);
    expect(ownLines(result.output.remaining)).toHaveLength(1);
  });

  it('no quorum, the snapshot verified: names it, then the restore procedure; nothing asked of a host', async () => {
    const world = stepWorld(quorumLost());
    const verified = { location: `s3://unit-artifacts/${KEY}`, bytes: 20480, sha256: 'ab'.repeat(32), revision: 4711 };
    const result = await RecordClusterState(withSnapshot({ snapshotVerified: verified }), world.deps);
    const lines = ownLines(result.output.remaining);
    expect(lines[0]).toMatch(/^quorum is lost: 1 of 2 voting members answer and 2 are needed; 2 members:/);
    expect(lines).toContain(
      `this run's verified snapshot: s3://unit-artifacts/${KEY}, 20480 bytes, sha256 ${'ab'.repeat(32)}, revision 4711, checked with snapshot status and stored whole`,
    );
    expect(lines.slice(-DISASTER_RECOVERY_GUIDANCE.split('\n').length)).toEqual(DISASTER_RECOVERY_GUIDANCE.split('\n'));
    expect(world.runner.requests).toEqual([]);
  });

  it('no quorum, the snapshot stored but not verified in the context: asks its host (AwaitSnapshot RUN_ID 5)', async () => {
    const world = stepWorld(quorumLost());
    world.artifacts.put(KEY, 20480);
    world.runner.on('AwaitSnapshot', { stdout: { bytes: 20480, sha256: 'cd'.repeat(32), status: { hash: 1, revision: 77, totalKey: 3, totalSize: 20480 } } });
    const result = await RecordClusterState(withSnapshot(), world.deps);
    expect(world.runner.sent()).toEqual([`AwaitSnapshot@master-1 ${RUN_ID} 5`]);
    expect(world.runner.requests[0]?.timeoutSeconds).toBe(30);
    expect(ownLines(result.output.remaining)).toContain(
      `this run's verified snapshot: s3://unit-artifacts/${KEY}, 20480 bytes, sha256 ${'cd'.repeat(32)}, revision 77, checked with snapshot status and stored whole`,
    );
  });

  it('no quorum and no snapshot, or one the store does not hold: says so, nothing asked of a host', async () => {
    const world = stepWorld(quorumLost());
    const none = await RecordClusterState(failed(), world.deps);
    expect(ownLines(none.output.remaining)).toContain(
      'this run took no snapshot: take one from a surviving member first (ETCDCTL_API=3 etcdctl snapshot save)',
    );
    const missing = await RecordClusterState(withSnapshot(), world.deps);
    expect(ownLines(missing.output.remaining)).toContain(
      `this run's snapshot ${KEY} is not in the artifact store (its job on master-1 did not finish): take one from a surviving member`,
    );
    expect(world.runner.requests).toEqual([]);
  });

  it.each([1, 2, 3, 4, 6, 7])('AwaitSnapshot.sh exit %i: the snapshot named by location and size, its check unconfirmed; no error', async (code) => {
    const world = stepWorld(quorumLost());
    world.artifacts.put(KEY, 20480);
    world.runner.exits('AwaitSnapshot', code, 'the job still runs');
    const result = await RecordClusterState(withSnapshot(), world.deps);
    expect(ownLines(result.output.remaining)).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^this run's snapshot: s3://unit-artifacts/${KEY}, 20480 bytes; its job on master-1 could not confirm its check \\(.*AwaitSnapshot.*\\): run etcdctl snapshot status on it before restoring$`,
        ),
      ),
    );
  });

  it('an unreachable snapshot host: the same line, no error', async () => {
    const world = stepWorld(quorumLost());
    world.artifacts.put(KEY, 20480);
    world.runner.on('AwaitSnapshot', new HostUnreachableError('master-1 does not answer'));
    const result = await RecordClusterState(withSnapshot(), world.deps);
    expect(ownLines(result.output.remaining)).toContainEqual(expect.stringMatching(/could not confirm its check \(master-1 does not answer\)/));
  });

  it('a cluster it cannot observe: one line saying so, no error', async () => {
    const world = stepWorld();
    const deps = {
      ...world.deps,
      etcd: () => {
        throw new EtcdUnavailableError('no member answers');
      },
    };
    const result = await RecordClusterState(failed(), deps);
    expect(ownLines(result.output.remaining)).toEqual([
      'the cluster could not be observed (no member answers): check it by hand (etcdctl member list, endpoint status) before anything else',
    ]);
  });
});

describe('Step: RecordClusterState, only what was observed', () => {
  it('asks the failed member too: one that answers again is recorded as answering', async () => {
    // A run refused because master-2 answers again: it is still a member, and it answers.
    const world = stepWorld(threeMembers([]));
    const result = await RecordClusterState(
      confirmedContext({ error: { Error: 'RefusedError', Cause: 'member master-2 answers health checks again' } }),
      world.deps,
    );
    expect(ownLines(result.output.remaining)[0]).toBe(
      `quorum holds: 3 of 3 voting members answer and 2 are needed; 3 members: ${a(0xa0)} (master-0.example.test, voter) answers; ${a(0xa1)} (master-1.example.test, voter) answers; ${a(0xa2)} (master-2.example.test, voter) answers`,
    );
    expect(world.cluster.calls.join(' ')).toMatch(/198\.51\.100\.4:2379/);
  });

  it('a failed member that is asked and does not answer says so; a member whose client URL is not known is "not asked"', async () => {
    // ee: added at an address no host of the inventory has, never started: nobody knows where it answers.
    const world = stepWorld([...threeMembers(['master-2']), fakeMember(0xee, '', '203.0.113.7', false)]);
    const result = await RecordClusterState(failed({ newMemberId: undefined, memberAdded: false }), world.deps);
    const line = ownLines(result.output.remaining)[0]!;
    expect(line).toContain(`${a(0xa2)} (master-2.example.test, voter) does not answer`);
    expect(line).toContain(`${a(0xee)} (never started, voter) not asked (its client URL is not known)`);
  });

  it('drops the lines about a host this run launched once the provider no longer has it; keeps them while it does', async () => {
    const launched = { name: 'etcd-new-1', hostname: 'etcd-new-1.example.test', ip: '198.51.100.30', roles: ['spare' as const] };
    const remaining = [
      'the failed member 00000000000000a2 is removed and has no replacement: the cluster runs with 2 members',
      'fix the cause (NewMemberFailedError: member b0 has not answered, and its data directory on etcd-new-1 has not grown, for 60s) and run the replacement again',
      'etcd-new-1: /var/lib/etcd may hold data of the removed member; the next run uploads it to the artifact store before emptying it',
      'etcd-new-1 is unreachable: make sure etcd is stopped and disabled there before it returns',
    ];
    const context = failed({
      replacement: launched,
      replacementLaunched: 'etcd-new-1',
      replacementChoice: 'launched',
      remaining,
      newMemberId: undefined,
      memberAdded: false,
    });
    const gone = stepWorld();
    const asked: string[] = [];
    gone.deps.provisioning = { ...gone.deps.provisioning, find: async (runId) => (asked.push(runId), null) };
    const kept = (await RecordClusterState(context, gone.deps)).output.remaining!.filter((line) => !line.startsWith(CLUSTER_STATE_PREFIX));
    expect(kept).toEqual(remaining.slice(0, 2));
    expect(asked).toEqual([RUN_ID]);

    const still = stepWorld();
    still.deps.provisioning = { ...still.deps.provisioning, find: async () => ({ host: launched, id: 'etcd-new-1' }) };
    expect((await RecordClusterState(context, still.deps)).output.remaining!.filter((line) => !line.startsWith(CLUSTER_STATE_PREFIX))).toEqual(remaining);
    const unknown = stepWorld();
    unknown.deps.provisioning = {
      ...unknown.deps.provisioning,
      find: async () => {
        throw new Error('DescribeInstances throttled');
      },
    };
    expect((await RecordClusterState(context, unknown.deps)).output.remaining!.filter((line) => !line.startsWith(CLUSTER_STATE_PREFIX))).toEqual(remaining);
  });

  it('a run that only finished an earlier run\'s replacement names that run\'s member, and adds no "this run added" line', async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true)]);
    const replacedBy = {
      runId: 'r-earlier',
      at: '2030-01-01T00:00:00.000Z',
      newMemberId: NEW_ID,
      peerURL: `https://${SPARE.ip}:2380`,
      replacement: SPARE,
      choice: 'spare' as const,
      failedMember: { id: a(0xa2), name: 'master-2.example.test', peerURL: 'https://198.51.100.4:2380' },
      remaining: [],
    };
    const result = await RecordClusterState(confirmedContext({ error: ERROR, alreadyReplaced: true, replacedBy, newMemberId: NEW_ID }), world.deps);
    const lines = ownLines(result.output.remaining);
    expect(lines[0]).toContain(`${NEW_ID} (etcd-spare-0.example.test, voter, added by run r-earlier) answers`);
    expect(lines).toHaveLength(1);
  });
});
