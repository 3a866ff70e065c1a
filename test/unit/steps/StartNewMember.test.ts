// StartNewMember (functions/steps/StartNewMember.ts): StartNewMember.sh HOSTNAME CLUSTER_ID MEMBER_ID
// WAIT on the new host (the bundle's download URL and the prior data's upload URL on stdin), after
// checking that no other member runs there and that ETCD_INITIAL_CLUSTER still matches the member list;
// then the wait, on a fake cluster and clock: without a learner the new member is started only once it
// is listed under its name and healthy; the wait goes on while its data directory grows, fails after
// memberStartSeconds without progress, and hands a member still catching up at the attempt's budget to
// the next attempt with its own error. Once it runs, its key bundle leaves the store.

import { describe, expect, it } from 'vitest';
import { NewMemberCatchingUpError, NewMemberFailedError, NoSpaceLeftError, RefusedError } from '../../../functions/errors.ts';
import type { EndpointHealth } from '../../../functions/ports.ts';
import { StartNewMember } from '../../../functions/steps/StartNewMember.ts';
import { DEFAULT_WAITS } from '../../../functions/workflow/stepDeps.ts';
import { FAKE_CLUSTER_ID, FakeCluster, fakeDeps, fakeMember, memberId, threeMembers, unitInventory, validatedContext } from '../../support/fakeCluster.ts';
import { FakeArtifactStore } from '../../support/fakePorts.ts';
import { FakeRunner } from '../../support/fakeRunner.ts';
import {
  after,
  confirmedContext,
  exitCases,
  expectSecretsOnlyOnStdin,
  failure,
  HOST_WORK_RETRIES,
  NEW_ID,
  NOW,
  retried,
  RUN_ID,
  SPARE,
  stepWorld,
  survivingMembers,
  type StepWorld,
} from '../../support/stepHarness.ts';

const SPARE_IP = '198.51.100.9';

/** The cluster after the failed member's removal and the plain add; `at(seconds)` says how the new member looks then. */
class JoiningCluster extends FakeCluster {
  constructor(
    private readonly clock: { t: number },
    private readonly at: (seconds: number) => { named: boolean; healthy: boolean },
  ) {
    super([...threeMembers([]).slice(0, 2), fakeMember(0xb0, '', SPARE_IP, false)]);
  }
  override async memberList() {
    const list = await super.memberList();
    return list.map((m) =>
      m.id === NEW_ID && this.at(this.clock.t).named ? { ...m, name: 'etcd-spare-0.example.test', clientURLs: [`https://${SPARE_IP}:2379`] } : m,
    );
  }
  override async health(endpoints: string[]): Promise<EndpointHealth[]> {
    return endpoints.map((endpoint) => ({ endpoint, healthy: this.at(this.clock.t).healthy }));
  }
}

function setup(at: (seconds: number) => { named: boolean; healthy: boolean }, dataBytes: (seconds: number) => number) {
  const clock = { t: 0 };
  const t0 = Date.parse('2026-12-02T04:00:00Z');
  const cluster = new JoiningCluster(clock, at);
  const runner = new FakeRunner()
    .on('StartNewMember', { stdout: { started: 'now', backedUpData: false } })
    .on('DescribeEtcdHost', () => ({ stdout: { dataBytes: dataBytes(clock.t) } }), { args: ['data-bytes'] });
  const deps = {
    ...fakeDeps(cluster),
    now: () => new Date(t0 + clock.t * 1000),
    sleep: async (ms: number) => {
      clock.t += ms / 1000;
    },
    runner,
    artifacts: new FakeArtifactStore(),
  };
  const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0', {
    newMemberId: NEW_ID,
    memberAdded: true,
    addedAsLearner: false,
    memberAddedAt: new Date(t0).toISOString(),
    bundleKey: 'runs/r-unit-0001/bundle.tgz',
    clusterId: FAKE_CLUSTER_ID,
    clusterVersion: '3.2.22',
    survivors: [
      { id: memberId(0xa0), name: 'master-0.example.test', peerURL: 'https://198.51.100.2:2380', clientURL: 'https://198.51.100.2:2379' },
      { id: memberId(0xa1), name: 'master-1.example.test', peerURL: 'https://198.51.100.3:2380', clientURL: 'https://198.51.100.3:2379' },
    ],
  });
  return { clock, deps, context, runner };
}

describe('Step: StartNewMember, without a learner', () => {
  it('is done only once the member is listed and healthy, and records when: the add-to-caught-up window', async () => {
    // etcd 3.2: listed almost at once (the others commit its name), healthy after 100 s of replay.
    const { deps, context } = setup(
      (t) => ({ named: t > 1, healthy: t > 100 }),
      (t) => Math.floor(t) * 1_000_000,
    );
    const result = await StartNewMember(context, deps);
    const started = Date.parse(result.output.newMemberStartedAt!) - Date.parse(context.memberAddedAt!);
    expect(started / 1000).toBeGreaterThan(100);
    expect(started / 1000).toBeLessThan(103);
    expect(result.detail).toMatch(/voted 10\d\.\d s before it had caught up \(no learner\)/);
  });

  it('fails with NewMemberFailedError after memberStartSeconds without progress (nothing answers, the data directory does not grow)', async () => {
    const { clock, deps, context } = setup(
      () => ({ named: false, healthy: false }),
      () => 4096,
    );
    const error = await StartNewMember(context, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NewMemberFailedError);
    expect((error as Error).message).toMatch(/has not answered, and its data directory on etcd-spare-0 has not grown, for 60s/);
    expect(clock.t).toBeGreaterThan(DEFAULT_WAITS.memberStartSeconds);
    expect(clock.t).toBeLessThan(DEFAULT_WAITS.memberStartSeconds + 5);
  });

  it("a member whose etcd stopped for lack of space is named so, with df's numbers (NoSpaceLeftError, retried by no rule)", async () => {
    const { clock, deps, context, runner } = setup(
      () => ({ named: false, healthy: false }),
      () => 4096,
    );
    runner.on('DescribeEtcdHost', { stdout: { dataBytes: 31_457_280, sizeBytes: 33_554_432, availableBytes: 1_048_576 } }, { args: ['data-space'] });
    const error = await StartNewMember(context, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSpaceLeftError);
    expect((error as Error).message).toBe(
      'no space left on /var/lib/etcd on etcd-spare-0: 1.0 MiB free of 32.0 MiB (df; 30.0 MiB in /var/lib/etcd), and etcd needs 64.0 MiB for each WAL file: ' +
        'free space there or give the host a larger disk, then run the replacement again',
    );
    expect(clock.t).toBeGreaterThan(DEFAULT_WAITS.memberStartSeconds);
    expect(runner.sent('DescribeEtcdHost')).toContain('DescribeEtcdHost@etcd-spare-0 data-space');
  });

  it('with room on the disk the member that made no progress is NewMemberFailedError as before', async () => {
    const { deps, context, runner } = setup(
      () => ({ named: false, healthy: false }),
      () => 4096,
    );
    runner.on('DescribeEtcdHost', { stdout: { dataBytes: 4096, sizeBytes: 10_737_418_240, availableBytes: 9_663_676_416 } }, { args: ['data-space'] });
    const error = await StartNewMember(context, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NewMemberFailedError);
    expect(error).not.toBeInstanceOf(NoSpaceLeftError);
  });

  it('waits on while the data directory grows, and at the budget hands over with NewMemberCatchingUpError', async () => {
    const { clock, deps, context, runner } = setup(
      () => ({ named: true, healthy: false }),
      (t) => Math.floor(t) * 1_000_000,
    );
    const error = await StartNewMember(context, { ...deps, waits: { ...deps.waits, memberCatchUpSeconds: 300 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NewMemberCatchingUpError);
    expect(clock.t).toBeGreaterThanOrEqual(300);
    expect(clock.t).toBeLessThan(305);
    expect(runner.sent('DescribeEtcdHost').filter((s) => s === 'DescribeEtcdHost@etcd-spare-0 data-bytes').length).toBeGreaterThan(100);
  });
});

const BUNDLE = `runs/${RUN_ID}/bundle-${SPARE.hostname}.tgz`;
const PRIOR_DATA = `runs/${RUN_ID}/replacement-prior-data-${SPARE.hostname}.tgz`;
const INITIAL_CLUSTER =
  'master-0.example.test=https://198.51.100.2:2380,master-1.example.test=https://198.51.100.3:2380,etcd-spare-0.example.test=https://198.51.100.9:2380';
const learnerAdded = (extra = {}) =>
  confirmedContext({
    failedMemberRemoved: true,
    memberAdded: true,
    newMemberId: NEW_ID,
    addedAsLearner: true,
    bundleKey: BUNDLE,
    initialCluster: INITIAL_CLUSTER,
    ...extra,
  });

/** The cluster once the learner started (listed under its name) and the new host that starts it. */
function started(started: 'now' | 'already' = 'now'): StepWorld {
  const world = stepWorld([...survivingMembers(), fakeMember(0xb0, 'etcd-spare-0', SPARE_IP, true, { isLearner: true })]);
  world.artifacts.put(BUNDLE, 8192);
  world.runner.on('StartNewMember', { stdout: { started, backedUpData: false } });
  return world;
}

describe('Step: StartNewMember, its command and checks', () => {
  it('starts etcd on the new host as the added member, the URLs on stdin only, and deletes the bundle once it runs', async () => {
    const world = started();
    const result = await StartNewMember(learnerAdded(), world.deps);
    expect(world.runner.sent()).toEqual([`StartNewMember@etcd-spare-0 ${SPARE.hostname} ${FAKE_CLUSTER_ID} ${NEW_ID} 60`]);
    expect(world.runner.requests[0]).toMatchObject({
      timeoutSeconds: 180,
      secrets: { BUNDLE_URL: expect.stringContaining(BUNDLE), BACKUP_UPLOAD_URL: expect.stringContaining(PRIOR_DATA) },
    });
    expectSecretsOnlyOnStdin(world);
    expect(world.artifacts.objects.has(BUNDLE)).toBe(false);
    expect(result).toEqual({ output: { newMemberStartedAt: NOW.toISOString() }, detail: `etcd-spare-0: etcd started as member ${NEW_ID}` });
  });

  it('a second run finds etcd running as the member: says so, and keeps when it first started', async () => {
    const world = started();
    const first = await StartNewMember(learnerAdded(), world.deps);
    world.runner.on('StartNewMember', { stdout: { started: 'already', backedUpData: false } });
    const later = { ...world.deps, now: () => new Date(NOW.getTime() + 60_000) };
    const second = await StartNewMember(after(learnerAdded(), first), later);
    expect(second.output).toEqual({ newMemberStartedAt: NOW.toISOString() });
    expect(second.detail).toBe(`etcd-spare-0: etcd was already running as member ${NEW_ID}`);
    expect(world.runner.requests).toHaveLength(2);
  });

  it('refuses, before anything runs on the host, when another member of the cluster runs there', async () => {
    const world = stepWorld([...survivingMembers(), fakeMember(0xc0, 'etcd-spare-0', SPARE_IP, true)]);
    const error = await failure(StartNewMember(learnerAdded(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/^StartNewMember: etcd-spare-0 is member 00000000000000c0/);
    expect(world.runner.requests).toEqual([]);
  });

  it('ETCD_INITIAL_CLUSTER no longer the member list: NewMemberFailedError before anything runs on the host', async () => {
    const world = started();
    const error = await failure(
      StartNewMember(
        learnerAdded({ initialCluster: 'master-0.example.test=https://198.51.100.2:2380,etcd-spare-0.example.test=https://198.51.100.9:2380' }),
        world.deps,
      ),
    );
    expect(error).toBeInstanceOf(NewMemberFailedError);
    expect(error.message).toMatch(/^the member list changed since the new member's etcd.conf was written/);
    expect(world.runner.requests).toEqual([]);
  });

  it('the member gone from the list after the start: NewMemberFailedError, the bundle kept for the retry', async () => {
    const world = started();
    world.runner.on('StartNewMember', () => {
      world.cluster.members = survivingMembers();
      return { stdout: { started: 'now', backedUpData: false } };
    });
    const error = await failure(StartNewMember(learnerAdded(), world.deps));
    expect(error).toBeInstanceOf(NewMemberFailedError);
    expect(error.message).toBe(`member ${NEW_ID} is no longer in the member list`);
    expect(world.artifacts.objects.has(BUNDLE)).toBe(true);
  });

  it.each(exitCases([...HOST_WORK_RETRIES, 'NewMemberFailedError'], { 4: 'NewMemberFailedError' }))(
    'StartNewMember.sh exit %i is %s (retried: %s); the bundle stays',
    async (code, name, isRetried) => {
      const world = started();
      world.runner.exits('StartNewMember', code, 'etcd did not start listening');
      const error = await failure(StartNewMember(learnerAdded(), world.deps));
      expect(error.name).toBe(name);
      expect(retried('StartNewMember', error)).toBe(isRetried);
      expect(world.artifacts.objects.has(BUNDLE)).toBe(true);
    },
  );
});
