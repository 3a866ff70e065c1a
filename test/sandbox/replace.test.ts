// End to end on real etcd: fail a member, replace it with the workflow, then check the cluster
// independently with etcdctl and file reads on the hosts.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { failHost, loadSandbox, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { getEtcdClientUrls } from '../../functions/config/masterConfig.ts';
import { getFlannelEndpoints } from '../../functions/config/flanneld.ts';
import { getGroupHosts } from '../../functions/config/inventory.ts';
import { endpointHealthy, etcdctl, hashKv, keysOn, memberList, onHost, readFileOn } from '../support/clusterFacts.ts';

const run = promisify(execFile);
const cli = new URL('../../bin/etcd-replace.mjs', import.meta.url).pathname;
const created: string[] = [];

afterAll(async () => {
  for (const name of created) await sandboxDown(name);
});

const clientUrl = (ip: string) => `https://${ip}:2379`;

interface Before {
  keys: string[];
  revision: number;
  hash: string;
}

async function recordBefore(sandbox: SandboxInfo): Promise<Before> {
  const m0 = sandbox.hosts.find((h) => h.name === 'master-0')!;
  const endpoint = clientUrl(m0.ip);
  const { revision, hash } = await hashKv(sandbox, 'master-0', endpoint);
  return { keys: await keysOn(sandbox, 'master-0', endpoint), revision, hash };
}

/** Makes `target` the leader (etcdctl move-leader), so the test can fail the leader on purpose. */
async function makeLeader(sandbox: SandboxInfo, target: string): Promise<void> {
  const members = await memberList(sandbox, 'master-0', clientUrl(sandbox.hosts[0]!.ip));
  const host = sandbox.hosts.find((h) => h.name === target)!;
  const id = members.find((m) => m.peerURLs.includes(`https://${host.ip}:2380`))!.id;
  const endpoints = sandbox.hosts.filter((h) => h.roles.includes('etcd')).map((h) => clientUrl(h.ip));
  await etcdctl(sandbox, 'master-0', endpoints, ['move-leader', id]);
}

async function verifyReplaced(sandbox: SandboxInfo, failed: string, replacement: string, before: Before): Promise<void> {
  const failedHost = sandbox.hosts.find((h) => h.name === failed)!;
  const newHost = sandbox.hosts.find((h) => h.name === replacement)!;
  const survivors = sandbox.hosts.filter((h) => h.roles.includes('etcd') && h.name !== failed);
  const live = [...survivors, newHost];
  const endpoints = live.map((h) => clientUrl(h.ip));

  // Membership: exactly the survivors plus the replacement, all started and voting.
  const members = await memberList(sandbox, 'master-0', endpoints[0]!);
  expect(members.map((m) => m.name).sort()).toEqual(live.map((h) => h.hostname).sort());
  expect(members.every((m) => !m.isLearner && m.name !== '')).toBe(true);
  expect(members.flatMap((m) => m.peerURLs).sort()).toEqual(live.map((h) => `https://${h.ip}:2380`).sort());

  // Health on every endpoint, v3 and the runbook's v2 cluster-health.
  expect(await endpointHealthy(sandbox, 'master-0', endpoints)).toEqual(endpoints.map(() => true));
  const v2 = await onHost(sandbox, 'master-0', [
    'env', 'ETCDCTL_API=2', 'etcdctl', '--ca-file=/etc/etcd/ca.crt', '--cert-file=/etc/etcd/peer.crt', '--key-file=/etc/etcd/peer.key', `--peers=${endpoints.join(',')}`, 'cluster-health',
  ]);
  expect(v2).toContain('cluster is healthy');

  // Data: the same keys on every member, and at the pre-failure revision the same hashkv.
  for (const endpoint of endpoints) {
    expect(await keysOn(sandbox, 'master-0', endpoint)).toEqual(before.keys);
    expect((await hashKv(sandbox, 'master-0', endpoint, before.revision)).hash).toBe(before.hash);
  }

  // Clients: every reachable master's etcdClientInfo.urls and every node's FLANNEL_ETCD_ENDPOINTS name exactly the live members.
  const expectedUrls = live.map((h) => `https://${h.hostname}:2379`).sort();
  for (const master of sandbox.hosts.filter((h) => h.roles.includes('master') && h.name !== failed)) {
    expect(getEtcdClientUrls(await readFileOn(sandbox, master.name, '/etc/origin/master/master-config.yaml')).sort()).toEqual(expectedUrls);
    expect(getFlannelEndpoints(await readFileOn(sandbox, master.name, '/etc/sysconfig/flanneld')).sort()).toEqual(expectedUrls);
    expect((await onHost(sandbox, master.name, ['curl', '-ksf', 'https://localhost:8443/healthz'])).trim()).toBe('ok');
  }
  for (const node of sandbox.hosts.filter((h) => h.roles.includes('node'))) {
    expect(getFlannelEndpoints(await readFileOn(sandbox, node.name, '/etc/sysconfig/flanneld')).sort()).toEqual(expectedUrls);
  }

  // Inventory: [etcd] lost the failed host and gained the new one.
  const inventory = await readFileOn(sandbox, 'master-0', '/etc/ansible/hosts');
  expect(getGroupHosts(inventory, 'etcd').sort()).toEqual(live.map((h) => h.hostname).sort());
  expect(getGroupHosts(inventory, 'masters')).toContain(failedHost.hostname);

  // The new host's firewall opens 2379 and 2380 in OS_FIREWALL_ALLOW, also in the saved rules.
  const rules = await onHost(sandbox, replacement, ['iptables', '-S', 'OS_FIREWALL_ALLOW']);
  const saved = await readFileOn(sandbox, replacement, '/etc/sysconfig/iptables');
  for (const port of ['2379', '2380']) {
    expect(rules).toMatch(new RegExp(`--dport ${port} -j ACCEPT`));
    expect(saved).toMatch(new RegExp(`-A OS_FIREWALL_ALLOW .*--dport ${port} -j ACCEPT`));
  }
  expect(saved).toMatch(/-A INPUT -j OS_FIREWALL_ALLOW/);
}

async function up(members: 3 | 5): Promise<SandboxInfo> {
  const name = `t-rep-${randomBytes(3).toString('hex')}`;
  created.push(name);
  return sandboxUp({ name, members, spares: 1, nodes: 1, dataMb: 4 });
}

describe('Workflow: replace a failed member on the sandbox', () => {
  it('replaces the powered-off leader of a 3-member cluster through the CLI', async () => {
    const sandbox = await up(3);
    await makeLeader(sandbox, 'master-2');
    const before = await recordBefore(sandbox);
    await failHost(sandbox.name, 'master-2', 'kill');

    const { stdout } = await run('node', [cli, 'run', '--target', 'sandbox', '--sandbox', sandbox.name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json'], { maxBuffer: 16 << 20 });
    const result = JSON.parse(stdout) as { outcome: string; reason: string | null; steps: Array<{ name: string; status: string; attempts: number }> };
    expect(result.outcome).toBe('succeeded');
    expect(result.reason).toBeNull();
    const status = Object.fromEntries(result.steps.map((s) => [s.name, s.status]));
    expect(status).toMatchObject({ RemoveFailedMember: 'succeeded', AddMember: 'succeeded', PromoteNewMember: 'succeeded', BackUpFailedMemberData: 'skipped', CompensateNewMember: 'skipped' });

    await verifyReplaced(await loadSandbox(sandbox.name), 'master-2', 'etcd-spare-0', before);
  });

  it('replaces a member whose etcd died in a 5-member cluster, backing up its data first', async () => {
    const sandbox = await up(5);
    const before = await recordBefore(sandbox);
    await failHost(sandbox.name, 'master-3', 'etcd');

    const { stdout } = await run('node', [cli, 'run', '--sandbox', sandbox.name, '--failed', 'master-3.sandbox.test', '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json'], { maxBuffer: 16 << 20 });
    const result = JSON.parse(stdout) as { outcome: string; runId: string; steps: Array<{ name: string; status: string }> };
    expect(result.outcome).toBe('succeeded');
    expect(result.steps.find((s) => s.name === 'BackUpFailedMemberData')?.status).toBe('succeeded');

    const info = await loadSandbox(sandbox.name);
    await verifyReplaced(info, 'master-3', 'etcd-spare-0', before);
    // The failed host's data directory was uploaded, then emptied; its etcd is stopped.
    const backup = await run('tar', ['-tzf', `${info.stateDir}/artifacts/runs/${result.runId}/failed-member-data-master-3.sandbox.test.tgz`]);
    expect(backup.stdout).toMatch(/member\/snap\/db/);
    expect((await onHost(info, 'master-3', ['find', '/var/lib/etcd', '-mindepth', '1'])).trim()).toBe('');
    expect((await onHost(info, 'master-3', ['ls', '/etc/origin/node/pods-stopped'])).trim()).toBe('etcd.yaml');
  });
});
