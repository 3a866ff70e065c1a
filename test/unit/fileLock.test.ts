import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { FileLock, type FileLockInfo } from '../../sandbox/adapters/fileLock.ts';
import { InvalidInputError, LockHeldError, LockLostError } from '../../functions/errors.ts';
import { lockContract } from '../support/lockContract.ts';

const FILE_LOCK_MODULE = fileURLToPath(new URL('../../sandbox/adapters/fileLock.ts', import.meta.url));

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'filelock-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

/** Runs `count` processes that each try to take the lock at the same instant; resolves with their results. */
async function raceProcesses(count: number, cluster: string): Promise<Array<{ ok: boolean; runId: string; out: string }>> {
  const script = join(dir, 'race.mjs');
  await writeFile(
    script,
    `const { FileLock } = await import(${JSON.stringify(FILE_LOCK_MODULE)});
const [lockDir, cluster, runId, startAt] = process.argv.slice(2);
const lock = new FileLock(lockDir);
while (Date.now() < Number(startAt)) { /* spin so every process starts together */ }
try {
  const info = await lock.acquire(cluster, { runId, startedBy: 'race', pid: process.pid }, 60);
  process.stdout.write(JSON.stringify({ ok: true, info }));
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, name: error.name, message: error.message }));
}
// stay alive until the parent has read every result, so the winner's pid is live
await new Promise((resolve) => process.stdin.once('end', resolve).resume());
`,
  );
  const startAt = Date.now() + 2500;
  const children = Array.from({ length: count }, (_, i) => {
    const runId = `race-run-${i}`;
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir, cluster, runId, String(startAt)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const done = new Promise<{ ok: boolean; runId: string; out: string }>((resolve) => {
      const check = setInterval(() => {
        if (out.endsWith('}')) {
          clearInterval(check);
          resolve({ ok: (JSON.parse(out) as { ok: boolean }).ok, runId, out });
        }
      }, 20);
    });
    return { child, done };
  });
  const results = await Promise.all(children.map((c) => c.done));
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.stdin.end();
        }),
    ),
  );
  return results;
}

// The semantics every LockPort adapter shares, each test on a fresh directory.
const contractDirs: string[] = [];
lockContract('FileLock', async (now) => {
  const fresh = await mkdtemp(join(tmpdir(), 'filelock-contract-'));
  contractDirs.push(fresh);
  return new FileLock(fresh, { now });
});
afterAll(async () => {
  await Promise.all(contractDirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('Class: FileLock', () => {
  describe('Method: acquire', () => {
    it('creates one JSON file per cluster naming the owner and expiry', async () => {
      const lock = new FileLock(dir, { now: () => new Date('2030-01-01T00:00:00Z') });
      const info = await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 600);
      expect(info).toMatchObject({
        cluster: 'prod-a',
        runId: 'run-000001',
        startedBy: 'alice',
        pid: process.pid,
        acquiredAt: '2030-01-01T00:00:00.000Z',
        expiresAt: '2030-01-01T00:10:00.000Z',
      });
      expect(await readdir(dir)).toEqual(['prod-a.json']);
      const onDisk = JSON.parse(await readFile(join(dir, 'prod-a.json'), 'utf8')) as FileLockInfo;
      expect(onDisk.runId).toBe('run-000001');
      expect(await lock.current('prod-a')).toEqual(info);
      expect(await lock.current('other')).toBeNull();
    });

    it('refuses a second run while the holder is alive and unexpired, naming the holder', async () => {
      const lock = new FileLock(dir);
      const held = await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 600);
      const attempt = lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob', pid: process.pid }, 600);
      await expect(attempt).rejects.toBeInstanceOf(LockHeldError);
      const error = (await attempt.catch((e: unknown) => e)) as LockHeldError;
      expect(error.name).toBe('LockHeldError');
      expect(error.exitCode).toBe(3);
      for (const fact of ['run-000001', 'alice', String(process.pid), held.acquiredAt, held.expiresAt]) {
        expect(error.message).toContain(fact);
      }
      expect((await lock.current('prod-a'))?.runId).toBe('run-000001');
    });

    it('is re-entrant for the same run id: keeps acquiredAt, extends expiresAt, records the new pid', async () => {
      let now = new Date('2030-01-01T00:00:00Z');
      const lock = new FileLock(dir, { now: () => now });
      const first = await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: deadPid() }, 60);
      now = new Date('2030-01-01T00:00:30Z');
      const again = await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 60);
      expect(again.acquiredAt).toBe(first.acquiredAt);
      expect(again.expiresAt).toBe('2030-01-01T00:01:30.000Z');
      expect(again.pid).toBe(process.pid);
      expect(again.takenOver).toBeUndefined();
    });

    it('refuses the same run id from a second live process', async () => {
      const lock = new FileLock(dir);
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
      try {
        await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: child.pid }, 600);
        await expect(lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 600)).rejects.toThrow(LockHeldError);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('keeps the lock of a live holder on this machine past its expiry: liveness decides, not the clock', async () => {
      let now = new Date('2030-01-01T00:00:00Z');
      const lock = new FileLock(dir, { now: () => now });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 60);
      now = new Date('2030-01-01T03:00:00Z'); // three hours past expiry, the holder still alive
      await expect(lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob', pid: process.pid + 1 }, 60)).rejects.toThrow(LockHeldError);
      await lock.renew('prod-a', 'run-000001', 60);
      expect((await lock.current('prod-a'))?.runId).toBe('run-000001');
    });

    it('takes over an expired lock of another machine and records what it replaced', async () => {
      let now = new Date('2030-01-01T00:00:00Z');
      const elsewhere = new FileLock(dir, { now: () => now, hostname: 'other-machine' });
      await elsewhere.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 60);
      const lock = new FileLock(dir, { now: () => now });
      now = new Date('2030-01-01T00:01:00Z'); // exactly at expiry
      const info = await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob', pid: process.pid }, 60);
      expect(info.runId).toBe('run-000002');
      expect(info.takenOver).toMatchObject({
        runId: 'run-000001',
        startedBy: 'alice',
        reason: 'expired',
        expiresAt: '2030-01-01T00:01:00.000Z',
        at: '2030-01-01T00:01:00.000Z',
      });
      expect((await lock.current('prod-a'))?.takenOver?.runId).toBe('run-000001');
      expect(await readdir(dir)).toEqual(['prod-a.json']);
    });

    it('takes over an unexpired lock whose process is dead on this machine', async () => {
      const lock = new FileLock(dir);
      const pid = deadPid();
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid }, 3600);
      const info = await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob', pid: process.pid }, 60);
      expect(info.takenOver).toMatchObject({ runId: 'run-000001', pid, reason: 'holder process is dead' });
    });

    it("leaves no join requests behind: a dead holder's go with its lock when it is taken over, and a release removes the join folder", async () => {
      const lock = new FileLock(dir);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: deadPid() }, 3600);
      const join1 = { runId: 'run-000009', failed: [{ failed: 'master-4' }], startedBy: 'carol', at: '2030-01-01T00:00:00.000Z' };
      expect(await lock.requestJoin('prod-a', 'run-000001', join1)).toBe('requested');
      expect(await readdir(dir)).toContain('prod-a.joins');
      await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob', pid: process.pid }, 60);
      expect((await lock.current('prod-a'))?.joins).toBeUndefined();
      expect(await readdir(dir)).not.toContain('prod-a.joins');
      expect(await lock.requestJoin('prod-a', 'run-000002', join1)).toBe('requested');
      await lock.release('prod-a', 'run-000002');
      expect(await readdir(dir)).toEqual([]);
    });

    it('treats a live pid with another start time as a reused pid, so the holder is dead', async () => {
      const lock = new FileLock(dir);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: process.pid }, 3600);
      const path = join(dir, 'prod-a.json');
      const onDisk = JSON.parse(await readFile(path, 'utf8')) as FileLockInfo;
      expect(onDisk.pidStartTime).toMatch(/^\d+$/);
      await writeFile(path, JSON.stringify({ ...onDisk, pidStartTime: '1' }));
      const info = await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 60);
      expect(info.takenOver?.reason).toBe('holder process is dead');
    });

    it('does not judge the liveness of a pid recorded on another machine', async () => {
      const other = new FileLock(dir, { hostname: 'elsewhere' });
      await other.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: deadPid() }, 3600);
      const lock = new FileLock(dir, { hostname: 'here' });
      await expect(lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 60)).rejects.toThrow(LockHeldError);
    });

    it('lets exactly one of many concurrent acquirers in one process win', async () => {
      const attempts = Array.from({ length: 16 }, (_, i) =>
        new FileLock(dir).acquire('prod-a', { runId: `run-00000${i.toString(16)}`, startedBy: 'p', pid: process.pid }, 60),
      );
      const results = await Promise.allSettled(attempts);
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LockHeldError);
      const winner = (won[0] as PromiseFulfilledResult<FileLockInfo>).value;
      expect((await new FileLock(dir).current('prod-a'))?.runId).toBe(winner.runId);
    });

    it('lets exactly one of several racing processes win', async () => {
      const results = await raceProcesses(6, 'prod-a');
      const winners = results.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      for (const loser of results.filter((r) => !r.ok)) expect(loser.out).toContain('LockHeldError');
      expect((await new FileLock(dir).current('prod-a'))?.runId).toBe(winners[0]?.runId);
    });

    it('lets exactly one of several racing processes take over a dead holder’s lock', async () => {
      await new FileLock(dir).acquire('prod-a', { runId: 'run-dead01', startedBy: 'ghost', pid: deadPid() }, 3600);
      const results = await raceProcesses(6, 'prod-a');
      const winners = results.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      const current = await new FileLock(dir).current('prod-a');
      expect(current?.runId).toBe(winners[0]?.runId);
      expect(current?.takenOver).toMatchObject({ runId: 'run-dead01', reason: 'holder process is dead' });
      expect(await readdir(dir)).toEqual(expect.arrayContaining(['prod-a.json']));
      expect((await readdir(dir)).filter((f) => f.startsWith('prod-a'))).toEqual(['prod-a.json']);
    });

    it('rejects a cluster name that could escape the directory', async () => {
      const lock = new FileLock(dir);
      await expect(lock.acquire('../etc', { runId: 'run-000001', startedBy: 'alice' }, 60)).rejects.toThrow(InvalidInputError);
    });
  });

  describe('Method: renew', () => {
    it('extends the holder’s expiry', async () => {
      let now = new Date('2030-01-01T00:00:00Z');
      const lock = new FileLock(dir, { now: () => now });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      now = new Date('2030-01-01T00:00:50Z');
      await lock.renew('prod-a', 'run-000001', 60);
      expect((await lock.current('prod-a'))?.expiresAt).toBe('2030-01-01T00:01:50.000Z');
    });

    it('throws LockLostError for a run that no longer holds the lock', async () => {
      let now = new Date('2030-01-01T00:00:00Z');
      const lock = new FileLock(dir, { now: () => now });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      now = new Date('2030-01-01T00:02:00Z');
      await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 60);
      await expect(lock.renew('prod-a', 'run-000001', 60)).rejects.toThrow(LockLostError);
      await lock.release('prod-a', 'run-000002');
      await expect(lock.renew('prod-a', 'run-000002', 60)).rejects.toThrow(LockLostError);
    });
  });

  describe('Method: release', () => {
    it('removes the holder’s lock and ignores a release by anyone else', async () => {
      const lock = new FileLock(dir);
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      await lock.release('prod-a', 'run-000002');
      expect((await lock.current('prod-a'))?.runId).toBe('run-000001');
      await lock.release('prod-a', 'run-000001');
      expect(await lock.current('prod-a')).toBeNull();
      await lock.release('prod-a', 'run-000001');
      expect(await readdir(dir)).toEqual([]);
      const next = await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 60);
      expect(next.takenOver).toBeUndefined();
    });
  });
});
