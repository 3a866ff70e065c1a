// Independent checks of a sandbox cluster, made with etcdctl and plain file reads on the hosts
// themselves (never through the workflow's own ports), for the end-to-end tests.

import { hostExec, type SandboxInfo } from '../../sandbox/index.ts';
import { waitFor } from '../../sandbox/util.ts';

const TLS = ['--cacert=/etc/etcd/ca.crt', '--cert=/etc/etcd/peer.crt', '--key=/etc/etcd/peer.key'];

export async function onHost(sandbox: SandboxInfo, host: string, argv: string[]): Promise<string> {
  const out = await hostExec(sandbox, host, argv, { timeoutMs: 60_000 });
  if (out.exitCode !== 0) throw new Error(`${argv.join(' ')} on ${host} exited ${out.exitCode}: ${out.stderr}`);
  return out.stdout;
}

export async function etcdctl(sandbox: SandboxInfo, host: string, endpoints: string[], args: string[]): Promise<string> {
  return onHost(sandbox, host, ['env', 'ETCDCTL_API=3', 'etcdctl', ...TLS, `--endpoints=${endpoints.join(',')}`, ...args]);
}

/** Replaces bare uint64 numbers of ID-like fields with strings, so JSON.parse keeps every digit. */
function parseIds(text: string): unknown {
  return JSON.parse(text.replace(/"(ID|member_id|leader|cluster_id|raft_term)":(\d+)/g, '"$1":"$2"'));
}
const hex = (decimal: string) => BigInt(decimal).toString(16).padStart(16, '0');

export interface Member {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export async function memberList(sandbox: SandboxInfo, via: string, endpoint: string): Promise<Member[]> {
  const out = parseIds(await etcdctl(sandbox, via, [endpoint], ['member', 'list', '-w', 'json'])) as { members: Array<Record<string, unknown>> };
  return out.members.map((m) => ({
    id: hex(String(m['ID'])),
    name: String(m['name'] ?? ''),
    peerURLs: (m['peerURLs'] as string[]) ?? [],
    clientURLs: (m['clientURLs'] as string[]) ?? [],
    isLearner: m['isLearner'] === true,
  }));
}

export async function endpointHealthy(sandbox: SandboxInfo, via: string, endpoints: string[]): Promise<boolean[]> {
  // Text, not -w json: etcdctl 3.2 and 3.3 print "<endpoint> is healthy: …" whatever -w says.
  const out = await hostExec(sandbox, via, ['env', 'ETCDCTL_API=3', 'etcdctl', ...TLS, `--endpoints=${endpoints.join(',')}`, 'endpoint', 'health'], {
    timeoutMs: 60_000,
  });
  const text = `${out.stdout}\n${out.stderr}`;
  return endpoints.map((e) => text.split('\n').some((line) => line.startsWith(`${e} is healthy`)));
}

/**
 * The key space at one revision as one endpoint holds it: the revision (now, unless given) and the
 * sha256 of every key and value read serializably from that endpoint at that revision. Works on etcd
 * 3.2, which has no `endpoint hashkv`.
 */
export async function dataDigest(sandbox: SandboxInfo, via: string, endpoint: string, revision?: number): Promise<{ revision: number; hash: string }> {
  const rev =
    revision ??
    Number(
      (parseIds(await etcdctl(sandbox, via, [endpoint], ['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { header: { revision: number } } }>)[0]!
        .Status.header.revision,
    );
  const script = 'set -o pipefail; ETCDCTL_API=3 etcdctl "${@:2}" get "" --from-key --consistency=s --rev="$1" | sha256sum | cut -d" " -f1';
  const hash = (await onHost(sandbox, via, ['bash', '-c', script, 'digest', String(rev), ...TLS, `--endpoints=${endpoint}`])).trim();
  return { revision: rev, hash };
}

/** Every key, read serializably from that one member (its own copy of the data). */
export async function keysOn(sandbox: SandboxInfo, via: string, endpoint: string): Promise<string[]> {
  const out = await etcdctl(sandbox, via, [endpoint], ['get', '', '--prefix', '--keys-only', '--consistency=s']);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .sort();
}

export async function readFileOn(sandbox: SandboxInfo, host: string, path: string): Promise<string> {
  return onHost(sandbox, host, ['cat', path]);
}

/** Waits until the named members agree on one leader (an election after a leader died takes seconds). */
export async function waitForLeader(sandbox: SandboxInfo, hosts: string[], timeoutMs = 30_000): Promise<string> {
  const endpoints = hosts.map((name) => `https://${sandbox.hosts.find((h) => h.name === name)!.ip}:2379`);
  const agreed = async (): Promise<string | undefined> => {
    const out = await hostExec(
      sandbox,
      hosts[0]!,
      ['env', 'ETCDCTL_API=3', 'etcdctl', ...TLS, `--endpoints=${endpoints.join(',')}`, 'endpoint', 'status', '-w', 'json'],
      { timeoutMs: 20_000 },
    );
    if (out.exitCode !== 0) return undefined;
    const leaders = new Set((parseIds(out.stdout) as Array<{ Status: { leader?: string } }>).map((s) => s.Status.leader ?? '0'));
    const [leader] = [...leaders];
    return leaders.size === 1 && leader !== undefined && leader !== '0' ? hex(leader) : undefined;
  };
  return waitFor(`one leader agreed among ${hosts.join(', ')}`, timeoutMs, 200, agreed, { errors: 'throw' });
}
