// ReleaseLock (functions/steps/ReleaseLock.ts): the run lets go of its cluster's lock; a lock it does
// not hold (none, or another run's) is left as it is, so the step is safe to run again.

import { describe, expect, it } from 'vitest';
import { ReleaseLock } from '../../../functions/steps/ReleaseLock.ts';
import { confirmedContext, RUN_ID, stepWorld } from '../../support/stepHarness.ts';

describe('Step: ReleaseLock', () => {
  it('releases the lock this run holds; sends no host command', async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: RUN_ID, startedBy: 'test' }, 600);
    const result = await ReleaseLock(confirmedContext(), world.deps);
    expect(world.lock.calls.at(-1)).toBe(`release unit ${RUN_ID}`);
    expect(await world.lock.current('unit')).toBeNull();
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
  });
});
