// AwaitSnapshot (functions/steps/AwaitSnapshot.ts): waits for the run's snapshot job on its host
// (AwaitSnapshot.sh RUN_ID WAIT) and checks the stored size before the new member votes. A snapshot
// already verified is not asked for again; a host that knows no job for the run (exit 6) has it
// started again, once.

import { describe, expect, it } from 'vitest';
import { ArtifactStoreError, InvalidInputError, SnapshotJobMissingError } from '../../../functions/errors.ts';
import { AwaitSnapshot } from '../../../functions/steps/AwaitSnapshot.ts';
import {
  after,
  confirmedContext,
  exitCases,
  HOST_WORK_RETRIES,
  expectSecretsOnlyOnStdin,
  failure,
  HOSTS,
  retried,
  RUN_ID,
  stepWorld,
  type StepWorld,
} from '../../support/stepHarness.ts';

const KEY = `runs/${RUN_ID}/snapshot-${HOSTS['master-1'].hostname}.db`;
const DONE = { bytes: 20480, sha256: 'cd'.repeat(32), status: { hash: 7, revision: 99, totalKey: 12, totalSize: 20480 } };
const started = () => confirmedContext({ snapshotKey: KEY, snapshotHost: 'master-1' });

function withDoneJob(world: StepWorld, storedBytes = DONE.bytes): StepWorld {
  world.runner.on('AwaitSnapshot', () => {
    world.artifacts.put(KEY, storedBytes);
    return { stdout: DONE };
  });
  return world;
}

describe('Step: AwaitSnapshot', () => {
  it("waits on the snapshot host for the run's job and keeps what it verified", async () => {
    const world = withDoneJob(stepWorld());
    const result = await AwaitSnapshot(started(), world.deps);
    expect(world.runner.sent()).toEqual([`AwaitSnapshot@master-1 ${RUN_ID} 540`]);
    expect(world.runner.requests[0]?.timeoutSeconds).toBe(600);
    expect(world.runner.requests[0]?.secrets).toBeUndefined();
    expect(result.output).toEqual({ snapshotVerified: { location: `s3://unit-artifacts/${KEY}`, bytes: DONE.bytes, sha256: DONE.sha256, revision: 99 } });
    expect(result.skipped).toBeUndefined();
    expect(result.detail).toMatch(/^snapshot from master-1 at revision 99, 12 keys, 20480 bytes, sha256 cdcdcdcdcdcd…, stored at s3:/);
  });

  it('a second run, the snapshot verified: skipped, nothing asked of its host', async () => {
    const world = withDoneJob(stepWorld());
    const first = await AwaitSnapshot(started(), world.deps);
    const second = await AwaitSnapshot(after(started(), first), world.deps);
    expect(second.skipped).toBe(true);
    expect(world.runner.requests).toHaveLength(1);
  });

  it('a store holding another size than the job wrote: ArtifactStoreError (retried)', async () => {
    const world = withDoneJob(stepWorld(), 20000);
    const error = await failure(AwaitSnapshot(started(), world.deps));
    expect(error).toBeInstanceOf(ArtifactStoreError);
    expect(error.message).toBe('snapshot upload incomplete: host wrote 20480 bytes, store holds 20000');
  });

  it('exit 6 (no job here): starts the job again, its URL on stdin, and waits for it once more', async () => {
    const world = withDoneJob(stepWorld());
    world.runner.exits('AwaitSnapshot', 6, 'no snapshot job for this run', { times: 1 });
    world.runner.on('SnapshotCluster', { stdout: { job: 'started' } });
    const result = await AwaitSnapshot(started(), world.deps);
    expect(world.runner.sent()).toEqual([
      `AwaitSnapshot@master-1 ${RUN_ID} 540`,
      `SnapshotCluster@master-1 ${RUN_ID} https://${HOSTS['master-1'].ip}:2379`,
      `AwaitSnapshot@master-1 ${RUN_ID} 540`,
    ]);
    expectSecretsOnlyOnStdin(world);
    expect(world.logs).toContain('master-1: no snapshot job for this run; starting it again');
    expect(result.output.snapshotVerified?.revision).toBe(99);
  });

  it('exit 6 again after the restart: SnapshotJobMissingError', async () => {
    const world = stepWorld();
    world.runner.exits('AwaitSnapshot', 6, 'no snapshot job for this run');
    world.runner.on('SnapshotCluster', { stdout: { job: 'started' } });
    expect(await failure(AwaitSnapshot(started(), world.deps))).toBeInstanceOf(SnapshotJobMissingError);
    expect(world.runner.sent('SnapshotCluster')).toHaveLength(1);
  });

  it('without the snapshot key in its context: InvalidInputError, nothing asked', async () => {
    const world = stepWorld();
    expect(await failure(AwaitSnapshot(confirmedContext(), world.deps))).toBeInstanceOf(InvalidInputError);
    expect(world.runner.requests).toEqual([]);
  });

  it.each(exitCases(HOST_WORK_RETRIES))('AwaitSnapshot.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = stepWorld();
    world.runner.exits('AwaitSnapshot', code, 'snapshot status: corrupt');
    const error = await failure(AwaitSnapshot(started(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('AwaitSnapshot', error)).toBe(isRetried);
    expect(world.runner.of('SnapshotCluster')).toEqual([]);
  });
});
