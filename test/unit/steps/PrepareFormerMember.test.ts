// PrepareFormerMember (functions/steps/PrepareFormerMember.ts): the restore's re-add loop entry. Its first
// visit makes a slot of every former member but the restored one (its own host when fenced on the host, else
// the spare pool's next free host), with the restored member as the survivor; each later visit loads the
// next, the member re-added before among the survivors; a member re-added on its own host has its network
// fence lifted when it is loaded. Deterministic on its input.

import { describe, expect, it } from 'vitest';
import type { RestoreStepResult } from '../../../functions/cluster/restoreFacts.ts';
import { PrepareFormerMember } from '../../../functions/steps/PrepareFormerMember.ts';
import { fakeMember, memberId, unitInventory } from '../../support/fakeCluster.ts';
import { failure, HOSTS, NOW, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import type { FencedHost, RestoreContext } from '../../../statemachine/restoreContext.ts';
import { HostUnreachableError } from '../../../functions/errors.ts';

const inventory = unitInventory([{ name: 'etcd-spare-1', hostname: 'etcd-spare-1.example.test', ip: '198.51.100.10', roles: ['spare'] }]);
const A2 = memberId(0xa2);

const fence = (host: string, how: FencedHost['how'], extra: Partial<FencedHost> = {}): FencedHost => ({ host, how, ...extra });

/** After VerifyRestoredMember: master-2 forced alone; master-0 fenced on the host, master-1 on the network only. */
function verified(extra: Partial<RestoreContext> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 900 },
    inventory,
    caHost: HOSTS['master-0'],
    installerHost: HOSTS['master-0'],
    formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({
      host,
      memberId: memberId(0xa0 + i),
      name: `${host}.example.test`,
      isLearner: false,
    })),
    fenced: [fence('master-0', ['network', 'on-host']), fence('master-1', ['network'], { notOnHost: 'unreachable' })],
    forced: {
      host: 'master-2',
      memberId: A2,
      clusterId: 'c1c2c3c4c5c6c7c8',
      name: 'master-2.example.test',
      peerUrl: 'https://198.51.100.4:2380',
      revision: 1241,
      raftIndex: 1600,
      did: [],
      peerUrlUpdated: false,
      backupKey: 'k',
      backupBytes: 1,
      backupSha256: 'a'.repeat(64),
    },
    restoredMember: { host: 'master-2', memberId: A2, revision: 1241, raftIndex: 1600, chosenRevision: 1240, at: NOW.toISOString() },
    ...extra,
  };
}

/** The forced cluster: master-2 alone, at 3.2.22; master-0 and master-1 fenced on the network. */
function forcedWorld(): StepWorld {
  const world = stepWorld([fakeMember(0xa2, 'master-2', '198.51.100.4', true, { version: '3.2.22' })]);
  world.securityGroups.fenced.add('master-0');
  world.securityGroups.fenced.add('master-1');
  // Every spare answers on the host, with nothing of etcd on it, unless a test powers one off.
  world.runner.on('DescribeEtcdHost', { stdout: CLEAN_SPARE });
  return world;
}

const CLEAN_SPARE = { staticPod: false, unitActive: false, unitEnabled: false, installedVersion: null, listening: false, running: null, dataDirEmpty: true };

const after = (context: RestoreContext, result: RestoreStepResult): RestoreContext => ({ ...context, ...result.output });

describe('Step: PrepareFormerMember', () => {
  it('first visit: a slot per former member but the restored one, master-0 on its own host (its fence lifted), master-1 on the first spare; master-2 the survivor', async () => {
    const world = forcedWorld();
    const result = await PrepareFormerMember(verified(), world.deps);
    const out = result.output;
    expect(out.reAdds).toEqual([
      { former: 'master-0', on: 'master-0', how: 'same-host' },
      { former: 'master-1', on: 'etcd-spare-0', how: 'spare' },
    ]);
    expect(out.members?.map((s) => [s.failed, s.failedHost?.name, s.replacement?.name, s.replacementChoice, s.failedMember, s.failedMemberRemoved])).toEqual([
      ['master-0', 'master-0', 'master-0', 'named', null, true],
      ['master-1', 'master-1', 'etcd-spare-0', 'spare', null, true],
    ]);
    expect(out).toMatchObject({ memberIndex: 0, memberPhase: 'readd', anotherMember: true, failedMemberRemoved: true, failedMember: null });
    expect(out.replacement?.name).toBe('master-0');
    expect(out.survivors).toEqual([{ id: A2, name: 'master-2.example.test', peerURL: 'https://198.51.100.4:2380', clientURL: 'https://198.51.100.4:2379' }]);
    expect(out).toMatchObject({ clusterId: 'c1c2c3c4c5c6c7c8', clusterVersion: '3.2.22', learnerSupported: false });
    expect([...world.securityGroups.fenced]).toEqual(['master-1']);
    expect(out.fenced?.[0]).toEqual({ host: 'master-0', how: ['network', 'on-host'], networkLifted: { at: NOW.toISOString(), by: 'PrepareFormerMember' } });
    expect(out.fenced?.[1]?.networkLifted).toBeUndefined();
    expect(result.detail).toBe(
      'master-0 → master-0 (1 of 2): re-added on its own host, fenced on the host (etcd stopped, data stored off the host); its network fence lifted',
    );
  });

  it('a retry with the same input loads the same member and lifts nothing again', async () => {
    const world = forcedWorld();
    const first = await PrepareFormerMember(verified(), world.deps);
    const again = await PrepareFormerMember(verified(), world.deps);
    expect(again.output).toEqual(first.output);
    expect(again.detail).toContain('its network fence already lifted');
    expect(world.securityGroups.calls.filter((c) => c.startsWith('unfence'))).toEqual(['unfence master-0']);
  });

  it('the next visit loads master-1 on the spare, with master-0 (joined) among the survivors, and leaves master-1 fenced', async () => {
    const world = forcedWorld();
    const first = await PrepareFormerMember(verified(), world.deps);
    const joined = after(verified(), first);
    const done: RestoreContext = { ...joined, newMemberId: memberId(0xb0), memberAdded: true, newMemberStartedAt: NOW.toISOString() };
    const next = await PrepareFormerMember(done, world.deps);
    expect(next.output).toMatchObject({ memberIndex: 1, anotherMember: false, replacement: { name: 'etcd-spare-0' }, failedHost: { name: 'master-1' } });
    expect(next.output.newMemberId).toBeUndefined();
    expect(next.output.survivors?.map((s) => s.id)).toEqual([A2, memberId(0xb0)]);
    expect(next.output.members?.[0]).toMatchObject({ newMemberId: memberId(0xb0), memberAdded: true });
    expect(next.detail).toBe('master-1 → etcd-spare-0 (2 of 2): re-added on etcd-spare-0 from the spare pool (the former host was not fenced on the host)');
    expect(world.securityGroups.fenced.has('master-1')).toBe(true);
  });

  it('a powered-off instance, even one fenced on the host before, goes to a spare, each spare taken once', async () => {
    const world = forcedWorld();
    const context = verified({ fenced: [fence('master-0', ['network', 'on-host', 'stopped-instance']), fence('master-1', ['network'])] });
    const result = await PrepareFormerMember(context, world.deps);
    expect(result.output.reAdds).toEqual([
      { former: 'master-0', on: 'etcd-spare-0', how: 'spare' },
      { former: 'master-1', on: 'etcd-spare-1', how: 'spare' },
    ]);
    expect(world.securityGroups.calls.filter((c) => c.startsWith('unfence'))).toEqual([]);
  });

  it('a spare that is a member of the restored cluster already is skipped, as the replacement skips it', async () => {
    const world = forcedWorld();
    world.cluster.members.push(fakeMember(0xa9, 'etcd-spare-0', '198.51.100.9', true, { version: '3.2.22' }));
    const result = await PrepareFormerMember(verified(), world.deps);
    expect(result.output.reAdds?.[1]).toEqual({ former: 'master-1', on: 'etcd-spare-1', how: 'spare' });
  });

  it('a spare that does not answer (powered off) is passed over for the next; none answering: NoHostToReAddError naming them, nothing lifted', async () => {
    const world = forcedWorld();
    world.runner.on('DescribeEtcdHost', new HostUnreachableError('etcd-spare-0 is powered off'), { host: 'etcd-spare-0' });
    const result = await PrepareFormerMember(verified(), world.deps);
    expect(result.output.reAdds?.[1]).toEqual({ former: 'master-1', on: 'etcd-spare-1', how: 'spare' });

    world.runner.on('DescribeEtcdHost', new HostUnreachableError('etcd-spare-1 is powered off'), { host: 'etcd-spare-1' });
    const error = await failure(PrepareFormerMember(verified(), world.deps));
    expect(error.name).toBe('NoHostToReAddError');
    expect(error.message).toMatch(/^no host to add master-1 back on: .*\(etcd-spare-0, etcd-spare-1 do not answer\)/);
    expect(world.securityGroups.calls.filter((c) => c.startsWith('unfence'))).toEqual(['unfence master-0']);
  });

  it('the CA host re-added on its own host goes first, whatever its place among the former members', async () => {
    const world = forcedWorld();
    const context = verified({
      caHost: HOSTS['master-1'],
      fenced: [fence('master-0', ['network', 'on-host']), fence('master-1', ['network', 'on-host'])],
    });
    const result = await PrepareFormerMember(context, world.deps);
    expect(result.output.reAdds?.map((r) => r.former)).toEqual(['master-1', 'master-0']);
    expect(result.output.replacement?.name).toBe('master-1');
    expect(world.securityGroups.calls.filter((c) => c.startsWith('unfence'))).toEqual(['unfence master-1']);
  });

  it('no host for a former member (not fenced on the host, no free spare): NoHostToReAddError, nothing lifted', async () => {
    const world = forcedWorld();
    const bare = { ...inventory, hosts: inventory.hosts.filter((h) => !h.roles.includes('spare')) };
    const error = await failure(PrepareFormerMember(verified({ inventory: bare }), world.deps));
    expect(error.name).toBe('NoHostToReAddError');
    expect(error.message).toMatch(/^no host to add master-1 back on/);
    expect(world.securityGroups.calls.filter((c) => c.startsWith('unfence'))).toEqual([]);
  });

  it('refuses to lift a fence whose replaced groups are not recorded; a restored member that does not answer is ClusterUnhealthyError', async () => {
    const world = forcedWorld();
    const unknown = verified({ fenced: [fence('master-0', ['network', 'on-host'], { previousUnknown: true }), fence('master-1', ['network'])] });
    expect((await failure(PrepareFormerMember(unknown, world.deps))).name).toBe('RefusedError');
    expect(world.securityGroups.fenced.has('master-0')).toBe(true);
    world.cluster.members[0]!.up = false;
    expect((await failure(PrepareFormerMember(verified(), world.deps))).name).toBe('ClusterUnhealthyError');
  });
});
