// A lock holder's liveness on this machine (sandbox/adapters/fileLock.ts): a process that has
// exited is dead even while its parent has not reaped it yet (a zombie still answers kill(pid, 0)), so
// its lock is taken over at once. The zombie here is real: a child SIGKILLed under a parent that never
// waits for it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { FileLock, processExists } from '../../sandbox/adapters/fileLock.ts';
import { waitFor } from '../../sandbox/util.ts';

const started: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  // The parents this test started; their zombie children go to init, which reaps them.
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** The state letter of /proc/<pid>/stat (field 3). */
async function stateOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
}

/**
 * A child under a parent that never reaps: bash starts `sleep` in the background, prints its pid, then
 * becomes another `sleep` by exec, which never waits for children. `kill()` SIGKILLs the child, which then
 * stays a zombie until that parent ends.
 */
async function unreapedChild(): Promise<{ pid: number; parent: ChildProcess; kill: () => Promise<void> }> {
  const parent = spawn('bash', ['-c', 'sleep 300 & echo "$!"; exec sleep 300'], { stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(parent);
  let out = '';
  parent.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const pid = await waitFor('the child pid', 10_000, 20, async () => {
    const printed = /^(\d+)\n/.exec(out);
    return printed ? Number(printed[1]) : undefined;
  });
  // The exec has happened once the parent runs sleep: from then on nothing reaps the child.
  await waitFor('the parent to exec sleep', 10_000, 20, async () =>
    (await readFile(`/proc/${parent.pid}/comm`, 'utf8')).trim() === 'sleep' ? true : undefined,
  );
  const kill = async () => {
    process.kill(pid, 'SIGKILL');
    await waitFor('the child to become a zombie', 10_000, 20, async () => ((await stateOf(pid)) === 'Z' ? true : undefined));
  };
  return { pid, parent, kill };
}

describe('Function: processExists', () => {
  it('takes a zombie (killed, not yet reaped by its parent) for dead, though kill(pid, 0) still finds it', async () => {
    const { pid, parent, kill } = await unreapedChild();
    expect(await processExists(pid)).toBe(true);
    await kill();
    // Still there for kill(2) and /proc: only its state says it has exited.
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(await stateOf(pid)).toBe('Z');
    expect(await processExists(pid)).toBe(false);
    // Its parent, alive and running, is alive.
    expect(await processExists(parent.pid!)).toBe(true);
    expect(await processExists(process.pid)).toBe(true);
  });

  it('takes a pid that is no positive integer for no process (kill(2) would read 0 and -1 as groups)', async () => {
    for (const pid of [0, -1, 1.5, Number.NaN]) expect(await processExists(pid)).toBe(false);
  });
});

describe('Class: FileLock', () => {
  it('takes over at once the unexpired lock of a holder that is a zombie on this machine', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filelock-zombie-'));
    dirs.push(dir);
    const { pid, parent, kill } = await unreapedChild();
    // Two holders take a lock each while they run (their start times recorded).
    await new FileLock(dir).acquire('prod-a', { runId: 'run-parent', startedBy: 'ghost', pid: parent.pid! }, 3600);
    await new FileLock(dir).acquire('prod-b', { runId: 'run-zombie', startedBy: 'ghost', pid }, 3600);
    // While the child runs, its lock holds.
    await expect(new FileLock(dir).acquire('prod-b', { runId: 'run-000001', startedBy: 'bob', pid: process.pid }, 3600)).rejects.toThrow(
      /held by run run-zombie /,
    );
    await kill();

    const info = await new FileLock(dir).acquire('prod-b', { runId: 'run-000002', startedBy: 'bob', pid: process.pid }, 3600);
    expect(info.runId).toBe('run-000002');
    expect(info.takenOver).toMatchObject({ runId: 'run-zombie', pid, reason: 'holder process is dead' });
    // The live parent keeps its unexpired lock.
    await expect(new FileLock(dir).acquire('prod-a', { runId: 'run-000003', startedBy: 'carol', pid: process.pid }, 3600)).rejects.toThrow(
      /held by run run-parent /,
    );
  });
});
