// Hosts launched into a running sandbox for a run (sandbox/provision.ts, SandboxProvisioning): built
// as `up` builds a spare, found again by the run, one per run, listed by status, removed alone, and
// removed by `down` with the rest. A sandbox of three members and no spare, as when the pool is empty.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDeps, type SandboxDeps } from '../../sandbox/adapters/deps.ts';
import { SandboxHostRunner } from '../../sandbox/adapters/hostRunner.ts';
import { SandboxProvisioning } from '../../sandbox/adapters/provisioning.ts';
import type { Host } from '../../functions/ports.ts';
import type { ReplaceRequest } from '../../statemachine/context.ts';
import { pidsInNamespaces } from '../../sandbox/exec.ts';
import {
  describeEtcdPorts,
  findProvisioned,
  hostExec,
  loadSandbox,
  provisionHost,
  removeProvisionedHost,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
} from '../../sandbox/index.ts';
import type { SandboxInfo } from '../../sandbox/index.ts';
import { cli } from '../support/cli.ts';
import { alive, leftovers, run, uniqueName } from '../support/sandboxHelpers.ts';

const name = uniqueName('pv');
const RUN_A = `run-a-${name}`;
const RUN_B = `run-b-${name}`;
let sandbox: SandboxInfo;
let deps: SandboxDeps;
const provisioning = new SandboxProvisioning(name);

beforeAll(async () => {
  sandbox = await sandboxUp({ name, members: 3, spares: 0, nodes: 0, dataMb: 1 });
  deps = await sandboxDeps(name);
});

afterAll(async () => {
  await deps?.close();
  await sandboxDown(name);
});

const sh = async (host: string, script: string) => hostExec(await loadSandbox(name), host, ['bash', '-c', script], { timeoutMs: 30_000 });
const netnsList = async () => (await run('ip', ['netns', 'list'])).split('\n').map((line) => line.split(' ')[0] ?? '');
const mountsUnder = async (dir: string) =>
  (await fs.readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
const initPid = async (host: string) => Number(await fs.readFile(path.join(sandbox.stateDir, 'hosts', host, 'init.pid'), 'utf8'));
const pidsOf = (info: SandboxInfo, host: string) => {
  const found = info.hosts.find((h) => h.name === host);
  if (!found) throw new Error(`no host ${host}`);
  return pidsInNamespaces([path.join('/run/netns', found.netns), path.join(info.stateDir, 'ns', `${host}.mnt`)]);
};

describe('Sandbox: hosts launched for a run', () => {
  let hostA: Host;

  it('launches etcd-new-0 for run A, built as a spare: answers, no etcd, an empty data dir', async () => {
    const started = Date.now();
    const launched = await deps.provisioning.provision({ runId: RUN_A, cluster: name });
    const info = await loadSandbox(name);
    const recorded = info.hosts.find((h) => h.name === 'etcd-new-0');
    expect(launched).toEqual({ id: 'etcd-new-0', host: { name: 'etcd-new-0', hostname: 'etcd-new-0.sandbox.test', ip: recorded?.ip, roles: ['spare'] } });
    expect(recorded?.launchedBy).toBe(RUN_A);
    expect(Date.now() - started).toBeLessThan(60_000);
    hostA = launched.host;
    // A different address from every other host, on the sandbox's subnet.
    expect(info.hosts.filter((h) => h.ip === hostA.ip)).toHaveLength(1);

    // The steps' own runner (its view of the sandbox follows the new host) and the host script.
    const described = await deps.runner.run({ host: hostA, script: 'DescribeEtcdHost', args: [], timeoutSeconds: 30 });
    expect(described.exitCode).toBe(0);
    const facts = JSON.parse(described.stdout) as Record<string, unknown>;
    expect(facts).toMatchObject({
      staticPod: false,
      unitActive: false,
      unitEnabled: false,
      installedVersion: null,
      listening: false,
      running: null,
      dataDirEmpty: true,
    });
    // A runner made from the sandbox as loaded now reaches it too.
    const fresh = await new SandboxHostRunner(info).run({ host: hostA, script: 'DescribeEtcdHost', args: [], timeoutSeconds: 30 });
    expect(JSON.parse(fresh.stdout)).toEqual(facts);

    // Later inventories hold it, as a spare.
    const inventory = await deps.resolveInventory({ cluster: name, failed: 'master-2', startedBy: 'test' } satisfies ReplaceRequest);
    expect(inventory.hosts.find((h) => h.name === 'etcd-new-0')).toEqual(hostA);
  });

  it('has what a spare of `sandbox up` has, and every host resolves its name', async () => {
    const spare = await sh(
      'etcd-new-0',
      [
        'hostname',
        'ls -A /etc/etcd /var/lib/etcd',
        'stat -c %a /var/lib/etcd',
        'iptables -S | grep -c OS_FIREWALL_ALLOW || true',
        'cmp -s <(iptables-save | grep -v "^#" | sed "s/\\[[0-9]*:[0-9]*\\]//") <(grep -v "^#" /etc/sysconfig/iptables | sed "s/\\[[0-9]*:[0-9]*\\]//") && echo saved',
        'rpm -q etcd; echo "rc=$?"',
        'etcd --version >/dev/null 2>&1; echo "etcd=$?"',
        'systemctl is-active iptables',
        'systemctl is-enabled etcd >/dev/null 2>&1; echo "enabled=$?"',
        'ls /usr/local/sbin /etc/systemd/system /etc/systemd/system/multi-user.target.wants',
        'test -e /etc/sysconfig/flanneld || echo no-flanneld',
        'getent hosts master-0.sandbox.test | cut -d" " -f1',
      ].join('\n'),
    );
    const master0 = sandbox.hosts.find((h) => h.name === 'master-0')?.ip;
    expect(spare.stdout).toBe(
      [
        'etcd-new-0.sandbox.test',
        '/etc/etcd:',
        '',
        '/var/lib/etcd:',
        '700',
        '0',
        'saved',
        'package etcd is not installed',
        'rc=1',
        'etcd=127',
        'active',
        'enabled=1',
        '/etc/systemd/system:',
        'iptables.service',
        'multi-user.target.wants',
        'sshd.service',
        '',
        '/etc/systemd/system/multi-user.target.wants:',
        'iptables.service',
        'sshd.service',
        '',
        '/usr/local/sbin:',
        'rpm',
        'systemctl',
        'yum',
        'no-flanneld',
        master0,
        '',
      ].join('\n'),
    );
    // Its security group admits nothing yet, as a fresh instance's.
    expect(await describeEtcdPorts(await loadSandbox(name), 'etcd-new-0')).toEqual([]);
    for (const master of ['master-0', 'master-1', 'master-2']) {
      expect((await sh(master, 'getent hosts etcd-new-0.sandbox.test')).stdout.split(/\s+/).slice(0, 3)).toEqual([
        hostA.ip,
        'etcd-new-0.sandbox.test',
        'etcd-new-0',
      ]);
    }
  });

  it('returns the same host to run A again, and etcd-new-1 to run B', async () => {
    const before = await initPid('etcd-new-0');
    expect(await provisioning.provision({ runId: RUN_A, cluster: name })).toEqual({ host: hostA, id: 'etcd-new-0' });
    expect(await provisioning.find(RUN_A, name)).toEqual({ host: hostA, id: 'etcd-new-0' });
    expect(await initPid('etcd-new-0')).toBe(before); // not rebuilt
    expect(alive(before)).toBe(true);
    expect(await provisioning.find(RUN_B, name)).toBeNull();
    const b = await provisioning.provision({ runId: RUN_B, cluster: name });
    expect(b.id).toBe('etcd-new-1');
    expect(b.host.ip).not.toBe(hostA.ip);
    expect((await findProvisioned(name, RUN_B))?.launchedBy).toBe(RUN_B);
    expect((await sh('etcd-new-1', 'getent hosts etcd-new-0')).stdout.split(/\s+/)[0]).toBe(hostA.ip);
  });

  it('lists them in sandbox status, saying which run launched each', async () => {
    const doc = await sandboxStatus(name);
    expect(doc.hosts.map((h) => [h.name, h.roles, h.launchedBy ?? null])).toEqual([
      ['master-0', ['master', 'etcd', 'ca', 'installer'], null],
      ['master-1', ['master', 'etcd'], null],
      ['master-2', ['master', 'etcd'], null],
      ['etcd-new-0', ['spare'], RUN_A],
      ['etcd-new-1', ['spare'], RUN_B],
    ]);
    expect(doc.hosts.slice(3).map((h) => [h.up, h.etcd.running])).toEqual([
      [true, false],
      [true, false],
    ]);
    const table = await cli(['sandbox', 'status', '--sandbox', name]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^etcd-new-0 +etcd-new-0\.sandbox\.test +\S+ +spare +up +- +-$/m);
    expect(table.stdout).toContain(`etcd-new-0 was launched by run ${RUN_A}\netcd-new-1 was launched by run ${RUN_B}\n`);
  });

  it('finishes a host a run left half-built: torn down and built again', async () => {
    const runC = `run-c-${name}`;
    const built = await provisionHost(name, runC);
    expect(built.name).toBe('etcd-new-2');
    // As if the call had been cut short: the record still says building, its supervisor is gone.
    const recordPath = path.join(sandbox.stateDir, 'sandbox.json');
    const record = JSON.parse(await fs.readFile(recordPath, 'utf8')) as { hosts: Array<{ name: string; building?: true }> };
    record.hosts.find((h) => h.name === 'etcd-new-2')!.building = true;
    await fs.writeFile(recordPath, `${JSON.stringify(record, null, 2)}\n`);
    const halfBuilt = await initPid('etcd-new-2');
    expect(await findProvisioned(name, runC)).toBeNull();
    expect((await loadSandbox(name)).hosts.map((h) => h.name)).not.toContain('etcd-new-2');
    const again = await provisionHost(name, runC);
    expect({ name: again.name, ip: again.ip }).toEqual({ name: built.name, ip: built.ip });
    expect(alive(halfBuilt)).toBe(false);
    expect((await sh('etcd-new-2', 'ls -A /var/lib/etcd; systemctl is-active iptables')).stdout).toBe('active\n');
    expect(await removeProvisionedHost(name, runC)).toBe('removed');
  });

  it('release(A) removes etcd-new-0 completely and touches nothing else; again: absent', async () => {
    const info = await loadSandbox(name);
    const hostDir = path.join(info.stateDir, 'hosts', 'etcd-new-0');
    const pidsA = await pidsOf(info, 'etcd-new-0');
    const others = await Promise.all(['master-0', 'master-1', 'master-2', 'etcd-new-1'].map(initPid));
    expect(others.filter(alive)).toEqual(others);
    expect(pidsA.length).toBeGreaterThan(0);
    const netnsA = info.hosts.find((h) => h.name === 'etcd-new-0')!.netns;

    expect(await deps.provisioning.release(RUN_A, name)).toBe('released');

    expect(await netnsList()).not.toContain(netnsA);
    expect(pidsA.filter(alive)).toEqual([]);
    expect(await mountsUnder(hostDir)).toEqual([]);
    expect(await mountsUnder(path.join(info.stateDir, 'ns', 'etcd-new-0.mnt'))).toEqual([]);
    await expect(fs.stat(hostDir)).rejects.toThrow(/ENOENT/);
    const links = JSON.parse(await run('ip', ['-j', 'link', 'show'])) as Array<{ ifalias?: string }>;
    expect(links.filter((l) => l.ifalias === `etcd-replace:${name}:etcd-new-0`)).toEqual([]);
    const after = await loadSandbox(name);
    expect(after.hosts.map((h) => h.name)).toEqual(['master-0', 'master-1', 'master-2', 'etcd-new-1']);
    expect(others.filter(alive)).toEqual(others);
    expect((await sh('master-0', 'getent hosts etcd-new-0; echo "rc=$?"')).stdout).toBe('rc=2\n');
    expect((await sh('etcd-new-1', 'hostname')).stdout).toBe('etcd-new-1.sandbox.test\n');
    const health = await sh(
      'master-0',
      `ETCDCTL_API=3 etcdctl --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key --endpoints=${after.client.endpoints.join(',')} endpoint health`,
    );
    expect(health.exitCode).toBe(0);

    expect(await deps.provisioning.release(RUN_A, name)).toBe('absent');
    expect(await deps.provisioning.find(RUN_A, name)).toBeNull();
    // The lowest free name and address go to the next run.
    const next = await provisioning.provision({ runId: `run-d-${name}`, cluster: name });
    expect({ id: next.id, ip: next.host.ip }).toEqual({ id: 'etcd-new-0', ip: hostA.ip });
  });

  it('two calls at once for one run build one host', async () => {
    const runE = `run-e-${name}`;
    const [first, second] = await Promise.all([provisionHost(name, runE), provisionHost(name, runE)]);
    expect(second).toEqual(first);
    expect((await loadSandbox(name)).hosts.filter((h) => h.launchedBy === runE)).toHaveLength(1);
  });

  it('down removes the launched hosts with the rest', async () => {
    const info = await loadSandbox(name);
    const pids = (await Promise.all(info.hosts.map((h) => pidsOf(info, h.name)))).flat();
    await deps.close();
    await sandboxDown(name);
    expect(await leftovers(name)).toEqual([]);
    expect((await netnsList()).filter((ns) => ns.startsWith(`er-${name}-`))).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
    expect(await removeProvisionedHost(name, RUN_B)).toBe('absent');
  });
});
