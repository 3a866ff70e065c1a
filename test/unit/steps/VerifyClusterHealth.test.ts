// VerifyClusterHealth (functions/steps/VerifyClusterHealth.ts): one VerifyClusterHealth.sh ENDPOINTS
// MEMBERSHIP_ENDPOINTS on a surviving member host prints the member list first (checked: the new member
// in, the failed one gone, every member started and voting, an odd count), then runs the runbook's v2
// cluster-health and v3 endpoint health across the members expected; a list that names other endpoints
// gets the checks again on its own. Any problem is ClusterUnhealthyError, which its retry rule waits on;
// so is the script's exit 4.

import { describe, expect, it } from 'vitest';
import { ClusterUnhealthyError, HostUnreachableError } from '../../../functions/errors.ts';
import { VerifyClusterHealth } from '../../../functions/steps/VerifyClusterHealth.ts';
import { FakeCluster, fakeMember, memberListLine, threeMembers } from '../../support/fakeCluster.ts';
import { confirmedContext, exitCases, failure, NEW_ID, retried, SPARE, stepWorld, survivingMembers, TRANSIENT_RETRIES } from '../../support/stepHarness.ts';

const ENDPOINTS = 'https://198.51.100.2:2379,https://198.51.100.3:2379,https://198.51.100.9:2379';
const joined = () => confirmedContext({ failedMemberRemoved: true, memberAdded: true, newMemberId: NEW_ID, addedAsLearner: true });
const newMember = (extra = {}) => fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true, extra);

function healthy(members = [...survivingMembers(), newMember()]) {
  const world = stepWorld(members);
  world.runner.on('VerifyClusterHealth', async (r) => ({
    stdout: `${r.args[1] ? `${await memberListLine(new FakeCluster(members))}\n` : ''}${JSON.stringify({ v2: 'cluster is healthy', v3Healthy: 3 })}\n`,
  }));
  return world;
}

describe('Step: VerifyClusterHealth', () => {
  it('checks the member list and runs both health checks across every member in one command on a survivor', async () => {
    const world = healthy();
    const result = await VerifyClusterHealth(joined(), world.deps);
    expect(world.runner.sent()).toEqual([`VerifyClusterHealth@master-0 ${ENDPOINTS} ${ENDPOINTS}`]);
    expect(world.runner.requests[0]?.timeoutSeconds).toBe(120);
    // The list it verified, by hostname, for RollMasters and UpdateFlannel (no second member list).
    expect(result).toEqual({
      output: { verifiedMembers: { newMemberId: NEW_ID, hostnames: ['master-0.example.test', 'master-1.example.test', 'etcd-spare-0.example.test'] } },
      detail: '3 members started and voting; cluster-health (v2) and endpoint health (v3) pass on 3 endpoints',
    });
  });

  it.each([
    ['the new member missing', () => survivingMembers(), /new member 00000000000000b0 is missing/],
    [
      'the failed member still listed',
      () => [...threeMembers(['master-2']), newMember(), fakeMember(0xb1, 'x', '203.0.113.1', true)],
      /failed member 00000000000000a2 is still listed/,
    ],
    ['the new member unstarted', () => [...survivingMembers(), fakeMember(0xb0, '', SPARE.ip, false)], /member 00000000000000b0 has not started/],
    ['the new member still a learner', () => [...survivingMembers(), newMember({ isLearner: true })], /member 00000000000000b0 is still a learner/],
    ['an even member count', () => [...threeMembers([]), newMember()], /4 members: the count must be odd/],
  ])('%s: ClusterUnhealthyError (retried) naming the list, even when the health checks failed too', async (_what, members, reason) => {
    const world = healthy(members());
    const error = await failure(VerifyClusterHealth(joined(), world.deps));
    expect(error).toBeInstanceOf(ClusterUnhealthyError);
    expect(error.message).toMatch(reason);
    expect(retried('VerifyClusterHealth', error)).toBe(true);
    expect(world.runner.requests).toHaveLength(1);
    world.runner.on('VerifyClusterHealth', async () => ({
      exitCode: 4,
      stdout: `${await memberListLine(new FakeCluster(members()))}\n`,
      stderr: 'cluster is unhealthy',
    }));
    const again = await failure(VerifyClusterHealth(joined(), world.deps));
    expect(again.message).toMatch(reason);
  });

  it('a list whose members name other endpoints than expected: the checks run again on the ones it names', async () => {
    const moved = fakeMember(0xb0, 'etcd-spare-0', '198.51.100.19', true);
    const world = healthy([...survivingMembers(), moved]);
    const result = await VerifyClusterHealth(joined(), world.deps);
    expect(world.runner.sent()).toHaveLength(2);
    expect(world.runner.requests[1]?.args).toHaveLength(1);
    expect(world.runner.requests[1]?.args[0]).not.toBe(ENDPOINTS);
    expect(result.detail).toMatch(/pass on 3 endpoints$/);
  });

  it('an endpoint expected that is no member, and down: the first checks fail on it, the list does not name it, the checks on the list pass', async () => {
    const members = [...survivingMembers(), newMember()];
    const world = stepWorld(members);
    const gone = 'https://198.51.100.4:2379';
    world.runner.on('VerifyClusterHealth', async (r) =>
      r.args[0]!.split(',').includes(gone)
        ? { exitCode: 4, stdout: `${await memberListLine(new FakeCluster(members))}\n`, stderr: `${gone} is unhealthy: failed to connect` }
        : { stdout: `${JSON.stringify({ v2: 'cluster is healthy', v3Healthy: 3 })}\n` },
    );
    // A run's survivors as an earlier run left them: master-2, replaced since, among them.
    const context = joined();
    const expected = [...context.survivors!, { id: 'a2a2a2a2a2a2a2a2', name: 'master-2', peerURL: 'https://198.51.100.4:2380', clientURL: gone }];
    const result = await VerifyClusterHealth({ ...context, survivors: expected }, world.deps);
    expect(world.runner.requests.map((r) => r.args[0]!.split(',').includes(gone))).toEqual([true, false]);
    expect(result.detail).toMatch(/pass on 3 endpoints$/);
  });

  it.each(exitCases([...TRANSIENT_RETRIES, 'ClusterUnhealthyError'], { 4: 'ClusterUnhealthyError' }))(
    'VerifyClusterHealth.sh exit %i is %s (retried: %s)',
    async (code, name, isRetried) => {
      const world = healthy();
      world.runner.exits('VerifyClusterHealth', code, 'member 00000000000000b0 is unhealthy');
      const error = await failure(VerifyClusterHealth(joined(), world.deps));
      expect(error.name).toBe(name);
      expect(retried('VerifyClusterHealth', error)).toBe(isRetried);
    },
  );

  it("runs the health checks on the next survivor when the first one's host cannot be reached", async () => {
    const world = healthy();
    world.runner.on('VerifyClusterHealth', new HostUnreachableError('master-0 is unreachable'), { host: 'master-0' });
    const result = await VerifyClusterHealth(joined(), world.deps);
    expect(world.runner.sent()).toEqual([`VerifyClusterHealth@master-0 ${ENDPOINTS} ${ENDPOINTS}`, `VerifyClusterHealth@master-1 ${ENDPOINTS} ${ENDPOINTS}`]);
    expect(result.detail).toMatch(/pass on 3 endpoints$/);
  });

  it("a member its checks find down is ClusterUnhealthyError from the next survivor (retried), not the first host's HostUnreachableError", async () => {
    const world = healthy();
    world.runner.on('VerifyClusterHealth', new HostUnreachableError('master-0 is unreachable'), { host: 'master-0' });
    world.runner.exits('VerifyClusterHealth', 4, 'https://198.51.100.2:2379 is unhealthy', { host: 'master-1' });
    const error = await failure(VerifyClusterHealth(joined(), world.deps));
    expect(error).toBeInstanceOf(ClusterUnhealthyError);
    expect(retried('VerifyClusterHealth', error)).toBe(true);
  });

  it("no survivor's host can be reached: the first HostUnreachableError", async () => {
    const world = healthy();
    world.runner.on('VerifyClusterHealth', new HostUnreachableError('every host is unreachable'));
    const error = await failure(VerifyClusterHealth(joined(), world.deps));
    expect(error).toBeInstanceOf(HostUnreachableError);
    expect(world.runner.sent()).toEqual([`VerifyClusterHealth@master-0 ${ENDPOINTS} ${ENDPOINTS}`, `VerifyClusterHealth@master-1 ${ENDPOINTS} ${ENDPOINTS}`]);
  });
});
