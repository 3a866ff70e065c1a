// The sandbox on a given etcd version, with the real 3.2.22 and 3.3.11 builds (found through
// $ETCD_REPLACE_ETCD_BUILDS, e.g. ../shared/etcd; without them this file fails, it never skips):
// every member on 3.2.22, RHEL 7's yum repositories on a spare (the 3.3.11 trap, pinning,
// no downgrade through install, downgrade, remove), one master on another version than its peers,
// an unknown version refused with nothing left behind.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostExec, loadSandbox, sandboxDown, sandboxStatus, sandboxUp } from '../../sandbox/index.ts';
import type { SandboxInfo, StatusDocument } from '../../sandbox/index.ts';
import { cli, cliEnv } from '../support/cli.ts';
import { leftovers, requireBuild, uniqueName } from '../support/sandboxHelpers.ts';
import { waitFor } from '../../sandbox/util.ts';

// Loud, not skipped: both builds must be there.
const v3222 = requireBuild('3.2.22');
requireBuild('3.3.11');
const BUILDS = process.env.ETCD_REPLACE_ETCD_BUILDS ?? '';

const name = uniqueName('sbv');
const mixed = uniqueName('sbv');
const refused = uniqueName('sbv');
let sandbox: SandboxInfo;
let upOutput: { code: number; stdout: string; stderr: string };

const sh = (host: string, script: string, on: SandboxInfo = sandbox) => hostExec(on, host, ['bash', '-c', script], { timeoutMs: 60_000 });
const versions = (doc: StatusDocument) => Object.fromEntries(doc.hosts.map((h) => [h.name, h.etcd.version]));

/** GET https://IP:2379/version from the machine with the sandbox's client identity. */
function serverVersion(on: SandboxInfo, endpoint: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      `${endpoint}/version`,
      { ca: readFileSync(on.client.cacert), cert: readFileSync(on.client.cert), key: readFileSync(on.client.key), agent: false, timeout: 3000 },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve((JSON.parse(body) as { etcdserver: string }).etcdserver));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

beforeAll(async () => {
  upOutput = await cli(['sandbox', 'up', '--sandbox', name, '--etcd-version', '3.2.22', '--spares', '1', '--nodes', '1', '--data-mb', '1', '--json']);
  if (upOutput.code !== 0) throw new Error(`sandbox up failed (${upOutput.code}): ${upOutput.stderr}`);
  sandbox = await loadSandbox(name);
});

afterAll(async () => {
  for (const each of [name, mixed, refused]) await sandboxDown(each);
});

describe('sandbox up --etcd-version 3.2.22', () => {
  it('runs every member on 3.2.22, as the running etcd says, and records the version', async () => {
    expect(upOutput.stderr).toContain(`up: etcd 3.2.22 (--etcd-version) from ${v3222.dir}\n`);
    const doc = JSON.parse(upOutput.stdout) as StatusDocument;
    expect(doc.etcdVersion).toBe('3.2.22');
    expect(versions(doc)).toEqual({ 'master-0': '3.2.22', 'master-1': '3.2.22', 'master-2': '3.2.22', 'etcd-spare-0': null, 'node-0': null });
    expect(await Promise.all(sandbox.client.endpoints.map((e) => serverVersion(sandbox, e)))).toEqual(['3.2.22', '3.2.22', '3.2.22']);
    expect(sandbox.etcdVersion).toBe('3.2.22');
    expect(sandbox.etcdRepos).toEqual([
      { repo: 'rhel-7-server-ose-3.11-rpms', version: '3.2.22' },
      { repo: 'rhel-7-server-extras-rpms', version: '3.3.11' },
    ]);
    const record = JSON.parse(readFileSync(path.join(sandbox.stateDir, 'sandbox.json'), 'utf8')) as { options: { etcdVersion: string } };
    expect(record.options.etcdVersion).toBe('3.2.22');
    const table = await cli(['sandbox', 'status', '--sandbox', name]);
    expect(table.stdout).toMatch(/^HOST .* ETCD .* VERSION$/m);
    expect(table.stdout).toMatch(/^master-1 .* etcd [0-9a-f]{16}.* 3\.2\.22$/m);
    expect(table.stdout).toMatch(/^etcd-spare-0 .* -\s+-$/m);
  });

  it("gives masters 3.2.22's etcd and etcdctl and the etcd RPM installed", async () => {
    const v2 = await cli(['sandbox', 'exec', '--sandbox', name, 'master-0', '--', 'etcdctl', '--version']);
    expect(v2.stdout).toBe('etcdctl version: 3.2.22\nAPI version: 2\n');
    const v3 = await cli(['sandbox', 'exec', '--sandbox', name, 'master-0', '--', 'env', 'ETCDCTL_API=3', 'etcdctl', 'version']);
    expect(v3.code).toBe(0);
    expect(v3.stdout).toBe('etcdctl version: 3.2.22\nAPI version: 3.2\n');
    const m1 = await sh('master-1', 'etcd --version | head -1; rpm -q etcd; grep -o "image: .*" /etc/origin/node/pods/etcd.yaml');
    expect(m1.stdout).toBe('etcd Version: 3.2.22\netcd-3.2.22-1.el7.x86_64\nimage: registry.redhat.io/rhel7/etcd:3.2.22\n');
  });

  it("passes the runbook's v2 cluster-health (3.2's default API) and v3 endpoint health", async () => {
    const tls = '--ca-file=/etc/etcd/ca.crt --cert-file=/etc/etcd/peer.crt --key-file=/etc/etcd/peer.key';
    const v2 = await sh('master-2', `etcdctl ${tls} -C https://master-0.sandbox.test:2379 cluster-health`);
    expect(v2.exitCode).toBe(0);
    expect(v2.stdout.match(/is healthy: got healthy result/g)).toHaveLength(3);
    const endpoints = sandbox.client.endpoints.join(',');
    const v3 = await sh(
      'master-2',
      `ETCDCTL_API=3 etcdctl --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key --endpoints=${endpoints} endpoint health`,
    );
    expect(v3.exitCode).toBe(0);
    expect((v3.stdout + v3.stderr).match(/is healthy: successfully committed proposal/g)).toHaveLength(3);
  });

  it('starts spares and nodes without etcd: no package, no binary', async () => {
    for (const host of ['etcd-spare-0', 'node-0']) {
      const result = await sh(
        host,
        'rpm -q etcd; echo "rc=$?"; etcd --version; echo "rc=$?"; etcdctl --version; echo "rc=$?"; test -e /etc/systemd/system/etcd.service || echo no-unit',
      );
      expect(result.stdout).toBe('package etcd is not installed\nrc=1\nrc=127\nrc=127\nno-unit\n');
      expect(result.stderr).toBe('bash: etcd: command not found\nbash: etcdctl: command not found\n');
    }
  });

  it("yum on a spare: the repos offer 3.2.22 (OpenShift) and 3.3.11 (Extras); a bare install takes Extras' 3.3.11", async () => {
    const list = await sh('etcd-spare-0', 'yum --showduplicates list etcd');
    expect(list.stdout).toMatch(
      /Available Packages\netcd\.x86_64 +3\.2\.22-1\.el7 +rhel-7-server-ose-3\.11-rpms\netcd\.x86_64 +3\.3\.11-1\.el7 +rhel-7-server-extras-rpms\n$/,
    );
    const install = await sh(
      'etcd-spare-0',
      'yum install -y etcd; echo "rc=$?"; rpm -q etcd; etcd --version | head -1; etcdctl --version | head -1; systemctl is-enabled etcd; cat /etc/etcd/etcd.conf | grep ETCD_NAME',
    );
    expect(install.stdout).toContain('Installing : etcd-3.3.11-1.el7.x86_64');
    expect(install.stdout).toContain(
      'Installed:\n  etcd.x86_64 0:3.3.11-1.el7\nComplete!\nrc=0\netcd-3.3.11-1.el7.x86_64\netcd Version: 3.3.11\netcdctl version: 3.3.11\ndisabled\nETCD_NAME="default"\n',
    );
  });

  it('yum install of an older version than installed changes nothing; downgrade does; same version is a no-op', async () => {
    const older = await sh('etcd-spare-0', 'yum install -y etcd-3.2.22; echo "rc=$?"; rpm -q etcd; etcd --version | head -1');
    expect(older.stdout).toContain(
      'Package matching etcd-3.2.22-1.el7.x86_64 already installed. Checking for update.\nNothing to do\nrc=0\netcd-3.3.11-1.el7.x86_64\netcd Version: 3.3.11\n',
    );
    const down = await sh('etcd-spare-0', 'yum downgrade -y etcd-3.2.22; echo "rc=$?"; rpm -q etcd; etcd --version | head -1; etcdctl --version | head -1');
    expect(down.stdout).toContain(
      'Downgraded:\n  etcd.x86_64 0:3.2.22-1.el7\nComplete!\nrc=0\netcd-3.2.22-1.el7.x86_64\netcd Version: 3.2.22\netcdctl version: 3.2.22\n',
    );
    const same = await sh('etcd-spare-0', 'yum install -y etcd-3.2.22-1.el7; echo "rc=$?"');
    expect(same.stdout).toContain('Package etcd-3.2.22-1.el7.x86_64 already installed and latest version\nNothing to do\nrc=0\n');
    const absent = await sh('etcd-spare-0', 'yum install -y etcd-3.5.0; echo "rc=$?"; rpm -q etcd');
    expect(absent.stdout).toContain('No package etcd-3.5.0 available.\nrc=1\netcd-3.2.22-1.el7.x86_64\n');
    const up = await sh('etcd-spare-0', 'yum install -y etcd; echo "rc=$?"; rpm -q etcd');
    expect(up.stdout).toContain('Updated:\n  etcd.x86_64 0:3.3.11-1.el7\nComplete!\nrc=0\netcd-3.3.11-1.el7.x86_64\n');
  });

  it('yum remove takes the package away but keeps etcd.conf; a pinned install gives exactly 3.2.22', async () => {
    const removed = await sh('etcd-spare-0', 'yum remove -y etcd; echo "rc=$?"; rpm -q etcd; etcd --version; echo "rc=$?"; ls /etc/etcd /etc/systemd/system');
    expect(removed.stdout).toContain(
      'Removed:\n  etcd.x86_64 0:3.3.11-1.el7\nComplete!\nrc=0\npackage etcd is not installed\nrc=127\n/etc/etcd:\netcd.conf\n\n/etc/systemd/system:\niptables.service\nmulti-user.target.wants\n',
    );
    const pinned = await sh(
      'etcd-spare-0',
      'yum install -y etcd-3.2.22; echo "rc=$?"; rpm -q etcd; etcd --version | head -1; grep -c " /usr/bin/etcd " /proc/self/mountinfo',
    );
    expect(pinned.stdout).toContain('Installed:\n  etcd.x86_64 0:3.2.22-1.el7\nComplete!\nrc=0\netcd-3.2.22-1.el7.x86_64\netcd Version: 3.2.22\n1\n');
  });

  it('an etcd package upgrade on a master leaves the running etcd on its old binary until it restarts', async () => {
    const upgrade = await sh('master-2', 'yum install -y etcd >/dev/null; rpm -q etcd');
    expect(upgrade.stdout).toBe('etcd-3.3.11-1.el7.x86_64\n');
    expect(versions(await sandboxStatus(name))['master-2']).toBe('3.2.22');
    // The sandbox's kubelet runs /usr/bin/etcd (a real one runs the image's): the restarted member is 3.3.11.
    await sh('master-2', 'mkdir -p /etc/origin/node/pods-stopped && mv /etc/origin/node/pods/etcd.yaml /etc/origin/node/pods-stopped/');
    await waitFor('etcd to stop on master-2', 10_000, 100, async () => versions(await sandboxStatus(name))['master-2'] === null, { errors: 'throw' });
    await sh('master-2', 'mv /etc/origin/node/pods-stopped/etcd.yaml /etc/origin/node/pods/');
    const doc = await waitFor(
      'master-2 back on 3.3.11',
      30_000,
      100,
      async () => {
        const status = await sandboxStatus(name);
        return versions(status)['master-2'] === '3.3.11' ? status : undefined;
      },
      { errors: 'throw' },
    );
    expect(versions(doc)).toMatchObject({ 'master-0': '3.2.22', 'master-1': '3.2.22', 'master-2': '3.3.11' });
  });

  it('fail modes work on 3.2: etcd (version null), partition (still reported from the host), kill', async () => {
    expect((await cli(['sandbox', 'fail', '--sandbox', name, 'master-1', '--mode', 'etcd'])).code).toBe(0);
    expect((await cli(['sandbox', 'fail', '--sandbox', name, 'master-0', '--mode', 'partition'])).code).toBe(0);
    expect((await cli(['sandbox', 'fail', '--sandbox', name, 'master-2', '--mode', 'kill'])).code).toBe(0);
    const doc = await sandboxStatus(name);
    expect(doc.hosts.slice(0, 3).map((h) => [h.name, h.up, h.etcd.running, h.etcd.version])).toEqual([
      ['master-0', true, true, '3.2.22'],
      ['master-1', true, false, null],
      ['master-2', false, false, null],
    ]);
  });

  it('down leaves nothing behind (the file bind mounts die with the host namespaces)', async () => {
    const down = await cli(['sandbox', 'down', '--sandbox', name]);
    expect(down.code).toBe(0);
    expect(await leftovers(name)).toEqual([]);
  });
});

describe('one master on another version than its peers', () => {
  it('runs master-2 on 3.3.11 and the others on the default, 3.2.22, and says which and why', async () => {
    const lines: string[] = [];
    const saved = process.env.ETCD_REPLACE_ETCD_VERSION;
    delete process.env.ETCD_REPLACE_ETCD_VERSION;
    let info: SandboxInfo;
    try {
      info = await sandboxUp({
        name: mixed,
        members: 3,
        spares: 0,
        nodes: 0,
        dataMb: 0,
        hostEtcdVersions: { 'master-2': '3.3.11' },
        progress: (l) => lines.push(l),
      });
    } finally {
      if (saved !== undefined) process.env.ETCD_REPLACE_ETCD_VERSION = saved;
    }
    expect(lines[0]).toBe(`etcd 3.2.22 (OpenShift 3.11's version) from ${v3222.dir}`);
    expect(lines[1]).toBe('etcd per host: master-2 3.3.11 (the others 3.2.22)');
    expect(info.etcdVersion).toBe('3.2.22');
    expect(versions(await sandboxStatus(mixed))).toEqual({ 'master-0': '3.2.22', 'master-1': '3.2.22', 'master-2': '3.3.11' });
    expect((await sh('master-2', 'rpm -q etcd; etcdctl --version | head -1', info)).stdout).toBe('etcd-3.3.11-1.el7.x86_64\netcdctl version: 3.3.11\n');
    expect((await sh('master-0', 'rpm -q etcd; etcdctl --version | head -1', info)).stdout).toBe('etcd-3.2.22-1.el7.x86_64\netcdctl version: 3.2.22\n');
    await sandboxDown(mixed);
    expect(await leftovers(mixed)).toEqual([]);
  });
});

describe('an etcd version that is not there', () => {
  it('exits 2 naming the paths it looked at, and builds nothing', async () => {
    const result = await cli(['sandbox', 'up', '--sandbox', refused, '--etcd-version', '3.2.99']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(path.join(path.resolve(BUILDS), 'v3.2.99/etcd'));
    expect(result.stderr).toContain(path.join(path.resolve(BUILDS), 'v3.2.99/etcdctl'));
    expect(result.stdout).toBe('');
    expect(await leftovers(refused)).toEqual([]);
  });

  it('exits 2 when $ETCD_REPLACE_ETCD_BUILDS is unset, or $ETCD_REPLACE_ETCD_VERSION names a missing build', async () => {
    const unset = await cliEnv(['sandbox', 'up', '--sandbox', refused, '--etcd-version', '3.2.22'], { ETCD_REPLACE_ETCD_BUILDS: undefined });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('$ETCD_REPLACE_ETCD_BUILDS is unset');
    const fromEnv = await cliEnv(['sandbox', 'up', '--sandbox', refused], { ETCD_REPLACE_ETCD_VERSION: '3.3.99' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain(path.join(path.resolve(BUILDS), 'v3.3.99/etcd'));
    const spareVersion = await cli(['sandbox', 'up', '--sandbox', refused, '--host-etcd-version', 'etcd-spare-0=3.3.11']);
    expect(spareVersion.code).toBe(2);
    expect(spareVersion.stderr).toContain('"etcd-spare-0" is not a master');
    expect(await leftovers(refused)).toEqual([]);
  });
});
