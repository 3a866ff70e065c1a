// The cluster lock lives exactly as long as its run, on the real sandbox: a run held past its lock's
// lifetime keeps it (renewed as it goes, and a live holder is judged by liveness), and a run whose
// lock was taken away stops before its next membership change, Refused.

import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, type SandboxInfo } from '../../sandbox/index.ts';
import { DEFAULT_LOCK_DIR, FileLock } from '../../functions/adapters/sandbox/fileLock.ts';
import { LockHeldError } from '../../functions/errors.ts';
import { FileRunStore } from '../../functions/adapters/sandbox/fileRunStore.ts';
import { downAll, eventually, exitOf, memberNames, membersNow, parseRunJson, stepStatus, upSandbox, WatchedCli } from '../support/safetyHelpers.ts';

const created: string[] = [];
let sandbox: SandboxInfo;

beforeAll(async () => {
  sandbox = await upSandbox(created, 't-lck', { members: 3, spares: 2, nodes: 1, dataMb: 2 });
});
afterAll(async () => {
  delete process.env['ETCD_REPLACE_LOCK_TTL_SECONDS'];
  await downAll(created);
});

const fqdn = (host: string) => `${host}.sandbox.test`;
const runArgs = (failed: string, replacement: string) => ['run', '--sandbox', sandbox.name, '--failed', failed, '--replacement', replacement, '--grace-seconds', '1', '--json'];
const lockFile = () => `${DEFAULT_LOCK_DIR}/${sandbox.name}.json`;

describe('Lock: as long as its run', () => {
  it('keeps the lock of a run held past its lifetime (3 s): a second run is refused long after, the first succeeds', async () => {
    await failHost(sandbox.name, 'master-2', 'kill');
    process.env['ETCD_REPLACE_LOCK_TTL_SECONDS'] = '3';
    const cli = new WatchedCli(runArgs('master-2', 'etcd-spare-0'));
    await cli.waitFor(/^✓ AcquireLock/);
    const first = JSON.parse(await fs.readFile(lockFile(), 'utf8')) as { runId: string; expiresAt: string };
    // Well past the first expiry, while the run goes on (its membership steps are still ahead).
    await cli.waitFor(/^▶ AddMember$/);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(first.expiresAt) + 4000 - Date.now())));
    // Another run's acquire, judging the lock as any contender does.
    const second = await new FileLock().acquire(sandbox.name, { runId: 'r-20261202-000000-fedcba', startedBy: 'contender', pid: process.pid }, 60).catch((e: unknown) => e);
    const now = JSON.parse(await fs.readFile(lockFile(), 'utf8').catch(() => '{}')) as { runId?: string; expiresAt?: string };
    const out = await cli.done;
    delete process.env['ETCD_REPLACE_LOCK_TTL_SECONDS'];

    expect(second).toBeInstanceOf(LockHeldError);
    expect((second as Error).message).toContain(first.runId);
    // The lock file still named the first run, renewed past its first expiry.
    expect(now.runId).toBe(first.runId);
    expect(Date.parse(now.expiresAt ?? '')).toBeGreaterThan(Date.parse(first.expiresAt));
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('succeeded');
    expect(memberNames(await membersNow(sandbox, ['master-0']))).toContain(fqdn('etcd-spare-0'));
  });

  it('stops a run whose lock was taken away before its next membership change: Refused, the failed member not removed', async () => {
    await failHost(sandbox.name, 'master-1', 'kill');
    const before = memberNames(await membersNow(sandbox, ['master-0']));
    const cli = new WatchedCli(runArgs('master-1', 'etcd-spare-1'));
    // The lock as InstallEtcd, the step before the grace window, left it.
    await cli.waitFor(/^[✓–] InstallEtcd /);
    const proven = (JSON.parse(await fs.readFile(lockFile(), 'utf8')) as { expiresAt: string }).expiresAt;
    await cli.waitFor(/^▶ ConfirmMemberFailed$/);
    // Another holder takes the lock (as a takeover or an operator breaking it would), once the step has
    // proven its own hold: its re-entrant take extends the lock. The step's observation then takes
    // seconds, so RemoveFailedMember is the next step to prove it.
    const held = await eventually('ConfirmMemberFailed to prove its hold', 30_000, async () => {
      const lock = JSON.parse(await fs.readFile(lockFile(), 'utf8')) as Record<string, unknown>;
      return lock['expiresAt'] !== proven ? lock : undefined;
    });
    const intruder = { ...held, runId: 'r-20261202-000000-abcdef', startedBy: 'intruder', pid: undefined, host: undefined, token: randomBytes(16).toString('hex') };
    const tmp = `${lockFile()}.test-${process.pid}`;
    await fs.writeFile(tmp, JSON.stringify(intruder));
    await fs.rename(tmp, lockFile());
    const out = await cli.done;
    const result = parseRunJson(out.stdout);
    const record = (await new FileRunStore().get(result.runId))!;
    await fs.rm(lockFile(), { force: true });

    expect(result.outcome).toBe('refused');
    expect(exitOf(out).code).toBe(3);
    expect(result.reason).toMatch(/^LockLostError: run r-[0-9a-z-]+ no longer holds the lock of cluster t-lck-[0-9a-f]+: run r-20261202-000000-abcdef \(started by intruder\)/);
    expect(record.steps.find((s) => s.name === 'RemoveFailedMember')?.error?.name).toBe('LockLostError');
    const status = stepStatus(result);
    expect(status).toMatchObject({ RemoveFailedMember: 'failed', AddMember: 'skipped', DiscardKeyBundle: expect.stringMatching(/succeeded|skipped/), ReleaseLock: 'succeeded' });
    expect(Object.values(status).filter((s) => s === 'failed')).toHaveLength(1);
    // No membership change after the lock was lost: the failed member is still listed.
    expect(memberNames(await membersNow(sandbox, ['master-0']))).toEqual(before);
    expect(record.outcome).toBe('refused');
  });
});
