// BackUpFailedMemberData (functions/steps/BackUpFailedMemberData.ts): on the failed host, `backup`
// uploads /var/lib/etcd (its URL on stdin), the step checks the stored size, and only then `wipe
// MANIFEST` empties the directory. An empty directory is done already; a host that cannot reach the
// store (exit 5) keeps its data and the run says so.

import { describe, expect, it } from 'vitest';
import { ArtifactStoreError, HostUnreachableError, InvalidInputError, RefusedError } from '../../../functions/errors.ts';
import { BackUpFailedMemberData } from '../../../functions/steps/BackUpFailedMemberData.ts';
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
  stepWorld,
  type StepWorld,
} from '../../support/stepHarness.ts';
import { threeMembers } from '../../support/fakeCluster.ts';

const KEY = `runs/${RUN_ID}/failed-member-data-${HOSTS['master-2'].hostname}.tgz`;
const BACKUP = { empty: false, bytes: 65536, sha256: 'ef'.repeat(32), manifest: 'c2hhMjU2IG1hbmlmZXN0' };

/** The failed host's data directory: full until the wipe, uploaded by `backup` (`storedBytes` reach the store). */
function failedHost(world: StepWorld, storedBytes = BACKUP.bytes): StepWorld {
  let empty = false;
  world.runner.on(
    'BackUpFailedMemberData',
    () => {
      if (empty) return { stdout: { empty: true } };
      world.artifacts.put(KEY, storedBytes);
      return { stdout: BACKUP };
    },
    { args: ['backup'] },
  );
  world.runner.on(
    'BackUpFailedMemberData',
    () => {
      empty = true;
      return { stdout: { wiped: true } };
    },
    { args: ['wipe'] },
  );
  return world;
}

describe('Step: BackUpFailedMemberData', () => {
  it("backs up, checks the stored size, then wipes by the backup's manifest; the upload URL only on stdin", async () => {
    const world = failedHost(stepWorld());
    const result = await BackUpFailedMemberData(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual(['BackUpFailedMemberData@master-2 backup', `BackUpFailedMemberData@master-2 wipe ${BACKUP.manifest}`]);
    expect(world.runner.requests[0]).toMatchObject({ timeoutSeconds: 600, secrets: { UPLOAD_URL: expect.stringContaining(KEY) } });
    expect(world.runner.requests[1]?.secrets).toBeUndefined();
    expectSecretsOnlyOnStdin(world);
    expect(result.output).toEqual({ backupKey: KEY });
    expect(result.skipped).toBeUndefined();
    expect(result.detail).toBe(`master-2: /var/lib/etcd backed up (65536 bytes, sha256 efefefefefef…) to s3://unit-artifacts/${KEY}, then emptied`);
  });

  it("finishing an earlier run's replacement: checks first that no member is on the host, and refuses, changing nothing, when one is", async () => {
    const world = failedHost(stepWorld());
    const repeat = confirmedContext({ alreadyReplaced: true });
    expect((await BackUpFailedMemberData(repeat, world.deps)).output).toEqual({ backupKey: KEY });
    expect(world.cluster.calls).toContain('memberList');
    const back = failedHost(stepWorld(threeMembers([])));
    const error = await failure(BackUpFailedMemberData(repeat, back.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(
      /^BackUpFailedMemberData: master-2 is member 00000000000000a2 \(master-2\.example\.test\) of this cluster; nothing was stopped or emptied there$/,
    );
    expect(back.runner.sent()).toEqual([]);
  });

  it('a second run finds the directory empty and the backup stored: skipped, nothing wiped', async () => {
    const world = failedHost(stepWorld());
    const first = await BackUpFailedMemberData(confirmedContext(), world.deps);
    const second = await BackUpFailedMemberData(after(confirmedContext(), first), world.deps);
    expect(second).toEqual({ output: { backupKey: KEY }, detail: 'master-2: /var/lib/etcd is already empty', skipped: true });
    expect(world.runner.sent('BackUpFailedMemberData')).toHaveLength(3);
  });

  it('an empty directory and no backup of this run: skipped, no backup key', async () => {
    const world = stepWorld();
    world.runner.on('BackUpFailedMemberData', { stdout: { empty: true } });
    expect(await BackUpFailedMemberData(confirmedContext(), world.deps)).toMatchObject({ output: {}, skipped: true });
  });

  it('a stored backup of another size: ArtifactStoreError (retried), and nothing wiped', async () => {
    const world = failedHost(stepWorld(), 4096);
    const error = await failure(BackUpFailedMemberData(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(ArtifactStoreError);
    expect(error.message).toMatch(/host wrote 65536 bytes, store holds 4096; not wiping/);
    expect(retried('BackUpFailedMemberData', error)).toBe(true);
    expect(world.runner.sent()).toEqual(['BackUpFailedMemberData@master-2 backup']);
  });

  it('exit 5 (the upload cannot leave the host): the data stays, the run goes on and names it in remaining', async () => {
    const world = stepWorld();
    world.runner.exits('BackUpFailedMemberData', 5, 'curl: (7) could not connect');
    const result = await BackUpFailedMemberData(confirmedContext({ remaining: ['earlier line'] }), world.deps);
    expect(result.skipped).toBe(true);
    expect(result.output.remaining).toEqual(['earlier line', expect.stringMatching(/^master-2: \/var\/lib\/etcd was not backed up .* left untouched/)]);
    expect(world.runner.sent()).toEqual(['BackUpFailedMemberData@master-2 backup']);
  });

  it('a wipe refused (the directory changed since the backup, exit 3): RefusedError', async () => {
    const world = failedHost(stepWorld());
    world.runner.exits('BackUpFailedMemberData', 3, 'the directory changed since its backup', { args: ['wipe'] });
    const error = await failure(BackUpFailedMemberData(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(refused('BackUpFailedMemberData', error)).toBe(true);
  });

  it('an unreachable host is passed on (HostUnreachableError, retried)', async () => {
    const world = stepWorld();
    world.runner.on('BackUpFailedMemberData', new HostUnreachableError('master-2 is not running'));
    const error = await failure(BackUpFailedMemberData(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(HostUnreachableError);
    expect(retried('BackUpFailedMemberData', error)).toBe(true);
  });

  it('without a failed host: InvalidInputError, nothing sent', async () => {
    const world = stepWorld();
    const { failedHost: _, ...context } = confirmedContext();
    expect(await failure(BackUpFailedMemberData(context, world.deps))).toBeInstanceOf(InvalidInputError);
    expect(world.runner.requests).toEqual([]);
  });

  it.each(exitCases(HOST_WORK_RETRIES))('backup exit %i is %s (retried: %s), nothing wiped', async (code, name, isRetried) => {
    const world = stepWorld();
    world.runner.exits('BackUpFailedMemberData', code, 'etcd still runs here');
    const error = await failure(BackUpFailedMemberData(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('BackUpFailedMemberData', error)).toBe(isRetried);
    expect(world.runner.sent()).toEqual(['BackUpFailedMemberData@master-2 backup']);
  });
});
