// VerifyCertificates (functions/steps/VerifyCertificates.ts): VerifyCertificates.sh HOSTNAME on the CA
// host prints the CA certificate, the new member's server and peer certificates and their public keys
// (never a private key); the step checks both certificates for the new host's SAN, usages, chain,
// validity and key match. Real certificates, issued as the runbook issues them (support/certificates.ts).

import { describe, expect, it } from 'vitest';
import { CertificateInvalidError } from '../../../functions/errors.ts';
import { VerifyCertificates } from '../../../functions/steps/VerifyCertificates.ts';
import { certificateSections, certificatesFor } from '../../support/certificates.ts';
import { confirmedContext, exitCases, failure, retried, SPARE, stepWorld, TRANSIENT_RETRIES, type StepWorld } from '../../support/stepHarness.ts';

const certs = certificatesFor(SPARE);

/** The step's deps, their clock the real one: the certificates were issued just now. */
const now = (world: StepWorld) => ({ ...world.deps, now: () => new Date() });

/** VerifyCertificates.sh's output: each part under its `-----NAME-----` line. */
const sections = (parts: Parameters<typeof certificateSections>[1] = {}) => certificateSections(certs, parts);

describe('Step: VerifyCertificates', () => {
  it("reads the new member's certificates on the CA host and passes them", async () => {
    const world = stepWorld();
    world.runner.on('VerifyCertificates', { stdout: sections() });
    const result = await VerifyCertificates(confirmedContext(), now(world));
    expect(world.runner.sent()).toEqual([`VerifyCertificates@master-0 ${SPARE.hostname}`]);
    expect(world.runner.requests[0]?.secrets).toBeUndefined();
    expect(result).toEqual({
      output: {},
      detail: `server and peer certificates for ${SPARE.hostname} (${SPARE.ip}) pass: SAN, usages, chain, validity, key match`,
    });
  });

  it('a peer certificate for another address: CertificateInvalidError, which no rule retries', async () => {
    const world = stepWorld();
    world.runner.on('VerifyCertificates', { stdout: sections({ peer: certs.wrongIp }) });
    const error = await failure(VerifyCertificates(confirmedContext(), now(world)));
    expect(error).toBeInstanceOf(CertificateInvalidError);
    expect(error.message).toBe(`peer certificate for ${SPARE.hostname}: SAN lacks IP:${SPARE.ip} (has IP:198.51.100.99)`);
    expect(retried('VerifyCertificates', error)).toBe(false);
  });

  it('a certificate whose key is not the one on the host: CertificateInvalidError', async () => {
    const world = stepWorld();
    world.runner.on('VerifyCertificates', { stdout: sections({ server: { cert: certs.server.cert, publicKey: certs.peer.publicKey } }) });
    const error = await failure(VerifyCertificates(confirmedContext(), now(world)));
    expect(error.message).toMatch(/^server certificate for .*: the certificate's public key is not the key generated on the host$/);
  });

  it("checked as of the step's clock: expired certificates fail", async () => {
    const world = stepWorld();
    world.runner.on('VerifyCertificates', { stdout: sections() });
    const error = await failure(VerifyCertificates(confirmedContext(), { ...world.deps, now: () => new Date('2100-01-01T00:00:00Z') }));
    expect(error).toBeInstanceOf(CertificateInvalidError);
    expect(error.message).toMatch(/expired at/);
  });

  it("a section missing from the host's output: CertificateInvalidError naming it", async () => {
    const world = stepWorld();
    world.runner.on('VerifyCertificates', { stdout: sections({ omit: 'PEER-PUBLIC-KEY' }) });
    const error = await failure(VerifyCertificates(confirmedContext(), now(world)));
    expect(error).toBeInstanceOf(CertificateInvalidError);
    expect(error.message).toBe('the CA host printed no PEER-PUBLIC-KEY section');
  });

  it.each(exitCases(TRANSIENT_RETRIES))('VerifyCertificates.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = stepWorld();
    world.runner.exits('VerifyCertificates', code, 'peer.crt is missing');
    const error = await failure(VerifyCertificates(confirmedContext(), now(world)));
    expect(error.name).toBe(name);
    expect(retried('VerifyCertificates', error)).toBe(isRetried);
  });
});
