// PromoteNewMember asks etcd again while the learner catches up, then hands over to the retry policy.

import { describe, expect, it } from 'vitest';
import { PromoteNewMember } from '../../functions/steps/PromoteNewMember.ts';
import { LearnerNotReadyError, MemberNotLearnerError } from '../../functions/errors.ts';
import { FakeCluster, fakeDeps, fakeMember, memberId, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';

const inventory = unitInventory();
const LEARNER = memberId(0xb0);

/** etcd refuses the promotion `refusals` times (the learner lags), then promotes; a voter is refused as etcd does. */
class LaggingLearner extends FakeCluster {
  promotions = 0;
  constructor(private refusals: number) {
    super([...threeMembers(['master-2']), fakeMember(0xb0, 'etcd-spare-0', '198.51.100.9', true, { isLearner: true })]);
  }
  // The base fake refuses every promotion and takes no argument; a rest parameter keeps the types compatible.
  override async promoteMember(...args: string[]): Promise<never> {
    const id = args[0];
    this.promotions++;
    if (!this.members.find((m) => m.id === id)?.isLearner) throw new MemberNotLearnerError('etcdserver: can only promote a learner member');
    if (this.refusals-- > 0) throw new LearnerNotReadyError('etcdserver: can only promote a learner member which is in sync with leader');
    this.members = this.members.map((m) => (m.id === id ? { ...m, isLearner: false } : m));
    return undefined as never;
  }
}

function run(cluster: LaggingLearner, clockStepMs: number) {
  let now = 0;
  const deps = { ...fakeDeps(cluster), now: () => new Date(now), sleep: async (ms: number) => void (now += ms + clockStepMs) };
  const context = validatedContext(inventory, 'master-2', 'etcd-spare-0', { newMemberId: LEARNER, survivors: [] });
  return PromoteNewMember(context, deps);
}

describe('PromoteNewMember', () => {
  it('asks again while etcd refuses and promotes once the learner has caught up', async () => {
    const cluster = new LaggingLearner(3);
    const result = await run(cluster, 0);
    expect(cluster.promotions).toBe(4);
    expect(result.detail).toMatch(/promoted to a voting member \(etcd refused 3 time/);
  });

  it('hands LearnerNotReadyError to the retry policy once memberStartSeconds have passed', async () => {
    const cluster = new LaggingLearner(Number.POSITIVE_INFINITY);
    await expect(run(cluster, 10_000)).rejects.toBeInstanceOf(LearnerNotReadyError);
    // 60 s of waiting at about 10 s a round: a bounded number of asks, not one.
    expect(cluster.promotions).toBeGreaterThan(1);
    expect(cluster.promotions).toBeLessThan(10);
  });

  it('skips a member that already votes', async () => {
    const cluster = new LaggingLearner(0);
    cluster.members = cluster.members.map((m) => ({ ...m, isLearner: false }));
    expect(await run(cluster, 0)).toMatchObject({ skipped: true, detail: expect.stringMatching(/already votes/) });
    expect(cluster.promotions).toBe(1);
    expect(cluster.calls).not.toContain('memberList');
  });
});
