// `sandbox down`: removes everything a sandbox put on the machine, in an order that works for a
// healthy sandbox, a half-built one and one whose processes were killed: processes (only those in
// the sandbox's own namespaces), mounts under its state dir, network namespaces, bridge and veths,
// the state dir, the registry entry. Every step tolerates what is already gone. Hosts launched into
// the sandbox for a run (etcd-new-N) are hosts of its record like any other and go the same way.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SandboxError } from './errors.ts';
import { killAllIn } from './exec.ts';
import type { SandboxRecord } from './model.ts';
import { HOST_NAME_RE, NETNS_NAME_RE, SANDBOXES_DIR, bridgeAlias, nsDirOf, stateDirOf, validateSandboxName } from './model.ts';
import { registryEntries, release } from './registry.ts';
import { run } from './util.ts';
import { FileLock } from './adapters/fileLock.ts';

async function listNetns(): Promise<string[]> {
  try {
    return await fs.readdir('/run/netns');
  } catch {
    return [];
  }
}

/** Network namespaces of sandbox `name`: er-<name>-<host> with a host name a sandbox can have. */
async function netnsOf(name: string): Promise<string[]> {
  const prefix = `er-${name}-`;
  return (await listNetns()).filter((ns) => ns.startsWith(prefix) && HOST_NAME_RE.test(ns.slice(prefix.length)));
}

/** Mount points at or under `dir` in the machine's mount namespace, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

interface Link {
  ifname: string;
  ifalias?: string;
}

async function ourLinks(name: string | null): Promise<Link[]> {
  const result = await run('ip', ['-j', 'link', 'show']);
  if (result.exitCode !== 0) return [];
  const links = JSON.parse(result.stdout || '[]') as Link[];
  return links.filter((l) => {
    if (!l.ifalias) return false;
    if (name === null) return l.ifalias.startsWith('etcd-replace:');
    return l.ifalias === bridgeAlias(name) || l.ifalias.startsWith(`${bridgeAlias(name)}:`);
  });
}

async function readRecordIfAny(name: string): Promise<SandboxRecord | null> {
  try {
    return JSON.parse(await fs.readFile(path.join(stateDirOf(name), 'sandbox.json'), 'utf8')) as SandboxRecord;
  } catch {
    return null;
  }
}

/** Removes sandbox `name` completely. Idempotent. */
export async function teardown(name: string): Promise<void> {
  validateSandboxName(name);
  const stateDir = stateDirOf(name);
  const record = await readRecordIfAny(name);
  const namespaces = new Set(await netnsOf(name));
  for (const host of record?.hosts ?? []) namespaces.add(host.netns);
  const netnsFiles = [...namespaces].map((ns) => path.join('/run/netns', ns));
  let nsFiles: string[] = [];
  try {
    nsFiles = (await fs.readdir(nsDirOf(stateDir))).map((f) => path.join(nsDirOf(stateDir), f));
  } catch {
    // no namespace files
  }

  // 1. Processes in the sandbox's network, mount or UTS namespaces (and nothing else).
  await killAllIn([...netnsFiles, ...nsFiles]);

  // 2. Mounts under the state dir (namespace files, then the private ns dir itself).
  const mounts = await mountsUnder(stateDir);
  for (const mount of mounts) {
    const result = await run('umount', [mount]);
    if (result.exitCode !== 0) await run('umount', ['-l', mount]);
  }

  // 3. Network namespaces; the veth ends inside them go with them.
  if (namespaces.size > 0) {
    await run('ip', ['-force', '-batch', '-'], { input: `${[...namespaces].map((ns) => `netns del ${ns}`).join('\n')}\n` });
  }

  // 4. Bridge and any veth still on the machine side (found by their alias).
  for (const link of await ourLinks(name)) {
    await run('ip', ['link', 'del', link.ifname]);
  }
  if (record?.bridge) await run('ip', ['link', 'del', record.bridge]);

  // 5. Files and the registry entry.
  const left = await mountsUnder(stateDir);
  if (left.length > 0) throw new SandboxError(`cannot unmount ${left.join(', ')}`);
  await fs.rm(stateDir, { recursive: true, force: true });
  // What its cluster left beside the lock (the last holder, join requests) goes with it.
  await new FileLock().forget(name);
  await release(name);
}

/** Every sandbox this product made on the machine: registry, state dirs, netns names, links. */
export async function allSandboxNames(): Promise<string[]> {
  const names = new Set<string>();
  for (const entry of await registryEntries()) if (entry.name) names.add(entry.name);
  try {
    for (const dir of await fs.readdir(SANDBOXES_DIR)) names.add(dir);
  } catch {
    // none
  }
  for (const ns of await listNetns()) {
    const match = NETNS_NAME_RE.exec(ns);
    if (match?.[1]) names.add(match[1]);
  }
  for (const link of await ourLinks(null)) {
    const match = /^etcd-replace:([^:]+)/.exec(link.ifalias ?? '');
    if (match?.[1]) names.add(match[1]);
  }
  return [...names].filter((n) => /^[a-z][a-z0-9-]{0,15}$/.test(n)).sort();
}

export async function sandboxDown(name: string | { all: true }): Promise<void> {
  if (typeof name === 'string') {
    await teardown(name);
    return;
  }
  for (const each of await allSandboxNames()) await teardown(each);
  // Leftover links without a name we could parse.
  for (const link of await ourLinks(null)) await run('ip', ['link', 'del', link.ifname]);
}
