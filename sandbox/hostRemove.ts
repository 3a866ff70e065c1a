// Removing one host from a running sandbox and nothing else: the processes in its namespaces, its
// namespace files' mounts, its network namespace and veth, its files and logs. Every step tolerates
// what is already gone, so a removal cut short is finished by running it again.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SandboxError } from './errors.ts';
import { mountsUnder } from './down.ts';
import { killAllIn } from './exec.ts';
import type { HostRecord, SandboxRecord } from './model.ts';
import { bridgeAlias, hostMetaOf, logDirOf, mntNsFile, utsNsFile } from './model.ts';
import { exists, run } from './util.ts';

/** The machine-side veth of the host, when it still exists and carries the host's alias (it is ours). */
async function ownVeth(record: SandboxRecord, host: HostRecord): Promise<boolean> {
  const result = await run('ip', ['-j', 'link', 'show', 'dev', host.veth]);
  if (result.exitCode !== 0) return false;
  const links = JSON.parse(result.stdout || '[]') as Array<{ ifalias?: string }>;
  return links.some((l) => l.ifalias === `${bridgeAlias(record.name)}:${host.name}`);
}

async function unmountAll(targets: string[]): Promise<void> {
  for (const target of targets) {
    for (const mount of await mountsUnder(target)) {
      const result = await run('umount', [mount]);
      if (result.exitCode !== 0) await run('umount', ['-l', mount]);
    }
  }
}

/** Takes `host` of sandbox `record` off the machine. Its entry in the record is the caller's to drop. */
export async function removeHost(record: SandboxRecord, stateDir: string, host: HostRecord): Promise<void> {
  const netnsFile = path.join('/run/netns', host.netns);
  const nsFiles = [mntNsFile(stateDir, host.name), utsNsFile(stateDir, host.name)];

  // 1. Every process in the host's network or mount namespace (its supervisor, etcd, anything it ran).
  await killAllIn([netnsFile, ...nsFiles]);

  // 2. The persistent mount and UTS namespaces (their files' bind mounts), and anything under its tree.
  const meta = hostMetaOf(stateDir, host.name);
  await unmountAll([...nsFiles, meta]);

  // 3. The network namespace; the veth's inner end goes with it, the machine-side end too.
  if (await exists(netnsFile)) {
    const result = await run('ip', ['netns', 'del', host.netns]);
    if (result.exitCode !== 0) throw new SandboxError(`cannot delete the network namespace ${host.netns}: ${result.stderr.trim()}`);
  }
  if (await ownVeth(record, host)) await run('ip', ['link', 'del', host.veth]);

  // 4. Files: its tree, logs and namespace files.
  const left = [...(await mountsUnder(meta)), ...(await Promise.all(nsFiles.map(mountsUnder))).flat()];
  if (left.length > 0) throw new SandboxError(`cannot unmount ${left.join(', ')}`);
  await Promise.all([meta, logDirOf(stateDir, host.name), ...nsFiles].map((p) => fs.rm(p, { recursive: true, force: true })));
}
