// The sandbox on the real machine: one cluster (3 masters, a spare, a node) built once, checked from
// the outside and from its hosts, broken in each fail mode, then healed, with the powered-off member
// fenced before it boots again. Tests run in order.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostUnreachableError, ScriptTimedOutError } from '../../functions/errors.ts';
import { SandboxHostRunner } from '../../sandbox/adapters/hostRunner.ts';
import type { Host } from '../../functions/ports.ts';
import {
  allowEtcdPorts,
  describeEtcdPorts,
  describeFence,
  fenceHost,
  hostExec,
  loadSandbox,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  unfenceHost,
} from '../../sandbox/index.ts';
import type { SandboxInfo } from '../../sandbox/index.ts';
import { pidsInNamespaces, processName } from '../../sandbox/exec.ts';
import { REPO, cli } from '../support/cli.ts';
import { alive, sleep, uniqueName } from '../support/sandboxHelpers.ts';
import { waitFor } from '../../sandbox/util.ts';
import { endpointHealthy, readClientTls } from '../../sandbox/etcdClient.ts';
import { scaleupFaultFile } from '../../sandbox/ansible.ts';

const name = uniqueName();
let sandbox: SandboxInfo;

const host = (short: string) => {
  const found = sandbox.hosts.find((h) => h.name === short);
  if (!found) throw new Error(`no host ${short}`);
  return found;
};
const sh = (short: string, script: string, env: Record<string, string> = {}) => hostExec(sandbox, short, ['bash', '-c', script], { env, timeoutMs: 30_000 });
const TLS = '--cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key';
/** A TCP connect from the machine: accepted, refused (RST or ICMP), or timed out after 1.5 s. */
const connects = (ip: string, port: number) =>
  new Promise<'open' | 'refused' | 'timeout'>((resolve) => {
    const socket = net.connect({ host: ip, port, timeout: 1500 });
    socket.on('connect', () => (socket.destroy(), resolve('open')));
    socket.on('timeout', () => (socket.destroy(), resolve('timeout')));
    socket.on('error', () => resolve('refused'));
  });
const etcdPids = async (short: string) => {
  const pids = await pidsInNamespaces([path.join('/run/netns', host(short).netns)]);
  const names = await Promise.all(pids.map(processName));
  return pids.filter((_pid, i) => names[i] === 'etcd');
};

beforeAll(async () => {
  sandbox = await sandboxUp({ name, members: 3, spares: 1, nodes: 1, dataMb: 4 });
});

afterAll(async () => {
  await sandboxDown(name);
});

describe('Sandbox: a healthy cluster', () => {
  it('answers the etcd3 client over TLS from the machine with the status client identity', async () => {
    const client = new Etcd3({
      hosts: sandbox.client.endpoints,
      credentials: {
        rootCertificate: readFileSync(sandbox.client.cacert),
        certChain: readFileSync(sandbox.client.cert),
        privateKey: readFileSync(sandbox.client.key),
      },
    });
    try {
      const members = await client.cluster.memberList({});
      expect(members.members.map((m) => m.name).sort()).toEqual(['master-0.sandbox.test', 'master-1.sandbox.test', 'master-2.sandbox.test']);
      const kube = await client.getAll().prefix('/kubernetes.io/').count();
      const openshift = await client.getAll().prefix('/openshift.io/').count();
      expect(kube + openshift).toBe(512); // 4 MiB of 8 KiB values
      expect(kube).toBeGreaterThan(0);
      expect(openshift).toBeGreaterThan(0);
      await client.put('/sandbox-test/key').value('value');
      expect(await client.get('/sandbox-test/key').string()).toBe('value');
    } finally {
      client.close();
    }
  });

  it("passes the runbook's v2 cluster-health and v3 endpoint health on a master", async () => {
    const v2 = await sh(
      'master-1',
      `etcdctl -C https://${host('master-0').ip}:2379 --ca-file=/etc/etcd/ca.crt --cert-file=/etc/etcd/peer.crt --key-file=/etc/etcd/peer.key cluster-health`,
      { ETCDCTL_API: '2' },
    );
    expect(v2.stderr).toBe('');
    expect(v2.exitCode).toBe(0);
    expect(v2.stdout).toContain('cluster is healthy');
    expect(v2.stdout.match(/is healthy: got healthy result/g)).toHaveLength(3);
    const endpoints = ['master-0', 'master-1', 'master-2'].map((m) => `https://${m}.sandbox.test:2379`).join(',');
    const v3 = await sh('master-1', `ETCDCTL_API=3 etcdctl ${TLS} --endpoints=${endpoints} endpoint health`);
    expect(v3.exitCode).toBe(0);
    expect((v3.stdout + v3.stderr).match(/is healthy: successfully committed proposal/g)).toHaveLength(3);
  });

  it('reports status --json in the documented shape with exactly one leader', async () => {
    const result = await cli(['sandbox', 'status', '--sandbox', name, '--json']);
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout) as Awaited<ReturnType<typeof sandboxStatus>>;
    expect(Object.keys(doc).sort()).toEqual(['client', 'etcdVersion', 'hosts', 'name']);
    expect(doc.etcdVersion).toBe(sandbox.etcdVersion);
    expect(doc.name).toBe(name);
    expect(doc.hosts.map((h) => [h.name, h.hostname, h.roles])).toEqual([
      ['master-0', 'master-0.sandbox.test', ['master', 'etcd', 'ca', 'installer']],
      ['master-1', 'master-1.sandbox.test', ['master', 'etcd']],
      ['master-2', 'master-2.sandbox.test', ['master', 'etcd']],
      ['etcd-spare-0', 'etcd-spare-0.sandbox.test', ['spare']],
      ['node-0', 'node-0.sandbox.test', ['node']],
    ]);
    for (const h of doc.hosts) {
      expect(Object.keys(h).sort()).toEqual(['etcd', 'hostname', 'ip', 'name', 'roles', 'up']);
      expect(h.up).toBe(true);
      expect(h.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
    const members = doc.hosts.filter((h) => h.roles.includes('etcd'));
    expect(members.every((h) => h.etcd.running && /^[0-9a-f]{16}$/.test(h.etcd.memberId ?? ''))).toBe(true);
    expect(members.filter((h) => h.etcd.leader)).toHaveLength(1);
    // The version the running etcd answers, not the record's.
    expect(members.map((h) => h.etcd.version)).toEqual([sandbox.etcdVersion, sandbox.etcdVersion, sandbox.etcdVersion]);
    expect(doc.hosts.filter((h) => !h.roles.includes('etcd')).map((h) => h.etcd)).toEqual([
      { running: false, memberId: null, leader: false, version: null },
      { running: false, memberId: null, leader: false, version: null },
    ]);
    expect(doc.client).toEqual(sandbox.client);
  });

  it('runs commands on a host with exit code, stdin and stdout passed through (CLI exec)', async () => {
    const result = await cli(['sandbox', 'exec', '--sandbox', name, 'master-0', '--', 'bash', '-c', 'hostname; cat; exit 7'], 'from stdin\n');
    expect(result.code).toBe(7);
    expect(result.stdout).toBe('master-0.sandbox.test\nfrom stdin\n');
    const files = await cli(['sandbox', 'exec', '--sandbox', name, 'node-0', '--', 'cat', '/etc/sysconfig/flanneld']);
    expect(files.code).toBe(0);
    expect(files.stdout).toContain(
      'FLANNEL_ETCD_ENDPOINTS="https://master-0.sandbox.test:2379,https://master-1.sandbox.test:2379,https://master-2.sandbox.test:2379"',
    );
  });

  it('lays the OpenShift files onto the hosts and resolves every hostname on every host', async () => {
    const conf = await sh('master-2', 'cat /etc/etcd/etcd.conf');
    expect(conf.stdout).toContain('ETCD_NAME=master-2.sandbox.test\n');
    expect(conf.stdout).toContain(`ETCD_LISTEN_PEER_URLS=https://${host('master-2').ip}:2380\n`);
    expect(conf.stdout).toContain('ETCD_INITIAL_CLUSTER_STATE=new\n');
    expect(conf.stdout).toContain('ETCD_HEARTBEAT_INTERVAL=500\nETCD_ELECTION_TIMEOUT=2500\n');
    expect(conf.stdout.split('\n')).toHaveLength(readFileSync(path.join(REPO, 'sandbox/templates/etcd.conf'), 'utf8').split('\n').length);
    const ca = await sh(
      'master-0',
      'ls /etc/etcd/ca; wc -l < /etc/etcd/ca/index.txt; openssl verify -CAfile /etc/etcd/ca/ca.crt /etc/etcd/generated_certs/etcd-master-1.sandbox.test/peer.crt',
    );
    expect(ca.stdout).toMatch(/ca\.crt\nca\.key\ncerts\n/);
    expect(ca.stdout).toContain('peer.crt: OK');
    const inventory = await sh('master-0', 'cat /etc/ansible/hosts');
    expect(inventory.stdout).toContain('[etcd]\nmaster-0.sandbox.test\nmaster-1.sandbox.test\nmaster-2.sandbox.test\n');
    const spare = await sh('etcd-spare-0', 'ls -A /etc/etcd /var/lib/etcd; iptables -S | grep -c OS_FIREWALL_ALLOW || true');
    expect(spare.stdout).toBe('/etc/etcd:\n\n/var/lib/etcd:\n0\n');
    // /tmp and /var/tmp are each host's own, sticky and world-writable as on RHEL: a scratch file
    // one host leaves is not seen by another host, nor by the machine.
    const scratch = `scratch-${process.pid}-${Date.now()}`;
    const left = await sh('master-1', `stat -c %a /tmp /var/tmp; touch /tmp/${scratch} /var/tmp/${scratch}`);
    expect(left.stdout).toBe('1777\n1777\n');
    const seen = await sh('master-2', `ls /tmp/${scratch} /var/tmp/${scratch} 2>/dev/null | wc -l`);
    expect(seen.stdout.trim()).toBe('0');
    expect(existsSync(`/var/tmp/${scratch}`) || existsSync(`/tmp/${scratch}`)).toBe(false);
    const names = await sh('node-0', 'getent hosts master-2.sandbox.test etcd-spare-0 localhost');
    expect(names.stdout.split('\n').map((line) => line.split(/\s+/))).toEqual([
      [host('master-2').ip, 'master-2.sandbox.test', 'master-2'],
      [host('etcd-spare-0').ip, 'etcd-spare-0.sandbox.test', 'etcd-spare-0'],
      ['::1', 'localhost', 'localhost.localdomain', 'localhost6', 'localhost6.localdomain6'],
      [''],
    ]);
  });

  it('serves the master API healthz, and master-restart api re-reads master-config.yaml', async () => {
    // The API checks etcd every second with etcd's own /health, which a loaded 3.2 member can miss
    // for a beat (it goes through raft), as the real check does; and after a restart it answers only
    // once it has checked etcd, as a real one takes a while to serve. So each look waits up to 10 s
    // for the answer it expects: any answer (`"$code" != 000`), or a healthy one (`"$code" = 200`).
    const healthz = (until: string) =>
      `for i in $(seq 100); do code=$(curl -ks -o /tmp/healthz -w '%{http_code}' https://localhost:8443/healthz) && [ ${until} ] && break; sleep 0.1; done; echo "$code $(cat /tmp/healthz)"`;
    expect((await sh('master-1', healthz('"$code" = 200'))).stdout).toBe('200 ok\n');
    const config = '/etc/origin/master/master-config.yaml';
    const broken = await sh(
      'master-1',
      `cp ${config} /tmp/mc.yaml && sed -i 's#https://master-.\\.sandbox\\.test:2379#https://node-0.sandbox.test:2379#' ${config} && master-restart api && ${healthz('"$code" != 000')}`,
    );
    expect(broken.exitCode).toBe(0);
    expect(broken.stdout).toMatch(/^500 \[-\]etcd failed: https:\/\/node-0\.sandbox\.test:2379/);
    const restored = await sh('master-1', `cp /tmp/mc.yaml ${config} && master-restart api && master-restart controllers && ${healthz('"$code" = 200')}`);
    expect(restored.exitCode).toBe(0);
    expect(restored.stdout).toBe('200 ok\n');
  });

  it('stops static-pod etcd when its manifest moves away and runs it again when it comes back', async () => {
    const before = await etcdPids('master-2');
    expect(before).toHaveLength(1);
    await sh('master-2', 'mkdir -p /etc/origin/node/pods-stopped && mv /etc/origin/node/pods/* /etc/origin/node/pods-stopped/');
    const started = Date.now();
    await waitFor('etcd to stop on master-2', 5000, 100, async () => (await etcdPids('master-2')).length === 0, { errors: 'throw' });
    expect(Date.now() - started).toBeLessThan(4000);
    await sh('master-2', 'mv /etc/origin/node/pods-stopped/etcd.yaml /etc/origin/node/pods/');
    await waitFor(
      'master-2 healthy again',
      20_000,
      100,
      async () => {
        const health = await sh('master-0', `ETCDCTL_API=3 etcdctl ${TLS} --endpoints=https://master-2.sandbox.test:2379 endpoint health`);
        return health.exitCode === 0;
      },
      { errors: 'throw' },
    );
    expect((await etcdPids('master-2'))[0]).not.toBe(before[0]);
  });

  it('gives hosts the systemctl, yum and rpm stand-ins', async () => {
    const result = await sh(
      'etcd-spare-0',
      'rpm -q etcd; systemctl is-enabled etcd; echo "rc=$?"; yum install -y etcd | tail -2; rpm -q etcd; systemctl is-enabled etcd; systemctl is-active iptables; yum install -y no-such-package; echo "rc=$?"',
    );
    expect(result.stdout).toContain('package etcd is not installed\nrc=1\n');
    // A bare install takes the newest version any repository offers (Extras' 3.3.11 over OpenShift's 3.2.22).
    const newest = sandbox.etcdRepos
      .map((r) => r.version)
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .pop();
    expect(newest).toMatch(/^\d+\.\d+\.\d+$/);
    expect(result.stdout).toContain(`  etcd.x86_64 0:${newest}-1.el7\nComplete!\netcd-${newest}-1.el7.x86_64\ndisabled\nactive\n`);
    expect(result.stdout).toContain('No package no-such-package available.\nrc=1\n');
  });

  it('runs sshd on every host: the installer reaches each as root by key with host keys checked, and Ansible does too', async () => {
    // Every host by hostname; one by its short name and IP too (known_hosts lists all three).
    const targets = [...sandbox.hosts.map((h) => h.hostname), host('node-0').name, host('node-0').ip];
    const loop = `for t in ${targets.join(' ')}; do printf '%s=' "$t"; ssh -o BatchMode=yes -o StrictHostKeyChecking=yes "$t" hostname 2>&1; done`;
    const answers = await sh('master-0', loop);
    expect(answers.stdout.trim().split('\n')).toEqual([
      ...sandbox.hosts.map((h) => `${h.hostname}=${h.hostname}`),
      `node-0=${host('node-0').hostname}`,
      `${host('node-0').ip}=${host('node-0').hostname}`,
    ]);
    // No password logins, and no way in for a host without the installer's key.
    const refused = await sh('master-0', `ssh -o BatchMode=yes -o PubkeyAuthentication=no ${host('master-1').hostname} true 2>&1; echo "rc=$?"`);
    expect(refused.stdout).toMatch(/Permission denied \(publickey\)\.\r?\nrc=255\n$/);
    const stranger = await sh('node-0', `ssh -o BatchMode=yes -o StrictHostKeyChecking=no ${host('master-0').hostname} true 2>&1; echo "rc=$?"`);
    expect(stranger.stdout).toMatch(/Permission denied \(publickey\)\.\r?\nrc=255\n$/);
    expect((await sh('master-0', 'stat -c %a /root/.ssh/id_ed25519')).stdout).toBe('600\n');
    const ping = await sh('master-0', 'ansible OSEv3 -m ping -o 2>&1');
    expect(ping.exitCode).toBe(0);
    const inventoryHosts = sandbox.hosts.filter((h) => h.roles.includes('master') || h.roles.includes('node'));
    expect(ping.stdout.trim().split('\n').sort()).toEqual(inventoryHosts.map((h) => `${h.hostname} | SUCCESS => {"changed": false,"ping": "pong"}`).sort());
  });

  it('fails the task a scaleup fault marker names, once, for its host only, as Ansible reports a failed task', async () => {
    const playbook = [
      '- hosts: node-0.sandbox.test:master-1.sandbox.test',
      '  gather_facts: no',
      '  tasks:',
      '  - name: Say hello',
      '    command: echo hello',
      '  - name: Say goodbye',
      '    command: echo goodbye',
    ].join('\n');
    await hostExec(sandbox, 'master-0', ['tee', '/root/fault-check.yml'], { stdin: `${playbook}\n`, timeoutMs: 10_000 });
    const armed = await cli(['sandbox', 'fail', '--sandbox', name, 'node-0', '--mode', 'scaleup', '--task', 'Say hello']);
    expect(armed.code).toBe(0);
    const first = await sh('master-0', 'ansible-playbook /root/fault-check.yml; echo "rc=$?"');
    expect(first.stdout).toMatch(
      /fatal: \[node-0\.sandbox\.test\]: FAILED! => .*"msg": "non-zero return code".*sandbox fault: task \\"Say hello\\" failed on node-0/,
    );
    expect(first.stdout).toMatch(/changed: \[master-1\.sandbox\.test\]\n/);
    expect(first.stdout).toMatch(/node-0\.sandbox\.test +: ok=0 +changed=0 +unreachable=0 +failed=1 /);
    expect(first.stdout).toMatch(/master-1\.sandbox\.test +: ok=2 +changed=2 +unreachable=0 +failed=0 /);
    expect(first.stdout).toMatch(/rc=2\n$/);
    const again = await sh('master-0', 'ansible-playbook /root/fault-check.yml; echo "rc=$?"');
    expect(again.stdout).toMatch(/node-0\.sandbox\.test +: ok=2 +changed=2 +unreachable=0 +failed=0 /);
    expect(again.stdout).toMatch(/rc=0\n$/);
  });

  it('keeps 2379/2380 on a spare closed by the security group until allowEtcdPorts, then by its own firewall', async () => {
    const spare = host('etcd-spare-0');
    await sh(
      'etcd-spare-0',
      `setsid node -e "require('net').createServer((s) => s.end('hi')).listen(2379, '${spare.ip}')" >/dev/null 2>&1 < /dev/null & sleep 0.5`,
    );
    const probe = () => sh('master-0', `timeout 2 bash -c 'exec 3<>/dev/tcp/${spare.ip}/2379 && cat <&3'; echo " rc=$?"`);
    expect(await describeEtcdPorts(sandbox, 'etcd-spare-0')).toEqual([]);
    expect((await probe()).stdout).toContain(' rc=124'); // dropped: the connection times out
    expect(await allowEtcdPorts(sandbox, 'etcd-spare-0')).toEqual({ changed: true });
    expect(await allowEtcdPorts(sandbox, 'etcd-spare-0')).toEqual({ changed: false });
    expect(await describeEtcdPorts(sandbox, 'etcd-spare-0')).toEqual([2379, 2380]);
    const rejected = await probe();
    expect(rejected.stderr).toContain('No route to host'); // the host's REJECT --reject-with icmp-host-prohibited
    await sh(
      'etcd-spare-0',
      [
        'iptables -N OS_FIREWALL_ALLOW',
        'iptables -t filter -I INPUT -j OS_FIREWALL_ALLOW',
        'iptables -A OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport 2379 -j ACCEPT',
        'iptables -A OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport 2380 -j ACCEPT',
        'iptables-save | tee /etc/sysconfig/iptables >/dev/null',
      ].join(' && '),
    );
    expect((await probe()).stdout).toBe('hi rc=0\n');
    await sh('etcd-spare-0', `pkill -f "listen\\(2379" || true`);
  });
});

describe('Class: SandboxHostRunner', () => {
  const scriptsDir = path.join(REPO, 'test/fixtures/scripts');
  const asHost = (short: string): Host => {
    const { name: hostName, hostname, ip, roles } = host(short);
    return { name: hostName, hostname, ip, roles };
  };

  it('runs the script file on the host with its arguments verbatim and returns its exit code', async () => {
    const runner = new SandboxHostRunner(sandbox, scriptsDir);
    const args = ['3', 'two words', '$(touch /tmp/pwned)', 'it\'s "quoted"', '*'];
    const output = await runner.run({ host: asHost('node-0'), script: 'EchoArgs', args, timeoutSeconds: 20 });
    expect(output).toEqual({
      exitCode: 3,
      stdout: `name=EchoArgs\nhost=node-0.sandbox.test\n${args.map((a) => `arg=[${a}]\n`).join('')}`,
      stderr: 'to stderr\n',
    });
    expect((await sh('node-0', 'ls /tmp/pwned 2>&1; true')).stdout).toContain('No such file');
  });

  it('kills the process group and throws ScriptTimedOutError after timeoutSeconds', async () => {
    const runner = new SandboxHostRunner(sandbox, scriptsDir);
    const started = Date.now();
    await expect(runner.run({ host: asHost('node-0'), script: 'SleepLong', args: ['41.5'], timeoutSeconds: 1 })).rejects.toBeInstanceOf(ScriptTimedOutError);
    expect(Date.now() - started).toBeLessThan(5000);
    const pid = Number((await sh('node-0', 'cat /tmp/sleep-long.pid')).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    await waitFor('the sleep to be gone', 3000, 100, async () => !alive(pid), { errors: 'throw' });
  });
});

describe('Sandbox: fail modes', () => {
  it('kill: powers the host off; processes gone, runner and exec answer unreachable, peers see it unreachable', async () => {
    const victim = host('master-2');
    const nsFile = path.join('/run/netns', victim.netns);
    const before = await pidsInNamespaces([nsFile]);
    expect(before.length).toBeGreaterThan(3);
    expect(await Promise.all(before.map(processName))).toContain('sshd');
    const result = await cli(['sandbox', 'fail', '--sandbox', name, 'master-2', '--mode', 'kill']);
    expect(result.code).toBe(0);
    expect(await pidsInNamespaces([nsFile])).toEqual([]);
    sandbox = await loadSandbox(name);
    expect(host('master-2')).toMatchObject({ up: false, state: 'off' });
    const runner = new SandboxHostRunner(sandbox, path.join(REPO, 'test/fixtures/scripts'));
    await expect(runner.run({ host: host('master-2'), script: 'EchoArgs', args: [], timeoutSeconds: 5 })).rejects.toBeInstanceOf(HostUnreachableError);
    const ssh = await sh('master-0', `ssh -o BatchMode=yes -o ConnectTimeout=3 ${victim.hostname} true 2>&1; echo "rc=$?"`);
    expect(ssh.stdout).toMatch(/port 22: (No route to host|Connection timed out|Connection refused)\r?\nrc=255\n$/);
    const exec = await cli(['sandbox', 'exec', '--sandbox', name, 'master-2', '--', 'true']);
    expect(exec.code).toBe(255);
    expect(exec.stderr).toContain('unreachable');
    const health = await sh(
      'master-0',
      `etcdctl -C https://${host('master-0').ip}:2379 --ca-file=/etc/etcd/ca.crt --cert-file=/etc/etcd/peer.crt --key-file=/etc/etcd/peer.key cluster-health`,
      { ETCDCTL_API: '2' },
    );
    expect(health.stdout).toMatch(new RegExp(`member [0-9a-f]+ is unreachable: \\[https://${victim.ip.replace(/\./g, '\\.')}:2379\\] are all unreachable`));
    // etcdctl 3.2's v2 cluster-health says "healthy" while one member is unreachable; 3.3 and later say "degraded".
    expect(health.stdout).toContain(sandbox.etcdVersion.startsWith('3.2.') ? 'cluster is healthy' : 'cluster is degraded');
    const status = await sandboxStatus(name);
    expect(status.hosts.find((h) => h.name === 'master-2')).toMatchObject({
      up: false,
      etcd: { running: false, memberId: null, leader: false, version: null },
    });
  });

  it('etcd: only etcd dies and stays down past the restart delay; the host keeps running', async () => {
    const before = await pidsInNamespaces([path.join('/run/netns', host('master-1').netns)]);
    expect(await etcdPids('master-1')).toHaveLength(1);
    const result = await cli(['sandbox', 'fail', '--sandbox', name, 'master-1', '--mode', 'etcd']);
    expect(result.code).toBe(0);
    expect(await etcdPids('master-1')).toEqual([]);
    await sleep(3000); // the stand-ins restart a dead etcd after 1 s
    expect(await etcdPids('master-1')).toEqual([]);
    const still = await pidsInNamespaces([path.join('/run/netns', host('master-1').netns)]);
    expect(still.length).toBeGreaterThan(0);
    expect(before.filter((pid) => still.includes(pid)).length).toBeGreaterThan(0);
    expect((await sh('master-1', 'hostname; test -f /etc/origin/node/pods/etcd.yaml && echo manifest-in-place')).stdout).toBe(
      'master-1.sandbox.test\nmanifest-in-place\n',
    );
    const status = await sandboxStatus(name);
    expect(status.hosts.find((h) => h.name === 'master-1')).toMatchObject({ up: true, etcd: { running: false } });
  });

  it('partition: the host runs and exec works, but no other host and not the machine reach it', async () => {
    const victim = host('master-0');
    const result = await cli(['sandbox', 'fail', '--sandbox', name, 'master-0', '--mode', 'partition']);
    expect(result.code).toBe(0);
    sandbox = await loadSandbox(name);
    expect(host('master-0')).toMatchObject({ up: true, state: 'partitioned' });
    expect(await etcdPids('master-0')).toHaveLength(1);
    const inside = await sh('master-0', `hostname; timeout 2 bash -c '</dev/tcp/${host('node-0').ip}/22'; echo "rc=$?"`);
    expect(inside.stdout).toBe('master-0.sandbox.test\nrc=124\n');
    const fromPeer = await sh('node-0', `timeout 2 bash -c '</dev/tcp/${victim.ip}/2379'; echo "rc=$?"`);
    expect(fromPeer.stdout).toBe('rc=124\n');
    expect(await connects(victim.ip, 2379)).toBe('timeout'); // from the machine
    expect(await connects(host('node-0').ip, 22)).toBe('open'); // the others are still reachable (their sshd answers)
  });
});

describe('CLI: bad arguments exit 2 with a clear message', () => {
  it.each([
    [['sandbox', 'exec', '--sandbox', 'SANDBOX', 'no-such-host', '--', 'true'], /no host "no-such-host"/],
    [['sandbox', 'fail', '--sandbox', 'SANDBOX', 'master-9'], /no host "master-9"/],
    [['sandbox', 'fail', '--sandbox', 'SANDBOX', 'node-0', '--mode', 'explode'], /--mode must be one of kill, etcd, partition/],
    [['sandbox', 'exec', '--sandbox', 'SANDBOX', 'node-0', 'true'], /usage: etcd-replace sandbox exec/],
    [['sandbox', 'fail', '--sandbox', 'SANDBOX', 'node-0', '--mode', 'scaleup'], /--task NAME goes with --mode scaleup/],
    [['sandbox', 'fail', '--sandbox', 'SANDBOX', 'node-0', '--task', 'x'], /--task NAME goes with --mode scaleup/],
    [['sandbox', 'heal', '--sandbox', 'SANDBOX'], /usage: etcd-replace sandbox heal/],
    [['sandbox', 'heal', '--sandbox', 'SANDBOX', 'master-9'], /no host "master-9"/],
  ])('%j', async (args, message) => {
    const result = await cli(args.map((a) => (a === 'SANDBOX' ? name : a)));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });
});

describe('Sandbox: heal, and the fence', () => {
  const V2 = '--ca-file=/etc/etcd/ca.crt --cert-file=/etc/etcd/peer.crt --key-file=/etc/etcd/peer.key';
  /** curl's exit code for https://IP:PORT from a host: 28 is a connect timeout (dropped), 0 an answer. */
  const curl = async (from: string, ip: string, port: number) =>
    Number(
      (
        await sh(
          from,
          `curl -s -o /dev/null -m 2 --cacert /etc/etcd/ca.crt --cert /etc/etcd/peer.crt --key /etc/etcd/peer.key https://${ip}:${port}/version; echo $?`,
        )
      ).stdout.trim(),
    );
  const allHealthy = async () => {
    const tls = await readClientTls(sandbox.client);
    return (await Promise.all(sandbox.client.endpoints.map((e) => endpointHealthy(e, tls, 2000)))).every(Boolean);
  };
  let master2Id = '';

  it('heal: the partition goes, and etcd runs again under its supervisor; the cluster has its quorum back', async () => {
    const partitioned = await cli(['sandbox', 'heal', '--sandbox', name, 'master-0']);
    expect(partitioned).toMatchObject({ code: 0, stdout: '' });
    expect(partitioned.stderr).toContain(`heal: master-0 in sandbox "${name}": partition removed`);
    sandbox = await loadSandbox(name);
    expect(host('master-0')).toMatchObject({ up: true, state: 'running' });
    expect(await connects(host('master-0').ip, 22)).toBe('open');
    const etcdDown = await cli(['sandbox', 'heal', '--sandbox', name, 'master-1']);
    expect(etcdDown.code).toBe(0);
    expect(etcdDown.stderr).toContain('master-1 in sandbox');
    expect(etcdDown.stderr).toContain('etcd fault cleared');
    await waitFor('etcd on master-1 to run again', 10_000, 100, async () => ((await etcdPids('master-1')).length === 1 ? true : undefined), {
      errors: 'throw',
    });
    const members = await sh('master-0', `etcdctl --endpoints=https://${host('master-0').ip}:2379 ${TLS} member list`, { ETCDCTL_API: '3' });
    master2Id = new RegExp(`^([0-9a-f]{16}), started, master-2\\.sandbox\\.test,`, 'm').exec(members.stdout)?.[1] ?? '';
    expect(master2Id).toMatch(/^[0-9a-f]{16}$/);
    await waitFor('master-0 and master-1 healthy', 30_000, 200, async () => {
      const tls = await readClientTls(sandbox.client);
      const health = await Promise.all(sandbox.client.endpoints.slice(0, 2).map((e) => endpointHealthy(e, tls, 2000)));
      return health.every(Boolean) ? true : undefined;
    });
  });

  it('fence: a powered-off member is fenced, boots again with its old data and membership, and reaches no etcd port nor is reached', async () => {
    expect(await describeFence(sandbox, 'master-2')).toEqual({ fenced: false });
    expect(await fenceHost(sandbox, 'master-2')).toEqual({ changed: true }); // the host is off: the fence is outside it
    expect(await fenceHost(sandbox, 'master-2')).toEqual({ changed: false });
    expect(await describeFence(sandbox, 'master-2')).toEqual({ fenced: true });
    const booted = await cli(['sandbox', 'heal', '--sandbox', name, 'master-2']);
    expect(booted.code).toBe(0);
    expect(booted.stderr).toContain(`heal: master-2 in sandbox "${name}": booted`);
    sandbox = await loadSandbox(name);
    expect(host('master-2')).toMatchObject({ up: true, state: 'running' });
    expect((await cli(['sandbox', 'exec', '--sandbox', name, 'master-2', '--', 'true'])).code).toBe(0);
    // It boots as a host does: iptables.service loads the saved rules, sshd runs, the kubelet runs etcd
    // from the old data dir as the member it was.
    expect((await sh('master-2', 'iptables -S OS_FIREWALL_ALLOW | grep -c -- "--dport 23[78][90]"')).stdout.trim()).toBe('2');
    await waitFor('etcd on master-2 to run', 10_000, 100, async () => ((await etcdPids('master-2')).length === 1 ? true : undefined), { errors: 'throw' });
    const log = path.join(sandbox.stateDir, 'logs/master-2/etcd-pod.log');
    await waitFor(
      'master-2 to restart its member',
      10_000,
      100,
      async () => (readFileSync(log, 'utf8').includes(`restarting member ${master2Id} in cluster`) ? true : undefined),
      {
        errors: 'throw',
      },
    );
    // Its member asks for votes nobody gets, and nobody reaches it: 2379/2380 are closed both ways.
    const m0 = host('master-0').ip;
    const m2 = host('master-2').ip;
    expect(await Promise.all([curl('master-0', m2, 2379), curl('master-0', m2, 2380), curl('master-2', m0, 2379), curl('master-2', m0, 2380)])).toEqual([
      28, 28, 28, 28,
    ]);
    expect(await connects(m2, 22)).toBe('open'); // the fence closes the etcd ports only
    const health = await sh('master-0', `etcdctl -C https://${m0}:2379 ${V2} cluster-health`, { ETCDCTL_API: '2' });
    expect(health.stdout).toContain(`member ${master2Id} is unreachable`);
    // Nothing the sandbox does to the host's network undoes it: allowEtcdPorts, a partition and its heal.
    expect(await allowEtcdPorts(sandbox, 'master-2')).toEqual({ changed: false });
    expect((await cli(['sandbox', 'fail', '--sandbox', name, 'master-2', '--mode', 'partition'])).code).toBe(0);
    expect((await cli(['sandbox', 'heal', '--sandbox', name, 'master-2'])).stderr).toContain('partition removed');
    expect(await describeFence(sandbox, 'master-2')).toEqual({ fenced: true });
    expect(await Promise.all([curl('master-0', m2, 2380), curl('master-2', m0, 2380)])).toEqual([28, 28]);
    // A write the fenced member cannot see.
    expect(
      (await sh('master-0', `etcdctl --endpoints=https://${m0}:2379 ${TLS} put /sandbox-test/fenced written-while-fenced`, { ETCDCTL_API: '3' })).stdout,
    ).toBe('OK\n');
  });

  it('unfence: the member rejoins as it was, catches up, and the cluster is whole; heal and the fence are idempotent', async () => {
    expect(await unfenceHost(sandbox, 'master-2')).toEqual({ changed: true });
    expect(await unfenceHost(sandbox, 'master-2')).toEqual({ changed: false });
    expect(await describeFence(sandbox, 'master-2')).toEqual({ fenced: false });
    await waitFor('every member healthy', 60_000, 250, async () => ((await allHealthy()) ? true : undefined));
    const m2 = host('master-2').ip;
    const read = await sh('master-2', `etcdctl --endpoints=https://${m2}:2379 ${TLS} get --consistency=s --print-value-only /sandbox-test/fenced`, {
      ETCDCTL_API: '3',
    });
    expect(read.stdout).toBe('written-while-fenced\n');
    const status = await sandboxStatus(name);
    expect(status.hosts.filter((h) => h.roles.includes('etcd')).map((h) => [h.name, h.up, h.etcd.running])).toEqual([
      ['master-0', true, true],
      ['master-1', true, true],
      ['master-2', true, true],
    ]);
    expect(status.hosts.find((h) => h.name === 'master-2')?.etcd.memberId).toBe(master2Id);
    const again = await cli(['sandbox', 'heal', '--sandbox', name, 'master-2']);
    expect(again).toMatchObject({ code: 0, stdout: '' });
    expect(again.stderr).toContain(`heal: master-2 in sandbox "${name}": nothing to heal`);
  });

  it('heal: an armed scaleup fault is cleared', async () => {
    expect((await cli(['sandbox', 'fail', '--sandbox', name, 'node-0', '--mode', 'scaleup', '--task', 'Say hello'])).code).toBe(0);
    const marker = scaleupFaultFile(sandbox.stateDir, 'node-0');
    expect(readFileSync(marker, 'utf8')).toContain('Say hello');
    const healed = await cli(['sandbox', 'heal', '--sandbox', name, 'node-0']);
    expect(healed.code).toBe(0);
    expect(healed.stderr).toContain('scaleup fault cleared');
    expect(() => readFileSync(marker)).toThrow(/ENOENT/);
  });
});
