// InstallEtcd (functions/steps/InstallEtcd.ts): on the new host, `prepare CLUSTER_ID` stops an etcd
// from an earlier life and uploads its data (the URL on stdin); the step checks the stored size before
// `wipe MANIFEST` empties the directory; then `install VERSION` installs exactly the members' etcd (or
// the one the request names). A learner needs 3.4; a host whose data cannot leave it (exit 5) is refused.

import { describe, expect, it } from 'vitest';
import { ArtifactStoreError, RefusedError } from '../../../functions/errors.ts';
import { InstallEtcd } from '../../../functions/steps/InstallEtcd.ts';
import { FAKE_CLUSTER_ID, fakeMember } from '../../support/fakeCluster.ts';
import {
  after,
  confirmedContext,
  exitCases,
  expectSecretsOnlyOnStdin,
  failure,
  HOST_WORK_RETRIES,
  HOSTS,
  refused,
  retried,
  RUN_ID,
  SPARE,
  stepWorld,
  type StepWorld,
} from '../../support/stepHarness.ts';

const KEY = `runs/${RUN_ID}/replacement-prior-data-${SPARE.hostname}.tgz`;
const CLEAN = { found: [] as string[], stopped: false, data: { empty: true } };
const INSTALLED = { version: '3.4.27', package: 'etcd-3.4.27-1.el7', action: 'install' };

/**
 * The new host as InstallEtcd.sh answers: `prepare CLUSTER_ID VERSION` installs at once when there was no
 * data; without an upload URL, data found is reported not backed up ({"empty":false,"backedUp":false}).
 */
function newHost(
  world: StepWorld,
  prepared: { found: string[]; stopped: boolean; data: { empty: boolean; bytes?: number; manifest?: string; sha256?: string } } = CLEAN,
  installed: object = INSTALLED,
): StepWorld {
  world.runner.on(
    'InstallEtcd',
    (r) => ({
      stdout:
        prepared.data.empty && r.args[2]
          ? { ...prepared, installed }
          : r.secrets?.['UPLOAD_URL']
            ? prepared
            : { ...prepared, data: { empty: prepared.data.empty, ...(prepared.data.empty ? {} : { backedUp: false }) } },
    }),
    { args: ['prepare'] },
  );
  world.runner.on('InstallEtcd', { stdout: { wiped: true } }, { args: ['wipe'] });
  world.runner.on('InstallEtcd', { stdout: installed }, { args: ['install'] });
  return world;
}

describe('Step: InstallEtcd', () => {
  it("prepares the host and, with no data there, installs the members' version in the same command: no upload URL, so no one-time key on SSM", async () => {
    const world = newHost(stepWorld());
    const result = await InstallEtcd(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual([`InstallEtcd@etcd-spare-0 prepare ${FAKE_CLUSTER_ID} 3.4.27 ports`]);
    expect(world.runner.requests.map((r) => r.timeoutSeconds)).toEqual([600]);
    expect(world.runner.requests[0]?.secrets).toBeUndefined();
    expect(result.output).toEqual({ newMemberVersion: '3.4.27' });
    expect(result.detail).toBe('etcd-spare-0: etcd 3.4.27 installed etcd-3.4.27-1.el7');
  });

  it("opens 2379/2380 in the host's firewall in its first command (`ports`: OpenEtcdPorts' host half) and says so", async () => {
    const world = stepWorld();
    world.runner.on('InstallEtcd', { stdout: { ...CLEAN, installed: INSTALLED, firewall: { changed: true } } }, { args: ['prepare'] });
    const result = await InstallEtcd(confirmedContext(), world.deps);
    expect(world.runner.requests[0]?.args.at(-1)).toBe('ports');
    expect(result.detail).toBe('etcd-spare-0: etcd 3.4.27 installed etcd-3.4.27-1.el7; OS_FIREWALL_ALLOW opened 2379/2380');
    world.runner.on('InstallEtcd', { stdout: { ...CLEAN, installed: { ...INSTALLED, action: 'none' }, firewall: { changed: true } } }, { args: ['prepare'] });
    expect((await InstallEtcd(confirmedContext(), world.deps)).skipped).toBeUndefined();
  });

  it('a second run finds the version installed and nothing to prepare, and says so', async () => {
    const world = newHost(stepWorld());
    const first = await InstallEtcd(confirmedContext(), world.deps);
    newHost(world, CLEAN, { ...INSTALLED, action: 'none' });
    const second = await InstallEtcd(after(confirmedContext(), first), world.deps);
    expect(second.detail).toBe('etcd-spare-0: etcd 3.4.27 was already installed');
    expect(second.skipped).toBe(true);
    expect(first.skipped).toBeUndefined();
    expect(second.output).toEqual(first.output);
    expect(world.runner.sent('InstallEtcd')).toHaveLength(2);
  });

  it('data from an earlier life: found by a prepare without a URL, prepared again with one (on stdin), stored whole, then wiped by its manifest, and named', async () => {
    const world = newHost(stepWorld(), {
      found: ['etcd.service active'],
      stopped: true,
      data: { empty: false, bytes: 5000, sha256: 'aa'.repeat(32), manifest: 'bWFuaWZlc3Q=' },
    });
    world.artifacts.put(KEY, 5000);
    const result = await InstallEtcd(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual([
      `InstallEtcd@etcd-spare-0 prepare ${FAKE_CLUSTER_ID} 3.4.27 ports`,
      `InstallEtcd@etcd-spare-0 prepare ${FAKE_CLUSTER_ID} 3.4.27`,
      'InstallEtcd@etcd-spare-0 wipe bWFuaWZlc3Q=',
      'InstallEtcd@etcd-spare-0 install 3.4.27',
    ]);
    expect(world.runner.requests.map((r) => r.secrets)).toEqual([undefined, { UPLOAD_URL: expect.stringContaining(KEY) }, undefined, undefined]);
    expectSecretsOnlyOnStdin(world);
    expect(result.detail).toBe(
      `etcd-spare-0: etcd 3.4.27 installed etcd-3.4.27-1.el7; found etcd.service active; its earlier /var/lib/etcd (5000 bytes) is stored at s3://unit-artifacts/${KEY} and the directory emptied (stopped and disabled)`,
    );
  });

  it('earlier data stored incompletely: ArtifactStoreError, nothing wiped or installed', async () => {
    const world = newHost(stepWorld(), { found: [], stopped: true, data: { empty: false, bytes: 5000, manifest: 'bWFuaWZlc3Q=' } });
    world.artifacts.put(KEY, 10);
    const error = await failure(InstallEtcd(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(ArtifactStoreError);
    expect(world.runner.sent()).toEqual([
      `InstallEtcd@etcd-spare-0 prepare ${FAKE_CLUSTER_ID} 3.4.27 ports`,
      `InstallEtcd@etcd-spare-0 prepare ${FAKE_CLUSTER_ID} 3.4.27`,
    ]);
  });

  it('prepare exit 5 (the earlier data cannot leave the host): RefusedError, nothing wiped or installed', async () => {
    const world = newHost(stepWorld());
    world.runner.exits('InstallEtcd', 5, 'the artifact store is out of reach', { args: ['prepare'] });
    const error = await failure(InstallEtcd(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/^etcd-spare-0 holds etcd data from an earlier life that cannot be backed up off the host .* it is left untouched/);
    expect(refused('InstallEtcd', error)).toBe(true);
    expect(world.runner.requests).toHaveLength(1);
  });

  it('another version than asked for after the install: RefusedError', async () => {
    const world = newHost(stepWorld(), CLEAN, { ...INSTALLED, version: '3.3.11', package: 'etcd-3.3.11-2.el7' });
    const error = await failure(InstallEtcd(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toBe('etcd-spare-0 runs etcd 3.3.11 after installing etcd-3.4.27 (etcd-3.3.11-2.el7); the members run 3.4.27');
  });

  it('a learner on an etcd before 3.4: refused before anything is sent', async () => {
    const world = newHost(stepWorld());
    const error = await failure(InstallEtcd(confirmedContext({ options: { graceSeconds: 0, learner: 'auto', etcdVersion: '3.3.11' } }), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/would run etcd 3\.3\.11, but it joins as a learner, which needs etcd 3\.4 or later/);
    expect(world.runner.requests).toEqual([]);
  });

  it('installs the version the request names, saying the members run another', async () => {
    const world = newHost(stepWorld(), CLEAN, { version: '3.5.17', package: 'etcd-3.5.17-1.el7', action: 'install' });
    const result = await InstallEtcd(confirmedContext({ options: { graceSeconds: 0, learner: 'auto', etcdVersion: '3.5.17' } }), world.deps);
    expect(world.runner.sent('InstallEtcd')).toEqual([`InstallEtcd@etcd-spare-0 prepare ${FAKE_CLUSTER_ID} 3.5.17 ports`]);
    expect(result.detail).toBe('etcd-spare-0: etcd 3.5.17 (asked for; the members run 3.4.27) installed etcd-3.5.17-1.el7');
  });

  it("without the cluster's identity in its context, asks the survivors for it (the oldest version wins)", async () => {
    const world = newHost(
      stepWorld([
        fakeMember(0xa0, 'master-0', HOSTS['master-0'].ip, true, { version: '3.4.27' }),
        fakeMember(0xa1, 'master-1', HOSTS['master-1'].ip, true, { version: '3.4.22' }),
      ]),
      CLEAN,
      { ...INSTALLED, version: '3.4.22' },
    );
    await InstallEtcd(confirmedContext({ clusterId: undefined, clusterVersion: undefined }), world.deps);
    expect(world.cluster.calls).toEqual([`status https://${HOSTS['master-0'].ip}:2379,https://${HOSTS['master-1'].ip}:2379`]);
    expect(world.runner.sent()).toEqual([`InstallEtcd@etcd-spare-0 prepare ${FAKE_CLUSTER_ID} 3.4.22 ports`]);
  });

  it.each(exitCases(HOST_WORK_RETRIES))('prepare exit %i is %s (retried: %s), nothing installed', async (code, name, isRetried) => {
    const world = newHost(stepWorld());
    world.runner.exits('InstallEtcd', code, 'a member of this cluster runs here', { args: ['prepare'] });
    const error = await failure(InstallEtcd(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('InstallEtcd', error)).toBe(isRetried);
    expect(world.runner.sent('InstallEtcd')).toHaveLength(1);
  });

  it.each(exitCases(HOST_WORK_RETRIES))('install exit %i, on its own after a wipe, is %s (retried: %s)', async (code, name, isRetried) => {
    const world = newHost(stepWorld(), { found: [], stopped: true, data: { empty: false, bytes: 5000, manifest: 'bWFuaWZlc3Q=' } });
    world.artifacts.put(KEY, 5000);
    world.runner.exits('InstallEtcd', code, 'etcd-3.4.27 cannot be installed', { args: ['install'] });
    const error = await failure(InstallEtcd(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('InstallEtcd', error)).toBe(isRetried);
  });
});
