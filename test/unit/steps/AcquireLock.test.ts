// AcquireLock (functions/steps/AcquireLock.ts): one run per cluster. The lock is taken for the run,
// named by its owner (the run, who started it, the process or execution running it now, the failed
// members it covers) for lockTtlSeconds; the same run takes it again (a resume) and keeps it. Another
// run's lock: covered when that run replaces the same members; otherwise a join request and a wait,
// retried, up to options.lockWaitSeconds, then refused.

import { describe, expect, it } from 'vitest';
import { LockHeldError, LockWaitingError } from '../../../functions/errors.ts';
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
      covers: ['master-2', 'master-2.example.test', '198.51.100.4', '00000000000000a2'],
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

  it("another run's live lock that does not cover the member: a join request on it and LockWaitingError, retried, the lock untouched", async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: 'r-other-0002', startedBy: 'alice', covers: ['master-1'] }, 600);
    const error = await failure(AcquireLock(confirmedContext({ validatedAt: NOW.toISOString() }), world.deps));
    expect(error).toBeInstanceOf(LockWaitingError);
    expect(error.message).toBe(
      `run r-other-0002 (started by alice) holds the lock of cluster unit since ${NOW.toISOString()}: asked it to take master-2 in at its second observation; waiting for the lock (0 of 600 s)`,
    );
    expect(retried('AcquireLock', error)).toBe(true);
    const held = await world.lock.current('unit');
    expect(held).toMatchObject({
      runId: 'r-other-0002',
      joins: [{ runId: RUN_ID, failed: [{ failed: 'master-2', replacement: 'etcd-spare-0' }], startedBy: 'test' }],
    });
    // Asking again leaves one request.
    await failure(AcquireLock(confirmedContext({ validatedAt: NOW.toISOString() }), world.deps));
    expect((await world.lock.current('unit'))?.joins).toHaveLength(1);
  });

  it('once the holder has closed joins, the run only waits; past options.lockWaitSeconds: LockHeldError naming the holder, which ends the run Refused untried', async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: 'r-other-0002', startedBy: 'alice', covers: ['master-1'] }, 600);
    await world.lock.closeJoins('unit', 'r-other-0002');
    const closed = await failure(AcquireLock(confirmedContext({ validatedAt: NOW.toISOString() }), world.deps));
    expect(closed).toBeInstanceOf(LockWaitingError);
    expect(closed.message).toMatch(/it has passed its second observation and cannot take master-2 in; waiting for the lock/);
    expect((await world.lock.current('unit'))?.joins ?? []).toEqual([]);

    const started = new Date(NOW.getTime() - 30_000).toISOString();
    const error = await failure(
      AcquireLock(confirmedContext({ validatedAt: started, options: { graceSeconds: 0, learner: 'auto', lockWaitSeconds: 30 } }), world.deps),
    );
    expect(error).toBeInstanceOf(LockHeldError);
    expect(error.message).toMatch(
      /^run r-other-0002 \(started by alice\) holds the lock of cluster unit since .*; waited 30 s for it \(options.lockWaitSeconds 30\)/,
    );
    expect(retried('AcquireLock', error)).toBe(false);
    expect(taskSpec('AcquireLock').catch.find((c) => c.errors.includes(error.name))?.next).toBe('Refused');
    expect((await world.lock.current('unit'))?.runId).toBe('r-other-0002');
  });

  it('a holder that replaces the member (by any identity it knows) covers the run: Covered, naming it, no lock taken, no join left', async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: 'r-other-0002', startedBy: 'alice', covers: ['master-1', '198.51.100.4'] }, 600);
    const result = await AcquireLock(confirmedContext({ validatedAt: NOW.toISOString() }), world.deps);
    expect(result.output).toEqual({ covered: true, coveredBy: 'r-other-0002' });
    expect(result.detail).toMatch(/^master-2: covered by run r-other-0002 \(started by alice, holding the lock since /);
    expect(taskSpec('AcquireLock').next).toBe('IsCoveredByAnotherRun');
    const held = await world.lock.current('unit');
    expect(held?.runId).toBe('r-other-0002');
    expect(held?.joins ?? []).toEqual([]);
  });

  it('the holder took the member in and finished between two tries: the lock is taken, kept by its last holder, and given back; Covered', async () => {
    const world = stepWorld();
    const waitedFrom = new Date(NOW.getTime() - 20_000).toISOString();
    const last = { runId: 'r-other-0002', covers: ['master-1', 'master-2'], succeeded: true, releasedAt: new Date(NOW.getTime() - 2_000).toISOString() };
    await world.lock.recordLastHolder('unit', last);
    const result = await AcquireLock(confirmedContext({ validatedAt: waitedFrom }), world.deps);
    expect(result.output).toEqual({ covered: true, coveredBy: 'r-other-0002' });
    expect(result.detail).toMatch(
      /^master-2: covered by run r-other-0002, which took master-2 in and released the lock at .*, finished, while this run waited/,
    );
    expect(await world.lock.current('unit')).toBeNull();

    // Not covered: the last holder failed, finished before this run was validated, or replaced another member.
    for (const other of [
      { ...last, succeeded: false },
      { ...last, releasedAt: new Date(NOW.getTime() - 60_000).toISOString() },
      { ...last, covers: ['master-1'] },
    ]) {
      const fresh = stepWorld();
      await fresh.lock.recordLastHolder('unit', other);
      const own = await AcquireLock(confirmedContext({ validatedAt: waitedFrom }), fresh.deps);
      expect(own.output).toEqual({});
      expect((await fresh.lock.current('unit'))?.runId).toBe(RUN_ID);
    }
  });

  it('another live owner of this same run holds it: LockHeldError at once, nothing waits, no join left', async () => {
    const world = stepWorld();
    await world.lock.acquire('unit', { runId: RUN_ID, startedBy: 'test', execution: 'exec-other' }, 600);
    const held = new LockHeldError(`run ${RUN_ID} is in progress in exec-other`);
    const lock = Object.assign(Object.create(world.lock) as typeof world.lock, {
      acquire: async () => {
        throw held;
      },
    });
    const error = await failure(AcquireLock(confirmedContext({ validatedAt: NOW.toISOString() }), { ...world.deps, lock }));
    expect(error).toBe(held);
    expect(retried('AcquireLock', error)).toBe(false);
    expect(world.lock.calls.filter((c) => c.startsWith('requestJoin'))).toEqual([]);
  });

  it('locks the cluster the request names, not another', async () => {
    const world = stepWorld();
    await world.lock.acquire('other-cluster', { runId: 'r-other-0002', startedBy: 'alice' }, 600);
    await AcquireLock(confirmedContext(), world.deps);
    expect((await world.lock.current('unit'))?.runId).toBe(RUN_ID);
    expect((await world.lock.current('other-cluster'))?.runId).toBe('r-other-0002');
  });
});
