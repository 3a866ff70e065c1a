// VerifyRestoredMember (functions/steps/VerifyRestoredMember.ts): after the force, the restored member
// alone in the member list read through its own host, answering and leading itself, at a revision no lower
// than the one the restore chose (DescribeRestorePoint.sh on that host). Read-only: a rerun verifies again.

import { describe, expect, it } from 'vitest';
import type { Host } from '../../../functions/ports.ts';
import { VerifyRestoredMember } from '../../../functions/steps/VerifyRestoredMember.ts';
import { FAKE_CLUSTER_ID, memberId, threeMembers, unitInventory } from '../../support/fakeCluster.ts';
import { failure, NOW, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import type { RestoreContext } from '../../../statemachine/restoreContext.ts';
import { retryDelaySeconds } from '../../../statemachine/retry.ts';
import { RESTORE_WORKFLOW } from '../../../statemachine/restoreSpec.ts';

const ID = memberId(0xa2);

function restoreContext(extra: Partial<RestoreContext> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 900 },
    inventory: unitInventory(),
    survivor: { kind: 'member', host: 'master-2', memberId: ID, revision: 1240, raftIndex: 1544, etcd: 'running', chosenBy: 'rank' },
    forced: {
      host: 'master-2',
      memberId: ID,
      clusterId: 'd1d2d3d4d5d6d7d8',
      name: 'master-2.example.test',
      peerUrl: 'https://198.51.100.4:2380',
      revision: 1241,
      raftIndex: 1600,
      did: [],
      peerUrlUpdated: false,
      backupKey: `runs/${RUN_ID}/force-master-2.example.test.tgz`,
      backupBytes: 1,
      backupSha256: 'c'.repeat(64),
    },
    ...extra,
  };
}

const point = (revision: number, extra: Record<string, unknown> = {}) => ({
  etcd: 'running',
  source: 'endpoint',
  memberId: ID,
  clusterId: FAKE_CLUSTER_ID,
  name: 'master-2.example.test',
  leaderId: ID,
  members: 1,
  version: '3.2.22',
  revision,
  raftIndex: 1601,
  raftTerm: 3,
  dbBytes: 2_000_000,
  keys: null,
  ...extra,
});

/** The cluster after the force: master-2 alone, leading itself; the hosts the etcd port was asked through. */
function forcedWorld(revision = 1241): StepWorld & { via: string[][] } {
  const world = stepWorld(threeMembers(['master-0', 'master-1']).filter((m) => m.name === 'master-2.example.test'));
  world.runner.on('DescribeRestorePoint', { stdout: point(revision) }, { host: 'master-2' });
  const via: string[][] = [];
  const etcd = world.deps.etcd;
  world.deps.etcd = (hosts: Host[], endpoints: string[]) => {
    via.push([...hosts.map((h) => h.name), ...endpoints]);
    return etcd(hosts, endpoints);
  };
  return { ...world, via };
}

const retriedByItsSpec = (name: string) => {
  const task = RESTORE_WORKFLOW.tasks.find((t) => t.name === 'VerifyRestoredMember')!;
  return retryDelaySeconds(task.retry, name, new Map()) !== null;
};

describe('Step: VerifyRestoredMember', () => {
  it('master-2 alone, leading itself, at revision 1241 (chosen 1240): all read through master-2; nothing changed', async () => {
    const world = forcedWorld();
    const result = await VerifyRestoredMember(restoreContext(), world.deps);
    expect(result.output).toEqual({
      restoredMember: { host: 'master-2', memberId: ID, revision: 1241, raftIndex: 1601, chosenRevision: 1240, at: NOW.toISOString() },
    });
    expect(result.detail).toBe(`master-2: member ${ID} alone in its member list, leading itself, at revision 1241 (chosen 1240)`);
    expect(world.via).toEqual([['master-2', 'https://198.51.100.4:2379']]);
    expect(world.runner.sent()).toEqual(['DescribeRestorePoint@master-2']);
    expect(world.cluster.changes).toEqual([]);
    expect(world.securityGroups.calls).toEqual([]);
  });

  it('a rerun verifies again and says the same', async () => {
    const world = forcedWorld();
    const first = await VerifyRestoredMember(restoreContext(), world.deps);
    const second = await VerifyRestoredMember({ ...restoreContext(), ...first.output }, world.deps);
    expect(second).toEqual(first);
    expect(world.runner.sent()).toEqual(['DescribeRestorePoint@master-2', 'DescribeRestorePoint@master-2']);
  });

  it('exactly the chosen revision passes; one below it is RestoredRevisionBehindError, which is not retried', async () => {
    expect((await VerifyRestoredMember(restoreContext(), forcedWorld(1240).deps)).output.restoredMember?.revision).toBe(1240);
    const error = await failure(VerifyRestoredMember(restoreContext(), forcedWorld(1239).deps));
    expect(error.name).toBe('RestoredRevisionBehindError');
    expect(error.message).toBe(`master-2: member ${ID} is at revision 1239, below the 1240 the restore chose: it holds less than the plan stated`);
    expect(retriedByItsSpec(error.name)).toBe(false);
  });

  it('a snapshot restore is held to the snapshot revision', async () => {
    const snapshot = {
      kind: 'snapshot',
      key: 'runs/r-2/s.db',
      runId: 'r-2',
      at: '2025-12-20T00:00:00Z',
      revision: 1300,
      bytes: 1,
      sha256: 'e'.repeat(64),
      location: 's3://x',
      chosenBy: 'newest',
    } as const;
    expect((await failure(VerifyRestoredMember(restoreContext({ survivor: snapshot }), forcedWorld(1241).deps))).name).toBe('RestoredRevisionBehindError');
  });

  it('not alone, not answering, or not leading: ClusterUnhealthyError, retried (it may still be starting)', async () => {
    const three = forcedWorld();
    three.cluster.members = threeMembers(['master-0', 'master-1']);
    const listed = await failure(VerifyRestoredMember(restoreContext(), three.deps));
    expect(listed.name).toBe('ClusterUnhealthyError');
    expect(listed.message).toMatch(/^master-2: the member list through it names 00000000000000a0 \(master-0\.example\.test\), .* not 00000000000000a2 alone$/);
    expect(three.runner.sent()).toEqual([]);
    expect(retriedByItsSpec(listed.name)).toBe(true);

    const down = forcedWorld();
    down.cluster.members = down.cluster.members.map((m) => ({ ...m, up: false }));
    expect((await failure(VerifyRestoredMember(restoreContext(), down.deps))).message).toBe(
      'master-2: its etcd does not answer at https://198.51.100.4:2379 (context deadline exceeded)',
    );

    const leaderless = forcedWorld();
    leaderless.cluster.leaderId = '0000000000000000';
    expect((await failure(VerifyRestoredMember(restoreContext(), leaderless.deps))).message).toMatch(/does not lead itself \(leader 0000000000000000\)/);
  });

  it('DescribeRestorePoint reading a stopped etcd, or counting more members: ClusterUnhealthyError', async () => {
    const stopped = forcedWorld();
    stopped.runner.on('DescribeRestorePoint', { stdout: point(1241, { etcd: 'stopped', source: 'backend', members: null }) }, { host: 'master-2' });
    expect((await failure(VerifyRestoredMember(restoreContext(), stopped.deps))).message).toBe(
      `master-2: DescribeRestorePoint read etcd stopped, from its backend, not member ${ID} answering with a revision`,
    );
    const more = forcedWorld();
    more.runner.on('DescribeRestorePoint', { stdout: point(1241, { members: 3 }) }, { host: 'master-2' });
    expect((await failure(VerifyRestoredMember(restoreContext(), more.deps))).message).toBe('master-2: its endpoint status counts 3 members, not 1');
  });

  it('without the force record it verifies nothing', async () => {
    const world = forcedWorld();
    const error = await failure(VerifyRestoredMember(restoreContext({ forced: undefined }), world.deps));
    expect(error.name).toBe('InvalidInputError');
    expect(world.via).toEqual([]);
  });
});
