// StartNewMember (functions/steps/StartNewMember.ts): StartNewMember.sh HOSTNAME CLUSTER_ID MEMBER_ID
// WAIT SELF_URL MEMBER_URLS WATCH_URLS learner|voter BUDGET on the new host (the bundle's download URL and
// the prior data's upload URL on stdin), after checking that no other member runs there and that
// ETCD_INITIAL_CLUSTER still matches the member list. The same command waits on the new host until the
// member has started (lib/awaitMember.sh); the step reads what it printed last: started, no progress
// (df's numbers decide "no space left"), answering but unhealthy, the budget spent (handed to the next
// attempt), removed, or a watched member that stopped answering: then the step looks at the cluster, stops
// on a quorum the new member's vote cannot bring back, else waits on with one more command. Once it runs,
// its key bundle leaves the store.

import { describe, expect, it } from 'vitest';
import { NewMemberCatchingUpError, NewMemberFailedError, NoSpaceLeftError, QuorumLostError, RefusedError } from '../../../functions/errors.ts';
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
const SURVIVOR_URLS = 'https://198.51.100.2:2379,https://198.51.100.3:2379';

/** The cluster after the failed member's removal and the plain add. */
function joiningCluster(): FakeCluster {
  return new FakeCluster([...threeMembers([]).slice(0, 2), fakeMember(0xb0, 'etcd-spare-0.example.test', SPARE_IP, false)]);
}

/** What lib/awaitMember.sh prints last. */
const waited = (state: string, extra: Record<string, unknown> = {}) => ({
  state,
  named: true,
  answered: false,
  dataBytes: 4096,
  sizeBytes: 0,
  availableBytes: 0,
  down: null,
  waitedSeconds: 1,
  ...extra,
});

function setup(wait: Record<string, unknown>, cluster: FakeCluster = joiningCluster()) {
  const clock = { t: 0 };
  const t0 = Date.parse('2026-12-02T04:00:00Z');
  const runner = new FakeRunner().on('StartNewMember', { stdout: { started: 'now', backedUpData: false, ...wait } });
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
  return { clock, deps, context, runner, cluster };
}

describe('Step: StartNewMember, without a learner: the wait on the new host', () => {
  it('one command starts the member and waits on its host until it is caught up; the add-to-caught-up window is recorded', async () => {
    const { deps, context, runner, clock } = setup(waited('caughtUp'));
    runner.on('StartNewMember', () => {
      clock.t += 101; // the replay of a large cluster, waited out on the host
      return { stdout: { started: 'now', backedUpData: false, ...waited('caughtUp', { waitedSeconds: 101 }) } };
    });
    const result = await StartNewMember(context, deps);
    expect(runner.sent()).toEqual([
      `StartNewMember@etcd-spare-0 etcd-spare-0.example.test ${FAKE_CLUSTER_ID} ${NEW_ID} 60 https://${SPARE_IP}:2379 ` +
        `https://198.51.100.2:2379,https://198.51.100.3:2379 https://198.51.100.2:2379,https://198.51.100.3:2379 voter ${DEFAULT_WAITS.memberCatchUpSeconds}`,
    ]);
    expect(runner.requests[0]!.timeoutSeconds).toBe(60 + 120 + DEFAULT_WAITS.memberCatchUpSeconds);
    const started = Date.parse(result.output.newMemberStartedAt!) - Date.parse(context.memberAddedAt!);
    expect(started / 1000).toBe(101);
    expect(result.detail).toMatch(/voted 101\.0 s before it had caught up \(no learner\)/);
  });

  it('no progress for memberStartSeconds (nothing answers, the data directory does not grow): NewMemberFailedError', async () => {
    const { deps, context } = setup(waited('noProgress', { named: false, sizeBytes: 10_737_418_240, availableBytes: 9_663_676_416 }));
    const error = await failure(StartNewMember(context, deps));
    expect(error).toBeInstanceOf(NewMemberFailedError);
    expect(error).not.toBeInstanceOf(NoSpaceLeftError);
    expect(error.message).toMatch(/has not answered, and its data directory on etcd-spare-0 has not grown, for 60s \(it still shows as unstarted\)/);
  });

  it("a member whose etcd stopped for lack of space is named so, with df's numbers the wait read on its host (NoSpaceLeftError)", async () => {
    const { deps, context, runner } = setup(waited('noProgress', { named: false, dataBytes: 31_457_280, sizeBytes: 33_554_432, availableBytes: 1_048_576 }));
    const error = await failure(StartNewMember(context, deps));
    expect(error).toBeInstanceOf(NoSpaceLeftError);
    expect(error.message).toBe(
      'no space left on /var/lib/etcd on etcd-spare-0: 1.0 MiB free of 32.0 MiB (df; 30.0 MiB in /var/lib/etcd), and etcd needs 64.0 MiB for each WAL file: ' +
        'free space there or give the host a larger disk, then run the replacement again',
    );
    expect(runner.requests).toHaveLength(1);
  });

  it('answering but not healthy for memberStartSeconds: NewMemberFailedError; still catching up at the budget: NewMemberCatchingUpError', async () => {
    const unhealthy = await failure(
      StartNewMember(setup(waited('unhealthy', { answered: true })).context, setup(waited('unhealthy', { answered: true })).deps),
    );
    expect(unhealthy).toBeInstanceOf(NewMemberFailedError);
    expect(unhealthy.message).toBe(`member ${NEW_ID} answers but its endpoint has not been healthy for 60s`);
    const world = setup(waited('budget', { dataBytes: 900_000_000 }));
    const late = await failure(StartNewMember(world.context, world.deps));
    expect(late).toBeInstanceOf(NewMemberCatchingUpError);
    expect(late.message).toMatch(/still catching up after 780s \(900000000 bytes of data on etcd-spare-0\)/);
    expect(world.deps.artifacts.objects.size).toBe(0);
  });

  it('a watched member stops answering and quorum holds: the step looks at the cluster, then waits on watching only the members that answered', async () => {
    const { deps, context, runner, clock } = setup(waited('doubt', { down: 'https://198.51.100.3:2379', waitedSeconds: 7 }));
    runner.on('DescribeEtcdHost', () => {
      clock.t += 30;
      return { stdout: waited('caughtUp') };
    });
    // master-1 answers the step's own look: the host's doubt was passing.
    await StartNewMember(context, deps);
    expect(runner.sent('DescribeEtcdHost')).toEqual([
      `DescribeEtcdHost@etcd-spare-0 await-member etcd-spare-0.example.test ${NEW_ID} https://${SPARE_IP}:2379 ` +
        `https://198.51.100.2:2379,https://198.51.100.3:2379 https://198.51.100.2:2379,https://198.51.100.3:2379 voter 60 ${DEFAULT_WAITS.memberCatchUpSeconds}`,
    ]);
  });

  it('a second member lost while the new one starts, and its own vote would not bring quorum back: QuorumLostError after 5 s, no second wait', async () => {
    const cluster = new FakeCluster([
      ...threeMembers(['master-1']).slice(0, 2),
      fakeMember(0xb0, 'etcd-spare-0.example.test', SPARE_IP, false),
      fakeMember(0xa3, 'master-3.example.test', '198.51.100.5', false),
      fakeMember(0xa4, 'master-4.example.test', '198.51.100.6', false),
    ]);
    const { deps, context, runner, clock } = setup(waited('doubt', { down: 'https://198.51.100.3:2379' }), cluster);
    const error = await failure(StartNewMember(context, deps));
    expect(error).toBeInstanceOf(QuorumLostError);
    expect(error.message).toMatch(/cannot join: quorum is lost: 1 of 5 voting members answer and 3 are needed, for 5 s/);
    expect(clock.t).toBe(5);
    expect(runner.sent('DescribeEtcdHost')).toEqual([]);
  });

  it('the member gone from the member list: NewMemberFailedError', async () => {
    const error = await failure(StartNewMember(setup(waited('removed')).context, setup(waited('removed')).deps));
    expect(error).toBeInstanceOf(NewMemberFailedError);
    expect(error.message).toBe(`member ${NEW_ID} is no longer in the member list`);
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
  world.runner.on('StartNewMember', { stdout: { started, backedUpData: false, state: 'caughtUp' } });
  return world;
}

describe('Step: StartNewMember, its command and checks', () => {
  it('starts etcd on the new host as the added member, the URLs on stdin only, and deletes the bundle once it runs', async () => {
    const world = started();
    const result = await StartNewMember(learnerAdded(), world.deps);
    expect(world.runner.sent()).toEqual([
      `StartNewMember@etcd-spare-0 ${SPARE.hostname} ${FAKE_CLUSTER_ID} ${NEW_ID} 60 https://${SPARE_IP}:2379 ${SURVIVOR_URLS} ${SURVIVOR_URLS} learner 780`,
    ]);
    expect(world.runner.requests[0]).toMatchObject({
      timeoutSeconds: 180 + 780,
      secrets: { BUNDLE_URL: expect.stringContaining(BUNDLE), BACKUP_UPLOAD_URL: expect.stringContaining(PRIOR_DATA) },
    });
    expectSecretsOnlyOnStdin(world);
    expect(world.artifacts.objects.has(BUNDLE)).toBe(false);
    expect(result).toEqual({ output: { newMemberStartedAt: NOW.toISOString() }, detail: `etcd-spare-0: etcd started as member ${NEW_ID}` });
  });

  it('a second run finds etcd running as the member: says so, and keeps when it first started', async () => {
    const world = started();
    const first = await StartNewMember(learnerAdded(), world.deps);
    world.runner.on('StartNewMember', { stdout: { started: 'already', backedUpData: false, state: 'caughtUp' } });
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
      return { stdout: { started: 'now', backedUpData: false, state: 'removed' } };
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

describe('Step: StartNewMember, the member list its AddMember read after the add', () => {
  const listed = (id: string, name: string, ip: string, isLearner = false) => ({
    id,
    name,
    peerURLs: [`https://${ip}:2380`],
    clientURLs: name === '' ? [] : [`https://${ip}:2379`],
    isLearner,
  });
  const afterAdd = (members: ReturnType<typeof listed>[], newMemberId = NEW_ID) => ({ membersAfterAdd: { newMemberId, members } });
  const survivorsListed = () => [
    listed(memberId(0xa0), 'master-0.example.test', '198.51.100.2'),
    listed(memberId(0xa1), 'master-1.example.test', '198.51.100.3'),
  ];

  it('checks the list the add left instead of reading it again', async () => {
    const world = started();
    await StartNewMember(learnerAdded(afterAdd([...survivorsListed(), listed(NEW_ID, '', SPARE_IP, true)])), world.deps);
    expect(world.cluster.calls).not.toContain('memberList');
    expect(world.runner.requests).toHaveLength(1);
  });

  it('still refuses a host that another member of that list runs on, before anything runs there', async () => {
    const world = started();
    const members = [...survivorsListed(), listed(memberId(0xc0), 'etcd-spare-0.example.test', SPARE_IP), listed(NEW_ID, '', SPARE_IP, true)];
    const error = await failure(StartNewMember(learnerAdded(afterAdd(members)), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/^StartNewMember: etcd-spare-0 is member 00000000000000c0/);
    expect(world.cluster.calls).not.toContain('memberList');
    expect(world.runner.requests).toEqual([]);
  });

  it('still checks ETCD_INITIAL_CLUSTER against that list', async () => {
    const world = started();
    const members = [listed(memberId(0xa0), 'master-0.example.test', '198.51.100.2'), listed(NEW_ID, '', SPARE_IP, true)];
    const error = await failure(StartNewMember(learnerAdded(afterAdd(members)), world.deps));
    expect(error).toBeInstanceOf(NewMemberFailedError);
    expect(error.message).toMatch(/^the member list changed since the new member's etcd.conf was written/);
    expect(world.runner.requests).toEqual([]);
  });

  it('a list the add left for another member (or none): the list is read', async () => {
    for (const extra of [afterAdd(survivorsListed(), memberId(0xb9)), {}]) {
      const world = started();
      await StartNewMember(learnerAdded(extra), world.deps);
      expect(world.cluster.calls).toContain('memberList');
    }
  });
});
