// A run has one owner at a time (etcd 3.2.22 by default), on one 3-member sandbox with four spares, the
// cases in sequence, each replacing another failed member (the RollMasters case finishes the replacement
// the StartNewMember case left undone, on purpose).
//
// The run is held at a known point (the hold hook of functions/workflow/localRun.ts), never raced. While
// it is alive, the same command and `resume` each exit 3 within 2 s (beyond the CLI's own start-up on this
// shared machine) naming its pid, and change nothing:
// the lock, the record, the store and the hosts are as they were; the held run then ends as it would
// have alone, its record its own. Held before AcquireLock (no lock yet), in the grace window (before
// ConfirmMemberFailed), before StartNewMember with a new member that cannot start (the run compensates,
// its lock its own to release), and before RollMasters.
// A runner killed with SIGKILL and left a zombie (its parent never reaps it): the same command, started
// within 100 ms, takes the run over and finishes it, the takeover in the record.
// A step that times out: nothing of it is left running on its host, and its lock is no longer renewed.

import { spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, hostExec, type SandboxInfo } from '../../sandbox/index.ts';
import { DEFAULT_LOCK_DIR } from '../../sandbox/adapters/fileLock.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { SandboxHostRunner } from '../../sandbox/adapters/hostRunner.ts';
import { sandboxDeps } from '../../sandbox/adapters/deps.ts';
import { STEPS } from '../../functions/steps/index.ts';
import { HOLD_FILE_ENV, HOLD_STEP_ENV, newRunRecord, runLocally } from '../../functions/workflow/localRun.ts';
import type { RunRecord } from '../../functions/ports.ts';
import type { Step } from '../../functions/workflow/step.ts';
import { BIN, REPO } from '../support/cli.ts';
import {
  digestTree,
  downAll,
  healthOf,
  memberNames,
  membersNow,
  membershipOf,
  parseRunJson,
  sh,
  stepStatus,
  upSandbox,
  WatchedCli,
} from '../support/safetyHelpers.ts';
import { waitFor } from '../../sandbox/util.ts';

const created: string[] = [];
const scratch: string[] = [];
/** Processes this file started outside WatchedCli (the zombie's parent, a port holder): ended by pid in afterAll. */
const started: number[] = [];

afterAll(async () => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (const dir of scratch) await fs.rm(dir, { recursive: true, force: true });
  await downAll(created);
});

const fqdn = (host: string) => `${host}.sandbox.test`;
const lockFile = (sandbox: SandboxInfo) => `${DEFAULT_LOCK_DIR}/${sandbox.name}.json`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readJson(file: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** The lock as an intruder must leave it: who holds it and since when (its renewals aside). */
async function lockHolder(sandbox: SandboxInfo): Promise<Record<string, unknown> | null> {
  const lock = await readJson(lockFile(sandbox));
  if (!lock) return null;
  const { token: _token, expiresAt: _expiresAt, ...holder } = lock;
  return holder;
}

/** Every file of the run's artifacts in the store, with its size. */
async function storeOf(sandbox: SandboxInfo, runId: string): Promise<string[]> {
  const dir = `${sandbox.stateDir}/artifacts/runs/${runId}`;
  try {
    return await Promise.all((await fs.readdir(dir)).sort().map(async (f) => `${f} ${(await fs.stat(path.join(dir, f))).size}`));
  } catch {
    return [];
  }
}

/** What an intruder must not change: lock holder, the record's text, the store, membership, the new host's /etc/etcd. */
async function picture(sandbox: SandboxInfo, runId: string, survivor: string, replacement: string) {
  return {
    lock: await lockHolder(sandbox),
    record: await fs.readFile(path.join(new FileRunStore().dir, `${runId}.json`), 'utf8'),
    store: await storeOf(sandbox, runId),
    members: membershipOf(await membersNow(sandbox, [survivor])),
    newHost: await digestTree(sandbox, replacement, '/etc/etcd'),
  };
}

/** A new hold file in a scratch directory; the run waits while it exists. */
async function holdFile(step: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'one-owner-'));
  scratch.push(dir);
  const file = path.join(dir, step);
  await fs.writeFile(file, '');
  return file;
}

/** The CLI watched as it runs, with these variables added to this process's environment. */
function watchedWith(args: string[], env: Record<string, string>): WatchedCli {
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  try {
    return new WatchedCli(args);
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** The CLI run whole, timed; no hold variables (an operator's plain command). */
function timedCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const begun = Date.now();
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env[HOLD_STEP_ENV];
    delete env[HOLD_FILE_ENV];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - begun }));
  });
}

const runArgs = (sandbox: SandboxInfo, failed: string, replacement: string, grace = '0') => [
  'run',
  '--sandbox',
  sandbox.name,
  '--failed',
  failed,
  '--replacement',
  replacement,
  '--grace-seconds',
  grace,
  '--json',
];

/**
 * The same command and `resume` against the held run: each exits 3 within 2 s naming the run, its pid
 * and how to stop it, and the lock, the record, the store and the hosts are as they were.
 */
async function intrudersRefused(sandbox: SandboxInfo, args: string[], runner: WatchedCli, runId: string, survivor: string, replacement: string): Promise<void> {
  const before = await picture(sandbox, runId, survivor, replacement);
  for (const intruder of [args, ['resume', runId]]) {
    // The CLI's own start-up on this (shared, loaded) machine: a command refused before it reads anything of a run.
    const startup = await timedCli(['resume', 'r-19700101-000000-000000']);
    expect(startup.code).toBe(2);
    const out = await timedCli(intruder);
    expect({ code: out.code, stderr: out.stderr }).toMatchObject({ code: 3 });
    console.log(`intruder ${intruder[0]}: exit 3 after ${out.ms} ms (a CLI start-up took ${startup.ms} ms)`);
    expect(out.ms - startup.ms).toBeLessThan(2000);
    expect(out.stderr).toContain(`run ${runId} is in progress in pid ${runner.child.pid}`);
    expect(out.stderr).toContain(`kill ${runner.child.pid}`);
    expect(out.stdout).toBe('');
  }
  expect(await picture(sandbox, runId, survivor, replacement)).toEqual(before);
}

/** The held run's id, from the record that names it (the newest running record of the sandbox). */
async function heldRunId(sandbox: SandboxInfo): Promise<string> {
  const records = await new FileRunStore().list({ cluster: sandbox.name });
  const running = records.find((r) => r.outcome === 'running');
  if (!running) throw new Error('no running record');
  return running.runId;
}

/** A record written by one process only: owned by `pid`, no takeover. */
function ownRecord(record: RunRecord, pid: number | undefined): void {
  expect(record.owner?.pid).toBe(pid);
  expect(record.events ?? []).toEqual([]);
}

describe('One owner per run, on the sandbox', () => {
  let sandbox: SandboxInfo;
  beforeAll(async () => {
    sandbox = await upSandbox(created, 't-own', { members: 3, spares: 4, nodes: 1, dataMb: 2 });
  });

  it('before the lock (held before AcquireLock): the same command and resume exit 3, nothing changed; the run then replaces master-2 alone', async () => {
    await failHost(sandbox.name, 'master-2', 'kill');
    const args = runArgs(sandbox, 'master-2', 'etcd-spare-0');
    const hold = await holdFile('AcquireLock');
    const runner = watchedWith(args, { [HOLD_STEP_ENV]: 'AcquireLock', [HOLD_FILE_ENV]: hold });
    let runId = '';
    try {
      await runner.waitFor(/^hold: AcquireLock waits while /);
      runId = await heldRunId(sandbox);
      expect(await lockHolder(sandbox)).toBeNull();
      await intrudersRefused(sandbox, args, runner, runId, 'master-0', 'etcd-spare-0');
      expect(await lockHolder(sandbox)).toBeNull();
      await fs.rm(hold);
    } catch (error) {
      runner.kill();
      throw error;
    }
    const out = await runner.done;
    const result = parseRunJson(out.stdout);
    expect({ code: out.code, stderr: out.stderr }).toMatchObject({ code: 0 });
    expect(result).toMatchObject({ runId, outcome: 'succeeded' });
    ownRecord((await new FileRunStore().get(runId))!, runner.child.pid);
    expect(memberNames(await membersNow(sandbox, ['master-0']))).toEqual(['master-0', 'master-1', 'etcd-spare-0'].map(fqdn).sort());
    expect(await healthOf(sandbox, 'master-0', ['master-0', 'master-1', 'etcd-spare-0'])).toEqual([true, true, true]);
    expect(await lockHolder(sandbox)).toBeNull();
  });

  it('in the grace window (held before ConfirmMemberFailed): refused, nothing changed; the run then replaces master-1 alone', async () => {
    await failHost(sandbox.name, 'master-1', 'kill');
    const args = runArgs(sandbox, 'master-1', 'etcd-spare-1', '2');
    const hold = await holdFile('ConfirmMemberFailed');
    const runner = watchedWith(args, { [HOLD_STEP_ENV]: 'ConfirmMemberFailed', [HOLD_FILE_ENV]: hold });
    let runId = '';
    try {
      await runner.waitFor(/^hold: ConfirmMemberFailed waits while /);
      runId = await heldRunId(sandbox);
      expect((await lockHolder(sandbox))?.['pid']).toBe(runner.child.pid);
      await intrudersRefused(sandbox, args, runner, runId, 'master-0', 'etcd-spare-1');
      // master-1 is still a member: no intruder went on to remove it.
      expect(memberNames(await membersNow(sandbox, ['master-0']))).toContain(fqdn('master-1'));
      await fs.rm(hold);
    } catch (error) {
      runner.kill();
      throw error;
    }
    const out = await runner.done;
    expect({ code: out.code, stderr: out.stderr }).toMatchObject({ code: 0 });
    expect(parseRunJson(out.stdout)).toMatchObject({ runId, outcome: 'succeeded' });
    ownRecord((await new FileRunStore().get(runId))!, runner.child.pid);
    expect(memberNames(await membersNow(sandbox, ['master-0']))).toEqual(['master-0', 'etcd-spare-0', 'etcd-spare-1'].map(fqdn).sort());
    expect(await lockHolder(sandbox)).toBeNull();
  });

  it('in StartNewMember with a new member that cannot start: refused, nothing changed; the run compensates alone, its own lock released', async () => {
    await failHost(sandbox.name, 'etcd-spare-0', 'kill');
    const args = runArgs(sandbox, 'etcd-spare-0', 'etcd-spare-2');
    const hold = await holdFile('StartNewMember');
    // A new member that makes no progress is given up after 15 s per attempt instead of 60 (the sandbox's wait from the environment).
    const runner = watchedWith(args, { [HOLD_STEP_ENV]: 'StartNewMember', [HOLD_FILE_ENV]: hold, ETCD_REPLACE_MEMBER_START_SECONDS: '15' });
    let runId = '';
    let holder = 0;
    try {
      await runner.waitFor(/^hold: StartNewMember waits while /);
      runId = await heldRunId(sandbox);
      // The new member's etcd cannot start: a process holds its peer port (until compensation starts).
      holder = Number(
        (
          await sh(
            sandbox,
            'etcd-spare-2',
            `${process.execPath} -e "require('net').createServer(() => {}).listen(2380, '0.0.0.0')" </dev/null >/dev/null 2>&1 & echo $!`,
          )
        ).trim(),
      );
      started.push(holder);
      await waitFor('the port holder to listen', 20_000, 200, async () => (await sh(sandbox, 'etcd-spare-2', "ss -Hltn '( sport = :2380 )'")).trim() !== '');
      await intrudersRefused(sandbox, args, runner, runId, 'master-0', 'etcd-spare-2');
      void runner.waitFor(/^▶ CompensateNewMember$/).then(
        () => process.kill(holder, 'SIGKILL'),
        () => undefined,
      );
      await fs.rm(hold);
    } catch (error) {
      runner.kill();
      throw error;
    }
    const out = await runner.done;
    const result = parseRunJson(out.stdout);
    expect({ code: out.code, stderr: out.stderr }).toMatchObject({ code: 1 });
    expect(result).toMatchObject({ runId, outcome: 'failed' });
    expect(stepStatus(result)).toMatchObject({
      StartNewMember: 'failed',
      CompensateNewMember: 'succeeded',
      DiscardKeyBundle: expect.stringMatching(/succeeded|skipped/),
      ReleaseLock: 'succeeded',
    });
    const record = (await new FileRunStore().get(runId))!;
    ownRecord(record, runner.child.pid);
    expect(record.steps.find((s) => s.name === 'CompensateNewMember')?.detail).toMatch(/removed member [0-9a-f]{16}/);
    expect(out.stderr).not.toMatch(/nobody holds/);
    // Two voters, both healthy; no unstarted member; the new host's etcd not running; no bundle in the store; no lock.
    const members = await membersNow(sandbox, ['master-0']);
    expect(memberNames(members)).toEqual(['master-0', 'etcd-spare-1'].map(fqdn).sort());
    expect(await healthOf(sandbox, 'master-0', ['master-0', 'etcd-spare-1'])).toEqual([true, true]);
    expect((await sh(sandbox, 'etcd-spare-2', 'systemctl is-active etcd || true')).trim()).not.toBe('active');
    expect((await storeOf(sandbox, runId)).filter((f) => f.startsWith('bundle-'))).toEqual([]);
    expect(await lockHolder(sandbox)).toBeNull();
  });

  it('in RollMasters (the same command finishing that replacement): refused, nothing changed; the run then finishes alone', async () => {
    const args = runArgs(sandbox, 'etcd-spare-0', 'etcd-spare-2');
    const hold = await holdFile('RollMasters');
    const runner = watchedWith(args, { [HOLD_STEP_ENV]: 'RollMasters', [HOLD_FILE_ENV]: hold });
    let runId = '';
    const masterConfig = async () => await sh(sandbox, 'master-0', 'cat /etc/origin/master/master-config.yaml');
    try {
      await runner.waitFor(/^hold: RollMasters waits while /);
      runId = await heldRunId(sandbox);
      const config = await masterConfig();
      await intrudersRefused(sandbox, args, runner, runId, 'master-0', 'etcd-spare-2');
      expect(await masterConfig()).toBe(config);
      await fs.rm(hold);
    } catch (error) {
      runner.kill();
      throw error;
    }
    const out = await runner.done;
    expect({ code: out.code, stderr: out.stderr }).toMatchObject({ code: 0 });
    const result = parseRunJson(out.stdout);
    expect(result).toMatchObject({ runId, outcome: 'succeeded' });
    expect(stepStatus(result)).toMatchObject({ RollMasters: 'succeeded', AddMember: 'succeeded', StartNewMember: 'succeeded' });
    ownRecord((await new FileRunStore().get(runId))!, runner.child.pid);
    expect(memberNames(await membersNow(sandbox, ['master-0']))).toEqual(['master-0', 'etcd-spare-1', 'etcd-spare-2'].map(fqdn).sort());
    expect(await healthOf(sandbox, 'master-0', ['master-0', 'etcd-spare-1', 'etcd-spare-2'])).toEqual([true, true, true]);
    expect(await masterConfig()).toContain(`https://${fqdn('etcd-spare-2')}:2379`);
    expect(await masterConfig()).not.toContain(fqdn('etcd-spare-0'));
    expect(await lockHolder(sandbox)).toBeNull();
  });

  it('a runner killed with SIGKILL and left a zombie: the same command within 100 ms takes the run over and finishes it', async () => {
    await failHost(sandbox.name, 'etcd-spare-1', 'kill');
    const args = runArgs(sandbox, 'etcd-spare-1', 'etcd-spare-3');
    const hold = await holdFile('AddMember');
    const dir = path.dirname(hold);
    // The runner's parent never waits for it (bash replaced by sleep): once killed, it stays a zombie.
    const parent = spawn('bash', ['-c', `"$@" >"${dir}/out" 2>"${dir}/err" </dev/null & echo $!; exec sleep 600`, 'parent', process.execPath, BIN, ...args], {
      cwd: REPO,
      env: { ...process.env, [HOLD_STEP_ENV]: 'AddMember', [HOLD_FILE_ENV]: hold },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    started.push(parent.pid!);
    const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim()))));
    started.push(pid);
    await waitFor('the runner to hold before AddMember', 240_000, 200, async () =>
      /^hold: AddMember waits while /m.test(await fs.readFile(`${dir}/err`, 'utf8').catch(() => '')),
    );
    const runId = await heldRunId(sandbox);
    const state = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];

    process.kill(pid, 'SIGKILL');
    const killed = Date.now();
    while (state() !== 'Z') await sleep(2);
    const taker = new WatchedCli(args);
    const delay = Date.now() - killed;
    const out = await taker.done;

    expect(delay).toBeLessThan(100);
    expect(state()).toBe('Z');
    expect({ code: out.code, stderr: out.stderr }).toMatchObject({ code: 0 });
    expect(out.stderr).toContain(`resuming unfinished run ${runId} at AddMember`);
    expect(parseRunJson(out.stdout)).toMatchObject({ runId, outcome: 'succeeded' });
    const record = (await new FileRunStore().get(runId))!;
    expect(record.owner?.pid).toBe(taker.child.pid);
    expect(record.events).toEqual([
      {
        at: expect.any(String),
        type: 'takeover',
        detail: expect.stringMatching(new RegExp(`^pid ${taker.child.pid} took the run over at AddMember: pid ${pid} .*no longer runs it$`)),
      },
    ]);
    expect(memberNames(await membersNow(sandbox, ['master-0']))).toEqual(['master-0', 'etcd-spare-2', 'etcd-spare-3'].map(fqdn).sort());
    expect(await healthOf(sandbox, 'master-0', ['master-0', 'etcd-spare-2', 'etcd-spare-3'])).toEqual([true, true, true]);
    expect(await lockHolder(sandbox)).toBeNull();
    process.kill(parent.pid!, 'SIGKILL');
  });

  it('a step that times out is cancelled: no process of it is left on its host, and its lock is not renewed after the timeout', async () => {
    const scripts = await fs.mkdtemp(path.join(tmpdir(), 'one-owner-scripts-'));
    scratch.push(scripts);
    const marker = `one-owner-${process.pid}-${Date.now()}`;
    await fs.writeFile(path.join(scripts, 'SleepLong.sh'), 'sleep 300 &\nsleep 301\n');
    const deps = await sandboxDeps(sandbox.name, { log: () => undefined });
    const runner = new SandboxHostRunner(sandbox, scripts);
    const host = sandbox.hosts.find((h) => h.name === 'master-0')!;
    const onHost = async () => (await hostExec(sandbox, 'master-0', ['bash', '-c', `pgrep -af '${marker}' | grep -v pgrep || true`])).stdout.trim();
    let afterTimeout: { lock: Record<string, unknown> | null; processes: string } | undefined;
    let later: Record<string, unknown> | null = null;
    // The step's host command: a script that starts a child and waits, both running until killed.
    const slow: Step = async () => {
      await runner.run({
        host: { name: host.name, hostname: host.hostname, ip: host.ip, roles: [...host.roles] },
        script: 'SleepLong',
        args: [marker],
        timeoutSeconds: 600,
      });
      return { output: {}, detail: 'finished' };
    };
    // The first closing step looks at the host and the lock once the timeout is reported, and again 3 s later.
    const closing: Step = async () => {
      afterTimeout = { lock: await readJson(lockFile(sandbox)), processes: await onHost() };
      await sleep(3000);
      later = await readJson(lockFile(sandbox));
      return { output: {}, detail: 'looked', skipped: true };
    };
    const runDir = await fs.mkdtemp(path.join(tmpdir(), 'one-owner-runs-'));
    scratch.push(runDir);
    const runs = new FileRunStore(runDir);
    const record = newRunRecord(
      {
        runId: `r-timeout-${Date.now()}`,
        request: { cluster: sandbox.name, failed: 'etcd-spare-1', startedBy: 'test:timeout' },
        options: { graceSeconds: 0, learner: 'auto' },
      },
      'sandbox',
      new Date(),
    );
    record.state = 'CheckClusterHealth';
    await deps.lock.acquire(sandbox.name, { runId: record.runId, startedBy: 'test:timeout', pid: process.pid }, 3);
    const taken = await readJson(lockFile(sandbox));
    let seenDuring: Record<string, unknown> | null = null;
    let ended: RunRecord;
    try {
      const watch = setInterval(() => void readJson(lockFile(sandbox)).then((l) => (afterTimeout === undefined ? (seenDuring = l) : undefined)), 500);
      try {
        ended = await runLocally(record, {
          deps: { ...deps, waits: { ...deps.waits, lockTtlSeconds: 3 } },
          steps: {
            ...STEPS,
            CheckClusterHealth: slow,
            DiscardKeyBundle: closing,
            RecordClusterState: async () => ({ output: {}, detail: 'not asked', skipped: true }),
          },
          runs,
          target: 'sandbox',
          hold: null,
          timeouts: { CheckClusterHealth: 4 },
        });
      } finally {
        clearInterval(watch);
      }
    } finally {
      await deps.lock.release(sandbox.name, record.runId);
      await deps.close();
    }
    expect(ended.outcome).toBe('failed');
    expect(ended.reason).toMatch(/^States\.Timeout: CheckClusterHealth did not finish within 4s/);
    // The lock was renewed while the step ran (every second), then never again once the timeout was reported.
    expect(Date.parse(String((seenDuring as Record<string, unknown> | null)?.['expiresAt']))).toBeGreaterThan(Date.parse(String(taken?.['expiresAt'])) + 1000);
    expect(afterTimeout?.processes).toBe('');
    expect(afterTimeout?.lock?.['token']).toBeDefined();
    expect(later?.['token']).toBe(afterTimeout?.lock?.['token']);
    expect(later?.['expiresAt']).toBe(afterTimeout?.lock?.['expiresAt']);
    expect(await onHost()).toBe('');
  });
});
