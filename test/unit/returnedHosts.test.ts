// functions/cluster/returnedHosts.ts: after a restore, the next observation fences on the host every former
// member that the network fence holds and that powered on again (its etcd runs, its pod manifest is back, or
// its data is not stored since it came back); a host that does not answer stays fenced on the network only;
// a member is never touched; a host fenced on the host already and still down is reported, not fenced again.

import { describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../functions/errors.ts';
import type { EtcdMember, Host } from '../../functions/ports.ts';
import { runId as validRunId } from '../../functions/validate.ts';
import type { EtcdHostFacts } from '../../functions/hosts/etcdHost.ts';
import {
  classifyHost,
  decideFormerHost,
  describeReturnedHost,
  fenceReturnedHosts,
  firstMemberList,
  formerFenceId,
  formerMemberCandidates,
  type ReturnedHostsObservation,
} from '../../functions/cluster/returnedHosts.ts';
import { etcdMember, host, memberId, unitInventory } from '../support/fakeCluster.ts';
import { FakeArtifactStore, FakeSecurityGroups } from '../support/fakePorts.ts';
import { FakeRunner } from '../support/fakeRunner.ts';

const BYTES = 4_194_304;
const SHA = 'a'.repeat(64);
const MANIFEST = 'b'.repeat(64);

/** After a restore from master-2: master-0 and master-1 are former members, etcd-spare-0 and etcd-new-0 took their places. */
const hosts: Host[] = formerMemberCandidates(unitInventory([host('etcd-new-0', '198.51.100.10', ['etcd'])]).hosts);
const members: EtcdMember[] = [
  etcdMember(0xa2, 'master-2', '198.51.100.4'),
  etcdMember(0xb0, 'etcd-spare-0', '198.51.100.9'),
  etcdMember(0xb1, 'etcd-new-0', '198.51.100.10'),
];
const FENCE_ID = formerFenceId(members);

const down: EtcdHostFacts = {
  staticPod: false,
  unitActive: false,
  unitEnabled: false,
  installedVersion: null,
  listening: false,
  running: null,
  dataDirEmpty: false,
};
/** A former member booted with its old data and its static pod: etcd runs alone, without a leader (the fence cuts it off). */
const poweredOnAgain: EtcdHostFacts = {
  ...down,
  staticPod: true,
  listening: true,
  running: { version: '3.2.22', memberId: memberId(0xa0), clusterId: 'c1c2c3c4c5c6c7c8', leaderId: '0000000000000000', members: 3 },
};

interface World {
  runner: FakeRunner;
  artifacts: FakeArtifactStore;
  securityGroups: FakeSecurityGroups;
  logs: string[];
  /** What each host's etcd is, as DescribeEtcdHost.sh reads it; absent: the host does not answer. */
  state: Map<string, EtcdHostFacts>;
  /** Through which hosts the member list was read. */
  listedVia: string[][];
  observe: (memberList?: (unfenced: Host[]) => Promise<EtcdMember[]>) => Promise<ReturnedHostsObservation>;
}

/** The hosts as the real scripts leave them: FenceFormerMember `fence` stops etcd, moves the pod, uploads once; `confirm` marks. */
function world(fenced: string[], state: Record<string, EtcdHostFacts>): World {
  const runner = new FakeRunner();
  const artifacts = new FakeArtifactStore();
  const securityGroups = new FakeSecurityGroups();
  for (const name of fenced) securityGroups.fenced.add(name);
  const w: World = {
    runner,
    artifacts,
    securityGroups,
    logs: [],
    state: new Map(Object.entries(state)),
    listedVia: [],
    observe: (memberList) =>
      fenceReturnedHosts(
        { runner, artifacts, securityGroups, waits: { urlTtlSeconds: 900 }, log: (m) => w.logs.push(m) },
        {
          hosts,
          memberList:
            memberList ??
            (async (unfenced) => {
              w.listedVia.push(unfenced.map((h) => h.name));
              return members;
            }),
        },
      ),
  };
  const marked = new Set<string>();
  runner.on('DescribeEtcdHost', (request) => {
    const now = w.state.get(request.host.name);
    return now ? { stdout: now } : new HostUnreachableError(`${request.host.name} is powered off`);
  });
  runner.on(
    'FenceFormerMember',
    (request) => {
      const name = request.host.name;
      const now = w.state.get(name);
      if (!now) return new HostUnreachableError(`${name} is powered off`);
      const stopped = now.staticPod || now.listening || now.unitActive || now.unitEnabled;
      w.state.set(name, { ...now, staticPod: false, listening: false, unitActive: false, unitEnabled: false, running: null });
      if (marked.has(`${name}:${request.args[1]}`))
        return { stdout: { stopped, kind: 'pod', backup: { marked: true, bytes: BYTES, sha256: SHA, manifest: MANIFEST, at: '2026-12-07T15:00:00Z' } } };
      artifacts.put(`runs/${request.args[1]}/fence-${request.host.hostname}.tgz`, BYTES);
      return { stdout: { stopped, kind: 'pod', backup: { marked: false, empty: false, bytes: BYTES, sha256: SHA, manifest: MANIFEST } } };
    },
    { args: ['fence'] },
  );
  runner.on(
    'FenceFormerMember',
    (request) => {
      const before = marked.has(`${request.host.name}:${request.args[1]}`);
      marked.add(`${request.host.name}:${request.args[1]}`);
      return { stdout: { confirmed: true, markedBefore: before } };
    },
    { args: ['confirm'] },
  );
  return w;
}

const byHost = (o: ReturnedHostsObservation) => Object.fromEntries(o.hosts.map((h) => [h.host, h]));
const fenceCalls = (w: World) => w.runner.sent('FenceFormerMember');

describe('formerFenceId', () => {
  it('is a valid run ID that depends on the membership, not on the order of the list', () => {
    expect(validRunId('id', FENCE_ID)).toBe(FENCE_ID);
    expect(FENCE_ID).toMatch(/^former-[0-9a-f]{16}$/);
    expect(formerFenceId([...members].reverse())).toBe(FENCE_ID);
    expect(formerFenceId(members.slice(1))).not.toBe(FENCE_ID);
  });
});

describe('firstMemberList', () => {
  it('asks each host on its own, etcd and master hosts before spares, and throws the last error when none answers', async () => {
    const asked: string[] = [];
    const spareFirst = [hosts.find((h) => h.name === 'etcd-spare-0')!, hosts.find((h) => h.name === 'master-1')!, hosts.find((h) => h.name === 'master-2')!];
    const found = await firstMemberList(spareFirst, async (via) => {
      asked.push(via.name);
      if (via.name === 'master-1') throw new HostUnreachableError('master-1 is powered off');
      return members;
    });
    expect(asked).toEqual(['master-1', 'master-2']);
    expect(found).toEqual({ members, via: spareFirst[2] });
    await expect(
      firstMemberList(spareFirst, async (via) => {
        throw new HostUnreachableError(`${via.name} is powered off`);
      }),
    ).rejects.toThrow('etcd-spare-0 is powered off');
    await expect(firstMemberList([], async () => members)).rejects.toThrow('no host');
  });
});

describe('the decision (pure)', () => {
  const m0 = hosts.find((h) => h.name === 'master-0')!;
  const m2 = hosts.find((h) => h.name === 'master-2')!;
  const stored = { key: 'runs/x/fence-master-0.example.test.tgz', present: true };

  it('never touches a member, by name, peer or client URL, even one fenced on the network', () => {
    const byPeerOnly = [{ ...members[0]!, name: '' }];
    for (const list of [members, byPeerOnly]) {
      const first = classifyHost(m2, { fenced: true }, list);
      expect(first.kind).toBe('member');
      expect(first.kind !== 'former' && first.result).toMatchObject({ action: 'left', changed: false });
    }
  });

  it('leaves a host that is no member and not fenced', () => {
    expect(classifyHost(m0, { fenced: false }, members)).toMatchObject({ kind: 'not-fenced', result: { action: 'left' } });
    expect(classifyHost(m0, { fenced: true }, members)).toEqual({ kind: 'former' });
  });

  it('fences a former member whose etcd runs, whose manifest is back, whose unit is enabled, or whose data is not stored', () => {
    expect(decideFormerHost(m0, { answers: true, facts: poweredOnAgain }, stored)).toMatchObject({
      fence: true,
      reason: expect.stringContaining('its etcd answers'),
    });
    expect(decideFormerHost(m0, { answers: true, facts: { ...down, staticPod: true } }, stored)).toMatchObject({
      fence: true,
      reason: 'its static pod manifest is back in pods/',
    });
    expect(decideFormerHost(m0, { answers: true, facts: { ...down, unitEnabled: true } }, stored)).toMatchObject({ fence: true });
    expect(decideFormerHost(m0, { answers: true, facts: down }, { ...stored, present: false })).toMatchObject({
      fence: true,
      reason: 'its data is not stored since it came back',
    });
  });

  it('reports a former member fenced on the host already and still down; keeps one that does not answer fenced on the network', () => {
    expect(decideFormerHost(m0, { answers: true, facts: down }, stored)).toMatchObject({
      fence: false,
      result: { action: 'fenced-on-host', changed: false, backupKey: stored.key },
    });
    expect(decideFormerHost(m0, { answers: true, facts: { ...down, dataDirEmpty: true } }, { ...stored, present: false })).toMatchObject({
      fence: false,
      result: { action: 'fenced-on-host', changed: false },
    });
    expect(decideFormerHost(m0, { answers: false, reason: 'powered off' }, stored)).toMatchObject({
      fence: false,
      result: { action: 'still-fenced-on-network', changed: false },
    });
  });
});

describe('fenceReturnedHosts', () => {
  it('fences on the host the former members that powered on again, leaves the members, and the next observation fences nothing again', async () => {
    const w = world(['master-0', 'master-1'], { 'master-0': poweredOnAgain, 'master-1': poweredOnAgain });
    const first = await w.observe();
    expect(first.fenceId).toBe(FENCE_ID);
    // The member list is read only through the hosts no fence holds.
    expect(w.listedVia).toEqual([['master-2', 'etcd-spare-0', 'etcd-new-0']]);
    const one = byHost(first);
    for (const name of ['master-0', 'master-1']) {
      expect(one[name]).toMatchObject({ action: 'fenced-on-host', changed: true, backupKey: `runs/${FENCE_ID}/fence-${name}.example.test.tgz` });
      expect(one[name]!.reason).toMatch(/^its etcd answers .*etcd stopped, its pod moved to pods-stopped, its data backed up \(4194304 bytes/);
      expect(w.state.get(name)).toMatchObject({ staticPod: false, running: null });
    }
    for (const name of ['master-2', 'etcd-spare-0', 'etcd-new-0'])
      expect(one[name]).toMatchObject({ action: 'left', changed: false, reason: expect.stringContaining('a member') });
    // Nothing was run on a member; the upload URL went on stdin only.
    const touched = w.runner.requests.map((r) => r.host.name);
    expect(new Set(touched)).toEqual(new Set(['master-0', 'master-1']));
    expect(fenceCalls(w)).toEqual([
      `FenceFormerMember@master-0 fence ${FENCE_ID}`,
      `FenceFormerMember@master-0 confirm ${FENCE_ID} ${BYTES} ${SHA} ${MANIFEST}`,
      `FenceFormerMember@master-1 fence ${FENCE_ID}`,
      `FenceFormerMember@master-1 confirm ${FENCE_ID} ${BYTES} ${SHA} ${MANIFEST}`,
    ]);
    for (const url of w.artifacts.issued) expect(w.runner.requests.flatMap((r) => r.args).join(' ')).not.toContain(url);
    expect(w.logs.filter((l) => l.startsWith('former member'))).toHaveLength(2);

    const second = await w.observe();
    expect(fenceCalls(w)).toHaveLength(4);
    for (const name of ['master-0', 'master-1']) {
      expect(byHost(second)[name]).toMatchObject({
        action: 'fenced-on-host',
        changed: false,
        reason: expect.stringContaining('fenced on the host already and still down'),
      });
    }
    expect(describeReturnedHost(byHost(second)['master-0']!)).toMatch(/^master-0: fenced on the host: /);
    expect(describeReturnedHost(one['master-0']!)).toMatch(/^master-0: fenced on the host now: /);
  });

  it('keeps a former member that does not answer fenced on the network only, and fences it once it answers', async () => {
    const w = world(['master-0', 'master-1'], { 'master-1': down });
    w.artifacts.put(`runs/${FENCE_ID}/fence-master-1.example.test.tgz`, BYTES);
    const first = byHost(await w.observe());
    expect(first['master-0']).toMatchObject({ action: 'still-fenced-on-network', changed: false, reason: expect.stringContaining('does not answer') });
    expect(first['master-1']).toMatchObject({ action: 'fenced-on-host', changed: false });
    expect(fenceCalls(w)).toEqual([]);
    expect(w.securityGroups.stopped.size).toBe(0);

    w.state.set('master-0', { ...down, staticPod: true });
    const second = byHost(await w.observe());
    expect(second['master-0']).toMatchObject({
      action: 'fenced-on-host',
      changed: true,
      reason: expect.stringMatching(/^its static pod manifest is back in pods\//),
    });
  });

  it('stores the data of a former member that is down but whose data is not stored since it came back', async () => {
    const w = world(['master-0'], { 'master-0': down });
    const result = byHost(await w.observe())['master-0']!;
    expect(result).toMatchObject({ action: 'fenced-on-host', changed: true, reason: expect.stringMatching(/^its data is not stored since it came back: /) });
    expect(w.artifacts.objects.get(`runs/${FENCE_ID}/fence-master-0.example.test.tgz`)).toBe(BYTES);
  });

  it('leaves a host no fence holds, even one that is no member and runs etcd', async () => {
    const w = world([], { 'master-0': poweredOnAgain });
    expect(byHost(await w.observe())['master-0']).toMatchObject({ action: 'left', reason: expect.stringContaining('not fenced on the network') });
    expect(w.runner.requests).toEqual([]);
  });

  it('touches no host whose network fence cannot be read, and does not read the member list through it', async () => {
    const w = world(['master-0'], { 'master-0': poweredOnAgain, 'master-1': poweredOnAgain });
    const describe = w.securityGroups.describeFence.bind(w.securityGroups);
    w.securityGroups.describeFence = async (h: Host) => {
      if (h.name === 'master-1') throw new Error('DescribeInstances: throttled');
      return describe(h);
    };
    const observation = byHost(await w.observe());
    expect(observation['master-1']).toMatchObject({ action: 'left', failed: true, reason: expect.stringContaining('throttled') });
    expect(observation['master-0']).toMatchObject({ action: 'fenced-on-host', changed: true });
    expect(w.listedVia).toEqual([['master-2', 'etcd-spare-0', 'etcd-new-0']]);
    expect(w.runner.requests.every((r) => r.host.name === 'master-0')).toBe(true);
  });

  it('touches no host when no member list can be read', async () => {
    const w = world(['master-0'], { 'master-0': poweredOnAgain });
    const observation = await w.observe(async () => {
      throw new HostUnreachableError('no member answers');
    });
    expect(observation.members).toBeNull();
    expect(observation.membersError).toContain('no member answers');
    expect(observation.hosts.every((h) => h.action === 'left' && !h.changed)).toBe(true);
    expect(w.runner.requests).toEqual([]);
  });

  it('reports as failed, and leaves, a former member the script refuses to fence (its etcd serves a working cluster)', async () => {
    const w = world(['master-0'], { 'master-0': poweredOnAgain });
    w.runner.exits('FenceFormerMember', 3, 'refusing: this host etcd answers with leader 00000000000000a0', { args: ['fence'] });
    const result = byHost(await w.observe())['master-0']!;
    expect(result).toMatchObject({ action: 'left', failed: true, changed: false, reason: expect.stringContaining('not fenced on the host') });
  });

  it('says when the data could not leave the host: etcd stopped, the next observation tries the upload again', async () => {
    const w = world(['master-0'], { 'master-0': poweredOnAgain });
    w.runner.exits('FenceFormerMember', 5, 'curl: cannot connect', { args: ['fence'], times: 1 });
    const first = byHost(await w.observe())['master-0']!;
    expect(first).toMatchObject({ action: 'fenced-on-host', failed: true, reason: expect.stringContaining('NOT backed up') });
    w.state.set('master-0', down);
    const second = byHost(await w.observe())['master-0']!;
    expect(second).toMatchObject({ action: 'fenced-on-host', changed: true, reason: expect.stringMatching(/^its data is not stored since it came back: /) });
    expect(second.failed).toBeUndefined();
  });
});
