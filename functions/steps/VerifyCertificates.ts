// VerifyCertificates: check the new member's certificates with node-forge before they leave the CA
// host: SAN, key usages, chain to the CA, validity, and that each private key matches its certificate.
// Only public material is read from the host; the private keys never leave it. IssueCertificates makes
// these same checks on the answer of the command that issued the certificates (certificatesVerified):
// then this step has nothing left to ask the host.

import { verifyMemberCertificate } from '../certificates/verifyCertificate.ts';
import { CertificateInvalidError } from '../errors.ts';
import { need } from '../cluster/need.ts';
import { runScriptText } from '../hosts/hostScript.ts';
import type { Host } from '../ports.ts';
import type { Step } from '../workflow/step.ts';

const SECTIONS = ['CA', 'SERVER', 'SERVER-PUBLIC-KEY', 'PEER', 'PEER-PUBLIC-KEY'] as const;

/** Splits VerifyCertificates.sh output at its `-----NAME-----` separators. */
export function parseCertificateSections(text: string): Record<(typeof SECTIONS)[number], string> {
  const parts: Record<string, string> = {};
  let current: string | null = null;
  for (const line of text.split('\n')) {
    const header = /^-----(CA|SERVER|SERVER-PUBLIC-KEY|PEER|PEER-PUBLIC-KEY)-----$/.exec(line);
    if (header) {
      current = header[1]!;
      parts[current] = '';
    } else if (current) {
      parts[current] += `${line}\n`;
    }
  }
  for (const s of SECTIONS) if (!parts[s]?.trim()) throw new CertificateInvalidError(`the CA host printed no ${s} section`);
  return parts as Record<(typeof SECTIONS)[number], string>;
}

/** The checks, on what VerifyCertificates.sh (or IssueCertificates.sh with `sections`) printed: CertificateInvalidError when one fails. */
export function checkCertificateSections(text: string, replacement: Host, now: Date): void {
  const s = parseCertificateSections(text);
  const expected = { ip: replacement.ip, hostname: replacement.hostname };
  verifyMemberCertificate({ kind: 'server', certificatePem: s.SERVER, caCertificatePem: s.CA, publicKeyPem: s['SERVER-PUBLIC-KEY'], expected, now });
  verifyMemberCertificate({ kind: 'peer', certificatePem: s.PEER, caCertificatePem: s.CA, publicKeyPem: s['PEER-PUBLIC-KEY'], expected, now });
}

const PASSED = 'SAN, usages, chain, validity, key match';

export const VerifyCertificates: Step = async (context, deps) => {
  const ca = need(context.caHost, 'caHost');
  const replacement = need(context.replacement, 'replacement');
  const checked = context.certificatesVerified;
  if (checked?.hostname === replacement.hostname && checked.ip === replacement.ip) {
    return {
      output: {},
      detail: `server and peer certificates for ${replacement.hostname} (${replacement.ip}) passed in IssueCertificates, with the answer of the command that issued them: ${PASSED}`,
      skipped: true,
    };
  }
  const text = await runScriptText(deps.runner, {
    host: ca,
    script: 'VerifyCertificates',
    args: [replacement.hostname],
  });
  checkCertificateSections(text, replacement, deps.now());
  return { output: {}, detail: `server and peer certificates for ${replacement.hostname} (${replacement.ip}) pass: ${PASSED}` };
};
