// Where a replacement left a sandbox cluster, read from the hosts themselves (etcdctl, openssl and the
// files), normalized so that two clusters built alike compare equal whatever their addresses, member IDs
// and keys: every IP is written as the host it belongs to.

import type { SandboxInfo } from '../../sandbox/index.ts';
import { getGroupHosts } from '../../functions/config/inventory.ts';
import { memberList, onHost } from './clusterFacts.ts';
import { hostFile } from './safetyHelpers.ts';
import { readFile } from 'node:fs/promises';

export interface EndState {
  /** Member names, sorted, each with its peer and client URLs. */
  members: string[];
  /** KEY=VALUE of /etc/etcd/etcd.conf on the new host (comments and blank lines dropped), sorted. */
  etcdConf: string[];
  /** Per certificate of the new host: subject, issuer, SANs, key usages. */
  certificates: Record<string, string[]>;
  /** etcdClientInfo.urls of each live master, as a sorted set. */
  masterUrls: Record<string, string[]>;
  /** The installer's inventory: the hosts of [etcd] (sorted) and [new_etcd]. */
  inventory: { etcd: string[]; newEtcd: string[] };
  /** FLANNEL_ETCD_ENDPOINTS on each live host that runs flanneld, as a sorted set. */
  flannel: Record<string, string[]>;
}

/** Every host's IP written as `<host>`, so two sandboxes on other subnets read the same. */
function byName(sandbox: SandboxInfo): (text: string) => string {
  const ips = sandbox.hosts.map((h) => [h.ip, `<${h.name}>`] as const).sort((a, b) => b[0].length - a[0].length);
  return (text) => ips.reduce((t, [ip, name]) => t.split(ip).join(name), text);
}

const sortedList = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();

export async function endState(sandbox: SandboxInfo, options: { newHost: string; live: string[]; flannelHosts: string[] }): Promise<EndState> {
  const norm = byName(sandbox);
  const via = options.live[0]!;
  const viaIp = sandbox.hosts.find((h) => h.name === via)!.ip;
  const members = (await memberList(sandbox, via, `https://${viaIp}:2379`))
    .map((m) => norm(`${m.name} ${m.peerURLs.join(',')} ${m.clientURLs.join(',')}${m.isLearner ? ' learner' : ''}`))
    .sort();
  const conf = await readFile(hostFile(sandbox, options.newHost, '/etc/etcd/etcd.conf'), 'utf8');
  const etcdConf = conf
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[A-Z0-9_]+=/.test(l))
    .map((l) => {
      const [key, ...rest] = l.split('=');
      const value = rest.join('=').replace(/^"(.*)"$/, '$1');
      // A list's order is the writer's: the members in ETCD_INITIAL_CLUSTER compare as a set.
      return `${key}=${norm(key === 'ETCD_INITIAL_CLUSTER' ? sortedList(value).join(',') : value)}`;
    })
    .sort();
  const certificates: Record<string, string[]> = {};
  // The issuer as "the cluster's CA": each sandbox has a CA of its own, with its own name.
  const caSubject = (await onHost(sandbox, options.newHost, ['openssl', 'x509', '-in', '/etc/etcd/ca.crt', '-noout', '-subject', '-nameopt', 'RFC2253']))
    .trim()
    .replace(/^subject=/, '');
  for (const cert of ['server.crt', 'peer.crt']) {
    const text = await onHost(sandbox, options.newHost, [
      'openssl',
      'x509',
      '-in',
      `/etc/etcd/${cert}`,
      '-noout',
      '-subject',
      '-issuer',
      '-ext',
      'subjectAltName,keyUsage,extendedKeyUsage',
      '-nameopt',
      'RFC2253',
    ]);
    const verified = await onHost(sandbox, options.newHost, ['openssl', 'verify', '-CAfile', '/etc/etcd/ca.crt', `/etc/etcd/${cert}`]);
    certificates[cert] = [
      ...text
        .split('\n')
        .map((l) => norm(l.trim()))
        .filter(Boolean)
        .map((l) => (l === `issuer=${caSubject}` ? 'issuer=<the cluster CA>' : l))
        .map((l) => (l.includes(',') && !/^(subject|issuer)=/.test(l) ? sortedList(l).join(', ') : l)),
      verified.trim().replace(/^\/etc\/etcd\//, ''),
    ];
  }
  const masterUrls: Record<string, string[]> = {};
  for (const master of sandbox.hosts.filter((h) => h.roles.includes('master') && options.live.includes(h.name))) {
    const yaml = await readFile(hostFile(sandbox, master.name, '/etc/origin/master/master-config.yaml'), 'utf8');
    const block = /etcdClientInfo:[\s\S]*?urls:\s*\n((?:\s+- .*\n)+)/.exec(yaml)?.[1] ?? '';
    masterUrls[master.name] = block
      .split('\n')
      .map((l) => l.replace(/^\s*-\s*/, '').trim())
      .filter(Boolean)
      .map(norm)
      .sort();
  }
  const installer = sandbox.hosts.find((h) => h.roles.includes('installer'))!.name;
  const hosts = await readFile(hostFile(sandbox, installer, '/etc/ansible/hosts'), 'utf8');
  const group = (name: string) => (new RegExp(`^\\[${name}\\]`, 'm').test(hosts) ? getGroupHosts(hosts, name) : []);
  const flannel: Record<string, string[]> = {};
  for (const host of options.flannelHosts.filter((h) => options.live.includes(h))) {
    const text = await readFile(hostFile(sandbox, host, '/etc/sysconfig/flanneld'), 'utf8');
    flannel[host] = sortedList(/^FLANNEL_ETCD_ENDPOINTS="?([^"\n]*)"?/m.exec(text)?.[1] ?? '').map(norm);
  }
  return { members, etcdConf, certificates, masterUrls, inventory: { etcd: group('etcd').sort(), newEtcd: group('new_etcd') }, flannel };
}
