// `etcd-replace probe` (cli/commands/probe.ts): one observation as the AWS probe makes it. The members and
// whether each answers, read through the hosts no network fence holds; every returned former member
// fenced on the host; one line per host saying what the observation did, and the same in --json.

import { describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../functions/errors.ts';
import type { EndpointHealth, EtcdClusterPort, Host } from '../../functions/ports.ts';
import { formerFenceId } from '../../functions/cluster/returnedHosts.ts';
import { formatProbe, probeCluster } from '../../cli/commands/probe.ts';
import { etcdMember, memberId, unitInventory } from '../support/fakeCluster.ts';
import { FakeArtifactStore, FakeSecurityGroups } from '../support/fakePorts.ts';
import { FakeRunner } from '../support/fakeRunner.ts';

const inventory = unitInventory();
/** Restored from master-2, master-1 re-added after it was wiped, etcd-spare-0 in master-0's place; master-0 left fenced. */
const members = [etcdMember(0xa2, 'master-2', '198.51.100.4'), etcdMember(0xc1, 'master-1', '198.51.100.3'), etcdMember(0xb0, 'etcd-spare-0', '198.51.100.9')];

function setup(options: { unhealthy?: string[]; master0?: 'on' | 'off' } = {}) {
  const runner = new FakeRunner();
  const artifacts = new FakeArtifactStore();
  const securityGroups = new FakeSecurityGroups();
  securityGroups.fenced.add('master-0');
  const asked: Array<{ via: string[]; endpoints: string[] }> = [];
  const unused = async (): Promise<never> => {
    throw new Error('not used by the probe');
  };
  const etcd = (via: Host[], endpoints: string[]): EtcdClusterPort => {
    asked.push({ via: via.map((h) => h.name), endpoints });
    return {
      memberList: async () => members,
      health: async (wanted): Promise<EndpointHealth[]> =>
        wanted.map((endpoint) =>
          options.unhealthy?.includes(endpoint) ? { endpoint, healthy: false, error: 'context deadline exceeded' } : { endpoint, healthy: true },
        ),
      status: unused,
      view: unused,
      addMember: unused,
      removeMember: unused,
      promoteMember: unused,
      updateMember: unused,
    };
  };
  let state: 'on' | 'off' | 'fenced' = options.master0 ?? 'on';
  runner.on('DescribeEtcdHost', () =>
    state === 'off'
      ? new HostUnreachableError('master-0 is powered off')
      : {
          stdout: {
            staticPod: state === 'on',
            unitActive: false,
            unitEnabled: false,
            installedVersion: null,
            listening: state === 'on',
            running: null,
            dataDirEmpty: false,
          },
        },
  );
  runner.on(
    'FenceFormerMember',
    (request) => {
      state = 'fenced';
      artifacts.put(`runs/${request.args[1]}/fence-master-0.example.test.tgz`, 1024);
      return { stdout: { stopped: true, kind: 'pod', backup: { marked: false, empty: false, bytes: 1024, sha256: 'e'.repeat(64), manifest: 'f'.repeat(64) } } };
    },
    { args: ['fence'] },
  );
  runner.on('FenceFormerMember', { stdout: { confirmed: true, markedBefore: false } }, { args: ['confirm'] });
  const logs: string[] = [];
  const deps = { runner, artifacts, securityGroups, etcd, waits: { urlTtlSeconds: 900 } as never, log: (m: string) => void logs.push(m) };
  return { runner, asked, logs, probe: () => probeCluster(deps, inventory) };
}

describe('probe', () => {
  it('reports the members and whether each answers, and fences the returned former member on the host, once', async () => {
    const world = setup({ unhealthy: ['https://198.51.100.9:2379'] });
    const doc = await world.probe();
    expect(doc.ok).toBe(true);
    expect(doc.fencedNow).toBe(1);
    expect(doc.fenceId).toBe(formerFenceId(members));
    expect(doc.members).toEqual([
      { id: memberId(0xa2), name: 'master-2.example.test', host: 'master-2', clientURL: 'https://198.51.100.4:2379', answers: true },
      { id: memberId(0xc1), name: 'master-1.example.test', host: 'master-1', clientURL: 'https://198.51.100.3:2379', answers: true },
      {
        id: memberId(0xb0),
        name: 'etcd-spare-0.example.test',
        host: 'etcd-spare-0',
        clientURL: 'https://198.51.100.9:2379',
        answers: false,
        error: 'context deadline exceeded',
      },
    ]);
    // The member list and the health were asked through a host no fence holds (the first that answers), never through master-0.
    for (const a of world.asked) expect(a.via).toEqual(['master-1']);
    expect(world.asked[0]?.endpoints).toEqual(['https://198.51.100.3:2379', 'https://198.51.100.4:2379', 'https://198.51.100.9:2379']);
    expect(doc.hosts.map((h) => [h.host, h.action, h.changed])).toEqual([
      ['master-0', 'fenced-on-host', true],
      ['master-1', 'left', false],
      ['master-2', 'left', false],
      ['etcd-spare-0', 'left', false],
    ]);
    const text = formatProbe(doc);
    expect(text).toContain('members: 3, 2 answering');
    expect(text).toContain(
      `  member etcd-spare-0 etcd-spare-0.example.test ${memberId(0xb0)} https://198.51.100.9:2379: does not answer (context deadline exceeded)`,
    );
    expect(text).toMatch(
      /\n {2}master-0: fenced on the host now: its etcd runs, its static pod manifest is back in pods\/, its data is not stored since it came back: etcd stopped/,
    );
    expect(text).toMatch(/\n {2}master-2: left: a member \(name master-2\.example\.test\)/);
    expect(world.runner.requests.every((r) => r.host.name === 'master-0')).toBe(true);

    const again = await world.probe();
    expect(again.fencedNow).toBe(0);
    expect(again.hosts[0]).toMatchObject({ host: 'master-0', action: 'fenced-on-host', changed: false });
    expect(formatProbe(again)).toMatch(/\n {2}master-0: fenced on the host: fenced on the host already and still down/);
    expect(world.runner.sent('FenceFormerMember')).toHaveLength(2);
  });

  it('keeps a powered-off former member fenced on the network only, and still did its job', async () => {
    const doc = await setup({ master0: 'off' }).probe();
    expect(doc.ok).toBe(true);
    expect(doc.hosts[0]).toMatchObject({ host: 'master-0', action: 'still-fenced-on-network', changed: false });
    expect(formatProbe(doc)).toMatch(/\n {2}master-0: still fenced on the network: does not answer \(master-0 is powered off\)/);
  });
});
