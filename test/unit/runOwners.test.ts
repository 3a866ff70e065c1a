// A run has one owner at a time (sandbox/adapters/runOwners.ts, fileLock.ts): a live process's
// claim is refused to every other process, naming its pid and how to stop it; a claim whose process has
// exited, even one not yet reaped (a zombie), is taken over and named; only the owner proves ownership
// and releases. The cluster lock's release and heldElsewhere judge the owner the same way.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileLock } from '../../sandbox/adapters/fileLock.ts';
import { FileRunOwners, RunInProgressError } from '../../sandbox/adapters/runOwners.ts';
import { LockLostError, RefusedError } from '../../functions/errors.ts';
import { waitFor } from '../../sandbox/util.ts';

const started: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'run-owners-'));
  dirs.push(dir);
  return dir;
}

/** A live process other than this one. */
function otherProcess(): number {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  started.push(child);
  return child.pid!;
}

/** A child SIGKILLed under a parent that never reaps it: a zombie until the parent ends. */
async function zombie(): Promise<number> {
  const parent = spawn('bash', ['-c', 'sleep 300 & echo "$!"; exec sleep 300'], { stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(parent);
  let out = '';
  parent.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const pid = await waitFor('the child pid', 10_000, 20, async () => (/^(\d+)\n/.exec(out) ? Number(/^(\d+)\n/.exec(out)![1]) : undefined));
  await waitFor('the parent to exec sleep', 10_000, 20, async () =>
    (await readFile(`/proc/${parent.pid}/comm`, 'utf8')).trim() === 'sleep' ? true : undefined,
  );
  process.kill(pid, 'SIGKILL');
  await waitFor('a zombie', 10_000, 20, async () => ((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.startsWith('Z') ? true : undefined));
  return pid;
}

describe('Class: FileRunOwners', () => {
  describe('Method: claim', () => {
    it('refuses every other process while the owner lives, naming its pid, since when, and `kill PID`; a refusal, exit 3', async () => {
      const owners = new FileRunOwners(await scratch());
      const owner = otherProcess();
      await owners.claim('r-20300101-000000-aaaaaa', 'alice', owner);
      const error = await owners.claim('r-20300101-000000-aaaaaa', 'bob', process.pid, 'the same command').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RunInProgressError);
      expect(error).toBeInstanceOf(RefusedError);
      expect((error as RunInProgressError).exitCode).toBe(3);
      expect((error as Error).name).toBe('RunInProgressError');
      expect((error as Error).message).toMatch(
        new RegExp(
          `^run r-20300101-000000-aaaaaa is in progress in pid ${owner} on \\S+ since \\d{4}-.*; wait for it, or stop it with \`kill ${owner}\` .*the same command takes it over; nothing was changed$`,
        ),
      );
      expect(await owners.liveOtherOwner('r-20300101-000000-aaaaaa')).toMatchObject({ pid: owner });
    });

    it('takes over the claim of a process that has exited but is not reaped yet (a zombie), naming it', async () => {
      const owners = new FileRunOwners(await scratch());
      const dead = await zombie();
      await owners.claim('r-20300101-000000-bbbbbb', 'alice', dead);
      expect(await owners.liveOtherOwner('r-20300101-000000-bbbbbb')).toBeNull();
      const claim = await owners.claim('r-20300101-000000-bbbbbb', 'alice');
      expect(claim.owner).toMatchObject({ pid: process.pid, since: expect.any(String), pidStartTime: expect.stringMatching(/^\d+$/) });
      expect(claim.takenOver).toMatchObject({ pid: dead });
      await expect(owners.prove('r-20300101-000000-bbbbbb')).resolves.toBeUndefined();
    });

    it('claims a fresh run with nothing taken over; runs are independent', async () => {
      const owners = new FileRunOwners(await scratch());
      const owner = otherProcess();
      await owners.claim('r-20300101-000000-cccccc', 'alice', owner);
      const claim = await owners.claim('r-20300101-000000-dddddd', 'bob');
      expect(claim.takenOver).toBeUndefined();
    });
  });

  describe('Methods: prove and release', () => {
    it('proves only the owner; another process is told who owns the run (LockLostError), and its release changes nothing', async () => {
      const owners = new FileRunOwners(await scratch());
      const owner = otherProcess();
      await owners.claim('r-20300101-000000-eeeeee', 'alice', owner);
      await expect(owners.prove('r-20300101-000000-eeeeee', owner)).resolves.toBeUndefined();
      const error = await owners.prove('r-20300101-000000-eeeeee').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockLostError);
      expect((error as Error).message).toContain(`pid ${owner} since`);
      await owners.release('r-20300101-000000-eeeeee');
      expect(await owners.liveOtherOwner('r-20300101-000000-eeeeee')).toMatchObject({ pid: owner });
      await owners.release('r-20300101-000000-eeeeee', owner);
      expect(await owners.liveOtherOwner('r-20300101-000000-eeeeee')).toBeNull();
      await expect(owners.prove('r-20300101-000000-eeeeee', owner)).rejects.toThrow(/no process owns it/);
    });
  });
});

describe("Class: FileLock, the run's owner", () => {
  it("release leaves alone the lock of the same run held by another live process, and releases its own or a dead holder's", async () => {
    const lock = new FileLock(await scratch());
    const owner = otherProcess();
    await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: owner }, 60);
    await lock.release('prod-a', 'run-000001');
    await lock.release('prod-a', 'run-000001', { runId: 'run-000001', startedBy: 'alice', pid: process.pid });
    expect((await lock.current('prod-a'))?.pid).toBe(owner);
    await lock.release('prod-a', 'run-000001', { runId: 'run-000001', startedBy: 'alice', pid: owner });
    expect(await lock.current('prod-a')).toBeNull();

    const dead = await zombie();
    await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice', pid: dead }, 60);
    await lock.release('prod-a', 'run-000001');
    expect(await lock.current('prod-a')).toBeNull();
  });

  it("heldElsewhere names a live other process holding the run's lock; not the caller, a dead holder, or another run", async () => {
    const lock = new FileLock(await scratch());
    const owner = otherProcess();
    const me = { runId: 'run-000001', startedBy: 'alice', pid: process.pid };
    await lock.acquire('prod-a', { ...me, pid: owner }, 60);
    expect(await lock.heldElsewhere('prod-a', me)).toMatchObject({ runId: 'run-000001', pid: owner });
    expect(await lock.heldElsewhere('prod-a', { ...me, pid: owner })).toBeNull();
    expect(await lock.heldElsewhere('prod-a', { ...me, runId: 'run-000002' })).toBeNull();
    expect(await lock.heldElsewhere('prod-b', me)).toBeNull();
    await lock.release('prod-a', 'run-000001', { ...me, pid: owner });
    await lock.acquire('prod-a', { ...me, pid: await zombie() }, 60);
    expect(await lock.heldElsewhere('prod-a', me)).toBeNull();
  });
});
