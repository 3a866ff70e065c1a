// AcquireLock (functions/steps/AcquireLock.ts): one run per cluster. The lock is taken for the run,
// named by its owner (the run, who started it, the process or execution running it now) for
// lockTtlSeconds; the same run takes it again (a resume) and keeps it; another run's lock refuses it.

import { describe, expect, it } from 'vitest';
import { LockHeldError } from '../../../functions/errors.ts';
import { AcquireLock } from '../../../functions/steps/AcquireLock.ts';
import { taskSpec } from '../../../statemachine/spec.ts';
import { confirmedContext, failure, NOW, retried, RUN_ID, stepWorld } from '../../support/stepHarness.ts';

describe('Step: AcquireLock', () => {
  it('takes the cluster lock for this run, naming its owner, for lockTtlSeconds; sends no host command', async () => {
    const world = stepWorld();
    const deps = { ...world.deps, pid: 4242, waits: { ...world.deps.waits, lockTtlSeconds: 600 } };
    const result = await AcquireLock(confirmedContext(), deps);
    expect(world.lock.calls).toEqual([`acquire unit ${RUN_ID} 600`]);
    expect(await world.lock.current('unit')).toEqual({
      cluster: 'unit',
      runId: RUN_ID,
      startedBy: 'test',
      pid: 4242,
      execution: 'exec-unit',
      acquiredAt: NOW.toISOString(),
      expiresAt: '2026-01-01T00:10:00.000Z',
    });
    expect(result).toEqual({ output: {}, detail: 'lock on unit held until 2026-01-01T00:10:00.000Z' });
    expect(world.runner.requests).toEqual([]);
  });

  it("takes it again for the same run (a resume): the lock stays this run's, acquired when it was first taken", async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: RUN_ID, startedBy: 'test', pid: 1 }, 60);
    const result = await AcquireLock(confirmedContext(), { ...world.deps, pid: 2 });
    const held = await world.lock.current('unit');
    expect(held).toMatchObject({ runId: RUN_ID, pid: 2, acquiredAt: NOW.toISOString() });
    expect(result.detail).toBe(`lock on unit held until ${held?.expiresAt}`);
  });

  it("another run's live lock: LockHeldError naming the holder, which ends the run Refused untried, the lock untouched", async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: 'r-other-0002', startedBy: 'alice' }, 600);
    const error = await failure(AcquireLock(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(LockHeldError);
    expect(error.message).toMatch(/r-other-0002 \(started by alice\)/);
    expect(retried('AcquireLock', error)).toBe(false);
    expect(taskSpec('AcquireLock').catch.find((c) => c.errors.includes(error.name))?.next).toBe('Refused');
    expect((await world.lock.current('unit'))?.runId).toBe('r-other-0002');
  });

  it('locks the cluster the request names, not another', async () => {
    const world = stepWorld();
    await world.lock.acquire('other-cluster', { runId: 'r-other-0002', startedBy: 'alice' }, 600);
    await AcquireLock(confirmedContext(), world.deps);
    expect((await world.lock.current('unit'))?.runId).toBe(RUN_ID);
    expect((await world.lock.current('other-cluster'))?.runId).toBe('r-other-0002');
  });
});
