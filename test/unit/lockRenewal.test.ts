import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLock } from '../../sandbox/adapters/fileLock.ts';
import { LockHeldError, LockLostError } from '../../functions/errors.ts';
import { DEFAULT_WAITS } from '../../functions/workflow/stepDeps.ts';
import { holdLock, proveRunOwner, withLockHeld } from '../../functions/workflow/lockRenewal.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { taskSpec } from '../../statemachine/spec.ts';

const context = {
  runId: 'run-000001',
  request: { cluster: 'prod-a', failed: 'master-2', startedBy: 'alice' },
  options: { graceSeconds: 1, learner: 'auto' },
} as WorkflowContext;

describe('Module: lockRenewal', () => {
  let dir: string;
  let lock: FileLock;
  const logs: string[] = [];
  const deps = (ttl = 60, pid = process.pid) => ({ lock, waits: { ...DEFAULT_WAITS, lockTtlSeconds: ttl }, log: (m: string) => logs.push(m), pid });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lock-renewal-'));
    lock = new FileLock(dir);
    logs.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a step that holds no lock (the closing steps) without looking at the lock', async () => {
    let ran = false;
    await withLockHeld(taskSpec('DiscardKeyBundle'), context, deps(), async () => (ran = true));
    expect(ran).toBe(true);
    expect(await lock.current('prod-a')).toBeNull();
  });

  it('stops a step of a run that does not hold the lock before the step runs: LockLostError naming the holder', async () => {
    await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob', pid: process.pid }, 60);
    let ran = false;
    const error = await withLockHeld(taskSpec('RemoveFailedMember'), context, deps(), async () => (ran = true)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
    expect((error as Error).message).toMatch(/run-000002 \(started by bob\)/);
    expect(ran).toBe(false);
    await expect(holdLock(context, deps())).rejects.toThrow(/nobody holds it|run-000002/);
  });

  it('refuses a nobody-holds lock too: a released lock is not silently taken again', async () => {
    await expect(holdLock(context, deps())).rejects.toThrow(LockLostError);
    expect(await lock.current('prod-a')).toBeNull();
  });

  it('takes the lock over from the dead process of the same run (a resume) and records the live one', async () => {
    await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: 2 ** 22 + 7 }, 60);
    await holdLock(context, deps());
    expect((await lock.current('prod-a'))?.pid).toBe(process.pid);
  });

  it("renews the lock while a step longer than the lock's lifetime runs, so no other run can take it", async () => {
    await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 3);
    const first = Date.parse((await lock.current('prod-a'))!.expiresAt);
    const seen: number[] = [];
    await withLockHeld(taskSpec('StartNewMember'), context, deps(3), async () => {
      for (let i = 0; i < 4; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1100));
        seen.push(Date.parse((await lock.current('prod-a'))!.expiresAt));
      }
    });
    // Renewed every second (a third of 3 s): the expiry keeps moving past the first one.
    expect(seen.every((t) => t > first)).toBe(true);
    expect(new Set(seen).size).toBeGreaterThan(2);
    // Another machine's run judges the lock by expiry alone, and it has not expired.
    const other = new FileLock(dir, { hostname: 'another-machine' });
    await expect(other.acquire('prod-a', { runId: 'run-000003', startedBy: 'carol' }, 60)).rejects.toThrow(LockHeldError);
  });

  it("stops renewing the moment the step's signal aborts (a timeout), before the step itself has ended", async () => {
    await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 3);
    const controller = new AbortController();
    const seen: string[] = [];
    let abortedAt = '';
    await withLockHeld(taskSpec('StartNewMember'), context, { ...deps(3), signal: controller.signal }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 2300));
      seen.push((await lock.current('prod-a'))!.expiresAt);
      controller.abort(new Error('timed out'));
      abortedAt = (await lock.current('prod-a'))!.expiresAt;
      // The abandoned step goes on a while: nothing renews the lock for it.
      await new Promise((resolve) => setTimeout(resolve, 2300));
    });
    expect(Date.parse(seen[0]!)).toBeGreaterThan(Date.parse((await lock.current('prod-a'))!.acquiredAt) + 3000);
    expect((await lock.current('prod-a'))!.expiresAt).toBe(abortedAt);
  });

  describe('Function: proveRunOwner', () => {
    let child: ChildProcess | undefined;
    afterEach(() => {
      child?.kill('SIGKILL');
      child = undefined;
    });

    it('stops every step, the closing ones too, of a process that does not own the run: its lock held by another live process of the run', async () => {
      child = spawn('sleep', ['300'], { stdio: 'ignore' });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: child.pid! }, 60);
      for (const step of ['DiscardKeyBundle', 'TerminateLaunchedHost', 'RecordClusterState', 'ReleaseLock', 'CompensateNewMember', 'RemoveFailedMember']) {
        let ran = false;
        const error = await withLockHeld(taskSpec(step), context, deps(), async () => (ran = true)).catch((e: unknown) => e);
        expect({ step, ran, error }).toEqual({ step, ran: false, error: expect.any(LockLostError) });
        expect((error as Error).message).toContain(`run run-000001 is in progress in pid ${child.pid}`);
      }
      expect((await lock.current('prod-a'))?.pid).toBe(child.pid);
      // Before the lock: ValidateInput changes nothing and AcquireLock judges the holder itself.
      await expect(proveRunOwner(context, deps(), taskSpec('AcquireLock'))).resolves.toBeUndefined();
      for (const first of ['ValidateInput', 'ValidateRestoreRequest']) await expect(proveRunOwner(context, deps(), { name: first })).resolves.toBeUndefined();
      // Its owner goes on.
      await expect(proveRunOwner(context, deps(60, child.pid!))).resolves.toBeUndefined();
    });

    it("asks the run's own owner claim first where there is one", async () => {
      const claim = { prove: async () => Promise.reject(new LockLostError('process 1 does not own run run-000001')) };
      await expect(withLockHeld(taskSpec('DiscardKeyBundle'), context, { ...deps(), runOwner: claim }, async () => 'ran')).rejects.toThrow('does not own run');
    });
  });
});
