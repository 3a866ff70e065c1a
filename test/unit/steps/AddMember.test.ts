// AddMember (functions/steps/AddMember.ts): `member add` of the replacement's peer URL through the
// survivors, as a learner where every member runs 3.4+, only after this run removed the failed
// member; a member already added for that URL is this run's only when its record names it or it is
// unstarted; a started member there is someone else's. It sends no host script: its commands are
// the etcd port's membership calls. On the predicted view (the survivors answering, nothing on the
// replacement's URL) the add is one guarded change, which also reads the member list after the add
// (membersAfterAdd, for StartNewMember); a host that sees another view adds nothing, and the step
// observes and judges the real view.

import { describe, expect, it } from 'vitest';
import { EtcdUnavailableError, MemberAlreadyExistsError, RefusedError } from '../../../functions/errors.ts';
import { AddMember } from '../../../functions/steps/AddMember.ts';
import { etcdMember, fakeMember, threeMembers } from '../../support/fakeCluster.ts';
import {
  after,
  confirmedContext,
  failure,
  NEW_ID,
  NEW_PEER_URL,
  NOW,
  refused,
  retried,
  SPARE,
  stepWorld,
  survivingMembers,
} from '../../support/stepHarness.ts';

const SURVIVORS = 'https://198.51.100.2:2379,https://198.51.100.3:2379';
const removed = (extra = {}) => confirmedContext({ failedMemberRemoved: true, ...extra });

describe('Step: AddMember', () => {
  it('adds the replacement as a learner where every member runs 3.4+, in one guarded change, and records it with the list after the add', async () => {
    const world = stepWorld();
    const result = await AddMember(removed(), world.deps);
    expect(world.cluster.calls).toEqual([`guarded add ${NEW_PEER_URL} as learner ${SURVIVORS}`]);
    expect(world.cluster.changes).toEqual([`add ${NEW_PEER_URL} as learner`]);
    const listed = (n: number, name: string, ip: string) => ({ ...etcdMember(n, name, ip) });
    expect(result.output).toEqual({
      newMemberId: NEW_ID,
      addedAsLearner: true,
      memberAdded: true,
      memberAddedAt: NOW.toISOString(),
      membersAfterAdd: {
        newMemberId: NEW_ID,
        members: [
          listed(0xa0, 'master-0', '198.51.100.2'),
          listed(0xa1, 'master-1', '198.51.100.3'),
          { id: NEW_ID, name: '', peerURLs: [NEW_PEER_URL], clientURLs: [], isLearner: true },
        ],
      },
    });
    expect(result.skipped).toBeUndefined();
    expect(result.detail).toBe(`added ${SPARE.hostname} ${NEW_PEER_URL} as member ${NEW_ID} (learner)`);
    expect(world.runner.requests).toEqual([]);
  });

  it("clears the member list RemoveFailedMember left (membersAfterRemoval): after an add it is no longer the cluster's, whatever the step found", async () => {
    const left = { membersAfterRemoval: [] };
    for (const context of [removed(left), removed({ ...left, memberAdded: true, newMemberId: NEW_ID })]) {
      const world = stepWorld();
      const result = await AddMember(context, world.deps);
      expect(Object.hasOwn(result.output ?? {}, 'membersAfterRemoval')).toBe(true);
      expect(JSON.parse(JSON.stringify(after(context, result)))).not.toHaveProperty('membersAfterRemoval');
    }
  });

  it('adds a voting member when a learner is not asked for (learner: never) or not supported', async () => {
    for (const extra of [{ options: { graceSeconds: 0, learner: 'never' as const } }, { learnerSupported: false }]) {
      const world = stepWorld();
      const result = await AddMember(removed(extra), world.deps);
      expect(world.cluster.changes).toEqual([`add ${NEW_PEER_URL}`]);
      expect(result.output.addedAsLearner).toBe(false);
    }
  });

  it('a second run finds its member and adds nothing: skipped', async () => {
    const world = stepWorld();
    const first = await AddMember(removed(), world.deps);
    const second = await AddMember(after(removed(), first), world.deps);
    expect(world.cluster.changes).toHaveLength(1);
    expect(second).toMatchObject({ skipped: true, output: { newMemberId: NEW_ID, addedAsLearner: true, memberAdded: true } });
    expect(second.detail).toBe(`member ${NEW_ID} for ${NEW_PEER_URL} already added as a learner`);
  });

  it('refuses before asking anything when this run has not removed the failed member', async () => {
    const world = stepWorld();
    const error = await failure(AddMember(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(refused('AddMember', error)).toBe(true);
    expect(world.cluster.calls).toEqual([]);
    expect(world.cluster.changes).toEqual([]);
  });

  it("reuses an unstarted member on the replacement's URL (an add whose answer was lost), adding nothing", async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xb7, '', SPARE.ip, false)]);
    const result = await AddMember(removed(), world.deps);
    // The guard saw a member the prediction lacks and added nothing; the observation that follows decides.
    expect(world.cluster.calls).toEqual([`guarded add ${NEW_PEER_URL} as learner ${SURVIVORS}`, `view ${SURVIVORS}`, `status https://${SPARE.ip}:2379`]);
    expect(world.cluster.changes).toEqual([]);
    expect(result).toMatchObject({ skipped: true, output: { newMemberId: '00000000000000b7', memberAdded: true, addedAsLearner: false } });
  });

  it("refuses a started member on the replacement's URL that this run did not add", async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xb7, 'etcd-spare-0', SPARE.ip, true)]);
    const error = await failure(AddMember(removed(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(
      /member 00000000000000b7 \(etcd-spare-0\.example\.test\) already runs on https:\/\/198\.51\.100\.9:2380, and this run did not add it/,
    );
    expect(world.cluster.changes).toEqual([]);
  });

  it('takes a started member on that URL as its own when its record names it', async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true)]);
    const result = await AddMember(removed({ memberAdded: true, newMemberId: NEW_ID }), world.deps);
    expect(result).toMatchObject({ skipped: true, output: { newMemberId: NEW_ID } });
    expect(world.cluster.changes).toEqual([]);
  });

  it('refuses to add while the cluster has no quorum', async () => {
    const world = stepWorld(threeMembers(['master-1']).slice(0, 2));
    const error = await failure(AddMember(removed(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/^not adding a member: the cluster has no quorum: 1 of 2 voting members answer and 2 are needed/);
    expect(world.cluster.changes).toEqual([]);
  });

  it('a survivor that stopped answering: the guard adds nothing; the real view (quorum holds) adds it, without the list after the add', async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xa3, 'master-3', '198.51.100.5', true)]);
    world.cluster.members[1]!.up = false;
    const result = await AddMember(removed(), world.deps);
    expect(world.cluster.calls.slice(0, 2)).toEqual([`guarded add ${NEW_PEER_URL} as learner ${SURVIVORS}`, `view ${SURVIVORS}`]);
    expect(world.cluster.changes).toEqual([`add ${NEW_PEER_URL} as learner`]);
    expect(result.output).toEqual({ newMemberId: NEW_ID, addedAsLearner: true, memberAdded: true, memberAddedAt: NOW.toISOString() });
  });

  it("without the survivors' cluster ID (nothing to guard on): observed, then added, as two commands", async () => {
    const world = stepWorld();
    const { clusterId: _unknown, ...context } = removed();
    await AddMember(context, world.deps);
    expect(world.cluster.calls).toEqual([`view ${SURVIVORS}`]);
    expect(world.cluster.changes).toEqual([`add ${NEW_PEER_URL} as learner`]);
  });

  it('"already exists" from the add: the unstarted member the add made is this run\'s', async () => {
    const world = stepWorld();
    world.cluster.failNext('addMember', new MemberAlreadyExistsError('etcdserver: Peer URLs already exists'), { afterChange: true });
    const result = await AddMember(removed(), world.deps);
    expect(result.output).toMatchObject({ newMemberId: NEW_ID, memberAdded: true, addedAsLearner: true });
    expect(result.detail).toBe(`member ${NEW_ID} for ${NEW_PEER_URL} was already added`);
  });

  it('"already exists" with no unstarted member on the URL is passed on', async () => {
    const world = stepWorld();
    world.cluster.failNext('addMember', new MemberAlreadyExistsError('etcdserver: Peer URLs already exists'));
    expect(await failure(AddMember(removed(), world.deps))).toBeInstanceOf(MemberAlreadyExistsError);
  });

  it('etcd unavailable during the add is passed on, and retried', async () => {
    const world = stepWorld();
    world.cluster.failNext('addMember', new EtcdUnavailableError('context deadline exceeded'));
    const error = await failure(AddMember(removed(), world.deps));
    expect(error).toBeInstanceOf(EtcdUnavailableError);
    expect(retried('AddMember', error)).toBe(true);
  });
});
