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
  /** version: what the running etcd answers (endpoint status), null when it does not run or answer. */
  etcd: { running: boolean; memberId: string | null; leader: boolean; version: string | null };
  /** The run that launched this host into the sandbox (etcd-new-N); absent for the hosts of `up`. */
  launchedBy?: string;
}

export interface StatusDocument {
  name: string;
  hosts: StatusHost[];
  client: { endpoints: string[]; cacert: string; cert: string; key: string };
  /** The version the members were started on (sandbox up --etcd-version). */
  etcdVersion: string;
}

/** Whether an etcd process runs in the host's network namespace. */
export async function etcdRunning(host: SandboxHost): Promise<boolean> {
  const pids = await pidsInNamespaces([path.join('/run/netns', host.netns)]);
  const names = await Promise.all(pids.map(processName));
  return names.includes('etcd');
}

const toHex = (decimal: string) => BigInt(decimal).toString(16).padStart(16, '0');

type Identity = { memberId: string | null; leader: boolean; version: string | null };
const NO_IDENTITY: Identity = { memberId: null, leader: false, version: null };

/** The member's ID, leadership and server version, from the host's own etcdctl (3.2, 3.3 and 3.4 agree on this JSON). */
async function etcdIdentity(sandbox: SandboxInfo, host: SandboxHost): Promise<Identity> {
  try {
    const result = await hostExec(
      sandbox,
      host.name,
      [
        'etcdctl',
        `--endpoints=https://${host.ip}:2379`,
        '--cacert=/etc/etcd/ca.crt',
        '--cert=/etc/etcd/peer.crt',
        '--key=/etc/etcd/peer.key',
        '--command-timeout=2s',
        '--dial-timeout=2s',
        'endpoint',
        'status',
        '-w',
        'json',
      ],
      { timeoutMs: 5000, env: { ETCDCTL_API: '3' } },
    );
    if (result.exitCode !== 0) return NO_IDENTITY;
    // member_id and leader are uint64: read them as text, not through JSON numbers.
    const member = /"member_id":(\d+)/.exec(result.stdout)?.[1];
    const leader = /"leader":(\d+)/.exec(result.stdout)?.[1];
    const version = /"version":"([^"]+)"/.exec(result.stdout)?.[1] ?? null;
    if (!member) return NO_IDENTITY;
    return { memberId: toHex(member), leader: leader !== undefined && leader !== '0' && leader === member, version };
  } catch {
    return NO_IDENTITY;
  }
}

export async function statusOf(sandbox: SandboxInfo): Promise<StatusDocument> {
  const hosts = await Promise.all(
    sandbox.hosts.map(async (host): Promise<StatusHost> => {
      const running = host.up && (await etcdRunning(host));
      const identity = running ? await etcdIdentity(sandbox, host) : NO_IDENTITY;
      return {
        name: host.name,
        hostname: host.hostname,
        ip: host.ip,
        roles: [...host.roles],
        up: host.up,
        etcd: { running, ...identity },
        ...(host.launchedBy !== undefined ? { launchedBy: host.launchedBy } : {}),
      };
    }),
  );
  return { name: sandbox.name, hosts, client: { ...sandbox.client, endpoints: [...sandbox.client.endpoints] }, etcdVersion: sandbox.etcdVersion };
}

export async function sandboxStatus(name: string): Promise<StatusDocument> {
  return statusOf(await loadSandbox(name));
}
