// Real etcd member certificates, made the way the runbook makes them: the fixture openssl.cnf with its
// [etcd_ca] paths pointed at a scratch CA directory, `openssl req -reqexts etcd_v3_req` and
// `openssl ca -name etcd_ca -extensions ...`, then `openssl pkey -pubout` of the key (what the CA host
// sends; the private key stays there).

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
