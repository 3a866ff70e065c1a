// Helpers for the sandbox tests: unique names, leftovers on the machine, waiting, the etcd builds.
// The CLI as a child process is test/support/cli.ts.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';

export function uniqueName(prefix = 't'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie (state Z) has exited; it only waits to be reaped.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** What a sandbox left on the machine: netns, mounts under its state dir, links, its state dir. */
export async function leftovers(name: string): Promise<string[]> {
  const found: string[] = [];
  const netns = existsSync('/run/netns') ? await fs.readdir('/run/netns') : [];
  found.push(...netns.filter((ns) => ns.startsWith(`er-${name}-`)).map((ns) => `netns ${ns}`));
  const stateDir = `/var/lib/etcd-replace/sandboxes/${name}`;
  const mounts = (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '');
  found.push(...mounts.filter((m) => m === stateDir || m.startsWith(`${stateDir}/`)).map((m) => `mount ${m}`));
  if (existsSync(stateDir)) found.push(`dir ${stateDir}`);
  const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])) || '[]') as Array<{ ifname: string; ifalias?: string }>;
  found.push(...links.filter((l) => l.ifalias === `etcd-replace:${name}` || l.ifalias?.startsWith(`etcd-replace:${name}:`)).map((l) => `link ${l.ifname}`));
  const registry = '/var/lib/etcd-replace/registry';
  if (existsSync(registry)) {
    for (const entry of await fs.readdir(registry)) {
      if ((await fs.readFile(path.join(registry, entry), 'utf8')).trim() === name) found.push(`registry ${entry}`);
    }
  }
  return found;
}

export function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(stdout));
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The etcd build of `version` under $ETCD_REPLACE_ETCD_BUILDS (e.g. ../shared/etcd), or a loud
 * error: a test that needs a real etcd 3.2/3.3 must fail, not pass silently, when it is not there.
 */
export function requireBuild(version: string): { dir: string; etcd: string; etcdctl: string } {
  const root = process.env.ETCD_REPLACE_ETCD_BUILDS;
  if (!root) {
    throw new Error(
      `this test needs etcd ${version}: set ETCD_REPLACE_ETCD_BUILDS to a directory holding v${version}/etcd and v${version}/etcdctl (e.g. ../shared/etcd)`,
    );
  }
  const dir = path.resolve(root, `v${version}`);
  const build = { dir, etcd: path.join(dir, 'etcd'), etcdctl: path.join(dir, 'etcdctl') };
  for (const file of [build.etcd, build.etcdctl]) {
    if (!existsSync(file)) throw new Error(`this test needs etcd ${version}: ${file} is missing (ETCD_REPLACE_ETCD_BUILDS=${root})`);
  }
  return build;
}
