// RemoveFailedMember (functions/steps/RemoveFailedMember.ts): `member remove` of the failed member
// through the survivors, on a failure this execution confirmed a moment ago (without asking the
// failed member again), only while the removal keeps quorum; done when this run's record says it
// removed it, or when the member it confirmed failed is gone. It sends no host script. The
// confirmation's staleness and the healthy-member refusals: test/unit/healthyMember.test.ts.

import { describe, expect, it } from 'vitest';
import { EtcdUnavailableError, InvalidInputError, RefusedError } from '../../../functions/errors.ts';
import { RemoveFailedMember } from '../../../functions/steps/RemoveFailedMember.ts';
import { memberId, threeMembers } from '../../support/fakeCluster.ts';
import { after, confirmedContext, failure, HOSTS, refused, retried, stepWorld } from '../../support/stepHarness.ts';

const FAILED = memberId(0xa2);
const endpoint = (host: 'master-0' | 'master-1') => `https://${HOSTS[host].ip}:2379`;

describe('Step: RemoveFailedMember', () => {
  it('removes the member this execution confirmed failed, asking only the survivors', async () => {
    const world = stepWorld(threeMembers(['master-2']));
    const result = await RemoveFailedMember(confirmedContext(), world.deps);
    expect(world.cluster.calls).toEqual([`view ${endpoint('master-0')},${endpoint('master-1')}`]);
    expect(world.cluster.changes).toEqual([`remove ${FAILED}`]);
    expect(result).toEqual({
      output: { failedMemberRemoved: true },
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
