// ForceNewCluster (functions/steps/ForceNewCluster.ts): never without a network fence around every other
// former member; ForceNewCluster.sh `backup` (checked in the store), then `force` with the chosen revision;
// then the member list through the survivor names exactly its member. A rerun only verifies.

import { describe, expect, it } from 'vitest';
import type { RestoreStepResult } from '../../../functions/cluster/restoreFacts.ts';
import { ForceNewCluster } from '../../../functions/steps/ForceNewCluster.ts';
import { memberId, threeMembers, unitInventory } from '../../support/fakeCluster.ts';
import { expectSecretsOnlyOnStdin, failure, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import type { RestoreContext, RestoreRunOptions } from '../../../statemachine/restoreContext.ts';

const BYTES = 3_145_728;
const SHA = 'c'.repeat(64);
const MANIFEST = 'e'.repeat(64);
const KEY = `runs/${RUN_ID}/force-master-2.example.test.tgz`;

/** The context after a step's output, as the machine merges it. */
const after = (context: RestoreContext, result: RestoreStepResult): RestoreContext => ({ ...context, ...result.output });

function restoreContext(extra: Partial<RestoreContext> = {}, options: Partial<RestoreRunOptions> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 900, ...options },
    inventory: unitInventory(),
    survivor: { kind: 'member', host: 'master-2', memberId: memberId(0xa2), revision: 1240, raftIndex: 1544, etcd: 'running', chosenBy: 'rank' },
    formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({
      host,
      memberId: memberId(0xa0 + i),
      name: `${host}.example.test`,
      isLearner: false,
    })),
    ...extra,
  };
}

/** master-0 and master-1 fenced on the network; master-2 runs ForceNewCluster.sh as the real one does (one state per call). */
function lostQuorum(): StepWorld {
  const world = stepWorld(threeMembers(['master-0', 'master-1']));
  world.securityGroups.fenced.add('master-0');
  world.securityGroups.fenced.add('master-1');
  let forced = false;
  let stopped = false;
  world.runner.on(
    'ForceNewCluster',
    () => {
      if (forced)
        return { stdout: { stopped: false, kind: 'pod', backup: { marked: true, bytes: BYTES, sha256: SHA, manifest: MANIFEST, at: '2026-01-01T00:00:00Z' } } };
      const first = !stopped;
      stopped = true;
      world.artifacts.put(KEY, BYTES);
      return { stdout: { stopped: first, kind: 'pod', backup: { marked: false, empty: false, bytes: BYTES, sha256: SHA, manifest: MANIFEST } } };
    },
    { host: 'master-2', args: ['backup'] },
  );
  world.runner.on(
    'ForceNewCluster',
    () => {
      const before = forced;
      forced = true;
      world.cluster.members = world.cluster.members.filter((m) => m.name === 'master-2.example.test');
      return {
        stdout: {
          memberId: memberId(0xa2),
          clusterId: 'c1c2c3c4c5c6c7c8',
          name: 'master-2.example.test',
          peerUrl: 'https://198.51.100.4:2380',
          revision: before ? 1242 : 1241,
          raftIndex: 1600,
          did: before ? [] : ['setFlag', 'startForced', 'stop', 'removeFlag', 'start'],
          markedBefore: before,
          peerUrlUpdated: false,
        },
      };
    },
    { host: 'master-2', args: ['force'] },
  );
  return world;
}

describe('Step: ForceNewCluster', () => {
  it('checks both fences, backs the survivor up, forces it at revision 1240 or later, and finds it alone in the member list', async () => {
    const world = lostQuorum();
    const result = await ForceNewCluster(restoreContext(), world.deps);
    expect(world.securityGroups.calls).toEqual(['describeFence master-0', 'describeFence master-1']);
    expect(world.runner.sent()).toEqual([
      `ForceNewCluster@master-2 backup ${RUN_ID}`,
      `ForceNewCluster@master-2 force ${RUN_ID} ${BYTES} ${SHA} ${MANIFEST} 1240 60`,
    ]);
    expect(world.runner.requests[1]?.timeoutSeconds).toBe(300);
    expectSecretsOnlyOnStdin(world);
    expect(world.cluster.calls).toContain('memberList');
    expect(result.output.forced).toEqual({
      host: 'master-2',
      memberId: memberId(0xa2),
      clusterId: 'c1c2c3c4c5c6c7c8',
      name: 'master-2.example.test',
      peerUrl: 'https://198.51.100.4:2380',
      revision: 1241,
      raftIndex: 1600,
      did: ['setFlag', 'startForced', 'stop', 'removeFlag', 'start'],
      peerUrlUpdated: false,
      backupKey: KEY,
      backupBytes: BYTES,
      backupSha256: SHA,
    });
    expect(result.detail).toBe(
      `master-2: member ${memberId(0xa2)} alone in the member list at revision 1241 (chosen 1240); did setFlag, startForced, stop, removeFlag, start; its data before the force backed up (${BYTES} bytes) as ${KEY}`,
    );
    expect(result.skipped).toBeUndefined();
  });

  it('a rerun uploads nothing, forces nothing again, verifies, and is skipped', async () => {
    const world = lostQuorum();
    const first = await ForceNewCluster(restoreContext(), world.deps);
    const issued = world.artifacts.issued.length;
    const second = await ForceNewCluster(after(restoreContext(), first), world.deps);
    expect(second.output.forced).toMatchObject({ memberId: memberId(0xa2), did: [], revision: 1242, backupKey: KEY, backupBytes: BYTES });
    expect(second.detail).toContain('verified only (forced before)');
    expect(second.skipped).toBe(true);
    // The URL handed out for the rerun's backup call is not used: the host says "marked".
    expect(world.artifacts.issued.length).toBe(issued + 1);
    expect(world.runner.sent().slice(2)).toEqual([
      `ForceNewCluster@master-2 backup ${RUN_ID}`,
      `ForceNewCluster@master-2 force ${RUN_ID} ${BYTES} ${SHA} ${MANIFEST} 1240 60`,
    ]);
  });

  it('refuses while another former member is not fenced on the network, with nothing sent to any host', async () => {
    const world = lostQuorum();
    world.securityGroups.fenced.delete('master-1');
    const error = await failure(ForceNewCluster(restoreContext(), world.deps));
    expect(error).toMatchObject({ name: 'RefusedError', exitCode: 3 });
    expect(error.message).toBe(
      'not fenced on the network: master-1; the survivor master-2 is not forced while a former member could still form a majority; nothing was changed',
    );
    expect(world.runner.requests).toEqual([]);
    expect(world.artifacts.issued).toEqual([]);
  });

  it('refused on the host (its etcd serves a working cluster, exit 3): nothing forced', async () => {
    const world = lostQuorum();
    world.runner.exits('ForceNewCluster', 3, 'refusing: this host’s etcd answers with leader 00000000000000a2', { host: 'master-2', args: ['backup'] });
    const error = await failure(ForceNewCluster(restoreContext(), world.deps));
    expect(error.name).toBe('RefusedError');
    expect(world.runner.sent()).toEqual([`ForceNewCluster@master-2 backup ${RUN_ID}`]);
  });

  it('a backup the store does not hold whole forces nothing', async () => {
    const world = lostQuorum();
    world.runner.on(
      'ForceNewCluster',
      { stdout: { stopped: true, kind: 'pod', backup: { marked: false, empty: false, bytes: BYTES, sha256: SHA, manifest: MANIFEST } } },
      { args: ['backup'] },
    );
    const error = await failure(ForceNewCluster(restoreContext(), world.deps));
    expect(error.name).toBe('ArtifactStoreError');
    expect(world.runner.sent('ForceNewCluster')).toEqual([`ForceNewCluster@master-2 backup ${RUN_ID}`]);
  });

  it('a member list that still names the former members after the force fails the step', async () => {
    const world = lostQuorum();
    world.runner.on(
      'ForceNewCluster',
      {
        stdout: {
          memberId: memberId(0xa2),
          clusterId: 'c1',
          name: 'master-2.example.test',
          peerUrl: 'https://198.51.100.4:2380',
          revision: 1241,
          raftIndex: 1,
          did: [],
          markedBefore: true,
          peerUrlUpdated: false,
        },
      },
      { args: ['force'] },
    );
    const error = await failure(ForceNewCluster(restoreContext(), world.deps));
    expect(error.name).toBe('ClusterUnhealthyError');
    expect(error.message).toBe(
      `master-2: after the force the member list names ${memberId(0xa0)} (master-0.example.test), ${memberId(0xa1)} (master-1.example.test), ${memberId(0xa2)} (master-2.example.test), not ${memberId(0xa2)} alone`,
    );
  });

  it('a snapshot is not forced: bad input, nothing sent', async () => {
    const world = lostQuorum();
    const survivor = {
      kind: 'snapshot',
      key: 'runs/r-2/s.db',
      runId: 'r-2',
      at: '2025-12-20T00:00:00Z',
      revision: 1150,
      bytes: 1,
      sha256: SHA,
      location: 's3://x',
      chosenBy: 'newest',
    } as const;
    const error = await failure(ForceNewCluster(restoreContext({ survivor }), world.deps));
    expect(error).toMatchObject({ name: 'InvalidInputError', exitCode: 2 });
    expect(world.runner.requests).toEqual([]);
  });

  it.each([
    [4, 'ScriptTimedOutError'],
    [1, 'ScriptFailedError'],
  ])('force exit %i is %s', async (code, name) => {
    const world = lostQuorum();
    world.runner.exits('ForceNewCluster', code, 'etcd started with ETCD_FORCE_NEW_CLUSTER=true and did not answer as a cluster of one within 60s', {
      args: ['force'],
    });
    expect((await failure(ForceNewCluster(restoreContext(), world.deps))).name).toBe(name);
  });
});
