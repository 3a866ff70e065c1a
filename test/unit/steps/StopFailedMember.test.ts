// StopFailedMember (functions/steps/StopFailedMember.ts): on the failed host, when it answers,
// StopFailedMember.sh moves the static pod manifests to pods-stopped and stops etcd; a host that does
// not answer is recorded unreachable (the backup is then skipped); no known host: nothing to do.

import { describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../../functions/errors.ts';
import { StopFailedMember } from '../../../functions/steps/StopFailedMember.ts';
import { after, confirmedContext, exitCases, failure, retried, stepWorld, TRANSIENT_RETRIES, type StepWorld } from '../../support/stepHarness.ts';

/** The failed host: its manifests in pods/ until the first stop moves them. */
function failedHost(world: StepWorld): StepWorld {
  let manifests = 2;
  world.runner.on('StopFailedMember', () => {
    const moved = manifests;
    manifests = 0;
    return { stdout: { movedManifests: moved, stoppedUnit: false } };
  });
  return world;
}

describe('Step: StopFailedMember', () => {
  it('stops etcd on the failed host by moving its manifests, and records the host reachable', async () => {
    const world = failedHost(stepWorld());
    const result = await StopFailedMember(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual(['StopFailedMember@master-2']);
    expect(world.runner.requests[0]?.timeoutSeconds).toBe(60);
    expect(result).toEqual({ output: { failedHostReachable: true }, detail: 'master-2: moved 2 manifest(s) to pods-stopped; etcd is down' });
  });

  it('a second run moves nothing more and still records the host reachable', async () => {
    const world = failedHost(stepWorld());
    const first = await StopFailedMember(confirmedContext(), world.deps);
    const second = await StopFailedMember(after(confirmedContext(), first), world.deps);
    expect(second.output).toEqual({ failedHostReachable: true });
    expect(second.detail).toBe('master-2: moved 0 manifest(s) to pods-stopped; etcd is down');
    expect(second.skipped).toBe(true);
    expect(first.skipped).toBeUndefined();
  });

  it('names a stopped etcd unit', async () => {
    const world = stepWorld();
    world.runner.on('StopFailedMember', { stdout: { movedManifests: 0, stoppedUnit: true } });
    expect((await StopFailedMember(confirmedContext(), world.deps)).detail).toBe(
      'master-2: moved 0 manifest(s) to pods-stopped, stopped the etcd unit; etcd is down',
    );
  });

  it('an unreachable host: recorded unreachable, skipped, no error', async () => {
    const world = stepWorld();
    world.runner.on('StopFailedMember', new HostUnreachableError('master-2 is powered off'));
    const result = await StopFailedMember(confirmedContext(), world.deps);
    expect(result).toEqual({
      output: { failedHostReachable: false },
      detail: 'master-2 is unreachable (master-2 is powered off); its data cannot be backed up',
      skipped: true,
    });
  });

  it('no known failed host: skipped, nothing sent', async () => {
    const world = stepWorld();
    const { failedHost: _, ...context } = confirmedContext();
    expect(await StopFailedMember(context, world.deps)).toMatchObject({ output: { failedHostReachable: false }, skipped: true });
    expect(world.runner.requests).toEqual([]);
  });

  it.each(exitCases(TRANSIENT_RETRIES))('StopFailedMember.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = stepWorld();
    world.runner.exits('StopFailedMember', code, 'something still listens on 2379 after 30 s');
    const error = await failure(StopFailedMember(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('StopFailedMember', error)).toBe(isRetried);
  });
});
