// The security-group stand-in in front of each sandbox host: nft table `inet sandbox_sg` in the host's
// network namespace (invisible to iptables-save) drops new tcp to 2379/2380 unless the port is in its
// set `etcd_allowed`, which admits the sandbox subnet (the cluster's "etcd security group"). Masters
// get both ports at up; spares get none, as a fresh EC2 instance would.
//
// The fence (the quarantine group of EC2) is a table of its own, `inet sandbox_fence`, beside it: every
// tcp packet to or from port 2379 or 2380 is dropped, in and out, established connections too; only
// loopback passes (a security group never sees a host's traffic to itself). Its base chains drop at
// priority -200, before sandbox_sg (-10) and whatever the host loads itself (iptables at 0), and a drop
// is final in nftables whatever another table accepts: allowEtcdPorts, `sandbox fail --mode partition`
// and `sandbox heal` leave it alone, and a host that boots again (heal) comes up fenced. It lives in
// the host's network namespace, which outlives the host's processes, so a powered-off host is fenced
// too. Like the rest of the stand-in it is outside the host only by convention: root on the host could
// delete it, where nothing on an EC2 instance can change its security groups.
import path from 'node:path';
import type { FencePrevious, FenceState, Host, SecurityGroupPort } from '../functions/ports.ts';
import { SandboxError } from './errors.ts';
import type { SandboxInfo } from './model.ts';
import { failHost } from './fail.ts';
import { readPower } from './model.ts';
import { run, runOk } from './util.ts';

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

export const FENCE_TABLE = 'sandbox_fence';

const FENCE_RULES = `table inet ${FENCE_TABLE} {
  chain input {
    type filter hook input priority -200; policy accept;
    iifname "lo" accept
    tcp dport { 2379, 2380 } drop
    tcp sport { 2379, 2380 } drop
  }
  chain output {
    type filter hook output priority -200; policy accept;
    oifname "lo" accept
    tcp dport { 2379, 2380 } drop
    tcp sport { 2379, 2380 } drop
  }
}
`;

/** Whether the host is fenced (its table is there). */
export async function describeFence(sandbox: SandboxInfo, hostName: string): Promise<FenceState> {
  const result = await run('nsenter', [`--net=${netnsOf(sandbox, hostName)}`, '--', 'nft', 'list', 'table', 'inet', FENCE_TABLE]);
  if (result.exitCode === 0) return { fenced: true };
  if (/No such file or directory/.test(result.stderr)) return { fenced: false };
  throw new SandboxError(`nft on ${hostName}: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
}

/** Closes 2379/2380 to and from the host, running or powered off. Idempotent. Nothing is replaced: no `previous`. */
export async function fenceHost(sandbox: SandboxInfo, hostName: string): Promise<{ changed: boolean }> {
  if ((await describeFence(sandbox, hostName)).fenced) return { changed: false };
  // One nft transaction: the table and both chains appear at once, or nothing does.
  await runOk('nsenter', [`--net=${netnsOf(sandbox, hostName)}`, '--', 'nft', '-f', '-'], { input: FENCE_RULES, what: `fencing ${hostName}` });
  return { changed: true };
}

/** Lifts the fence. Idempotent. */
export async function unfenceHost(sandbox: SandboxInfo, hostName: string): Promise<{ changed: boolean }> {
  if (!(await describeFence(sandbox, hostName)).fenced) return { changed: false };
  await nft(sandbox, hostName, ['delete', 'table', 'inet', FENCE_TABLE]);
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

  fence(host: Host): Promise<{ changed: boolean; previous?: FencePrevious }> {
    return fenceHost(this.sandbox, host.name);
  }

  /** `previous` is not needed here: the sandbox's fence replaced nothing. */
  unfence(host: Host): Promise<{ changed: boolean }> {
    return unfenceHost(this.sandbox, host.name);
  }

  describeFence(host: Host): Promise<FenceState> {
    return describeFence(this.sandbox, host.name);
  }

  /** Powers the host off as `sandbox fail --mode kill` does; a host already off is left as it is. */
  async stopHost(host: Host): Promise<{ changed: boolean }> {
    netnsOf(this.sandbox, host.name);
    if ((await readPower(this.sandbox.stateDir, host.name)) === 'off') return { changed: false };
    await failHost(this.sandbox.name, host.name, 'kill');
    return { changed: true };
  }
}
