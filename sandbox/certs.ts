// The etcd CA and every certificate of a sandbox, issued on the CA host (master-0) inside its
// namespaces with the runbook's own openssl commands (sandbox/sh/issue-certs.sh), then installed on
// each host where OpenShift keeps them.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SandboxError } from './errors.ts';
import type { HostRecord, SandboxRecord } from './model.ts';
import { clientDirOf, hostRootOf, mntNsFile, utsNsFile } from './model.ts';
import { hostEnv } from './exec.ts';
import { hostLibOf, run, runOk } from './util.ts';

const GENERATED = '/etc/etcd/generated_certs';

interface CertRequest {
  prefix: string;
  basename: string;
  cn: string;
  san: string;
  extension: 'etcd_v3_ca_server' | 'etcd_v3_ca_peer' | 'etcd_v3_ca_client';
}

const san = (h: HostRecord) => `IP:${h.ip}, DNS:${h.hostname}`;
const memberPrefix = (h: HostRecord) => `${GENERATED}/etcd-${h.hostname}/`;
const masterClientPrefix = (h: HostRecord) => `${GENERATED}/openshift-master-${h.hostname}/`;
const flannelPrefix = (h: HostRecord) => `${GENERATED}/flannel-${h.hostname}/`;
const MACHINE_PREFIX = `${GENERATED}/sandbox-client/`;

function requests(record: SandboxRecord): CertRequest[] {
  const masters = record.hosts.filter((h) => h.kind === 'master');
  const flannelHosts = record.hosts.filter((h) => h.kind !== 'spare');
  return [
    ...masters.flatMap((h): CertRequest[] => [
      { prefix: memberPrefix(h), basename: 'server', cn: h.hostname, san: san(h), extension: 'etcd_v3_ca_server' },
      { prefix: memberPrefix(h), basename: 'peer', cn: h.hostname, san: san(h), extension: 'etcd_v3_ca_peer' },
      { prefix: masterClientPrefix(h), basename: 'master.etcd-client', cn: h.hostname, san: san(h), extension: 'etcd_v3_ca_client' },
    ]),
    ...flannelHosts.map((h): CertRequest => ({
      prefix: flannelPrefix(h),
      basename: 'flannel.etcd-client',
      cn: h.hostname,
      san: san(h),
      extension: 'etcd_v3_ca_client',
    })),
    {
      prefix: MACHINE_PREFIX,
      basename: 'client',
      cn: `sandbox-client.${record.name}`,
      san: `IP:${record.gateway}, DNS:client.sandbox.test`,
      extension: 'etcd_v3_ca_client',
    },
  ];
}

/** Creates the CA on master-0 and issues every certificate there. */
export async function issueCertificates(record: SandboxRecord, stateDir: string): Promise<void> {
  const ca = record.hosts.find((h) => h.roles.includes('ca'));
  if (!ca) throw new SandboxError('no CA host');
  const input = requests(record)
    .map((r) => [r.prefix, r.basename, r.cn, r.san, r.extension].join('|'))
    .join('\n');
  const result = await run(
    'nsenter',
    [
      `--net=/run/netns/${ca.netns}`,
      `--mount=${mntNsFile(stateDir, ca.name)}`,
      `--uts=${utsNsFile(stateDir, ca.name)}`,
      '--',
      'bash',
      path.join(hostLibOf(stateDir).sh, 'issue-certs.sh'),
      path.join(hostLibOf(stateDir).templates, 'openssl.cnf'),
      String(Math.floor(Date.now() / 1000)),
    ],
    { input: `${input}\n`, env: hostEnv(ca.hostname) },
  );
  if (result.exitCode !== 0) throw new SandboxError(`issuing certificates on ${ca.name} failed: ${result.stderr.trim()}`);
}

async function copy(from: string, to: string, mode: number): Promise<void> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  await fs.copyFile(from, to);
  await fs.chmod(to, mode);
}

/** Installs the issued files on every host (through the state dir, which backs each host's paths). */
export async function installCertificates(record: SandboxRecord, stateDir: string): Promise<void> {
  const ca = record.hosts.find((h) => h.roles.includes('ca'));
  if (!ca) throw new SandboxError('no CA host');
  const caRoot = hostRootOf(stateDir, ca.name);
  const onCa = (file: string) => path.join(caRoot, file);
  const caCrt = onCa('/etc/etcd/ca/ca.crt');
  const jobs: Array<Promise<void>> = [];
  for (const h of record.hosts) {
    const root = hostRootOf(stateDir, h.name);
    const at = (file: string) => path.join(root, file);
    if (h.kind === 'master') {
      jobs.push(copy(caCrt, at('/etc/etcd/ca.crt'), 0o644));
      for (const base of ['server', 'peer']) {
        jobs.push(copy(onCa(`${memberPrefix(h)}${base}.crt`), at(`/etc/etcd/${base}.crt`), 0o644));
        jobs.push(copy(onCa(`${memberPrefix(h)}${base}.key`), at(`/etc/etcd/${base}.key`), 0o600));
      }
      jobs.push(copy(caCrt, at('/etc/origin/master/master.etcd-ca.crt'), 0o644));
      jobs.push(copy(onCa(`${masterClientPrefix(h)}master.etcd-client.crt`), at('/etc/origin/master/master.etcd-client.crt'), 0o644));
      jobs.push(copy(onCa(`${masterClientPrefix(h)}master.etcd-client.key`), at('/etc/origin/master/master.etcd-client.key'), 0o600));
    }
    if (h.kind !== 'spare') {
      jobs.push(copy(caCrt, at('/etc/origin/node/flannel.etcd-ca.crt'), 0o644));
      jobs.push(copy(onCa(`${flannelPrefix(h)}flannel.etcd-client.crt`), at('/etc/origin/node/flannel.etcd-client.crt'), 0o644));
      jobs.push(copy(onCa(`${flannelPrefix(h)}flannel.etcd-client.key`), at('/etc/origin/node/flannel.etcd-client.key'), 0o600));
    }
  }
  const client = clientDirOf(stateDir);
  jobs.push(copy(caCrt, path.join(client, 'ca.crt'), 0o644));
  jobs.push(copy(onCa(`${MACHINE_PREFIX}client.crt`), path.join(client, 'client.crt'), 0o644));
  jobs.push(copy(onCa(`${MACHINE_PREFIX}client.key`), path.join(client, 'client.key'), 0o600));
  await Promise.all(jobs);
}

/** The master API's own serving certificate (master.server.crt/key; not from the etcd CA). */
export async function issueMasterServingCert(host: HostRecord, stateDir: string): Promise<void> {
  const dir = path.join(hostRootOf(stateDir, host.name), 'etc/origin/master');
  await fs.mkdir(dir, { recursive: true });
  await runOk(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '730',
      '-keyout',
      path.join(dir, 'master.server.key'),
      '-out',
      path.join(dir, 'master.server.crt'),
      '-subj',
      `/CN=${host.hostname}`,
      '-addext',
      `subjectAltName=IP:${host.ip},DNS:${host.hostname},DNS:localhost,IP:127.0.0.1`,
    ],
    { what: `master serving certificate for ${host.name}` },
  );
  // The API's CA bundle (self-signed: the serving certificate is its own CA), as clients of the API read it.
  await fs.copyFile(path.join(dir, 'master.server.crt'), path.join(dir, 'ca-bundle.crt'));
}
