// Sandbox lifecycle on the real machine: two sandboxes built at once coexist; down removes
// everything and is idempotent; down cleans up after a crashed `up`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointHealthy, readClientTls } from '../../sandbox/etcdClient.ts';
import { pidsInNamespaces } from '../../sandbox/exec.ts';
import { hostExec, loadSandbox, sandboxDown, sandboxUp } from '../../sandbox/index.ts';
import type { SandboxInfo } from '../../sandbox/index.ts';
import { BIN, cli } from '../support/cli.ts';
import { alive, leftovers, uniqueName } from '../support/sandboxHelpers.ts';
import { waitFor } from '../../sandbox/util.ts';

const first = uniqueName();
const second = uniqueName();
const crashed = uniqueName();

afterAll(async () => {
  for (const name of [first, second, crashed]) await sandboxDown(name);
});

async function healthy(sandbox: SandboxInfo): Promise<boolean[]> {
  const tls = await readClientTls(sandbox.client);
  return Promise.all(sandbox.client.endpoints.map((e) => endpointHealthy(e, tls, 2000)));
}

describe('Sandbox: lifecycle', () => {
  it('builds two sandboxes at once on distinct subnets, each with its own CA', async () => {
    const [a, b] = await Promise.all([
      sandboxUp({ name: first, members: 3, spares: 0, nodes: 0, dataMb: 1 }),
      sandboxUp({ name: second, members: 3, spares: 1, nodes: 0, dataMb: 1 }),
    ]);
    expect(a.subnet).not.toBe(b.subnet);
    expect(await healthy(a)).toEqual([true, true, true]);
    expect(await healthy(b)).toEqual([true, true, true]);
    // Each sandbox's hosts resolve their own names; the identities are not interchangeable.
    const resolved = await hostExec(b, 'master-0', ['getent', 'hosts', 'master-1.sandbox.test']);
    expect(resolved.stdout.split(/\s+/)[0]).toBe(b.hosts[1]?.ip);
    const crossTls = await readClientTls(a.client);
    expect(await endpointHealthy(b.client.endpoints[0] ?? '', crossTls, 2000)).toBe(false);
  });

  it('down removes processes, mounts, namespaces, links and files, leaves the other sandbox alone, and is idempotent', async () => {
    const a = await loadSandbox(first);
    const pids = await pidsInNamespaces(a.hosts.map((h) => path.join('/run/netns', h.netns)));
    expect(pids.length).toBeGreaterThan(6);
    expect((await leftovers(first)).length).toBeGreaterThan(0);
    const down = await cli(['sandbox', 'down', '--sandbox', first]);
    expect(down.code).toBe(0);
    expect(await leftovers(first)).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
    expect((await cli(['sandbox', 'down', '--sandbox', first])).code).toBe(0);
    expect(await leftovers(first)).toEqual([]);
    expect(await healthy(await loadSandbox(second))).toEqual([true, true, true]);
    await sandboxDown(second);
    expect(await leftovers(second)).toEqual([]);
  });

  it('down cleans up after an up that was killed half-way', async () => {
    const child = spawn(process.execPath, [BIN, 'sandbox', 'up', '--sandbox', crashed, '--members', '3', '--spares', '0', '--nodes', '1'], {
      stdio: 'ignore',
    });
    const stateDir = `/var/lib/etcd-replace/sandboxes/${crashed}`;
    // Kill it once the hosts are booted (their supervisors write init.pid).
    await waitFor('hosts to boot', 60_000, 100, async () => existsSync(path.join(stateDir, 'hosts/master-2/init.pid')), { errors: 'throw' });
    child.kill('SIGKILL');
    // Every host's supervisor that booted (each boots as the kill finds its setup; init.pid is written whole or not at all).
    const initPids = ['master-0', 'master-1', 'master-2', 'node-0']
      .map((h) => path.join(stateDir, `hosts/${h}/init.pid`))
      .filter((f) => existsSync(f))
      .map((f) => Number(readFileSync(f, 'utf8')));
    expect(initPids.filter(alive).length).toBeGreaterThan(0);
    expect((await leftovers(crashed)).length).toBeGreaterThan(0);
    const down = await cli(['sandbox', 'down', '--sandbox', crashed]);
    expect(down.code).toBe(0);
    expect(await leftovers(crashed)).toEqual([]);
    expect(initPids.filter(alive)).toEqual([]);
  });
});
