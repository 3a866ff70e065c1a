// RemoveFailedMember (functions/steps/RemoveFailedMember.ts): `member remove` of the failed member
// through the survivors, on a failure this execution confirmed a moment ago (without asking the
// failed member again), only while the removal keeps quorum; done when this run's record says it
// removed it, or when the member it confirmed failed is gone. It sends no host script. The
// confirmation's staleness and the healthy-member refusals: test/unit/healthyMember.test.ts.
// On a fresh confirmation the removal is one guarded change (the view predicted from the survivors);
// a host that sees another view removes nothing, and the step observes and judges the real view.

import { describe, expect, it } from 'vitest';
import { EtcdUnavailableError, InvalidInputError, RefusedError } from '../../../functions/errors.ts';
import { RemoveFailedMember } from '../../../functions/steps/RemoveFailedMember.ts';
import { fakeMember, memberId, threeMembers } from '../../support/fakeCluster.ts';
import { after, confirmedContext, failure, HOSTS, NOW, refused, retried, stepWorld } from '../../support/stepHarness.ts';

const FAILED = memberId(0xa2);
const endpoint = (host: 'master-0' | 'master-1' | 'master-2') => `https://${HOSTS[host].ip}:2379`;
const SURVIVORS = `${endpoint('master-0')},${endpoint('master-1')}`;
/** The predicted view's fingerprint: both survivors answer, the failed member is listed and not asked. */
const GUARD_ALL = `00000000000000a0:v:1,00000000000000a1:v:1,${FAILED}:v:0`;

describe('Step: RemoveFailedMember', () => {
  it('removes the member this execution confirmed failed, asking only the survivors, in one guarded change', async () => {
    const world = stepWorld(threeMembers(['master-2']));
    const result = await RemoveFailedMember(confirmedContext(), world.deps);
    expect(world.cluster.calls).toEqual([`guarded remove ${FAILED} ${endpoint('master-0')},${endpoint('master-1')}`]);
    expect(world.cluster.changes).toEqual([`remove ${FAILED}`]);
    expect(result).toEqual({
      output: {
        failedMemberRemoved: true,
        // The list the guarded command observed, without the removed member: ConfigureNewMember's.
        membersAfterRemoval: (['master-0', 'master-1'] as const).map((host, i) => ({
          id: memberId(0xa0 + i),
          name: `${host}.example.test`,
          peerURLs: [`https://${HOSTS[host].ip}:2380`],
          clientURLs: [endpoint(host)],
          isLearner: false,
        })),
      },
      detail: `removed member ${FAILED} (master-2.example.test); 2 of 3 voting members answer; 2 needed after the change`,
    });
    expect(world.runner.requests).toEqual([]);
  });

  it('a second run (its record says removed): skipped, nothing asked', async () => {
    const world = stepWorld(threeMembers(['master-2']));
    const first = await RemoveFailedMember(confirmedContext(), world.deps);
    const callsAfterFirst = world.cluster.calls.length;
    const second = await RemoveFailedMember(after(confirmedContext(), first), world.deps);
    expect(second).toEqual({ output: {}, detail: `member master-2.example.test (${FAILED}) was removed earlier by this run`, skipped: true });
    expect(world.cluster.calls).toHaveLength(callsAfterFirst);
    expect(world.cluster.changes).toEqual([`remove ${FAILED}`]);
  });

  it("the confirmed member already gone (the removal's answer was lost): skipped, recorded removed", async () => {
    const world = stepWorld(threeMembers(['master-2']).slice(0, 2));
    const result = await RemoveFailedMember(confirmedContext(), world.deps);
    expect(result).toMatchObject({ skipped: true, output: { failedMemberRemoved: true } });
    expect(world.cluster.changes).toEqual([]);
    // The guard saw no failed member and removed nothing; the observation that follows decides.
    expect(world.cluster.calls).toEqual([`guarded remove ${FAILED} ${SURVIVORS}`, `view ${SURVIVORS}`]);
  });

  it('a survivor that no longer answers: the guard removes nothing, and the real view is judged (no quorum after the removal)', async () => {
    const world = stepWorld(threeMembers(['master-1', 'master-2']));
    const error = await failure(RemoveFailedMember(confirmedContext(), world.deps));
    // Then today's observation: no quorum in the first view, so each member host is asked on its own.
    expect(world.cluster.calls).toEqual([`guarded remove ${FAILED} ${SURVIVORS}`, `view ${SURVIVORS}`, `view ${SURVIVORS}`, `view ${SURVIVORS}`]);
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/the cluster has no quorum: 1 of 3 voting members answer and 2 are needed/);
    expect(world.cluster.changes).toEqual([]);
    expect(world.logs.some((l) => l.includes(`expected ${GUARD_ALL}, seen 00000000000000a0:v:1,00000000000000a1:v:0,${FAILED}:v:0`))).toBe(true);
  });

  it('a member the run does not know of: the guard removes nothing; the real view (quorum after the removal) removes it', async () => {
    const world = stepWorld([...threeMembers(['master-2']), fakeMember(0xa3, 'master-3', '198.51.100.5', true)]);
    const result = await RemoveFailedMember(confirmedContext(), world.deps);
    expect(world.cluster.calls).toEqual([`guarded remove ${FAILED} ${SURVIVORS}`, `view ${SURVIVORS}`, 'status https://198.51.100.5:2379']);
    expect(world.cluster.changes).toEqual([`remove ${FAILED}`]);
    expect(result.detail).toBe(`removed member ${FAILED} (master-2.example.test); 3 of 4 voting members answer; 2 needed after the change`);
  });

  it('a stale confirmation: observed again with the failed member asked, then removed (no guarded change)', async () => {
    const world = stepWorld(threeMembers(['master-2']));
    const context = confirmedContext({ failureConfirmation: { memberId: FAILED, execution: 'exec-other', observedAt: NOW.toISOString() } });
    const result = await RemoveFailedMember(context, world.deps);
    expect(world.cluster.calls).toEqual([`view ${SURVIVORS},${endpoint('master-2')}`]);
    expect(world.cluster.changes).toEqual([`remove ${FAILED}`]);
    expect(result.detail).toMatch(
      /^removed member 00000000000000a2 \(master-2.example.test\); 2 of 3 voting members answer; 2 needed after the change; observed again before removal/,
    );
  });

  it('without the cluster ID (nothing to guard on): observed, then removed, as two commands', async () => {
    const world = stepWorld(threeMembers(['master-2']));
    const { clusterId: _unknown, ...context } = confirmedContext();
    await RemoveFailedMember(context, world.deps);
    expect(world.cluster.calls).toEqual([`view ${SURVIVORS}`]);
    expect(world.cluster.changes).toEqual([`remove ${FAILED}`]);
  });

  it('refuses a removal that would lose quorum, removing nothing', async () => {
    const world = stepWorld(threeMembers(['master-1', 'master-2']));
    const error = await failure(RemoveFailedMember(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(new RegExp(`^not removing ${FAILED}: the cluster has no quorum: 1 of 3 voting members answer and 2 are needed`));
    expect(refused('RemoveFailedMember', error)).toBe(true);
    expect(world.cluster.changes).toEqual([]);
  });

  it('etcd unavailable during the removal is passed on, and retried', async () => {
    const world = stepWorld(threeMembers(['master-2']));
    world.cluster.failNext('removeMember', new EtcdUnavailableError('etcdserver: request timed out'));
    const error = await failure(RemoveFailedMember(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(EtcdUnavailableError);
    expect(retried('RemoveFailedMember', error)).toBe(true);
  });

  it('without the failed member in its context: InvalidInputError, nothing asked', async () => {
    const world = stepWorld(threeMembers(['master-2']));
    const error = await failure(RemoveFailedMember(confirmedContext({ failedMember: undefined }), world.deps));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(retried('RemoveFailedMember', error)).toBe(false);
    expect(world.cluster.calls).toEqual([]);
  });
});
