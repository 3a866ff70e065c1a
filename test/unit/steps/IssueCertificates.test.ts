// IssueCertificates (functions/steps/IssueCertificates.ts): on the CA host, IssueCertificates.sh
// HOSTNAME IP issues the new member's server and peer certificates, first proving the host reaches the
// artifact store (it uploads its CA certificate to a probe key, whose URL goes on stdin) and, where a
// CA backup is configured, restoring the CA from it (its download URL on stdin too).

import { describe, expect, it } from 'vitest';
import { ArtifactStoreError } from '../../../functions/errors.ts';
import { IssueCertificates } from '../../../functions/steps/IssueCertificates.ts';
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

/** The CA host: issues what is missing (both the first time), uploading the probe when it can. */
function caHost(world: StepWorld, options: { probeArrives?: boolean; restoredCa?: boolean } = {}): StepWorld {
  let issued = false;
  world.runner.on('IssueCertificates', () => {
    if (options.probeArrives !== false) world.artifacts.put(PROBE, 1200);
    const result = { prefix: PREFIX, issued: issued ? '' : 'server peer', restoredCa: options.restoredCa === true };
    issued = true;
    return { stdout: result };
  });
  return world;
}

describe('Step: IssueCertificates', () => {
  it("issues the certificates on the CA host for the new host's name and address; the probe URL only on stdin", async () => {
    const world = caHost(stepWorld());
    const result = await IssueCertificates(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual([`IssueCertificates@master-0 ${SPARE.hostname} ${SPARE.ip}`]);
    expect(world.runner.requests[0]?.secrets).toEqual({ PROBE_UPLOAD_URL: expect.stringContaining(PROBE) });
    expectSecretsOnlyOnStdin(world);
    expect(result).toEqual({ output: {}, detail: `issued server and peer certificate(s) in ${PREFIX} on master-0` });
  });

  it('a second run finds valid certificates: skipped', async () => {
    const world = caHost(stepWorld());
    const first = await IssueCertificates(confirmedContext(), world.deps);
    const second = await IssueCertificates(after(confirmedContext(), first), world.deps);
    expect(second).toEqual({ output: {}, detail: `valid certificates already in ${PREFIX} on master-0`, skipped: true });
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
