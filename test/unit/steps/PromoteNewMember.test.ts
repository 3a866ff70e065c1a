// PromoteNewMember (functions/steps/PromoteNewMember.ts): `member promote` of the learner this run
// added, asked again every quarter second while etcd refuses (the learner lags) for up to
// memberStartSeconds, then handed to the retry policy; a member that already votes is done. It sends
// no host script: its command is the etcd port's promotion.

import { describe, expect, it } from 'vitest';
import { EtcdUnavailableError, InvalidInputError, LearnerNotReadyError } from '../../../functions/errors.ts';
import { PromoteNewMember } from '../../../functions/steps/PromoteNewMember.ts';
import type { StepDeps } from '../../../functions/workflow/stepDeps.ts';
import { fakeMember } from '../../support/fakeCluster.ts';
import { ChangingCluster } from '../../support/fakePorts.ts';
import { after, confirmedContext, failure, NEW_ID, retried, SPARE, stepWorld, survivingMembers } from '../../support/stepHarness.ts';

/** etcd refuses the promotion `refusals` times (the learner lags), then promotes. */
class LaggingLearner extends ChangingCluster {
  promotions = 0;
  constructor(private refusals: number) {
    super([...survivingMembers(), fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true, { isLearner: true })]);
  }
  override async promoteMember(id: string): Promise<void> {
    this.promotions++;
    if (this.members.find((m) => m.id === id)?.isLearner && this.refusals-- > 0) {
      throw new LearnerNotReadyError('etcdserver: can only promote a learner member which is in sync with leader');
    }
    return super.promoteMember(id);
  }
}

const learnerAdded = () => confirmedContext({ failedMemberRemoved: true, memberAdded: true, newMemberId: NEW_ID, addedAsLearner: true });

/** Deps on the cluster, whose clock moves by each sleep plus `clockStepMs` (the time each ask takes). */
function run(cluster: ChangingCluster, clockStepMs: number, context = learnerAdded()) {
  const world = stepWorld();
  let now = 0;
  const sleeps: number[] = [];
  const deps: StepDeps = {
    ...world.deps,
    etcd: () => cluster,
    now: () => new Date(now),
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms + clockStepMs;
    },
  };
  return { promise: PromoteNewMember(context, deps), sleeps, world };
}

describe('Step: PromoteNewMember', () => {
  it('asks again every 250 ms while etcd refuses, and promotes once the learner has caught up', async () => {
    const cluster = new LaggingLearner(3);
    const { promise, sleeps, world } = run(cluster, 0);
    const result = await promise;
    expect(cluster.promotions).toBe(4);
    expect(cluster.changes).toEqual([`promote ${NEW_ID}`]);
    expect(sleeps).toEqual([250, 250, 250]);
    expect(result).toEqual({ output: {}, detail: `member ${NEW_ID} promoted to a voting member (etcd refused 3 time(s) while it caught up)` });
    expect(world.runner.requests).toEqual([]);
  });

  it('hands LearnerNotReadyError to the retry policy once memberStartSeconds have passed', async () => {
    const cluster = new LaggingLearner(Number.POSITIVE_INFINITY);
    const { promise } = run(cluster, 10_000);
    const error = await failure(promise);
    expect(error).toBeInstanceOf(LearnerNotReadyError);
    expect(retried('PromoteNewMember', error)).toBe(true);
    // 60 s of waiting at about 10 s a round: a bounded number of asks, not one.
    expect(cluster.promotions).toBeGreaterThan(1);
    expect(cluster.promotions).toBeLessThan(10);
    expect(cluster.changes).toEqual([]);
  });

  it('a second run finds the member voting: skipped, without asking the member list', async () => {
    const cluster = new LaggingLearner(0);
    const first = await run(cluster, 0).promise;
    const second = await run(cluster, 0, after(learnerAdded(), first)).promise;
    expect(second).toEqual({ output: {}, detail: `member ${NEW_ID} already votes`, skipped: true });
    expect(cluster.changes).toEqual([`promote ${NEW_ID}`]);
    expect(cluster.calls).not.toContain('memberList');
  });

  it('another error is passed on at once, without asking again (etcd unavailable: retried)', async () => {
    const cluster = new LaggingLearner(0);
    cluster.failNext('promoteMember', new EtcdUnavailableError('context deadline exceeded'));
    const { promise, sleeps } = run(cluster, 0);
    const error = await failure(promise);
    expect(error).toBeInstanceOf(EtcdUnavailableError);
    expect(retried('PromoteNewMember', error)).toBe(true);
    expect(sleeps).toEqual([]);
  });

  it("without the new member's ID: InvalidInputError, nothing promoted", async () => {
    const cluster = new LaggingLearner(0);
    const error = await failure(run(cluster, 0, confirmedContext()).promise);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(cluster.promotions).toBe(0);
  });
});
