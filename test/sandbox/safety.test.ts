// Safety promises on real etcd, through the CLI as an operator runs it: refusals that change nothing
// (a healthy member, no quorum, the CA host, a held lock, hostile input), a stale lock taken over,
// both the learner and the plain `member add` paths, and, after full runs, no private key anywhere a
// run leaves text (run record, CLI output, history, every script argument) and a verified snapshot.
// One sandbox, in order: refusals on the healthy cluster, the CA host failed (partitioned, then
// healed), the lock, two full runs, no quorum. `--learner never` on etcd 3.4 (where it changes the path) runs in test/sandbox/learner/.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, loadSandbox, type SandboxInfo } from '../../sandbox/index.ts';
import { FileLock } from '../../sandbox/adapters/fileLock.ts';
import { FileRunStore, runDirFromEnv } from '../../sandbox/adapters/fileRunStore.ts';
import { sandboxDeps } from '../../sandbox/adapters/deps.ts';
import { EtcdctlMembership } from '../../functions/adapters/etcdctl.ts';
import type { HostRunner, RunRecord, ScriptRequest } from '../../functions/ports.ts';
import { STEPS } from '../../functions/steps/index.ts';
import { newRunRecord, runLocally } from '../../functions/workflow/localRun.ts';
import { newRunId } from '../../cli/sandboxRun.ts';
import { onHost } from '../support/clusterFacts.ts';
import { recordBefore, verifyReplaced } from '../support/verifyReplaced.ts';
import { expectVerifiedSnapshot, replaceWithoutLearner, runArgs } from '../support/runChecks.ts';
import {
  digestTree,
  exitOf,
  downAll,
  healthOf,
  memberNames,
  membersNow,
  membershipOf,
  parseRunJson,
  pemBodyLines,
  runsOf,
  secretFindings,
  stepStatus,
  upSandbox,
  healPartition,
} from '../support/safetyHelpers.ts';
import { cli } from '../support/cli.ts';

const created: string[] = [];
let a: SandboxInfo; // 3 members, 2 spares: refusals, the CA host failed, lock, then two full runs, then no quorum

beforeAll(async () => {
  a = await upSandbox(created, 't-saf', { members: 3, spares: 2, nodes: 1, dataMb: 2 });
});

afterAll(async () => {
  await downAll(created);
});

/** A run record of `cluster` cut off mid-write, as a kill of an older writer left one; its path. */
async function plantTruncatedRecord(cluster: string): Promise<string> {
  const runId = `r-20261201-000000-${randomBytes(3).toString('hex')}`;
  const file = `${runDirFromEnv()}/${runId}.json`;
  await fs.mkdir(runDirFromEnv(), { recursive: true });
  await fs.writeFile(file, `{"runId":"${runId}","cluster":"${cluster}","target":"sandbox","outcome":"running","steps":[{"name":"AddMember","sta`);
  return file;
}

/** The cluster's lock file as it stands, or null. */
async function lockNow(cluster: string): Promise<unknown> {
  return new FileLock().current(cluster);
}

describe('refusals that change nothing', () => {
  it('refuses to replace a healthy member (exit 3), membership unchanged', async () => {
    const before = membershipOf(await membersNow(a, ['master-0']));
    const out = await cli(runArgs(a, 'master-2', 'etcd-spare-0'));
    expect(exitOf(out)).toMatchObject({ code: 3 });
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('refused');
    expect(result.reason).toMatch(/RefusedError: member .* answers health checks .* refusing to remove a healthy member/);
    expect(stepStatus(result)).toMatchObject({ CheckClusterHealth: 'failed', SnapshotCluster: 'skipped', RemoveFailedMember: 'skipped', AddMember: 'skipped' });
    expect(membershipOf(await membersNow(a, ['master-0']))).toEqual(before);
  });

  it('hostile inputs: exit 2 with a clear message, no command runs, nothing changes, no run record', async () => {
    const before = membershipOf(await membersNow(a, ['master-0']));
    const recordsBefore = (await runsOf(a.name)).length;
    const pwned = '/tmp/pwned';
    expect(existsSync(pwned)).toBe(false);
    const cases: Array<{ args: string[]; message: RegExp }> = [
      {
        args: ['--failed', '$(touch /tmp/pwned)', '--replacement', 'etcd-spare-0'],
        message: /invalid --failed: "\$\(touch \/tmp\/pwned\)" may hold only lowercase letters, digits, hyphens and dots/,
      },
      { args: ['--failed', '`touch /tmp/pwned`', '--replacement', 'etcd-spare-0'], message: /invalid --failed/ },
      { args: ['--failed', 'master-2; rm -rf /', '--replacement', 'etcd-spare-0'], message: /invalid --failed/ },
      { args: ['--failed', 'master-2\ntouch /tmp/pwned', '--replacement', 'etcd-spare-0'], message: /invalid --failed: .*control character/ },
      { args: ['--failed', 'master-2', '--replacement', 'etcd-spare-0$(touch /tmp/pwned)'], message: /invalid --replacement/ },
      { args: ['--failed', 'master-2', '--replacement', '-x'], message: /argument is ambiguous/ },
      { args: ['--failed', 'master-2', '--replacement=-x'], message: /invalid --replacement/ },
      { args: ['--failed=--version', '--replacement', 'etcd-spare-0'], message: /invalid --failed/ },
      { args: ['--failed', "master-2' || touch /tmp/pwned '", '--replacement', 'etcd-spare-0'], message: /invalid --failed/ },
      { args: ['--failed', 'master-2"', '--replacement', 'etcd-spare-0'], message: /invalid --failed/ },
      // Cyrillic а and е: look like master-2 and etcd-spare-0.
      { args: ['--failed', 'm\u0430ster-2', '--replacement', 'etcd-spare-0'], message: /invalid --failed: "m\\u0430ster-2" may hold only/ },
      { args: ['--failed', 'master-2', '--replacement', '\u0435tcd-spare-0'], message: /invalid --replacement: "\\u0435tcd-spare-0"/ },
      { args: ['--failed', 'master-2', '--replacement', 'etcd-spare-0', '--started-by', '\u00fc'], message: /invalid --started-by: "\\u00fc"/ },
    ];
    const results = await Promise.all(cases.map((c) => cli(['run', '--sandbox', a.name, '--grace-seconds', '0', ...c.args])));
    results.forEach((out, i) => {
      expect({ args: cases[i]!.args, ...exitOf(out) }).toMatchObject({ code: 2 });
      expect(out.stderr).toMatch(cases[i]!.message);
      expect(out.stderr).not.toMatch(/^run r-/m); // never got as far as creating a run
    });
    const badSandbox = await cli(['run', '--sandbox', '../x', '--failed', 'master-2', '--replacement', 'etcd-spare-0']);
    expect(badSandbox.code).toBe(2);
    expect(badSandbox.stderr).toMatch(/invalid --sandbox: "\.\.\/x" is not a sandbox name/);

    expect(existsSync(pwned)).toBe(false);
    for (const host of a.hosts) {
      const out = await onHost(a, host.name, ['bash', '-c', 'test -e /tmp/pwned && echo found || echo none']);
      expect({ host: host.name, pwned: out.trim() }).toEqual({ host: host.name, pwned: 'none' });
    }
    expect((await runsOf(a.name)).length).toBe(recordsBefore);
    expect(membershipOf(await membersNow(a, ['master-0']))).toEqual(before);
  });

  it('a truncated run record of this cluster: run refuses (exit 3) naming the file, before any step; nothing changes', async () => {
    const before = membershipOf(await membersNow(a, ['master-0']));
    const lockBefore = await lockNow(a.name);
    const file = await plantTruncatedRecord(a.name);
    try {
      const out = await cli(runArgs(a, 'master-2', 'etcd-spare-0'));
      expect(exitOf(out)).toMatchObject({ code: 3 });
      expect(out.stderr).toContain(file);
      expect(out.stderr).toMatch(/cannot be read/);
      expect(out.stderr).not.toMatch(/^run r-/m);
      expect(await lockNow(a.name)).toEqual(lockBefore);
    } finally {
      await fs.rm(file, { force: true });
    }
    expect(membershipOf(await membersNow(a, ['master-0']))).toEqual(before);
  });
});

describe('the CA host failed', () => {
  it('refuses (exit 3) naming /etc/etcd/ca; no new CA anywhere, no membership change', async () => {
    const caBefore = Object.fromEntries(await Promise.all(a.hosts.map(async (h) => [h.name, await digestTree(a, h.name, '/etc/etcd')] as const)));
    const before = membershipOf(await membersNow(a, ['master-1']));
    // Cut off from every other host (its etcd data kept): healed after the refusal for the runs below.
    await failHost(a.name, 'master-0', 'partition');
    try {
      const out = await cli(runArgs(a, 'master-0', 'etcd-spare-0'));
      expect(exitOf(out)).toMatchObject({ code: 3 });
      const result = parseRunJson(out.stdout);
      expect(result.outcome).toBe('refused');
      expect(result.reason).toMatch(/master-0 is the etcd CA host: its \/etc\/etcd\/ca is needed/);
      expect(result.reason).toMatch(/A new CA is never created silently/);
      expect(stepStatus(result)).toMatchObject({ IssueCertificates: 'skipped', RemoveFailedMember: 'skipped', AddMember: 'skipped' });

      const caAfter = Object.fromEntries(await Promise.all(a.hosts.map(async (h) => [h.name, await digestTree(a, h.name, '/etc/etcd')] as const)));
      expect(caAfter).toEqual(caBefore);
      for (const h of a.hosts.filter((x) => x.name !== 'master-0')) {
        expect({ host: h.name, ca: Object.keys(caAfter[h.name]!).filter((f) => f.startsWith('etc/etcd/ca/')) }).toEqual({ host: h.name, ca: [] });
      }
      expect(membershipOf(await membersNow(a, ['master-1', 'master-2']))).toEqual(before);
    } finally {
      await healPartition(a, 'master-0', 'master-1');
    }
  });
});

describe('one run per cluster', () => {
  let holder: ChildProcess | undefined;
  afterAll(() => {
    if (holder && holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
  });

  it('waits for the lock a live process holds for other members, asks it to take master-2 in, then refuses (exit 3, naming the holder) once --lock-wait-seconds is over', async () => {
    holder = spawn('sleep', ['600'], { stdio: 'ignore' });
    const lock = new FileLock();
    const holderRun = 'r-holder-live-0001';
    await lock.acquire(a.name, { runId: holderRun, startedBy: 'test:holder', pid: holder.pid!, covers: ['master-1'] }, 600);
    const before = membershipOf(await membersNow(a, ['master-0']));

    const out = await cli(runArgs(a, 'master-2', 'etcd-spare-0', '--lock-wait-seconds', '6'));
    // The holder dies: its lock is now stale (dead pid), taken over by the next run below (and no later
    // run waits on it whatever is found here).
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder!.once('exit', resolve));
    expect(exitOf(out)).toMatchObject({ code: 3 });
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('refused');
    // Tried every 5 s: refused at the first try past the 6 s asked for.
    expect(result.reason).toMatch(/^LockHeldError: run r-holder-live-0001 \(started by test:holder\) holds the lock /);
    const waited = /; waited (\d+) s for it \(options\.lockWaitSeconds 6\); asked it to take master-2 in/.exec(result.reason ?? '');
    expect(Number(waited?.[1])).toBeGreaterThanOrEqual(6);
    expect(out.stderr).toMatch(/LockWaitingError/);
    expect(stepStatus(result)).toMatchObject({ AcquireLock: 'failed', CheckClusterHealth: 'skipped', ReleaseLock: 'skipped' });
    // The holder's lock is untouched but for the join request left on it.
    const held = await lock.current(a.name);
    expect(held?.runId).toBe(holderRun);
    expect(held?.joins?.map((j) => j.failed)).toEqual([[{ failed: 'master-2', replacement: 'etcd-spare-0' }]]);
    expect(membershipOf(await membersNow(a, ['master-0']))).toEqual(before);
  });

  it('takes over the lock of a dead holder; --learner never takes the plain member add path and succeeds', async () => {
    const lock = new FileLock();
    expect((await lock.current(a.name))?.runId).toBe('r-holder-live-0001');
    const before = await recordBefore(a);
    // etcd dies, the host stays up: later runs roll its master API too (only the failed host of a run may be unreachable).
    await failHost(a.name, 'master-2', 'etcd');

    // A damaged record of another cluster blocks neither this cluster's run nor its history.
    const damaged = await plantTruncatedRecord(`t-dmg-${randomBytes(3).toString('hex')}`);
    const { out, record } = await replaceWithoutLearner(a, 'master-2', 'etcd-spare-0');
    expect(record.context['addedAsLearner']).toBe(false);
    try {
      const own = await cli(['history', '--sandbox', a.name, '--json']);
      expect(own.code).toBe(0);
      expect(own.stdout).not.toContain(damaged);
      const all = await cli(['history', '--json']);
      expect(all.code).toBe(0);
      expect((JSON.parse(all.stdout) as Array<{ unreadable?: { path: string } }>).map((r) => r.unreadable?.path)).toContain(damaged);
    } finally {
      await fs.rm(damaged, { force: true });
    }

    const info = await loadSandbox(a.name);
    await verifyReplaced(info, 'master-2', 'etcd-spare-0', before);
    await expectVerifiedSnapshot(info, record);

    // Secret scan of everything this CLI run left as text.
    const keys = await newMemberKeys(info, 'etcd-spare-0');
    const history = await cli(['history', '--sandbox', a.name, '--json']);
    expect(history.code).toBe(0);
    const findings = [
      ...secretFindings(JSON.stringify(record), keys, 'run record'),
      ...secretFindings(out.stdout, keys, 'CLI stdout'),
      ...secretFindings(out.stderr, keys, 'CLI stderr'),
      ...secretFindings(history.stdout, keys, 'history --json'),
    ];
    expect(findings).toEqual([]);
  });

  it('takes over an expired lock; the default path (a learner from etcd 3.4, the plain add on 3.2) succeeds; no private key in any script argument, log or record', async () => {
    // A lock left by a run on another machine that expired a minute ago.
    const past = new FileLock(undefined, { now: () => new Date(Date.now() - 3_600_000) });
    await past.acquire(a.name, { runId: 'r-holder-expired-01', startedBy: 'test:expired', host: 'elsewhere.example' }, 60);
    await failHost(a.name, 'master-1', 'etcd');

    // In process, so every script argument can be recorded: the sandbox's own runner, wrapped.
    const logs: string[] = [];
    const deps = await sandboxDeps(a.name, { log: (m) => logs.push(m) });
    const calls: ScriptRequest[] = [];
    const outputs: string[] = [];
    const inner = deps.runner;
    const recording: HostRunner = {
      run: async (request) => {
        calls.push(structuredClone(request));
        const out = await inner.run(request);
        outputs.push(out.stderr);
        return out;
      },
    };
    const runs = new FileRunStore();
    const progress: string[] = [];
    let record: RunRecord;
    try {
      const context = {
        runId: newRunId(),
        request: { cluster: a.name, failed: 'master-1', replacement: 'etcd-spare-1', startedBy: 'test:safety' },
        options: { graceSeconds: 0, learner: 'auto' as const },
      };
      record = newRunRecord(context, 'sandbox', new Date());
      await runs.save(record);
      record = await runLocally(record, {
        deps: { ...deps, runner: recording, etcd: (via, endpoints) => new EtcdctlMembership(recording, via, endpoints) },
        steps: STEPS,
        runs,
        target: 'sandbox',
        onProgress: (e) => progress.push(JSON.stringify(e)),
      });
    } finally {
      await deps.close();
    }
    expect({ outcome: record.outcome, reason: record.reason }).toMatchObject({ outcome: 'succeeded' });
    const status = Object.fromEntries(record.steps.map((s) => [s.name, s.status]));
    // learner 'auto': a learner, then its promotion, where every member runs etcd 3.4 or later; the plain add on 3.2 and 3.3.
    const learner = !/^3\.[23]\./.test((await loadSandbox(a.name)).etcdVersion);
    expect(status).toMatchObject({ AcquireLock: 'succeeded', AddMember: 'succeeded' });
    // The record lists the steps the run entered: no PromoteNewMember on the plain path.
    expect(status['PromoteNewMember']).toBe(learner ? 'succeeded' : undefined);
    expect(record.steps.find((s) => s.name === 'AddMember')?.detail).toMatch(learner ? /\(learner\)$/ : /as member [0-9a-f]{16}$/);
    expect(await new FileLock().current(a.name)).toBeNull();

    const info = await loadSandbox(a.name);
    const members = await membersNow(info, ['master-0']);
    const live = ['master-0', 'etcd-spare-0', 'etcd-spare-1'];
    expect(memberNames(members)).toEqual(live.map((h) => `${h}.sandbox.test`).sort());
    expect(members.every((m) => !m.isLearner)).toBe(true);
    expect(await healthOf(info, 'master-0', live)).toEqual([true, true, true]);
    await expectVerifiedSnapshot(info, record);

    const keys = [...(await newMemberKeys(info, 'etcd-spare-1')), ...(await newMemberKeys(info, 'etcd-spare-0'))];
    expect(calls.length).toBeGreaterThan(20);
    const stored = (await runs.get(record.runId))!;
    const findings = [
      ...secretFindings(JSON.stringify(stored), keys, 'run record'),
      ...secretFindings(calls.map((c) => c.args.join('\u0000')).join('\n'), keys, 'script arguments'),
      ...secretFindings(outputs.join('\n'), keys, 'script stderr'),
      ...secretFindings(logs.join('\n'), keys, 'step log'),
      ...secretFindings(progress.join('\n'), keys, 'progress events'),
      ...secretFindings((await cli(['history', '--sandbox', a.name, '--json'])).stdout, keys, 'history --json'),
    ];
    expect(findings).toEqual([]);
  });

  it('with no quorum (2 of 3 members down) refuses with exit 3 and disaster-recovery guidance', async () => {
    await failHost(a.name, 'etcd-spare-0', 'kill');
    await failHost(a.name, 'etcd-spare-1', 'etcd');
    const out = await cli(runArgs(a, 'etcd-spare-1', 'master-1'));
    expect(exitOf(out)).toMatchObject({ code: 3 });
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('refused');
    expect(result.reason).toMatch(/RefusedError: the cluster has no quorum: 1 of 3 voting members answer and 2 are needed/);
    expect(result.reason).toMatch(/quorum is lost: membership cannot be changed safely/);
    expect(result.reason).toMatch(/snapshot restore/);
    expect(stepStatus(result)).toMatchObject({ SnapshotCluster: 'skipped', RemoveFailedMember: 'skipped', AddMember: 'skipped' });
    expect(memberNames(await membersNow(a, ['master-0']))).toEqual(['etcd-spare-0.sandbox.test', 'etcd-spare-1.sandbox.test', 'master-0.sandbox.test']);
  });
});

/** The new member's private keys as they are on its host: the secret the scans look for. */
async function newMemberKeys(sandbox: SandboxInfo, host: string): Promise<string[][]> {
  const keys: string[][] = [];
  for (const file of ['/etc/etcd/peer.key', '/etc/etcd/server.key']) {
    const pem = await onHost(sandbox, host, ['cat', file]);
    expect(pem).toMatch(/PRIVATE KEY/);
    const body = pemBodyLines(pem);
    expect(body.join('').length).toBeGreaterThan(200);
    keys.push(body);
  }
  return keys;
}
