// `sandbox status`: each host's power and etcd state, asked on the host itself (so a partitioned
// member still reports), plus the machine's client identity.
import path from 'node:path';
import type { Role } from '../functions/ports.ts';
import { hostExec, pidsInNamespaces, processName } from './exec.ts';
import type { SandboxHost, SandboxInfo } from './model.ts';
import { loadSandbox } from './model.ts';

export interface StatusHost {
  name: string;
  hostname: string;
  ip: string;
  roles: Role[];
  up: boolean;
  etcd: { running: boolean; memberId: string | null; leader: boolean };
}

export interface StatusDocument {
  name: string;
  hosts: StatusHost[];
  client: { endpoints: string[]; cacert: string; cert: string; key: string };
}

/** Whether an etcd process runs in the host's network namespace. */
export async function etcdRunning(host: SandboxHost): Promise<boolean> {
  const pids = await pidsInNamespaces([path.join('/run/netns', host.netns)]);
  const names = await Promise.all(pids.map(processName));
  return names.includes('etcd');
}

const toHex = (decimal: string) => BigInt(decimal).toString(16).padStart(16, '0');

async function etcdIdentity(sandbox: SandboxInfo, host: SandboxHost): Promise<{ memberId: string | null; leader: boolean }> {
  try {
    const result = await hostExec(
      sandbox,
      host.name,
      ['etcdctl', `--endpoints=https://${host.ip}:2379`, '--cacert=/etc/etcd/ca.crt', '--cert=/etc/etcd/peer.crt', '--key=/etc/etcd/peer.key', '--command-timeout=2s', '--dial-timeout=2s', 'endpoint', 'status', '-w', 'json'],
      { timeoutMs: 5000, env: { ETCDCTL_API: '3' } },
    );
    if (result.exitCode !== 0) return { memberId: null, leader: false };
    // member_id and leader are uint64: read them as text, not through JSON numbers.
    const member = /"member_id":(\d+)/.exec(result.stdout)?.[1];
    const leader = /"leader":(\d+)/.exec(result.stdout)?.[1];
    if (!member) return { memberId: null, leader: false };
    return { memberId: toHex(member), leader: leader !== undefined && leader !== '0' && leader === member };
  } catch {
    return { memberId: null, leader: false };
  }
}

export async function statusOf(sandbox: SandboxInfo): Promise<StatusDocument> {
  const hosts = await Promise.all(
    sandbox.hosts.map(async (host): Promise<StatusHost> => {
      const running = host.up && (await etcdRunning(host));
      const identity = running ? await etcdIdentity(sandbox, host) : { memberId: null, leader: false };
      return { name: host.name, hostname: host.hostname, ip: host.ip, roles: [...host.roles], up: host.up, etcd: { running, ...identity } };
    }),
  );
  return { name: sandbox.name, hosts, client: { ...sandbox.client, endpoints: [...sandbox.client.endpoints] } };
}

export async function sandboxStatus(name: string): Promise<StatusDocument> {
  return statusOf(await loadSandbox(name));
}
