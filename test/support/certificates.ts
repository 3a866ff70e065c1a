// Real etcd member certificates, made the way the runbook makes them: the fixture openssl.cnf with its
// [etcd_ca] paths pointed at a scratch CA directory, `openssl req -reqexts etcd_v3_req` and
// `openssl ca -name etcd_ca -extensions ...`, then `openssl pkey -pubout` of the key (what the CA host
// sends; the private key stays there).

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

const CNF = readFileSync(new URL('../../sandbox/templates/openssl.cnf', import.meta.url), 'utf8');

export interface IssuedCertificate {
  /** As `openssl ca` writes it: a text dump, then the PEM. */
  cert: string;
  publicKey: string;
}

export interface ScratchCa {
  dir: string;
  cnf: string;
  caPem: string;
  /** One certificate, as the runbook's two commands issue it. */
  issue(o: { cn: string; san: string; extensions: string; caArgs?: string[] }): IssuedCertificate;
}

export function openssl(args: string[], env: Record<string, string> = {}): string {
  return execFileSync('openssl', args, { env: { ...process.env, SAN: '', ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A CA directory laid out like /etc/etcd/ca under `root`/`name`, with its openssl.cnf and a self-signed CA certificate. */
export function makeCa(root: string, name: string, cn: string): ScratchCa {
  const dir = join(root, name);
  mkdirSync(join(dir, 'certs'), { recursive: true });
  const cnf = join(dir, 'openssl.cnf');
  writeFileSync(cnf, CNF.replaceAll('/etc/etcd/ca', dir));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  openssl([
    'req',
    '-config',
    cnf,
    '-newkey',
    'rsa:2048',
    '-keyout',
    join(dir, 'ca.key'),
    '-new',
    '-out',
    join(dir, 'ca.crt'),
    '-x509',
    '-extensions',
    'etcd_v3_ca_self',
    '-batch',
    '-nodes',
    '-days',
    '1825',
    '-subj',
    `/CN=${cn}`,
  ]);
  let counter = 0;
  return {
    dir,
    cnf,
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    issue(o) {
      const prefix = join(dir, `cert-${++counter}`);
      const env = { SAN: o.san };
      openssl(
        [
          'req',
          '-new',
          '-config',
          cnf,
          '-keyout',
          `${prefix}.key`,
          '-out',
          `${prefix}.csr`,
          '-reqexts',
          'etcd_v3_req',
          '-batch',
          '-nodes',
          '-subj',
          `/CN=${o.cn}`,
        ],
        env,
      );
      openssl(
        ['ca', '-name', 'etcd_ca', '-config', cnf, '-out', `${prefix}.crt`, '-in', `${prefix}.csr`, '-extensions', o.extensions, '-batch', ...(o.caArgs ?? [])],
        env,
      );
      return { cert: readFileSync(`${prefix}.crt`, 'utf8'), publicKey: openssl(['pkey', '-in', `${prefix}.key`, '-pubout']) };
    },
  };
}

/** A scratch CA with a host's server and peer certificates, and a peer certificate naming a wrong IP. */
export interface HostCertificates {
  ca: ScratchCa;
  server: IssuedCertificate;
  peer: IssuedCertificate;
  wrongIp: IssuedCertificate;
}

/** The certificates of `host` a suite checks: made before its tests, removed after them. */
export function certificatesFor(host: { ip: string; hostname: string }): HostCertificates {
  const made = {} as HostCertificates;
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'step-certificates-'));
    made.ca = makeCa(dir, 'ca', 'etcd-signer@1700000000');
    const san = `IP:${host.ip}, DNS:${host.hostname}`;
    made.server = made.ca.issue({ cn: host.hostname, san, extensions: 'etcd_v3_ca_server' });
    made.peer = made.ca.issue({ cn: host.hostname, san, extensions: 'etcd_v3_ca_peer' });
    made.wrongIp = made.ca.issue({ cn: host.hostname, san: `IP:198.51.100.99, DNS:${host.hostname}`, extensions: 'etcd_v3_ca_peer' });
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return made;
}

/**
 * What the CA host prints of them (lib/certificates.sh `sections`, in IssueCertificates.sh and
 * VerifyCertificates.sh): each part under its `-----NAME-----` line; `server` and `peer` replace the
 * host's own, `omit` leaves one part out.
 */
export function certificateSections(certs: HostCertificates, parts: { server?: IssuedCertificate; peer?: IssuedCertificate; omit?: string } = {}): string {
  const s = parts.server ?? certs.server;
  const p = parts.peer ?? certs.peer;
  const all: Array<[string, string]> = [
    ['CA', certs.ca.caPem],
    ['SERVER', s.cert],
    ['SERVER-PUBLIC-KEY', s.publicKey],
    ['PEER', p.cert],
    ['PEER-PUBLIC-KEY', p.publicKey],
  ];
  return all
    .filter(([name]) => name !== parts.omit)
    .map(([name, text]) => `-----${name}-----\n${text.trim()}\n`)
    .join('');
}
