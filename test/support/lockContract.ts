// The LockPort contract every adapter passes (FileLock in the sandbox, DynamoLock on AWS): call
// `lockContract(name, make)` inside a test file; `make(now)` builds a fresh, empty lock whose clock is
// `now`. Owners carry no pid here, so only the semantics shared by every adapter are exercised; pid
// liveness and races are each adapter's own tests.

import { describe, expect, it } from 'vitest';

import { InvalidInputError, LockHeldError, LockLostError } from '../../functions/errors.ts';
import type { LockInfo, LockPort } from '../../functions/ports.ts';

export type LockFactory = (now: () => Date) => LockPort | Promise<LockPort>;

interface Clock {
  now: () => Date;
  set: (iso: string) => void;
}

function clock(start = '2030-01-01T00:00:00.000Z'): Clock {
  let t = new Date(start);
  return { now: () => t, set: (iso) => (t = new Date(iso)) };
}

export function lockContract(name: string, make: LockFactory): void {
  describe(`LockPort contract: ${name}`, () => {
    it('acquires a free lock, naming owner and expiry, and current() shows it', async () => {
      const c = clock();
      const lock = await make(c.now);
      const info = await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 600);
      expect(info).toMatchObject<Partial<LockInfo>>({
        cluster: 'prod-a',
        runId: 'run-000001',
        startedBy: 'alice',
        acquiredAt: '2030-01-01T00:00:00.000Z',
        expiresAt: '2030-01-01T00:10:00.000Z',
      });
      expect(await lock.current('prod-a')).toEqual(info);
      expect(await lock.current('prod-b')).toBeNull();
    });

    it('refuses another run while the lock is unexpired, naming the holder', async () => {
      const c = clock();
      const lock = await make(c.now);
      const held = await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 600);
      c.set('2030-01-01T00:05:00.000Z');
      const error = await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 600).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockHeldError);
      expect((error as LockHeldError).name).toBe('LockHeldError');
      for (const fact of ['prod-a', 'run-000001', 'alice', held.expiresAt]) expect((error as Error).message).toContain(fact);
      expect((await lock.current('prod-a'))?.runId).toBe('run-000001');
    });

    it('keeps clusters apart', async () => {
      const lock = await make(clock().now);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 600);
      await expect(lock.acquire('prod-b', { runId: 'run-000002', startedBy: 'bob' }, 600)).resolves.toMatchObject({ runId: 'run-000002' });
    });

    it('is re-entrant for the same run: keeps acquiredAt, extends expiresAt', async () => {
      const c = clock();
      const lock = await make(c.now);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      c.set('2030-01-01T00:00:30.000Z');
      const again = await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      expect(again.acquiredAt).toBe('2030-01-01T00:00:00.000Z');
      expect(again.expiresAt).toBe('2030-01-01T00:01:30.000Z');
    });

    it('lets another run take over an expired lock', async () => {
      const c = clock();
      const lock = await make(c.now);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      c.set('2030-01-01T00:01:00.001Z');
      const info = await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 60);
      expect(info).toMatchObject({ runId: 'run-000002', startedBy: 'bob', acquiredAt: '2030-01-01T00:01:00.001Z' });
      expect((await lock.current('prod-a'))?.runId).toBe('run-000002');
    });

    it('renews the holder and refuses to renew for anyone else (LockLostError)', async () => {
      const c = clock();
      const lock = await make(c.now);
      await expect(lock.renew('prod-a', 'run-000001', 60)).rejects.toThrow(LockLostError);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      c.set('2030-01-01T00:00:50.000Z');
      await lock.renew('prod-a', 'run-000001', 60);
      expect((await lock.current('prod-a'))?.expiresAt).toBe('2030-01-01T00:01:50.000Z');
      const lost = await lock.renew('prod-a', 'run-000002', 60).catch((e: unknown) => e);
      expect(lost).toBeInstanceOf(LockLostError);
      expect((lost as Error).message).toContain('run-000001');
    });

    it('releases for the holder only, and releasing twice is harmless', async () => {
      const lock = await make(clock().now);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 600);
      await lock.release('prod-a', 'run-000002');
      expect((await lock.current('prod-a'))?.runId).toBe('run-000001');
      await lock.release('prod-a', 'run-000001');
      await lock.release('prod-a', 'run-000001');
      expect(await lock.current('prod-a')).toBeNull();
      await expect(lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 600)).resolves.toMatchObject({ runId: 'run-000002' });
    });

    it("many signals, one run: a waiting run leaves one join request on the holder's lock until the holder closes joins", async () => {
      const c = clock();
      const lock = await make(c.now);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', covers: ['master-3', '10.0.0.13'] }, 600);
      expect(await lock.current('prod-a')).toMatchObject({ runId: 'run-000001', covers: ['master-3', '10.0.0.13'] });
      const join = { runId: 'run-000002', failed: [{ failed: 'master-4' }], startedBy: 'alarm:master-4', at: '2030-01-01T00:00:01.000Z' };
      expect(await lock.requestJoin('prod-a', 'run-000001', join)).toBe('requested');
      // Asking again (a retried step) leaves no second request; a request for a run that does not hold the lock is not-held.
      expect(await lock.requestJoin('prod-a', 'run-000001', { ...join, at: '2030-01-01T00:00:06.000Z' })).toBe('requested');
      expect(await lock.requestJoin('prod-a', 'run-000009', join)).toBe('not-held');
      expect((await lock.current('prod-a'))?.joins).toEqual([join]);
      // The holder renews and takes its lock again (a resume): the request stays.
      await lock.renew('prod-a', 'run-000001', 600);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', covers: ['master-3', '10.0.0.13'] }, 600);
      // The holder closes joins: it gets the request, every time it asks; a request after the cut is closed.
      expect(await lock.closeJoins('prod-a', 'run-000001')).toEqual([join]);
      expect(await lock.closeJoins('prod-a', 'run-000001')).toEqual([join]);
      expect(await lock.requestJoin('prod-a', 'run-000001', { ...join, runId: 'run-000003' })).toBe('closed');
      expect(await lock.current('prod-a')).toMatchObject({ joinsClosed: true, joins: [join] });
      // What it covers now, after taking the member in: the next time it takes its lock (its next step).
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', covers: ['master-3', '10.0.0.13', 'master-4'] }, 600);
      expect(await lock.current('prod-a')).toMatchObject({ covers: ['master-3', '10.0.0.13', 'master-4'], joinsClosed: true, joins: [join] });
      await expect(lock.closeJoins('prod-a', 'run-000002')).rejects.toThrow(LockLostError);
      // Released: the next holder starts with no requests and joins open.
      await lock.release('prod-a', 'run-000001');
      await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 600);
      const next = await lock.current('prod-a');
      expect(next?.joins ?? []).toEqual([]);
      expect(next?.joinsClosed ?? false).toBe(false);
      expect(await lock.requestJoin('prod-a', 'run-000002', { ...join, runId: 'run-000004' })).toBe('requested');
    });

    it('keeps the last holder of each cluster beside its lock, the latest one, untouched by the lock itself', async () => {
      const lock = await make(clock().now);
      expect(await lock.lastHolder('prod-a')).toBeNull();
      const first = { runId: 'run-000001', covers: ['master-3', '10.0.0.13', 'master-4'], succeeded: true, releasedAt: '2030-01-01T00:01:00.000Z' };
      await lock.recordLastHolder('prod-a', first);
      expect(await lock.lastHolder('prod-a')).toEqual(first);
      expect(await lock.lastHolder('prod-b')).toBeNull();
      // A lock taken and released by another run leaves it, until that run records itself.
      await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 600);
      await lock.release('prod-a', 'run-000002');
      expect(await lock.lastHolder('prod-a')).toEqual(first);
      const second = { runId: 'run-000002', covers: ['master-1'], succeeded: false, releasedAt: '2030-01-01T00:02:00.000Z' };
      await lock.recordLastHolder('prod-a', second);
      expect(await lock.lastHolder('prod-a')).toEqual(second);
      await expect(lock.recordLastHolder('../etc', first)).rejects.toThrow(InvalidInputError);
    });

    it('validates cluster names, run ids and TTLs', async () => {
      const lock = await make(clock().now);
      await expect(lock.acquire('../etc', { runId: 'run-000001', startedBy: 'alice' }, 60)).rejects.toThrow(InvalidInputError);
      await expect(lock.acquire('prod-a', { runId: 'BAD ID', startedBy: 'alice' }, 60)).rejects.toThrow(InvalidInputError);
      await expect(lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 0)).rejects.toThrow(InvalidInputError);
    });
  });
}
