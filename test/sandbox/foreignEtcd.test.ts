// A replacement host that runs a member of ANOTHER healthy etcd cluster, on etcd 3.2.22 as OpenShift
// 3.11 runs it: etcd-spare-0's etcd.service is one of three members of a cluster of its own (with
// etcd-spare-1 and etcd-spare-2), on ports 12379/12380, with its own CA in the same /etc/etcd layout.
// `run --replacement etcd-spare-0` asks the spare's etcd at the client URL its etcd.conf names, and is
// refused (exit 3) naming that cluster's ID before anything stops or empties it: the other cluster keeps
// its three members, the spare's etcd keeps running, and this cluster's membership is as it was.
// Every result is read with etcdctl on the hosts.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { failHost, hostExec, sandboxUp, type SandboxInfo, type SandboxHost } from '../../sandbox/index.ts';
import { digestTree, downAll, hostFile, membershipOf, membersNow, parseRunJson, sh, stepStatus } from '../support/safetyHelpers.ts';
import { cli } from '../support/cli.ts';
import { requireBuild, uniqueName } from '../support/sandboxHelpers.ts';
import { waitFor } from '../../sandbox/util.ts';

const exec = promisify(execFile);
const created: string[] = [];
const certs = mkdtempSync(path.join(tmpdir(), 'foreign-ca-'));
afterAll(async () => {
  rmSync(certs, { recursive: true, force: true });
  await downAll(created);
});

const SPARES = ['etcd-spare-0', 'etcd-spare-1', 'etcd-spare-2'];
const clientOf = (h: SandboxHost) => `https://${h.ip}:12379`;
const TLS = ['--cacert=/etc/etcd/ca.crt', '--cert=/etc/etcd/peer.crt', '--key=/etc/etcd/peer.key'];

/** etcdctl v3 on a spare, with the spare's own /etc/etcd certificate (the other cluster's CA). */
async function theirEtcdctl(sandbox: SandboxInfo, via: string, endpoints: string[], args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await hostExec(sandbox, via, ['env', 'ETCDCTL_API=3', 'etcdctl', ...TLS, `--endpoints=${endpoints.join(',')}`, ...args], { timeoutMs: 30_000 });
  return { code: out.exitCode, stdout: out.stdout, stderr: out.stderr };
}

/** The other cluster's CA, and a server/peer certificate for each of its hosts (its IP and hostname), as OpenShift lays them out. */
async function issueTheirCertificates(spares: SandboxHost[]): Promise<void> {
  const openssl = (args: string[]) => exec('openssl', args, { cwd: certs });
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=other-etcd-ca',
  ]);
  for (const host of spares) {
    const ext = path.join(certs, `${host.name}.ext`);
    writeFileSync(
      ext,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:${host.ip},DNS:${host.hostname}\n`,
    );
    await openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${host.name}.key`,
      '-out',
      `${host.name}.csr`,
      '-subj',
      `/CN=${host.hostname}`,
    ]);
    await openssl([
      'x509',
      '-req',
      '-in',
      `${host.name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      `${host.name}.crt`,
    ]);
  }
}

/** OpenShift 3.11's etcd.conf keys, for a member of the other cluster on 12379/12380. */
function theirConf(host: SandboxHost, spares: SandboxHost[]): string {
  return [
    `ETCD_NAME=${host.hostname}`,
    `ETCD_LISTEN_PEER_URLS=https://${host.ip}:12380`,
    'ETCD_DATA_DIR=/var/lib/etcd/',
    'ETCD_HEARTBEAT_INTERVAL=500',
    'ETCD_ELECTION_TIMEOUT=2500',
    `ETCD_LISTEN_CLIENT_URLS=https://${host.ip}:12379`,
    `ETCD_INITIAL_ADVERTISE_PEER_URLS=https://${host.ip}:12380`,
    `ETCD_INITIAL_CLUSTER=${spares.map((s) => `${s.hostname}=https://${s.ip}:12380`).join(',')}`,
    'ETCD_INITIAL_CLUSTER_STATE=new',
    'ETCD_INITIAL_CLUSTER_TOKEN=other-cluster',
    `ETCD_ADVERTISE_CLIENT_URLS=https://${host.ip}:12379`,
    'ETCD_TRUSTED_CA_FILE=/etc/etcd/ca.crt',
    'ETCD_CLIENT_CERT_AUTH=true',
    'ETCD_CERT_FILE=/etc/etcd/server.crt',
    'ETCD_KEY_FILE=/etc/etcd/server.key',
    'ETCD_PEER_TRUSTED_CA_FILE=/etc/etcd/ca.crt',
    'ETCD_PEER_CLIENT_CERT_AUTH=true',
    'ETCD_PEER_CERT_FILE=/etc/etcd/peer.crt',
    'ETCD_PEER_KEY_FILE=/etc/etcd/peer.key',
    '',
  ].join('\n');
}

describe('A replacement that runs a member of another etcd cluster, on etcd 3.2.22', () => {
  it("is refused (exit 3) naming that cluster: it keeps its three members, the spare's etcd runs on, this cluster is unchanged", async () => {
    requireBuild('3.2.22');
    const name = uniqueName('t-fe');
    created.push(name);
    const sandbox = await sandboxUp({ name, members: 3, spares: 3, nodes: 0, dataMb: 2, etcdVersion: '3.2.22' });
    const spares = SPARES.map((n) => sandbox.hosts.find((h) => h.name === n)!);
    const [spare0] = spares as [SandboxHost, ...SandboxHost[]];

    // The other cluster: etcd 3.2.22 from the package, etcd.service on 12379/12380, its own CA in /etc/etcd.
    await issueTheirCertificates(spares);
    for (const host of spares) {
      await sh(sandbox, host.name, 'yum install -y etcd-3.2.22 && iptables -I INPUT -p tcp -m multiport --dports 12379,12380 -j ACCEPT');
      const etc = hostFile(sandbox, host.name, 'etc/etcd');
      mkdirSync(etc, { recursive: true });
      writeFileSync(path.join(etc, 'ca.crt'), readFileSync(path.join(certs, 'ca.crt')));
      for (const [file, from] of [
        ['server.crt', 'crt'],
        ['peer.crt', 'crt'],
        ['server.key', 'key'],
        ['peer.key', 'key'],
      ] as const) {
        writeFileSync(path.join(etc, file), readFileSync(path.join(certs, `${host.name}.${from}`)), { mode: 0o600 });
      }
      writeFileSync(path.join(etc, 'etcd.conf'), theirConf(host, spares));
      // All three start together: a member of a new cluster is ready only once a quorum of it runs.
      await sh(sandbox, host.name, 'systemctl enable etcd && (systemctl start etcd </dev/null >/dev/null 2>&1 &)');
    }
    const endpoints = spares.map(clientOf);
    const theirs = await waitFor("the other cluster's leader", 90_000, 200, async () => {
      const out = await theirEtcdctl(sandbox, spare0.name, [clientOf(spare0)], ['endpoint', 'status', '-w', 'json']);
      const leader = /"leader":(\d+)/.exec(out.stdout)?.[1];
      return out.code === 0 && leader && leader !== '0'
        ? BigInt(/"cluster_id":(\d+)/.exec(out.stdout)![1]!)
            .toString(16)
            .padStart(16, '0')
        : undefined;
    });
    expect((await theirEtcdctl(sandbox, spare0.name, endpoints, ['put', 'their-key', 'theirs'])).code).toBe(0);

    await failHost(sandbox.name, 'master-2', 'kill');
    const before = membershipOf(await membersNow(sandbox, ['master-0', 'master-1']));
    const spareData = Object.keys(await digestTree(sandbox, spare0.name, 'var/lib/etcd')).sort();
    expect(spareData.length).toBeGreaterThan(0);

    const out = await cli([
      'run',
      '--target',
      'sandbox',
      '--sandbox',
      sandbox.name,
      '--failed',
      'master-2',
      '--replacement',
      spare0.name,
      '--grace-seconds',
      '0',
      '--json',
    ]);
    expect({ code: out.code, stderr: out.code === 3 ? '' : out.stderr.slice(-3000) }).toEqual({ code: 3, stderr: '' });
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('refused');
    expect(stepStatus(result)['InstallEtcd']).toBe('failed');
    expect(result.reason).toContain(`of another etcd cluster that is still running: cluster ${theirs} with 3 members`);
    expect(result.reason).toContain(`(${spare0.hostname}) answering at ${clientOf(spare0)}`);
    expect(stepStatus(result)['AddMember']).not.toBe('succeeded');

    // The other cluster: three members, every one healthy, its key there; the spare's unit still enabled and active.
    const list = await theirEtcdctl(sandbox, spare0.name, endpoints, ['member', 'list']);
    expect(list.code).toBe(0);
    expect(
      list.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(', ')[2])
        .sort(),
    ).toEqual(spares.map((s) => s.hostname).sort());
    const health = await theirEtcdctl(sandbox, spare0.name, endpoints, ['endpoint', 'health']);
    expect({ code: health.code, healthy: (`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length }).toEqual({ code: 0, healthy: 3 });
    expect((await theirEtcdctl(sandbox, spare0.name, [clientOf(spare0)], ['get', 'their-key', '--print-value-only'])).stdout.trim()).toBe('theirs');
    expect((await sh(sandbox, spare0.name, 'systemctl is-enabled etcd; systemctl is-active etcd')).split('\n').slice(0, 2)).toEqual(['enabled', 'active']);
    expect(Object.keys(await digestTree(sandbox, spare0.name, 'var/lib/etcd')).sort()).toEqual(spareData);

    // This cluster: the same members (master-2 still listed: nothing was removed or added).
    expect(membershipOf(await membersNow(sandbox, ['master-0', 'master-1']))).toEqual(before);
  });
});
