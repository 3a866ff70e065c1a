// RestoreFromSnapshot (functions/steps/RestoreFromSnapshot.ts): the chosen verified snapshot restored on the
// first former member fenced on the host, never while another former member is not fenced on the network;
// the snapshot's download URL only on the script's stdin; then one member leading itself at the snapshot's
// revision or later, read through the host; the `forced` record VerifyRestoredMember reads. A rerun only
// verifies.

import { describe, expect, it } from 'vitest';
import type { RestoreStepResult } from '../../../functions/cluster/restoreFacts.ts';
import { RestoreFromSnapshot } from '../../../functions/steps/RestoreFromSnapshot.ts';
import { memberId, threeMembers, unitInventory } from '../../support/fakeCluster.ts';
import { expectSecretsOnlyOnStdin, failure, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import type { FencedHost, RestoreContext } from '../../../statemachine/restoreContext.ts';

const SHA = 'd'.repeat(64);
const SNAPSHOT_KEY = 'runs/r-earlier-0001/snapshot-master-1.example.test.db';
const ID = memberId(0xc0);
const FENCE_KEY = `runs/${RUN_ID}/fence-master-0.example.test.tgz`;

const after = (context: RestoreContext, result: RestoreStepResult): RestoreContext => ({ ...context, ...result.output });

const fence = (host: string, onHost: boolean): FencedHost =>
  onHost
    ? { host, how: ['network', 'on-host'], backupKey: `runs/${RUN_ID}/fence-${host}.example.test.tgz`, backupBytes: 4096, backupSha256: 'e'.repeat(64) }
    : { host, how: ['network'], notOnHost: 'unreachable' };

function restoreContext(extra: Partial<RestoreContext> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 900 },
    inventory: unitInventory(),
    fromSnapshot: true,
    survivor: {
      kind: 'snapshot',
      key: SNAPSHOT_KEY,
      runId: 'r-earlier-0001',
      at: '2025-12-20T00:00:00Z',
      revision: 1150,
      bytes: 2_000_000,
      sha256: SHA,
      location: `s3://unit-artifacts/${SNAPSHOT_KEY}`,
      chosenBy: 'newest',
    },
    formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({
      host,
      memberId: memberId(0xa0 + i),
      name: `${host}.example.test`,
      isLearner: false,
    })),
    fenced: [fence('master-0', true), fence('master-1', true), fence('master-2', false)],
    ...extra,
  };
}

const point = (revision: number, extra: Record<string, unknown> = {}) => ({
  etcd: 'running',
  source: 'endpoint',
  memberId: ID,
  clusterId: 'c1c2c3c4c5c6c7c8',
  name: 'master-0.example.test',
  leaderId: ID,
  members: 1,
  version: '3.2.22',
  revision,
  raftIndex: 9,
  raftTerm: 2,
  dbBytes: 2_000_000,
  keys: null,
  ...extra,
});

/** Every former member fenced on the network; master-0 runs RestoreFromSnapshot.sh as the real one does (restored once, then verified). */
function noSurvivor(): StepWorld {
  const world = stepWorld(threeMembers(['master-0', 'master-1', 'master-2']));
  for (const host of ['master-0', 'master-1', 'master-2']) world.securityGroups.fenced.add(host);
  let restored = false;
  world.runner.on(
    'RestoreFromSnapshot',
    () => {
      const before = restored;
      restored = true;
      return {
        stdout: {
          memberId: ID,
          clusterId: 'c1c2c3c4c5c6c7c8',
          name: 'master-0.example.test',
          peerUrl: 'https://198.51.100.2:2380',
          revision: 1150,
          raftIndex: 8,
          did: before ? [] : ['stop', 'keep', 'restore', 'configure', 'start'],
          restoredBefore: before,
          peerUrlUpdated: false,
        },
      };
    },
    { host: 'master-0' },
  );
  world.runner.on('DescribeRestorePoint', { stdout: point(1150) }, { host: 'master-0' });
  return world;
}

describe('Step: RestoreFromSnapshot', () => {
  it('checks the other fences, restores the snapshot on master-0 with its URL on stdin, and reads one member at revision 1150 through the host', async () => {
    const world = noSurvivor();
    const result = await RestoreFromSnapshot(restoreContext(), world.deps);
    // The other fences are read before anything is sent; the restored host's own is lifted only once it is restored.
    expect(world.securityGroups.calls).toEqual([
      'describeFence master-1',
      'describeFence master-2',
      'describeFence master-0',
      'unfence master-0',
      'describeFence master-0',
    ]);
    expect([...world.securityGroups.fenced].sort()).toEqual(['master-1', 'master-2']);
    expect(result.output.fenced?.find((f) => f.host === 'master-0')).toMatchObject({
      how: ['network', 'on-host'],
      networkLifted: { at: '2026-01-01T00:00:00.000Z', by: 'RestoreFromSnapshot' },
    });
    expect(result.output.fenced?.filter((f) => f.networkLifted)).toHaveLength(1);
    expect(world.runner.sent()).toEqual([`RestoreFromSnapshot@master-0 ${RUN_ID} ${SHA} 1150 60`, 'DescribeRestorePoint@master-0']);
    expect(world.runner.requests[0]?.secrets).toEqual({ SNAPSHOT_URL: world.artifacts.issued[0] });
    expect(world.artifacts.calls).toEqual([`GET ${SNAPSHOT_KEY} 900s`]);
    expect(world.runner.requests[0]?.timeoutSeconds).toBe(720);
    expectSecretsOnlyOnStdin(world);
    expect(result.output.forced).toEqual({
      host: 'master-0',
      memberId: ID,
      clusterId: 'c1c2c3c4c5c6c7c8',
      name: 'master-0.example.test',
      peerUrl: 'https://198.51.100.2:2380',
      revision: 1150,
      raftIndex: 9,
      did: ['stop', 'keep', 'restore', 'configure', 'start'],
      peerUrlUpdated: false,
      backupKey: FENCE_KEY,
      backupBytes: 4096,
      backupSha256: 'e'.repeat(64),
    });
    expect(result.detail).toBe(
      `master-0: snapshot ${SNAPSHOT_KEY} (run r-earlier-0001, revision 1150) restored as member ${ID} alone at revision 1150; did stop, keep, restore, configure, start; its data before the restore stored as ${FENCE_KEY} and kept on the host; its network fence lifted`,
    );
    expect(result.skipped).toBeUndefined();
  });

  it('a rerun restores nothing again, verifies, and is skipped', async () => {
    const world = noSurvivor();
    const first = await RestoreFromSnapshot(restoreContext(), world.deps);
    const second = await RestoreFromSnapshot(after(restoreContext(), first), world.deps);
    expect(second.output.forced).toMatchObject({ host: 'master-0', memberId: ID, did: [] });
    expect(second.detail).toContain('verified only (restored before)');
    expect(second.detail).toContain('its network fence already lifted');
    expect(second.output.fenced).toEqual(first.output.fenced);
    expect(world.securityGroups.calls.filter((c) => c.startsWith('unfence'))).toEqual(['unfence master-0']);
    expect(second.skipped).toBe(true);
  });

  it('restores on the first former member fenced on the host: master-1 when master-0 was unreachable', async () => {
    const world = noSurvivor();
    world.runner.on(
      'RestoreFromSnapshot',
      {
        stdout: {
          memberId: ID,
          clusterId: 'c1',
          name: 'master-1.example.test',
          peerUrl: 'https://x:2380',
          revision: 1150,
          raftIndex: 8,
          did: [],
          restoredBefore: true,
          peerUrlUpdated: false,
        },
      },
      { host: 'master-1' },
    );
    world.runner.on('DescribeRestorePoint', { stdout: point(1151) }, { host: 'master-1' });
    const result = await RestoreFromSnapshot(
      restoreContext({ fenced: [fence('master-0', false), fence('master-1', true), fence('master-2', true)] }),
      world.deps,
    );
    expect(world.runner.sent()).toEqual([`RestoreFromSnapshot@master-1 ${RUN_ID} ${SHA} 1150 60`, 'DescribeRestorePoint@master-1']);
    expect(world.securityGroups.calls).toEqual([
      'describeFence master-0',
      'describeFence master-2',
      'describeFence master-1',
      'unfence master-1',
      'describeFence master-1',
    ]);
    expect(world.securityGroups.fenced.has('master-0')).toBe(true);
    expect(result.output.forced).toMatchObject({ host: 'master-1', revision: 1151, backupKey: `runs/${RUN_ID}/fence-master-1.example.test.tgz` });
  });

  it('refuses while another former member is not fenced on the network, with nothing sent to any host', async () => {
    const world = noSurvivor();
    world.securityGroups.fenced.delete('master-2');
    const error = await failure(RestoreFromSnapshot(restoreContext(), world.deps));
    expect(error).toMatchObject({ name: 'RefusedError', exitCode: 3 });
    expect(error.message).toBe(
      `not fenced on the network: master-2; snapshot ${SNAPSHOT_KEY} is not restored on master-0 while a former member could still form a majority; nothing was changed`,
    );
    expect(world.runner.requests).toEqual([]);
    expect(world.artifacts.issued).toEqual([]);
  });

  it('refuses when no former member was fenced on the host: no host to restore on', async () => {
    const world = noSurvivor();
    const error = await failure(RestoreFromSnapshot(restoreContext({ fenced: ['master-0', 'master-1', 'master-2'].map((h) => fence(h, false)) }), world.deps));
    expect(error.name).toBe('RefusedError');
    expect(error.message).toContain('there is no host to restore snapshot');
    expect(world.runner.requests).toEqual([]);
  });

  it('a member survivor is forced, not restored: bad input, nothing sent', async () => {
    const world = noSurvivor();
    const survivor = { kind: 'member', host: 'master-2', memberId: memberId(0xa2), revision: 1, raftIndex: 1, etcd: 'running', chosenBy: 'rank' } as const;
    const error = await failure(RestoreFromSnapshot(restoreContext({ survivor }), world.deps));
    expect(error).toMatchObject({ name: 'InvalidInputError', exitCode: 2 });
    expect(world.runner.requests).toEqual([]);
  });

  it.each([
    ['more than one member', point(1150, { members: 3 })],
    ['no leader of its own', point(1150, { leaderId: '0000000000000000' })],
    ['a revision below the snapshot', point(1149)],
    ['etcd stopped', point(1150, { etcd: 'stopped', source: 'backend' })],
  ])('after the restore, %s read through the host fails the step (ClusterUnhealthyError)', async (_what, read) => {
    const world = noSurvivor();
    world.runner.on('DescribeRestorePoint', { stdout: read }, { host: 'master-0' });
    expect((await failure(RestoreFromSnapshot(restoreContext(), world.deps))).name).toBe('ClusterUnhealthyError');
    // A restore that does not verify keeps its host fenced on the network.
    expect(world.securityGroups.fenced.has('master-0')).toBe(true);
    expect(world.securityGroups.calls.filter((c) => c.startsWith('unfence'))).toEqual([]);
  });

  it.each([
    [3, 'RefusedError'],
    [4, 'ScriptTimedOutError'],
    [1, 'ScriptFailedError'],
  ])('script exit %i is %s', async (code, name) => {
    const world = noSurvivor();
    world.runner.exits('RestoreFromSnapshot', code, 'the snapshot downloaded has sha256 0000, not the dddd its run verified', { host: 'master-0' });
    expect((await failure(RestoreFromSnapshot(restoreContext(), world.deps))).name).toBe(name);
    expect(world.runner.sent('DescribeRestorePoint')).toEqual([]);
  });
});
