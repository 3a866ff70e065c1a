// Preflight verdicts (CheckClusterHealth / ConfirmMemberFailed) against a fake cluster: what is
// refused, what is retried, what is allowed, and that nothing but reads reaches the cluster.

import { describe, expect, it } from 'vitest';
import { assessFailure } from '../../functions/cluster/assessFailure.ts';
import { EtcdUnavailableError, HostUnreachableError, InvalidInputError, RefusedError } from '../../functions/errors.ts';
import { NO_LEADER, type Inventory } from '../../functions/ports.ts';
import {
  FakeCluster,
  fakeDeps,
  fakeMember as member,
  host,
  memberId as ID,
  threeMembers as three,
  unitInventory as inventory,
  validatedContext,
  type FakeMember,
} from '../support/fakeCluster.ts';

async function assess(
  members: FakeMember[],
  failed: string,
  options: { inventory?: Inventory; caBackupKey?: string; leaderId?: string; observation?: 'first' | 'second' } = {},
) {
  const cluster = new FakeCluster(members, options.leaderId);
  const context = validatedContext(options.inventory ?? inventory(), failed, 'etcd-spare-0');
  if (options.caBackupKey) context.options.caBackupKey = options.caBackupKey;
  const result = await assessFailure(context, fakeDeps(cluster), options.observation ?? 'first');
  expect(cluster.calls.every((c) => c === 'memberList' || c.startsWith('status ') || c.startsWith('view '))).toBe(true);
  return result;
}

async function refusal(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e as Error,
  );
  expect(error).not.toBeNull();
  return error!;
}

describe('preflight: quorum', () => {
  it('allows the replacement of one failed member of three', async () => {
    const result = await assess(three(['master-2']), 'master-2');
    expect(result.output.failedMember?.id).toBe(ID(0xa2));
    // master-0 leads: the follower comes first (etcdctl and the snapshot go through it), the leader last.
    expect(result.output.survivors?.map((s) => s.id)).toEqual([ID(0xa1), ID(0xa0)]);
    expect(result.output.learnerSupported).toBe(true);
    expect(result.detail).toMatch(/2 of 3 voting members answer; 2 needed after the change/);
  });

  it('refuses when the cluster has no quorum now, with disaster-recovery guidance', async () => {
    const error = await refusal(assess(three(['master-1', 'master-2']), 'master-2'));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/the cluster has no quorum: 1 of 3 voting members answer and 2 are needed/);
    expect(error.message).toMatch(/quorum is lost: membership cannot be changed safely/);
    expect(error.message).toMatch(/snapshot restore/);
  });

  it('refuses a change that would cost quorum: five members, the failed one and two others down', async () => {
    const five = [...three(['master-2']), member(0xa3, 'master-3', '198.51.100.5', false), member(0xa4, 'master-4', '198.51.100.6', false)];
    const inv = inventory([host('master-3', '198.51.100.5', ['master', 'etcd']), host('master-4', '198.51.100.6', ['master', 'etcd'])]);
    const error = await refusal(assess(five, 'master-2', { inventory: inv }));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/no quorum: 2 of 5/);
    // With one other member down quorum would hold (3 of 4 after the removal, 3 of 3 with it removed
    // too), but etcd refuses to add any member while a voting member is unreachable: the run would end a
    // member short. The first observation goes on, so that a run for it may join this one before the
    // second; the second refuses it when nobody took it in.
    const oneOther = [...three(['master-2']), member(0xa3, 'master-3', '198.51.100.5', false), member(0xa4, 'master-4', '198.51.100.6', true)];
    const first = await assess(oneOther, 'master-2', { inventory: inv });
    expect(first.output.silentVoters).toEqual([ID(0xa3)]);
    expect(first.detail).toMatch(
      /member\(s\) master-3\.example\.test \(00000000000000a3\) do not answer either: the run goes on so that a run for them may join it, and its second observation refuses them unless taken in/,
    );
    expect((await assess(three(['master-2']), 'master-2')).output.silentVoters).toEqual([]);
    const other = await refusal(assess(oneOther, 'master-2', { inventory: inv, observation: 'second' }));
    expect(other).toBeInstanceOf(RefusedError);
    expect(other.message).toMatch(
      /member\(s\) master-3\.example\.test \(00000000000000a3\) do not answer either at the second observation: etcd refuses to add a member while any voting member is unreachable/,
    );
    expect(other.message).toMatch(/Name every failed member in one run \(--failed once per member/);
  });

  it('a replacement found in the member list is refused as bad input, never taken for "already added"', async () => {
    const withLearner = [...three(['master-2']), member(0xb0, 'etcd-spare-0', '198.51.100.9', true, { isLearner: true })];
    // Not added by this run (its record says nothing): refused, exit 2, whatever else the cluster shows.
    const error = await refusal(assess(withLearner, 'master-2'));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/etcd-spare-0 \(etcd-spare-0\.example\.test, 198\.51\.100\.9\) is a member of the cluster: member 00000000000000b0/);
  });
});

describe('preflight: whose view counts', () => {
  it('a partitioned member host that reaches only itself does not pass for lost quorum: the majority view wins', async () => {
    const inv = inventory([host('master-3', '198.51.100.5', ['master', 'etcd']), host('master-4', '198.51.100.6', ['master', 'etcd'])]);
    const all = [
      member(0xa0, 'master-0', '198.51.100.2', true),
      member(0xa1, 'master-1', '198.51.100.3', true),
      member(0xa2, 'master-2', '198.51.100.4', true),
      member(0xa3, 'master-3', '198.51.100.5', false),
      member(0xa4, 'master-4', '198.51.100.6', true),
    ];
    // Through master-0 (cut off) only master-0 answers, and it knows no leader; through the others master-0 is silent.
    const fromMaster0 = new FakeCluster(all.map((m) => ({ ...m, up: m.id === ID(0xa0), leaderId: NO_LEADER })));
    const fromOthers = new FakeCluster(
      all.map((m) => ({ ...m, up: m.up && m.id !== ID(0xa0) })),
      ID(0xa1),
    );
    const asked: string[] = [];
    const deps = fakeDeps((via) => {
      asked.push(via.map((h) => h.name).join(','));
      return via.length === 1 && via[0]!.name !== 'master-0' ? fromOthers : fromMaster0;
    });
    // The majority's view: quorum holds (no restore-from-snapshot guidance), master-0 is the one that does not answer.
    const error = await refusal(assessFailure(validatedContext(inv, 'master-3', 'etcd-spare-0'), deps, 'second'));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).not.toMatch(/no quorum|snapshot restore/);
    expect(error.message).toMatch(/member\(s\) master-0\.example\.test \(00000000000000a0\) do not answer either/);
    expect(asked[0]).toBe('master-0,master-1,master-2,master-4');
    expect(asked.slice(1)).toContain('master-1');
  });

  it('the other views go through member hosts only and ask members only: an inventory host that is no member (a former member, fenced) is not asked', async () => {
    // master-3 and master-4 are etcd hosts of the inventory but no members (restored without them); no view has quorum.
    const inv = inventory([host('master-3', '198.51.100.5', ['master', 'etcd']), host('master-4', '198.51.100.6', ['master', 'etcd'])]);
    const clusters: FakeCluster[] = [];
    const asked: string[] = [];
    const deps = fakeDeps((via) => {
      asked.push(via.map((h) => h.name).join(','));
      const cluster = new FakeCluster(three(['master-1', 'master-2']));
      clusters.push(cluster);
      return cluster;
    });
    await refusal(assessFailure(validatedContext(inv, 'master-2', 'etcd-spare-0'), deps, 'first'));
    expect(asked.slice(1)).toEqual(['master-0', 'master-1']);
    for (const cluster of clusters.slice(1)) {
      for (const call of cluster.calls.filter((c) => c.startsWith('view ') || c.startsWith('status '))) expect(call).not.toMatch(/198\.51\.100\.[56]:/);
    }
  });

  it('when no host sees quorum, the refusal stands', async () => {
    const deps = fakeDeps(() => new FakeCluster(three(['master-1', 'master-2'])));
    const error = await refusal(assessFailure(validatedContext(inventory(), 'master-2', 'etcd-spare-0'), deps, 'first'));
    expect(error.message).toMatch(/no quorum: 1 of 3/);
  });
});

describe('preflight: the failed member', () => {
  it('refuses to remove a healthy member', async () => {
    const error = await refusal(assess(three([]), 'master-2'));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/answers health checks at the first observation: refusing to remove a healthy member/);
  });

  it('matches an IP exactly: 198.51.100.3 is not 198.51.100.34', async () => {
    const inv = inventory([host('master-34', '198.51.100.34', ['master', 'etcd'])]);
    const members = [...three(['master-1']), member(0xb4, 'master-34', '198.51.100.34', true)];
    // Four members, one replaced: ends with four. Use a fifth to keep the count odd.
    members.push(member(0xb5, 'master-35', '198.51.100.35', true));
    inv.hosts.push(host('master-35', '198.51.100.35', ['master', 'etcd']));
    const result = await assess(members, '198.51.100.3', { inventory: inv });
    expect(result.output.failedMember?.id).toBe(ID(0xa1));
    // And the other way round: .34 is healthy, so naming it is refused; .3 is never touched by that.
    const error = await refusal(assess(members, '198.51.100.34', { inventory: inv }));
    expect(error.message).toMatch(new RegExp(`${ID(0xb4)}.*refusing to remove a healthy member`));
  });

  it('matches a name exactly: master-1 is not master-10', async () => {
    const inv = inventory([host('master-10', '198.51.100.13', ['master', 'etcd']), host('master-11', '198.51.100.14', ['master', 'etcd'])]);
    const members = [...three(['master-1']), member(0xba, 'master-10', '198.51.100.13', true), member(0xbb, 'master-11', '198.51.100.14', true)];
    const byName = await assess(members, 'master-1', { inventory: inv });
    expect(byName.output.failedMember?.id).toBe(ID(0xa1));
    const byHostname = await assess(members, 'master-1.example.test', { inventory: inv });
    expect(byHostname.output.failedMember?.id).toBe(ID(0xa1));
    const byId = await assess(members, ID(0xa1).replace(/^0+/, ''), { inventory: inv });
    expect(byId.output.failedMember?.id).toBe(ID(0xa1));
    const byPeerUrl = await assess(members, 'https://198.51.100.3:2380', { inventory: inv });
    expect(byPeerUrl.output.failedMember?.id).toBe(ID(0xa1));
    // master-10 is healthy: refused, and it is master-10 the refusal names, not master-1.
    const error = await refusal(assess(members, 'master-10', { inventory: inv }));
    expect(error.message).toMatch(/member master-10\.example\.test \(00000000000000ba\)/);
  });

  it('refuses an ambiguous name: two members match, name one by member ID', async () => {
    // A stale second member carries master-2's name; master-2's host also owns the peer URL of the first.
    const members = [...three(['master-2']), member(0xc2, 'master-2', '198.51.100.44', false), member(0xc3, 'master-3', '198.51.100.45', true)];
    const inv = inventory([host('master-3', '198.51.100.45', ['master', 'etcd'])]);
    const error = await refusal(assess(members, 'master-2', { inventory: inv }));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/matches 2 members \(00000000000000a2, 00000000000000c2\); name one by member ID/);
  });

  it('refuses a name that matches no member and no host', async () => {
    const error = await refusal(assess(three(['master-2']), 'master-9'));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/no member and no host matches "master-9" exactly/);
  });

  it('refuses a failed host that is no member (exit 2), whatever the member count would be', async () => {
    const error = await refusal(assess(three(['master-2']).slice(0, 2), 'master-2'));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/master-2 is not a member of the cluster/);
    expect(error.message).not.toMatch(/would end with/);
  });
});

describe('preflight: the shape of the cluster', () => {
  it('refuses while a stray learner is in the cluster', async () => {
    const members = [...three(['master-2']), member(0xd0, '', '198.51.100.20', false, { isLearner: true })];
    const error = await refusal(assess(members, 'master-2'));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/learner member\(s\) 00000000000000d0 are in the cluster; finish or remove them/);
  });

  it('refuses a request that would end with an even member count', async () => {
    const inv = inventory([host('master-3', '198.51.100.5', ['master', 'etcd'])]);
    const four = [...three(['master-2']), member(0xa3, 'master-3', '198.51.100.5', true)];
    const error = await refusal(assess(four, 'master-2', { inventory: inv }));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/the cluster would end with 4 members: an etcd cluster must end with an odd count/);
  });

  it('refuses when the failed member is the CA host, with guidance, unless a CA backup is configured', async () => {
    const error = await refusal(assess(three(['master-0']), 'master-0'));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/master-0 is the etcd CA host: its \/etc\/etcd\/ca is needed/);
    expect(error.message).toMatch(/A new CA is never created silently/);
    const withBackup = await assess(three(['master-0']), 'master-0', { caBackupKey: 'ca/etcd-ca.tgz', leaderId: ID(0xa1) });
    expect(withBackup.output.failedMember?.id).toBe(ID(0xa0));
    // A survivor takes over as the CA host, to restore the backup there.
    expect(withBackup.output.caHost?.name).toMatch(/^master-[12]$/);
    const missing = await refusal(assess(three(['master-0']), 'master-0', { caBackupKey: 'backups/none.tgz', leaderId: ID(0xa1) }));
    expect(missing).toBeInstanceOf(InvalidInputError);
    expect(missing.message).toMatch(/no CA backup at backups\/none.tgz/);
  });

  it('an election in progress (no leader known) is retryable, not a refusal', async () => {
    const members = three(['master-2']).map((m) => ({ ...m, leaderId: NO_LEADER }));
    const error = await refusal(assess(members, 'master-2'));
    expect(error).toBeInstanceOf(EtcdUnavailableError);
    expect(error.message).toMatch(/do not agree on one leader yet \(none\)/);
  });

  it('members that disagree on the leader are retryable too', async () => {
    const members = three(['master-2']);
    members[0]!.leaderId = ID(0xa0);
    members[1]!.leaderId = ID(0xa1);
    const error = await refusal(assess(members, 'master-2'));
    expect(error).toBeInstanceOf(EtcdUnavailableError);
  });

  it('learner first only when every answering member runs etcd 3.4 or later', async () => {
    const members = three(['master-2']);
    members[1]!.version = '3.3.25';
    const result = await assess(members, 'master-2');
    expect(result.output.learnerSupported).toBe(false);
  });

  it('the second observation keeps the time of the first', async () => {
    const cluster = new FakeCluster(three(['master-2']));
    const context = validatedContext(inventory(), 'master-2', 'etcd-spare-0', { failureObservedAt: ['2025-12-31T23:59:50.000Z'] });
    const result = await assessFailure(context, fakeDeps(cluster), 'second');
    expect(result.output.failureObservedAt).toEqual(['2025-12-31T23:59:50.000Z', '2026-01-01T00:00:00.000Z']);
  });
});

describe('preflight: the replacement host', () => {
  it('is asked what etcd it runs while the cluster is observed, not after; its answer decides as before', async () => {
    const cluster = new FakeCluster(three(['master-2']));
    const events: string[] = [];
    const view = cluster.view.bind(cluster);
    cluster.view = async (endpoints: string[]) => {
      events.push('view asked');
      await new Promise((resolve) => setTimeout(resolve, 5));
      events.push('view answered');
      return view(endpoints);
    };
    const staticPod = { staticPod: true, unitActive: false, unitEnabled: false, installedVersion: null, listening: false, running: null, dataDirEmpty: true };
    const deps = {
      ...fakeDeps(cluster),
      runner: {
        run: async (request: { script: string }) => {
          events.push(`${request.script} asked`);
          return { exitCode: 0, stdout: `${JSON.stringify(staticPod)}\n`, stderr: '' };
        },
      },
    };
    const error = await refusal(assessFailure(validatedContext(inventory(), 'master-2', 'etcd-spare-0'), deps, 'first'));
    expect(events.indexOf('DescribeEtcdHost asked')).toBeLessThan(events.indexOf('view answered'));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/etcd-spare-0 .* cannot be the replacement: it carries the etcd static pod/);
  });

  it('a replacement host that cannot be asked fails the first observation as before, once the identities are checked', async () => {
    const cluster = new FakeCluster(three(['master-2']));
    const deps = { ...fakeDeps(cluster), runner: { run: async () => Promise.reject(new HostUnreachableError('etcd-spare-0 is powered off')) } };
    const error = await refusal(assessFailure(validatedContext(inventory(), 'master-2', 'etcd-spare-0'), deps, 'first'));
    expect(error).toBeInstanceOf(HostUnreachableError);
    const second = await assessFailure(validatedContext(inventory(), 'master-2', 'etcd-spare-0'), deps, 'second');
    expect(second.output.failedMember?.id).toBe(ID(0xa2));
  });
});
