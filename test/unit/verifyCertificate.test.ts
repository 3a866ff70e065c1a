import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateInvalidError, InvalidInputError } from '../../functions/errors.ts';
import { describeCertificate, verifyMemberCertificate, type MemberCertificateCheck } from '../../functions/certificates/verifyCertificate.ts';
import { makeCa, openssl, type IssuedCertificate, type ScratchCa } from '../support/certificates.ts';

// Real certificates, made the way the runbook makes them (test/support/certificates.ts).
const HOST = 'master-3.example.com';
const IP = '198.51.100.13';

let tmp: string;

/** One certificate from `authority`, for HOST and IP unless told otherwise. */
function issue(authority: ScratchCa, o: { cn?: string; san?: string; extensions: string; caArgs?: string[] }): IssuedCertificate {
  return authority.issue({ cn: o.cn ?? HOST, san: o.san ?? `IP:${IP}, DNS:${HOST}`, extensions: o.extensions, ...(o.caArgs ? { caArgs: o.caArgs } : {}) });
}

let ca: ScratchCa;
let server: IssuedCertificate;
let peer: IssuedCertificate;

function check(issued: IssuedCertificate, overrides: Partial<MemberCertificateCheck> = {}): MemberCertificateCheck {
  return {
    kind: 'server',
    certificatePem: issued.cert,
    caCertificatePem: ca.caPem,
    publicKeyPem: issued.publicKey,
    expected: { ip: IP, hostname: HOST },
    ...overrides,
  };
}

function failure(input: MemberCertificateCheck): string {
  try {
    verifyMemberCertificate(input);
  } catch (error) {
    if (error instanceof CertificateInvalidError) return error.message;
    throw error;
  }
  throw new Error('expected CertificateInvalidError, the certificate passed');
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'verify-cert-'));
  ca = makeCa(tmp, 'ca', 'etcd-signer@1700000000');
  server = issue(ca, { extensions: 'etcd_v3_ca_server' });
  peer = issue(ca, { extensions: 'etcd_v3_ca_peer' });
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('Function: verifyMemberCertificate', () => {
  it('passes the server and peer certificates the runbook issues', () => {
    expect(server.cert).toContain('Certificate:'); // openssl ca writes a text dump before the PEM
    expect(() => verifyMemberCertificate(check(server))).not.toThrow();
    writeFileSync(join(tmp, 'server-check.crt'), server.cert);
    expect(openssl(['verify', '-CAfile', join(ca.dir, 'ca.crt'), '-purpose', 'sslserver', join(tmp, 'server-check.crt')])).toBe(
      `${join(tmp, 'server-check.crt')}: OK\n`,
    );
    expect(() => verifyMemberCertificate(check(peer, { kind: 'peer' }))).not.toThrow();
    // etcd_v3_ca_server carries serverAuth and clientAuth, so it would also serve as a peer certificate.
    expect(() => verifyMemberCertificate(check(server, { kind: 'peer' }))).not.toThrow();
  });

  it('fails a certificate whose SAN has another IP', () => {
    const wrong = issue(ca, { san: `IP:198.51.100.99, DNS:${HOST}`, extensions: 'etcd_v3_ca_server' });
    expect(failure(check(wrong))).toBe(`server certificate for ${HOST}: SAN lacks IP:${IP} (has IP:198.51.100.99)`);
  });

  it('fails a certificate whose SAN has another DNS name', () => {
    const wrong = issue(ca, { san: `IP:${IP}, DNS:master-4.example.com`, extensions: 'etcd_v3_ca_peer' });
    expect(failure(check(wrong, { kind: 'peer' }))).toBe(`peer certificate for ${HOST}: SAN lacks DNS:${HOST} (has DNS:master-4.example.com)`);
  });

  it('fails a certificate whose subject CN is another host', () => {
    const wrong = issue(ca, { cn: 'master-4.example.com', extensions: 'etcd_v3_ca_server' });
    expect(failure(check(wrong))).toBe(`server certificate for ${HOST}: subject CN is "master-4.example.com", expected "${HOST}"`);
  });

  it('fails a certificate issued by another CA', () => {
    const other = makeCa(tmp, 'other-ca', 'etcd-signer@1800000000');
    const foreign = issue(other, { extensions: 'etcd_v3_ca_server' });
    expect(failure(check(foreign))).toBe(
      `server certificate for ${HOST}: issuer "CN=etcd-signer@1800000000" is not the CA's subject "CN=etcd-signer@1700000000"`,
    );
  });

  it('fails a certificate from another CA that has the same subject', () => {
    const twin = makeCa(tmp, 'twin-ca', 'etcd-signer@1700000000');
    const forged = issue(twin, { extensions: 'etcd_v3_ca_server' });
    expect(failure(check(forged))).toBe(`server certificate for ${HOST}: the signature does not verify with the CA's key`);
  });

  it('fails a certificate whose key is not the key on the host', () => {
    expect(failure(check(server, { publicKeyPem: peer.publicKey }))).toBe(
      `server certificate for ${HOST}: the certificate's public key is not the key generated on the host`,
    );
    expect(failure(check(server, { publicKeyPem: 'not a key' }))).toBe(
      `server certificate for ${HOST}: the public key from the host does not parse as a PEM RSA public key`,
    );
  });

  it('fails a certificate that has expired or is not valid yet', () => {
    const old = issue(ca, { extensions: 'etcd_v3_ca_server', caArgs: ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z'] });
    expect(failure(check(old))).toBe(`server certificate for ${HOST}: expired at 2020-01-02T00:00:00.000Z`);
    const future = issue(ca, { extensions: 'etcd_v3_ca_server', caArgs: ['-startdate', '20900101000000Z', '-enddate', '20910101000000Z'] });
    expect(failure(check(future))).toBe(`server certificate for ${HOST}: not valid before 2090-01-01T00:00:00.000Z`);
    const { notAfter } = describeCertificate(server.cert);
    expect(failure(check(server, { now: new Date('2100-01-01T00:00:00Z') }))).toBe(
      `server certificate for ${HOST}: expired at ${notAfter}; the CA certificate is not valid now`,
    );
  });

  it('fails a client certificate checked as a server certificate', () => {
    const client = issue(ca, { extensions: 'etcd_v3_ca_client' });
    expect(failure(check(client))).toBe(`server certificate for ${HOST}: extendedKeyUsage lacks serverAuth (needed by a server certificate)`);
  });

  it('fails a serverAuth-only certificate checked as a peer certificate', () => {
    const serverOnly = issue(ca, { extensions: 'etcd_v3_req_server' });
    expect(() => verifyMemberCertificate(check(serverOnly))).not.toThrow();
    expect(failure(check(serverOnly, { kind: 'peer' }))).toBe(`peer certificate for ${HOST}: extendedKeyUsage lacks clientAuth (needed by a peer certificate)`);
  });

  it('lists every problem of the CA certificate passed off as a member certificate', () => {
    const caKeyPub = openssl(['pkey', '-in', join(ca.dir, 'ca.key'), '-pubout']);
    expect(failure(check({ cert: ca.caPem, publicKey: caKeyPub }))).toBe(
      `server certificate for ${HOST}: ` +
        [
          'subject CN is "etcd-signer@1700000000", expected "master-3.example.com"',
          `SAN lacks IP:${IP} (has no IP)`,
          `SAN lacks DNS:${HOST} (has no DNS name)`,
          'extendedKeyUsage is missing',
          'basicConstraints says CA:TRUE',
        ].join('; '),
    );
  });

  it('refuses certificates that do not parse', () => {
    expect(() => verifyMemberCertificate(check({ cert: 'garbage', publicKey: server.publicKey }))).toThrow(
      new CertificateInvalidError('the server certificate does not parse as a PEM RSA certificate'),
    );
    expect(() => verifyMemberCertificate(check(server, { caCertificatePem: '' }))).toThrow(CertificateInvalidError);
  });

  it('validates what it is told to expect', () => {
    expect(() => verifyMemberCertificate(check(server, { expected: { ip: '198.51.100.013', hostname: HOST } }))).toThrow(InvalidInputError);
    expect(() => verifyMemberCertificate(check(server, { expected: { ip: IP, hostname: '-x' } }))).toThrow(InvalidInputError);
  });
});

describe('Function: describeCertificate', () => {
  it('describes an issued certificate', () => {
    const d = describeCertificate(server.cert);
    expect(d.subjectCN).toBe(HOST);
    expect(d.sanIps).toEqual([IP]);
    expect(d.sanDns).toEqual([HOST]);
    expect(d.serial).toBe('1');
    expect(describeCertificate(peer.cert).serial).toBe('2');
    const days = (Date.parse(d.notAfter) - Date.parse(d.notBefore)) / 86_400_000;
    expect(days).toBe(1825);
    expect(d.notBefore).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
  });

  it('throws CertificateInvalidError for something that is not a certificate', () => {
    expect(() => describeCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toThrow(CertificateInvalidError);
  });
});
