// ReleaseLock (functions/steps/ReleaseLock.ts): the run lets go of its cluster's lock, recording itself as
// the lock's last holder (what it replaced, and whether it succeeded); a lock it does not hold (none, or
// another run's) is left as it is and no last holder is recorded, so the step is safe to run again.

import { describe, expect, it } from 'vitest';
import { ReleaseLock } from '../../../functions/steps/ReleaseLock.ts';
import { confirmedContext, RUN_ID, stepWorld } from '../../support/stepHarness.ts';

describe('Step: ReleaseLock', () => {
  it('releases the lock this run holds; sends no host command', async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: RUN_ID, startedBy: 'test' }, 600);
    const result = await ReleaseLock(confirmedContext(), world.deps);
    expect(world.lock.calls.slice(-2)).toEqual([`recordLastHolder unit ${RUN_ID}`, `release unit ${RUN_ID}`]);
    expect(await world.lock.current('unit')).toBeNull();
    expect(await world.lock.lastHolder('unit')).toEqual({
      runId: RUN_ID,
      covers: ['master-2', 'master-2.example.test', '198.51.100.4', '00000000000000a2'],
      succeeded: true,
      releasedAt: expect.any(String),
    });
    expect(result).toEqual({ output: {}, detail: 'lock on unit released' });
    expect(world.runner.requests).toEqual([]);
  });

  it('runs again harmlessly once the lock is gone', async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: RUN_ID, startedBy: 'test' }, 600);
    await ReleaseLock(confirmedContext(), world.deps);
    await expect(ReleaseLock(confirmedContext(), world.deps)).resolves.toMatchObject({ output: {} });
    expect(await world.lock.current('unit')).toBeNull();
  });

  it("leaves another run's lock held", async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: 'r-other-0002', startedBy: 'alice' }, 600);
    await ReleaseLock(confirmedContext(), world.deps);
    expect((await world.lock.current('unit'))?.runId).toBe('r-other-0002');
    expect(await world.lock.lastHolder('unit')).toBeNull();
  });

  it('a run on its failure path is recorded as not succeeded: nobody waiting counts as covered by it', async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: RUN_ID, startedBy: 'test' }, 600);
    await ReleaseLock(confirmedContext({ error: { Error: 'NewMemberFailedError', Cause: 'etcd did not start' } }), world.deps);
    expect((await world.lock.lastHolder('unit'))?.succeeded).toBe(false);
  });
});
