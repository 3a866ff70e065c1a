// The security-group stand-in in front of each sandbox host: nft table `inet sandbox_sg` in the host's
// network namespace (invisible to iptables-save) drops new tcp to 2379/2380 unless the port is in its
// set `etcd_allowed`, which admits the sandbox subnet (the cluster's "etcd security group"). Masters
// get both ports at up; spares get none, as a fresh EC2 instance would.
import path from 'node:path';
import type { Host, SecurityGroupPort } from '../functions/ports.ts';
import { SandboxError } from './errors.ts';
import type { SandboxInfo } from './model.ts';
import { runOk } from './util.ts';

const ETCD_PORTS = [2379, 2380];

function netnsOf(sandbox: SandboxInfo, hostName: string): string {
  const host = sandbox.hosts.find((h) => h.name === hostName);
  if (!host) throw new SandboxError(`sandbox "${sandbox.name}" has no host "${hostName}"`);
  return path.join('/run/netns', host.netns);
}

async function nft(sandbox: SandboxInfo, hostName: string, args: string[]): Promise<string> {
  return runOk('nsenter', [`--net=${netnsOf(sandbox, hostName)}`, '--', 'nft', ...args], { what: `nft on ${hostName}` });
}

/** Ports of 2379/2380 the host's security group admits from the cluster. */
export async function describeEtcdPorts(sandbox: SandboxInfo, hostName: string): Promise<number[]> {
  const json = JSON.parse(await nft(sandbox, hostName, ['-j', 'list', 'set', 'inet', 'sandbox_sg', 'etcd_allowed'])) as {
    nftables: Array<{ set?: { elem?: unknown[] } }>;
  };
  const elements = json.nftables.find((item) => item.set)?.set?.elem ?? [];
  return elements.filter((e): e is number => typeof e === 'number' && ETCD_PORTS.includes(e)).sort((a, b) => a - b);
}

/** Admits 2379 and 2380 from the cluster. Idempotent. */
export async function allowEtcdPorts(sandbox: SandboxInfo, hostName: string): Promise<{ changed: boolean }> {
  const open = await describeEtcdPorts(sandbox, hostName);
  if (ETCD_PORTS.every((p) => open.includes(p))) return { changed: false };
  await nft(sandbox, hostName, ['add', 'element', 'inet', 'sandbox_sg', 'etcd_allowed', `{ ${ETCD_PORTS.join(', ')} }`]);
  return { changed: true };
}

/** SecurityGroupPort over the stand-in, for the workflow's sandbox runs. */
export class SandboxSecurityGroups implements SecurityGroupPort {
  constructor(private readonly sandbox: SandboxInfo) {}

  describeEtcdPorts(host: Host): Promise<number[]> {
    return describeEtcdPorts(this.sandbox, host.name);
  }

  allowEtcdPorts(host: Host): Promise<{ changed: boolean }> {
    return allowEtcdPorts(this.sandbox, host.name);
  }
}
