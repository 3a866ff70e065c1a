// ConfigureNewMember (functions/steps/ConfigureNewMember.ts): on the CA host, the etcd.conf copied
// beside the new member's certificates is read (ReadHostFile), rewritten for the new member with
// ETCD_INITIAL_CLUSTER as `member add` will print it and checked; ConfigureNewMember.sh HOSTNAME IP
// EXPECTED_SHA256 CONTENT_BASE64 writes it back only over the content read (lib/hostFile.sh), then
// packs and uploads the bundle (its URL on stdin), in one command; the step checks the stored size.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readEtcdConf } from '../../../functions/config/etcdConf.ts';
import { ArtifactStoreError, ConfigEditError, InvalidInputError, RefusedError } from '../../../functions/errors.ts';
import { ConfigureNewMember } from '../../../functions/steps/ConfigureNewMember.ts';
import {
  after,
  confirmedContext,
  exitCases,
  expectSecretsOnlyOnStdin,
  failure,
  HOST_WORK_RETRIES,
  retried,
  RUN_ID,
  SPARE,
  stepWorld,
  type StepWorld,
} from '../../support/stepHarness.ts';

/** master-0's etcd.conf as IssueCertificates copies it beside the new member's certificates. */
const COPIED = readFileSync(new URL('../../../sandbox/templates/etcd.conf', import.meta.url), 'utf8');
const CONF = `/etc/etcd/generated_certs/etcd-${SPARE.hostname}/etcd.conf`;
const KEY = `runs/${RUN_ID}/bundle-${SPARE.hostname}.tgz`;
const INITIAL_CLUSTER =
  'master-0.example.test=https://198.51.100.2:2380,master-1.example.test=https://198.51.100.3:2380,etcd-spare-0.example.test=https://198.51.100.9:2380';

/** The list RemoveFailedMember leaves once master-2 is removed (membersAfterRemoval). */
const LEFT = (['master-0', 'master-1'] as const).map((host, i) => ({
  id: `00000000000000a${i}`,
  name: `${host}.example.test`,
  peerURLs: [`https://198.51.100.${2 + i}:2380`],
  clientURLs: [`https://198.51.100.${2 + i}:2379`],
  isLearner: false,
}));

function caHost(world: StepWorld, storedBytes = 8192): StepWorld {
  world.runner.putFile('master-0', CONF, COPIED);
  world.runner.on('ConfigureNewMember', () => {
    world.artifacts.put(KEY, storedBytes);
    return { stdout: { bytes: 8192, sha256: '12'.repeat(32) } };
  });
  return world;
}

describe('Step: ConfigureNewMember', () => {
  it('rewrites the copied etcd.conf for the new member, then packs and stores the bundle; the URL only on stdin', async () => {
    const world = caHost(stepWorld());
    const result = await ConfigureNewMember(confirmedContext(), world.deps);
    expect(world.runner.sent().map((line) => line.split(' ').slice(0, 3).join(' '))).toEqual([
      `ReadHostFile@master-0 ${CONF}`,
      `ConfigureNewMember@master-0 ${SPARE.hostname} ${SPARE.ip}`,
    ]);
    expect(world.runner.of('ConfigureNewMember')[0]?.args).toHaveLength(4); // the write's sha256 and content
    expect(world.runner.takeRestartMarker('master-0', CONF)).toBe(false); // nothing runs on it yet
    expect(world.runner.of('ConfigureNewMember')[0]?.secrets).toEqual({ UPLOAD_URL: expect.stringContaining(KEY) });
    expectSecretsOnlyOnStdin(world);
    const written = readEtcdConf(world.runner.file('master-0', CONF)!);
    expect(
      Object.fromEntries(
        ['ETCD_NAME', 'ETCD_INITIAL_CLUSTER', 'ETCD_INITIAL_CLUSTER_STATE', 'ETCD_LISTEN_PEER_URLS', 'ETCD_ADVERTISE_CLIENT_URLS'].map((k) => [
          k,
          written.get(k),
        ]),
      ),
    ).toEqual({
      ETCD_NAME: SPARE.hostname,
      ETCD_INITIAL_CLUSTER: INITIAL_CLUSTER,
      ETCD_INITIAL_CLUSTER_STATE: 'existing',
      ETCD_LISTEN_PEER_URLS: `https://${SPARE.ip}:2380`,
      ETCD_ADVERTISE_CLIENT_URLS: `https://${SPARE.ip}:2379`,
    });
    expect(result.output).toEqual({ bundleKey: KEY, initialCluster: INITIAL_CLUSTER });
    expect(result.detail).toBe(`etcd.conf for ${SPARE.hostname} written (ETCD_INITIAL_CLUSTER=${INITIAL_CLUSTER}); bundle of 8192 bytes stored`);
  });

  it('takes the member list RemoveFailedMember left (membersAfterRemoval) instead of reading it: ETCD_INITIAL_CLUSTER from that list', async () => {
    const world = caHost(stepWorld());
    const listed = (n: number, ip: string) => ({
      id: `00000000000000a${n}`,
      name: `master-${n}.example.test`,
      peerURLs: [`https://${ip}:2380`],
      clientURLs: [`https://${ip}:2379`],
      isLearner: false,
    });
    // Another list than the cluster's (master-1 only) shows which one the step used.
    const context = confirmedContext({ membersAfterRemoval: [listed(1, '198.51.100.3')] });
    const result = await ConfigureNewMember(context, world.deps);
    expect(world.cluster.calls).toEqual([]);
    expect(result.output).toEqual({
      bundleKey: KEY,
      initialCluster: 'master-1.example.test=https://198.51.100.3:2380,etcd-spare-0.example.test=https://198.51.100.9:2380',
    });
    const read = await ConfigureNewMember(confirmedContext(), caHost(stepWorld()).deps);
    expect(read.output).toEqual({ bundleKey: KEY, initialCluster: INITIAL_CLUSTER });
  });

  it('a second run finds etcd.conf already right, leaves it, and stores the bundle again', async () => {
    const world = caHost(stepWorld());
    const first = await ConfigureNewMember(confirmedContext(), world.deps);
    const written = world.runner.file('master-0', CONF);
    const second = await ConfigureNewMember(after(confirmedContext(), first), world.deps);
    expect(world.runner.file('master-0', CONF)).toBe(written);
    expect(second.detail).toMatch(/^etcd.conf for etcd-spare-0.example.test already right/);
    expect(second.output).toEqual(first.output);
    expect(world.runner.sent('ConfigureNewMember')).toHaveLength(2);
  });

  it('no copied etcd.conf on the CA host: ConfigEditError, nothing packed', async () => {
    const world = stepWorld();
    const error = await failure(ConfigureNewMember(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(ConfigEditError);
    expect(error.message).toBe(`${CONF} is missing on master-0; IssueCertificates copies it there`);
    expect(world.runner.sent('ConfigureNewMember')).toEqual([]);
  });

  it('with the etcd.conf IssueCertificates copied (copiedEtcdConf) and the list RemoveFailedMember left: the write and the bundle are its only command, and the copy leaves the state', async () => {
    const world = caHost(stepWorld());
    const held = confirmedContext();
    const viaRead = await ConfigureNewMember(held, caHost(stepWorld()).deps);
    const context = confirmedContext({
      copiedEtcdConf: { hostname: SPARE.hostname, text: COPIED },
      membersAfterRemoval: LEFT,
    });
    const result = await ConfigureNewMember(context, world.deps);
    expect(world.runner.sent().map((line) => line.split(' ')[0])).toEqual(['ConfigureNewMember@master-0']);
    expect(world.cluster.calls).toEqual([]);
    // The same file written, the same result, as when the step reads both.
    expect(readEtcdConf(world.runner.file('master-0', CONF)!).get('ETCD_INITIAL_CLUSTER')).toBe(INITIAL_CLUSTER);
    expect(result.output).toEqual({ ...viaRead.output, copiedEtcdConf: undefined });
    expect(Object.hasOwn(result.output ?? {}, 'copiedEtcdConf')).toBe(true);
    expect(JSON.parse(JSON.stringify(after(context, result)))).not.toHaveProperty('copiedEtcdConf');
  });

  it('a copy that is no longer the file: already what the step would write (its earlier attempt wrote it), one command; else the write refuses and the step reads the file and writes over what it read', async () => {
    const held = { copiedEtcdConf: { hostname: SPARE.hostname, text: COPIED }, membersAfterRemoval: LEFT };
    const retry = caHost(stepWorld());
    await ConfigureNewMember(confirmedContext(), retry.deps);
    const written = retry.runner.file('master-0', CONF);
    const again = await ConfigureNewMember(confirmedContext(held), retry.deps);
    expect(retry.runner.sent().map((line) => line.split(' ')[0])).toEqual([
      'ReadHostFile@master-0',
      'ConfigureNewMember@master-0',
      'ConfigureNewMember@master-0',
    ]);
    expect(retry.runner.file('master-0', CONF)).toBe(written);
    expect(again.detail).toMatch(/already right/);

    const edited = caHost(stepWorld());
    edited.runner.putFile('master-0', CONF, `${COPIED}# kept by an operator after the copy\n`);
    const result = await ConfigureNewMember(confirmedContext(held), edited.deps);
    expect(edited.runner.sent().map((line) => line.split(' ')[0])).toEqual([
      'ConfigureNewMember@master-0',
      'ReadHostFile@master-0',
      'ConfigureNewMember@master-0',
    ]);
    const file = edited.runner.file('master-0', CONF)!;
    expect(file).toContain('# kept by an operator after the copy\n');
    expect(readEtcdConf(file).get('ETCD_INITIAL_CLUSTER')).toBe(INITIAL_CLUSTER);
    expect(result.detail).toMatch(/written/);
  });

  it('a copy made for another replacement is not used: the file is read', async () => {
    const world = caHost(stepWorld());
    await ConfigureNewMember(confirmedContext({ copiedEtcdConf: { hostname: 'etcd-spare-9.example.test', text: 'ETCD_NAME=x\n' } }), world.deps);
    expect(world.runner.sent().map((line) => line.split(' ')[0])).toEqual(['ReadHostFile@master-0', 'ConfigureNewMember@master-0']);
  });

  it('etcd.conf changed on the host between the read and the write (the write refuses, exit 3): RefusedError, nothing packed', async () => {
    const world = caHost(stepWorld());
    world.runner.on('ReadHostFile', { stdout: `${'0'.repeat(64)}\n${COPIED}` }); // read before someone else's edit
    const error = await failure(ConfigureNewMember(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(world.runner.file('master-0', CONF)).toBe(COPIED);
    expect(world.artifacts.objects.has(KEY)).toBe(false);
  });

  it('a stored bundle of another size: ArtifactStoreError (retried)', async () => {
    const world = caHost(stepWorld(), 100);
    const error = await failure(ConfigureNewMember(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(ArtifactStoreError);
    expect(error.message).toBe('bundle upload incomplete: 8192 bytes packed, 100 stored');
    expect(retried('ConfigureNewMember', error)).toBe(true);
  });

  it('ReadHostFile refusing the path (exit 2): InvalidInputError, not retried', async () => {
    const world = caHost(stepWorld());
    world.runner.exits('ReadHostFile', 2, 'not a file this workflow reads');
    const error = await failure(ConfigureNewMember(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(retried('ConfigureNewMember', error)).toBe(false);
  });

  it.each(exitCases(HOST_WORK_RETRIES))('ConfigureNewMember.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = caHost(stepWorld());
    world.runner.exits('ConfigureNewMember', code, 'peer.crt does not pass its check');
    const error = await failure(ConfigureNewMember(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('ConfigureNewMember', error)).toBe(isRetried);
  });
});
