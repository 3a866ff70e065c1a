// The new host, from whatever state it is in, on OpenShift 3.11's etcd 3.2.22 (real etcd 3.2.22 and
// RHEL 7's 3.3.11): the yum trap (a bare `yum install etcd` gives 3.3.11) undone by the pinned install,
// an etcd from an earlier life stopped and its data stored off the host before the directory is
// emptied, a member of another running etcd cluster refused, and the second lock of the destructive
// host scripts on a member of this cluster. Every result is read with etcdctl on the hosts.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failHost, hostExec, sandboxUp, statusOf, type SandboxInfo } from '../../sandbox/index.ts';
import { SandboxHostRunner } from '../../sandbox/adapters/hostRunner.ts';
import type { Host } from '../../functions/ports.ts';
import { etcdctl, memberList, onHost } from '../support/clusterFacts.ts';
import { digestTree, downAll, membershipOf, membersNow, parseRunJson, sh, stepStatus } from '../support/safetyHelpers.ts';
import { cli } from '../support/cli.ts';
import { requireBuild, uniqueName } from '../support/sandboxHelpers.ts';

const created: string[] = [];
afterAll(() => downAll(created));

async function up(prefix: string, spares: number): Promise<SandboxInfo> {
  requireBuild('3.2.22');
  requireBuild('3.3.11');
  const name = uniqueName(prefix);
  created.push(name);
  return sandboxUp({ name, members: 3, spares, nodes: 0, dataMb: 2, etcdVersion: '3.2.22' });
}

const hostOf = (sandbox: SandboxInfo, name: string): Host => sandbox.hosts.find((h) => h.name === name)!;
const url = (sandbox: SandboxInfo, name: string) => `https://${hostOf(sandbox, name).ip}:2379`;

function replace(sandbox: SandboxInfo, replacement: string, extra: string[] = []) {
  return cli([
    'run',
    '--target',
    'sandbox',
    '--sandbox',
    sandbox.name,
    '--failed',
    'master-2',
    '--replacement',
    replacement,
    '--grace-seconds',
    '1',
    '--json',
    ...extra,
  ]);
}

/** The cluster ID etcd reports on master-0, as 16 hex digits. */
async function clusterIdOf(sandbox: SandboxInfo): Promise<string> {
  const out = await etcdctl(sandbox, 'master-0', [url(sandbox, 'master-0')], ['endpoint', 'status', '-w', 'json']);
  return BigInt(/"cluster_id":(\d+)/.exec(out)![1]!)
    .toString(16)
    .padStart(16, '0');
}

describe('The new host on etcd 3.2.22', () => {
  it('undoes the yum trap and an etcd from an earlier life: the new member runs 3.2.22, the old data is stored off the host first', async () => {
    const sandbox = await up('t-nh', 1);
    // The trap: a bare `yum install etcd`, as the runbook's step reads, takes 3.3.11 from Extras.
    await sh(sandbox, 'etcd-spare-0', 'yum install -y etcd');
    expect(await onHost(sandbox, 'etcd-spare-0', ['rpm', '-q', 'etcd'])).toMatch(/^etcd-3\.3\.11-/);
    // An earlier life: the package's own etcd.conf, enabled and running, holding a key.
    await sh(sandbox, 'etcd-spare-0', 'systemctl enable etcd --now');
    await sh(sandbox, 'etcd-spare-0', 'ETCDCTL_API=3 etcdctl --endpoints=http://localhost:2379 put earlier-life yes');
    const earlierData = await digestTree(sandbox, 'etcd-spare-0', 'var/lib/etcd');
    expect(Object.keys(earlierData).length).toBeGreaterThan(0);

    await failHost(sandbox.name, 'master-2', 'kill');
    const out = await replace(sandbox, 'etcd-spare-0');
    const result = parseRunJson(out.stdout);
    expect({ code: out.code, stderr: out.code === 0 ? '' : out.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    expect(result.outcome).toBe('succeeded');
    expect(stepStatus(result)['InstallEtcd']).toBe('succeeded');
    // No learner on 3.2: the new member voted from the add until it had started, and the record says for how long.
    expect(stepStatus(result)['PromoteNewMember']).toBe('skipped');
    const window = (JSON.parse(out.stdout) as { addToStartedSeconds?: number }).addToStartedSeconds;
    expect(window).toBeGreaterThan(0);
    expect(window).toBeLessThan(120);

    // etcd's own word: the spare is a started member of this cluster, on 3.2.22, healthy.
    const members = await memberList(sandbox, 'master-0', url(sandbox, 'master-0'));
    const spare = hostOf(sandbox, 'etcd-spare-0');
    const joined = members.find((m) => m.peerURLs.includes(`https://${spare.ip}:2380`));
    expect(joined?.name).toBe(spare.hostname);
    expect(members).toHaveLength(3);
    const status = await statusOf(sandbox);
    expect(status.hosts.find((h) => h.name === 'etcd-spare-0')!.etcd.version).toBe('3.2.22');
    expect(await onHost(sandbox, 'etcd-spare-0', ['rpm', '-q', 'etcd'])).toMatch(/^etcd-3\.2\.22-/);
    const spareStatus = await etcdctl(sandbox, 'master-0', [url(sandbox, 'etcd-spare-0')], ['endpoint', 'status', '-w', 'json']);
    expect(
      BigInt(/"cluster_id":(\d+)/.exec(spareStatus)![1]!)
        .toString(16)
        .padStart(16, '0'),
    ).toBe(await clusterIdOf(sandbox));
    // The earlier life's key is not in the cluster, and its data was stored before the directory was emptied.
    expect(await etcdctl(sandbox, 'master-0', [url(sandbox, 'master-0')], ['get', 'earlier-life'])).toBe('');
    const stored = path.join(sandbox.stateDir, 'artifacts', 'runs', result.runId, `replacement-prior-data-${spare.hostname}.tgz`);
    expect(existsSync(stored)).toBe(true);
    const listing = (await hostExec(sandbox, 'master-0', ['tar', '-tzf', stored], { timeoutMs: 30_000 })).stdout;
    expect(listing).toMatch(/default\.etcd\/member\/wal\//);
  });

  it('installs another minor version only when the request names it (--install-etcd-version)', async () => {
    const sandbox = await up('t-nh', 1);
    await failHost(sandbox.name, 'master-2', 'kill');
    const out = await replace(sandbox, 'etcd-spare-0', ['--install-etcd-version', '3.3.11']);
    expect({ code: out.code, stderr: out.code === 0 ? '' : out.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    const status = await statusOf(sandbox);
    expect(status.hosts.find((h) => h.name === 'etcd-spare-0')!.etcd.version).toBe('3.3.11');
    expect(status.hosts.filter((h) => h.name.startsWith('master-') && h.etcd.running).map((h) => h.etcd.version)).toEqual(['3.2.22', '3.2.22']);
    expect(out.stderr).toMatch(/InstallEtcd .*etcd 3\.3\.11 \(asked for; the members run 3\.2\.22\)/);
    const bad = await replace(sandbox, 'etcd-spare-0', ['--install-etcd-version', '3.3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--install-etcd-version/);
  });

  it('refuses a host that is a member of another running etcd cluster, changing nothing (exit 3, the cluster ID named)', async () => {
    const sandbox = await up('t-nh', 2);
    // etcd-spare-0 and etcd-spare-1 form a 2-member cluster of their own (plain http on their addresses).
    const [a, b] = [hostOf(sandbox, 'etcd-spare-0'), hostOf(sandbox, 'etcd-spare-1')];
    const initial = `a=http://${a.ip}:2380,b=http://${b.ip}:2380`;
    for (const [host, name] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      await sh(
        sandbox,
        host.name,
        [
          'yum install -y etcd-3.2.22',
          'iptables -I INPUT -p tcp -m multiport --dports 2379,2380 -j ACCEPT',
          'nft add element inet sandbox_sg etcd_allowed "{ 2379, 2380 }"',
          `printf '%s\\n' 'ETCD_NAME=${name}' 'ETCD_DATA_DIR=/var/lib/etcd/other.etcd' 'ETCD_LISTEN_CLIENT_URLS=http://${host.ip}:2379' 'ETCD_ADVERTISE_CLIENT_URLS=http://${host.ip}:2379' ` +
            `'ETCD_LISTEN_PEER_URLS=http://${host.ip}:2380' 'ETCD_INITIAL_ADVERTISE_PEER_URLS=http://${host.ip}:2380' 'ETCD_INITIAL_CLUSTER=${initial}' 'ETCD_INITIAL_CLUSTER_STATE=new' >/etc/etcd/etcd.conf`,
          'systemctl enable etcd',
          // Both start together: a member of a new cluster is ready only once its peer runs too.
          '(systemctl start etcd </dev/null >/dev/null 2>&1 &)',
        ].join(' && '),
      );
    }
    const otherCluster = await (async () => {
      for (let i = 0; i < 100; i++) {
        const out = await hostExec(
          sandbox,
          a.name,
          ['env', 'ETCDCTL_API=3', 'etcdctl', `--endpoints=http://${a.ip}:2379`, 'endpoint', 'status', '-w', 'json'],
          { timeoutMs: 10_000 },
        );
        const leader = /"leader":(\d+)/.exec(out.stdout)?.[1];
        if (out.exitCode === 0 && leader && leader !== '0')
          return BigInt(/"cluster_id":(\d+)/.exec(out.stdout)![1]!)
            .toString(16)
            .padStart(16, '0');
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error('the other cluster did not elect a leader');
    })();

    await failHost(sandbox.name, 'master-2', 'kill');
    const before = membershipOf(await membersNow(sandbox, ['master-0', 'master-1']));
    const spareData = await digestTree(sandbox, a.name, 'var/lib/etcd');
    const out = await replace(sandbox, a.name);
    expect({ code: out.code, stderr: out.code === 3 ? '' : out.stderr.slice(-3000) }).toEqual({ code: 3, stderr: '' });
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('refused');
    expect(result.reason).toContain(otherCluster);
    expect(result.reason).toMatch(/another etcd cluster that is still running/);
    // Nothing changed: this cluster still lists master-2, the other cluster still runs with its data.
    expect(membershipOf(await membersNow(sandbox, ['master-0', 'master-1']))).toEqual(before);
    const theirs = await hostExec(sandbox, a.name, ['env', 'ETCDCTL_API=3', 'etcdctl', `--endpoints=http://${a.ip}:2379`, 'member', 'list'], {
      timeoutMs: 10_000,
    });
    expect(theirs.exitCode).toBe(0);
    expect(theirs.stdout.trim().split('\n')).toHaveLength(2);
    expect(Object.keys(await digestTree(sandbox, a.name, 'var/lib/etcd'))).toEqual(Object.keys(spareData));
  });

  it('the destructive host scripts refuse on a started member of this cluster: its etcd keeps running and its data stays', async () => {
    const sandbox = await up('t-nh', 0);
    const runner = new SandboxHostRunner(sandbox);
    const master1 = hostOf(sandbox, 'master-1');
    const clusterId = await clusterIdOf(sandbox);
    const before = membershipOf(await membersNow(sandbox, ['master-0']));
    const data = await digestTree(sandbox, 'master-1', 'etc/etcd');
    const none = 'http://192.0.2.1/none';
    for (const [script, args, secrets] of [
      ['CompensateNewMember', [clusterId], {}],
      ['StartNewMember', [master1.hostname, clusterId, '0000000000000001', '5'], { BUNDLE_URL: none, BACKUP_UPLOAD_URL: none }],
      ['InstallEtcd', ['prepare', clusterId], { UPLOAD_URL: none }],
    ] as const) {
      const out = await runner.run({ host: master1, script, args: [...args], secrets: { ...secrets }, timeoutSeconds: 60 });
      expect(out.exitCode, `${script}: ${out.stderr}`).toBe(3);
      expect(out.stderr).toMatch(/refusing: this host runs member [0-9a-f]{16} of this cluster/);
    }
    expect(membershipOf(await membersNow(sandbox, ['master-0']))).toEqual(before);
    expect(await digestTree(sandbox, 'master-1', 'etc/etcd')).toEqual(data);
    expect(await onHost(sandbox, 'master-1', ['ls', '/etc/origin/node/pods'])).toContain('etcd.yaml');
    const health = await etcdctl(sandbox, 'master-0', [url(sandbox, 'master-1')], ['endpoint', 'health']);
    expect(health).toMatch(/is healthy/);
  });
});
