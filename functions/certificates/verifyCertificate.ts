// Checks an etcd member certificate issued on the CA host before it leaves that host. The host sends the
// certificate and the PUBLIC key of the private key it generated (`openssl pkey -pubout`); the key stays there.

import forge from 'node-forge';
import { CertificateInvalidError, InvalidInputError } from '../errors.ts';
import { hostname as validHostname, ipv4 } from '../validate.ts';

type Certificate = forge.pki.Certificate;

interface AltName {
  type: number;
  value?: string;
  ip?: string;
}

/** Facts about a certificate worth recording (no key material). Dates are ISO 8601. */
export interface CertificateDescription {
  subjectCN: string;
  sanIps: string[];
  sanDns: string[];
  notBefore: string;
  notAfter: string;
  /** Lowercase hex without leading zeros. */
  serial: string;
}

/** What verifyMemberCertificate checks. */
export interface MemberCertificateCheck {
  kind: 'server' | 'peer';
  certificatePem: string;
  caCertificatePem: string;
  publicKeyPem: string;
  expected: { ip: string; hostname: string };
  now?: Date;
}

function parseCertificate(what: string, pem: string): Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (error) {
    throw new CertificateInvalidError(`${what} does not parse as a PEM RSA certificate`, { cause: error });
  }
}

function extension<T>(cert: Certificate, name: string): (T & { critical?: boolean }) | undefined {
  return cert.getExtension(name) as (T & { critical?: boolean }) | undefined;
}

function altNames(cert: Certificate): { ips: string[]; dns: string[] } {
  const names = extension<{ altNames?: AltName[] }>(cert, 'subjectAltName')?.altNames ?? [];
  return {
    ips: names.flatMap((n) => (n.type === 7 && n.ip ? [n.ip] : [])),
    dns: names.flatMap((n) => (n.type === 2 && n.value ? [n.value] : [])),
  };
}

function commonName(cert: Certificate): string {
  const field = cert.subject.getField('CN') as { value?: unknown } | null;
  return typeof field?.value === 'string' ? field.value : '';
}

function dn(attributes: forge.pki.CertificateField[]): string {
  return attributes.map((a) => `${a.shortName ?? a.name ?? a.type ?? '?'}=${String(a.value)}`).join(', ');
}

/** Record-friendly facts of a certificate: subject CN, SANs, validity, serial. */
export function describeCertificate(pem: string): CertificateDescription {
  const cert = parseCertificate('certificate', pem);
  const { ips, dns } = altNames(cert);
  return {
    subjectCN: commonName(cert),
    sanIps: ips,
    sanDns: dns,
    notBefore: cert.validity.notBefore.toISOString(),
    notAfter: cert.validity.notAfter.toISOString(),
    serial: cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''),
  };
}

function publicKeyProblems(cert: Certificate, publicKeyPem: string): string[] {
  let hostKey: forge.pki.rsa.PublicKey;
  try {
    hostKey = forge.pki.publicKeyFromPem(publicKeyPem);
  } catch {
    return ['the public key from the host does not parse as a PEM RSA public key'];
  }
  const certKey = cert.publicKey as Partial<forge.pki.rsa.PublicKey>;
  if (!certKey.n || !certKey.e) return ['the certificate does not hold an RSA public key'];
  if (!certKey.n.equals(hostKey.n) || !certKey.e.equals(hostKey.e)) {
    return ["the certificate's public key is not the key generated on the host"];
  }
  return [];
}

function signatureProblems(cert: Certificate, ca: Certificate): string[] {
  if (!ca.issued(cert)) return [`issuer "${dn(cert.issuer.attributes)}" is not the CA's subject "${dn(ca.subject.attributes)}"`];
  try {
    if (ca.verify(cert)) return [];
  } catch {
    // forge throws for unsupported algorithms and malformed signatures; both mean "not verified".
  }
  return ["the signature does not verify with the CA's key"];
}

function usageProblems(cert: Certificate, kind: 'server' | 'peer'): string[] {
  const problems: string[] = [];
  const keyUsage = extension<{ digitalSignature?: boolean; keyEncipherment?: boolean }>(cert, 'keyUsage');
  if (!keyUsage) problems.push('keyUsage is missing');
  else {
    if (!keyUsage.digitalSignature) problems.push('keyUsage lacks digitalSignature');
    if (!keyUsage.keyEncipherment) problems.push('keyUsage lacks keyEncipherment');
  }
  const extKeyUsage = extension<{ serverAuth?: boolean; clientAuth?: boolean }>(cert, 'extKeyUsage');
  if (!extKeyUsage) problems.push('extendedKeyUsage is missing');
  else {
    if (!extKeyUsage.serverAuth) problems.push(`extendedKeyUsage lacks serverAuth (needed by a ${kind} certificate)`);
    if (kind === 'peer' && !extKeyUsage.clientAuth) problems.push('extendedKeyUsage lacks clientAuth (needed by a peer certificate)');
  }
  const basic = extension<{ cA?: boolean }>(cert, 'basicConstraints');
  if (!basic) problems.push('basicConstraints is missing');
  else if (basic.cA) problems.push('basicConstraints says CA:TRUE');
  return problems;
}

/** Throws CertificateInvalidError listing every problem of an issued etcd server or peer certificate. */
export function verifyMemberCertificate(input: MemberCertificateCheck): void {
  if (input.kind !== 'server' && input.kind !== 'peer') throw new InvalidInputError('kind', 'must be server or peer');
  const ip = ipv4('expected.ip', input.expected.ip);
  const host = validHostname('expected.hostname', input.expected.hostname);
  const now = input.now ?? new Date();
  const cert = parseCertificate(`the ${input.kind} certificate`, input.certificatePem);
  const ca = parseCertificate('the CA certificate', input.caCertificatePem);

  const problems: string[] = [];
  const cn = commonName(cert);
  if (cn !== host) problems.push(`subject CN is "${cn}", expected "${host}"`);
  const san = altNames(cert);
  if (!san.ips.includes(ip)) problems.push(`SAN lacks IP:${ip} (has ${san.ips.map((a) => `IP:${a}`).join(', ') || 'no IP'})`);
  if (!san.dns.some((d) => d.toLowerCase() === host)) {
    problems.push(`SAN lacks DNS:${host} (has ${san.dns.map((d) => `DNS:${d}`).join(', ') || 'no DNS name'})`);
  }
  problems.push(...usageProblems(cert, input.kind));
  problems.push(...signatureProblems(cert, ca));
  if (now < cert.validity.notBefore) problems.push(`not valid before ${cert.validity.notBefore.toISOString()}`);
  if (now > cert.validity.notAfter) problems.push(`expired at ${cert.validity.notAfter.toISOString()}`);
  if (now > ca.validity.notAfter || now < ca.validity.notBefore) problems.push('the CA certificate is not valid now');
  problems.push(...publicKeyProblems(cert, input.publicKeyPem));

  if (problems.length > 0) {
    throw new CertificateInvalidError(`${input.kind} certificate for ${host}: ${problems.join('; ')}`);
  }
}
