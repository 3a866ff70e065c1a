// The independent facts an end-to-end replacement must leave behind, shared by the sandbox-path tests
// (replace.test.ts, the learner suite) and the rehearsal of the deployed stack (rehearsal/, through test/rehearsal/checks.ts):
// membership, health, data, clients, the inventory and the new host's firewall, all read with etcdctl
// and plain file reads on the hosts.

import { expect } from 'vitest';
import type { SandboxInfo } from '../../sandbox/index.ts';
import { getEtcdClientUrls } from '../../functions/config/masterConfig.ts';
import { getFlannelEndpoints } from '../../functions/config/flanneld.ts';
import { getGroupHosts } from '../../functions/config/inventory.ts';
import { dataDigest, endpointHealthy, etcdctl, keysOn, memberList, onHost, readFileOn, waitForLeader } from './clusterFacts.ts';
import { waitFor } from '../../sandbox/util.ts';

export const clientUrl = (ip: string) => `https://${ip}:2379`;

export interface Before {
  keys: string[];
  revision: number;
  hash: string;
}

export async function recordBefore(sandbox: SandboxInfo): Promise<Before> {
  const m0 = sandbox.hosts.find((h) => h.name === 'master-0')!;
  const endpoint = clientUrl(m0.ip);
  const { revision, hash } = await dataDigest(sandbox, 'master-0', endpoint);
  return { keys: await keysOn(sandbox, 'master-0', endpoint), revision, hash };
}

/**
 * Makes `target` the leader, so the test can fail the leader on purpose: `etcdctl move-leader` where the
 * members run etcd 3.3 or later; on 3.2, which has no MoveLeader, the leader's static pod is stopped and
 * started again (etcd hands leadership over on a graceful stop) until `target` leads.
 */
export async function makeLeader(sandbox: SandboxInfo, target: string): Promise<void> {
  const members = await memberList(sandbox, 'master-0', clientUrl(sandbox.hosts[0]!.ip));
  const host = sandbox.hosts.find((h) => h.name === target)!;
  const id = members.find((m) => m.peerURLs.includes(`https://${host.ip}:2380`))!.id;
  const etcdHosts = sandbox.hosts.filter((h) => h.roles.includes('etcd'));
  const endpoints = etcdHosts.map((h) => clientUrl(h.ip));
  if (!(await versionOf(sandbox, 'master-0')).startsWith('3.2.')) {
    await etcdctl(sandbox, 'master-0', endpoints, ['move-leader', id]);
    return;
  }
  for (let attempt = 0; attempt < 12; attempt++) {
    const leaderId = await waitForLeader(
      sandbox,
      etcdHosts.map((h) => h.name),
    );
    if (leaderId === id) return;
    await restartPod(sandbox, etcdHosts.find((h) => members.find((m) => m.id === leaderId)?.peerURLs.includes(`https://${h.ip}:2380`))!.name);
  }
  throw new Error(`${target} did not become the leader`);
}

/** Stops a member's static pod and starts it again (a graceful stop hands leadership over); waits until every member is healthy. */
async function restartPod(sandbox: SandboxInfo, host: string): Promise<void> {
  const endpoints = sandbox.hosts.filter((h) => h.roles.includes('etcd')).map((h) => clientUrl(h.ip));
  const own = clientUrl(sandbox.hosts.find((h) => h.name === host)!.ip);
  const via = host === 'master-0' ? 'master-1' : 'master-0';
  await onHost(sandbox, host, ['mv', '/etc/origin/node/pods/etcd.yaml', '/etc/origin/node/etcd.yaml.paused']);
  await waitFor(`${host}'s etcd to stop`, 30_000, 200, async () => !(await endpointHealthy(sandbox, via, [own]))[0]);
  await onHost(sandbox, host, ['mv', '/etc/origin/node/etcd.yaml.paused', '/etc/origin/node/pods/etcd.yaml']);
  await waitFor('every member healthy', 30_000, 200, async () => (await endpointHealthy(sandbox, via, endpoints)).every(Boolean));
}

/** The leader's host name, once it is not the CA host (master-0), which a run refuses to replace without a CA backup. */
export async function leaderOtherThanCa(sandbox: SandboxInfo): Promise<string> {
  const members = await memberList(sandbox, 'master-0', clientUrl(sandbox.hosts[0]!.ip));
  const etcdHosts = sandbox.hosts.filter((h) => h.roles.includes('etcd'));
  const hostOf = (id: string) => etcdHosts.find((h) => members.find((m) => m.id === id)?.peerURLs.includes(`https://${h.ip}:2380`))!;
  const leader = hostOf(
    await waitForLeader(
      sandbox,
      etcdHosts.map((h) => h.name),
    ),
  );
  if (leader.name !== 'master-0') return leader.name;
  await restartPod(sandbox, 'master-0');
  return leaderOtherThanCa(sandbox);
}

async function versionOf(sandbox: SandboxInfo, via: string): Promise<string> {
  const out = await etcdctl(sandbox, via, [clientUrl(sandbox.hosts.find((h) => h.name === via)!.ip)], ['endpoint', 'status', '-w', 'json']);
  return /"version":"([^"]+)"/.exec(out)?.[1] ?? '';
}

/**
 * `via`: the member host the checks run on (default master-0); `installer`: the host whose inventory is
 * checked (default master-0; null when it is the failed host and cannot be read).
 */
export async function verifyReplaced(
  sandbox: SandboxInfo,
  failed: string,
  replacement: string,
  before: Before,
  options: { via?: string; installer?: string | null } = {},
): Promise<void> {
  const via = options.via ?? 'master-0';
  const installer = options.installer === undefined ? 'master-0' : options.installer;
  const failedHost = sandbox.hosts.find((h) => h.name === failed)!;
  const newHost = sandbox.hosts.find((h) => h.name === replacement)!;
  const survivors = sandbox.hosts.filter((h) => h.roles.includes('etcd') && h.name !== failed);
  const live = [...survivors, newHost];
  const endpoints = live.map((h) => clientUrl(h.ip));

  // Membership: exactly the survivors plus the replacement, all started and voting.
  const members = await memberList(sandbox, via, endpoints[0]!);
  expect(members.map((m) => m.name).sort()).toEqual(live.map((h) => h.hostname).sort());
  expect(members.every((m) => !m.isLearner && m.name !== '')).toBe(true);
  expect(members.flatMap((m) => m.peerURLs).sort()).toEqual(live.map((h) => `https://${h.ip}:2380`).sort());

  // Health on every endpoint, v3 and the runbook's v2 cluster-health.
  expect(await endpointHealthy(sandbox, via, endpoints)).toEqual(endpoints.map(() => true));
  const v2 = await onHost(sandbox, via, [
    'env',
    'ETCDCTL_API=2',
    'etcdctl',
    '--ca-file=/etc/etcd/ca.crt',
    '--cert-file=/etc/etcd/peer.crt',
    '--key-file=/etc/etcd/peer.key',
    `--peers=${endpoints.join(',')}`,
    'cluster-health',
  ]);
  expect(v2).toContain('cluster is healthy');

  // Data: the same keys on every member, and at the pre-failure revision the same keys and values.
  for (const endpoint of endpoints) {
    expect(await keysOn(sandbox, via, endpoint)).toEqual(before.keys);
    expect((await dataDigest(sandbox, via, endpoint, before.revision)).hash).toBe(before.hash);
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
  if (installer !== null) {
    const inventory = await readFileOn(sandbox, installer, '/etc/ansible/hosts');
    expect(getGroupHosts(inventory, 'etcd').sort()).toEqual(live.map((h) => h.hostname).sort());
    expect(getGroupHosts(inventory, 'masters')).toContain(failedHost.hostname);
  }

  // The new host's firewall opens 2379 and 2380 in OS_FIREWALL_ALLOW, also in the saved rules.
  const rules = await onHost(sandbox, replacement, ['iptables', '-S', 'OS_FIREWALL_ALLOW']);
  const saved = await readFileOn(sandbox, replacement, '/etc/sysconfig/iptables');
  for (const port of ['2379', '2380']) {
    expect(rules).toMatch(new RegExp(`--dport ${port} -j ACCEPT`));
    expect(saved).toMatch(new RegExp(`-A OS_FIREWALL_ALLOW .*--dport ${port} -j ACCEPT`));
  }
  expect(saved).toMatch(/-A INPUT -j OS_FIREWALL_ALLOW/);
}
