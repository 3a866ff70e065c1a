// IssueCertificates (functions/steps/IssueCertificates.ts): on the CA host, IssueCertificates.sh
// HOSTNAME IP issues the new member's server and peer certificates, first proving the host reaches the
// artifact store (it uploads its CA certificate to a probe key, whose URL goes on stdin) and, where a
// CA backup is configured, restoring the CA from it (its download URL on stdin too). With `sections` the
// same command prints the certificates' public material before its result, and the step makes
// VerifyCertificates' checks on it (certificatesVerified): VerifyCertificates then asks the host nothing.

import { describe, expect, it } from 'vitest';
import { ArtifactStoreError, CertificateInvalidError } from '../../../functions/errors.ts';
import { IssueCertificates } from '../../../functions/steps/IssueCertificates.ts';
import { VerifyCertificates } from '../../../functions/steps/VerifyCertificates.ts';
import { certificateSections, certificatesFor, type IssuedCertificate } from '../../support/certificates.ts';
import {
  after,
  confirmedContext,
  exitCases,
  expectSecretsOnlyOnStdin,
  failure,
  HOST_WORK_RETRIES,
  HOSTS,
  retried,
  RUN_ID,
  SPARE,
  stepWorld,
  type StepWorld,
} from '../../support/stepHarness.ts';

const PROBE = `runs/${RUN_ID}/ca-reachability-${HOSTS['master-0'].hostname}.crt`;
const PREFIX = `/etc/etcd/generated_certs/etcd-${SPARE.hostname}`;
/** The etcd.conf IssueCertificates.sh copies beside the certificates and prints (base64) in its result. */
const COPIED = 'ETCD_NAME=master-0.example.test\nETCD_DATA_DIR=/var/lib/etcd/\n';
const ETCD_CONF = Buffer.from(COPIED, 'utf8').toString('base64');
const copiedEtcdConf = { hostname: SPARE.hostname, text: COPIED };

/** The CA host: issues what is missing (both the first time), uploading the probe when it can. */
function caHost(world: StepWorld, options: { probeArrives?: boolean; restoredCa?: boolean } = {}): StepWorld {
  let issued = false;
  world.runner.on('IssueCertificates', () => {
    if (options.probeArrives !== false) world.artifacts.put(PROBE, 1200);
    const result = { prefix: PREFIX, issued: issued ? '' : 'server peer', restoredCa: options.restoredCa === true, etcdConf: ETCD_CONF };
    issued = true;
    return { stdout: result };
  });
  return world;
}

const certs = certificatesFor(SPARE);

/** What IssueCertificates.sh prints with `sections` (lib/certificates.sh), then its result line. */
function withSections(world: StepWorld, peerCertificate: () => IssuedCertificate): StepWorld {
  world.runner.on('IssueCertificates', () => {
    world.artifacts.put(PROBE, 1200);
    const text = certificateSections(certs, { peer: peerCertificate() });
    return { stdout: `${text}${JSON.stringify({ prefix: PREFIX, issued: 'server peer', restoredCa: false, etcdConf: ETCD_CONF })}\n` };
  });
  return world;
}

describe('Step: IssueCertificates', () => {
  it("checks the certificates on the issuing command's answer, as VerifyCertificates would: that step then sends nothing", async () => {
    const world = withSections(stepWorld(), () => certs.peer);
    const deps = { ...world.deps, now: () => new Date() };
    const result = await IssueCertificates(confirmedContext(), deps);
    expect(result.output).toEqual({ certificatesVerified: { hostname: SPARE.hostname, ip: SPARE.ip }, certificatesChecked: true, copiedEtcdConf });
    const verify = await VerifyCertificates(after(confirmedContext(), result), deps);
    expect(verify).toMatchObject({
      skipped: true,
      detail: expect.stringMatching(/passed in IssueCertificates, with the answer of the command that issued them/),
    });
    expect(world.runner.sent()).toEqual([`IssueCertificates@master-0 ${SPARE.hostname} ${SPARE.ip} sections`]);
  });

  it('a peer certificate for another address in its answer: CertificateInvalidError, which no rule retries', async () => {
    const world = withSections(stepWorld(), () => certs.wrongIp);
    const error = await failure(IssueCertificates(confirmedContext(), { ...world.deps, now: () => new Date() }));
    expect(error).toBeInstanceOf(CertificateInvalidError);
    expect(error.message).toBe(`peer certificate for ${SPARE.hostname}: SAN lacks IP:${SPARE.ip} (has IP:198.51.100.99)`);
    expect(retried('IssueCertificates', error)).toBe(false);
  });

  it('certificates checked for another replacement do not spare VerifyCertificates its own look', async () => {
    const world = stepWorld();
    const context = { ...confirmedContext(), certificatesVerified: { hostname: 'etcd-spare-9.example.test', ip: SPARE.ip } };
    world.runner.exits('VerifyCertificates', 1, 'missing');
    await failure(VerifyCertificates(context, world.deps));
    expect(world.runner.sent()).toEqual([`VerifyCertificates@master-0 ${SPARE.hostname}`]);
  });

  it("issues the certificates on the CA host for the new host's name and address; the probe URL only on stdin", async () => {
    const world = caHost(stepWorld());
    const result = await IssueCertificates(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual([`IssueCertificates@master-0 ${SPARE.hostname} ${SPARE.ip} sections`]);
    expect(world.runner.requests[0]?.secrets).toEqual({ PROBE_UPLOAD_URL: expect.stringContaining(PROBE) });
    expectSecretsOnlyOnStdin(world);
    // The etcd.conf it copied, for ConfigureNewMember to rewrite without reading it again.
    expect(result).toEqual({
      output: { certificatesChecked: false, copiedEtcdConf },
      detail: `issued server and peer certificate(s) in ${PREFIX} on master-0`,
    });
  });

  it('a second run finds valid certificates: skipped', async () => {
    const world = caHost(stepWorld());
    const first = await IssueCertificates(confirmedContext(), world.deps);
    const second = await IssueCertificates(after(confirmedContext(), first), world.deps);
    expect(second).toEqual({
      output: { certificatesChecked: false, copiedEtcdConf },
      detail: `valid certificates already in ${PREFIX} on master-0`,
      skipped: true,
    });
    expect(world.runner.requests).toHaveLength(2);
  });

  it('with a CA backup configured, its download URL goes on stdin, and a restored CA is no skip', async () => {
    const world = caHost(stepWorld(), { restoredCa: true });
    const context = confirmedContext({ options: { graceSeconds: 0, learner: 'auto', caBackupKey: 'ca/etcd-ca-backup.tgz' } });
    await IssueCertificates(context, world.deps);
    const second = await IssueCertificates(context, world.deps);
    expect(world.runner.requests[0]?.secrets).toEqual({
      PROBE_UPLOAD_URL: expect.stringContaining(PROBE),
      CA_BACKUP_URL: expect.stringContaining('ca/etcd-ca-backup.tgz'),
    });
    expect(world.artifacts.calls).toContain('GET ca/etcd-ca-backup.tgz 900s');
    expectSecretsOnlyOnStdin(world);
    expect(second.skipped).toBeUndefined();
    expect(second.detail).toMatch(
      /^restored \/etc\/etcd\/ca on master-0 from ca\/etcd-ca-backup\.tgz \(the CA the cluster trusts\); valid certificates already/,
    );
  });

  it('a probe that never reached the store: ArtifactStoreError (retried)', async () => {
    const world = caHost(stepWorld(), { probeArrives: false });
    const error = await failure(IssueCertificates(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(ArtifactStoreError);
    expect(error.message).toBe(`master-0 reported its upload to the artifact store, but ${PROBE} is not there`);
    expect(retried('IssueCertificates', error)).toBe(true);
  });

  it.each(exitCases(HOST_WORK_RETRIES))('IssueCertificates.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = stepWorld();
    world.runner.exits('IssueCertificates', code, 'the artifact store is out of reach');
    const error = await failure(IssueCertificates(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(error.message).toContain('master-0');
    expect(retried('IssueCertificates', error)).toBe(isRetried);
  });
});
