// End to end on real etcd: fail a member, replace it with the workflow through the CLI, then check the
// cluster independently with etcdctl and file reads on the hosts.
//
// One replacement carries every check of the 3-member scenario: the plan before it; during it, every
// process's arguments sampled every 100 ms and the run held before AddMember (a test hook of the local
// run, functions/workflow/localRun.ts) past its lock's 3 s lifetime while a contender is refused; after
// it, the cluster, the store, the hosts and the records. The same cluster then meets a run whose lock is
// taken away. One 5-member cluster has its powered-off leader replaced, then a member whose etcd died.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, hostExec, loadSandbox, type SandboxInfo } from '../../sandbox/index.ts';
import { waitFor } from '../../sandbox/util.ts';
import { memberList, onHost } from '../support/clusterFacts.ts';
import { STATES } from '../../statemachine/spec.ts';
import { leaderOtherThanCa, makeLeader, recordBefore, verifyReplaced } from '../support/verifyReplaced.ts';
import { BIN, cli } from '../support/cli.ts';
import { CREDENTIAL, sampleArguments } from '../support/argvSampler.ts';
import { DEFAULT_LOCK_DIR, FileLock } from '../../sandbox/adapters/fileLock.ts';
import { LockHeldError } from '../../functions/errors.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { HOLD_FILE_ENV, HOLD_STEP_ENV } from '../../functions/workflow/localRun.ts';
import { downAll, exitOf, memberNames, membersNow, parseRunJson, stepStatus, upSandbox, WatchedCli } from '../support/safetyHelpers.ts';

const run = promisify(execFile);
const created: string[] = [];

afterAll(async () => {
  await downAll(created);
});

/** Whether the workflow adds the new member as a learner here: every member on etcd 3.4 or later. */
const joinsAsLearnerOn = (sandbox: SandboxInfo) => !/^3\.[23]\./.test(sandbox.etcdVersion);

const fqdn = (host: string) => `${host}.sandbox.test`;
const lockFileOf = (sandbox: SandboxInfo) => `${DEFAULT_LOCK_DIR}/${sandbox.name}.json`;
const readLock = async (sandbox: SandboxInfo) =>
  JSON.parse(await fs.readFile(lockFileOf(sandbox), 'utf8')) as { runId: string; expiresAt: string } & Record<string, unknown>;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The CLI watched as it runs, started with these variables added to this process's environment. */
function watchedWith(args: string[], env: Record<string, string>): WatchedCli {
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  try {
    return new WatchedCli(args); // spawn copies the environment now
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/**
 * The sandbox as it stands after an earlier replacement in it: the earlier failed host (powered off)
 * gone from the picture, its replacement an etcd host, so verifyReplaced checks the cluster of now.
 */
function afterReplacement(sandbox: SandboxInfo, failed: string, replacement: string): SandboxInfo {
  return {
    ...sandbox,
    hosts: sandbox.hosts.filter((h) => h.name !== failed).map((h) => (h.name === replacement ? { ...h, roles: [...h.roles, 'etcd' as const] } : h)),
  };
}

describe('Workflow: replace a failed member on the sandbox', () => {
  describe('3 members', () => {
    let sandbox: SandboxInfo;
    beforeAll(async () => {
      sandbox = await upSandbox(created, 't-rep', { members: 3, spares: 2, nodes: 1, dataMb: 4 });
    });

    it('replaces the powered-off leader through the CLI: plan, a lock held past its lifetime (3 s), no credential in any process argument, store or record', async () => {
      await makeLeader(sandbox, 'master-2');
      const before = await recordBefore(sandbox);
      await failHost(sandbox.name, 'master-2', 'kill');

      // The plan changes nothing and names every step with the exact commands for these hosts.
      const spare = sandbox.hosts.find((h) => h.name === 'etcd-spare-0')!;
      const planned = JSON.parse(
        (await run('node', [BIN, 'plan', '--target', 'sandbox', '--sandbox', sandbox.name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--json']))
          .stdout,
      ) as {
        verdict: string;
        steps: Array<{ name: string; commands: Array<{ host: string; command: string }> }>;
      };
      expect(planned.verdict).toMatch(/^would proceed/);
      expect(planned.steps.map((s) => s.name)).toEqual(STATES.map((s) => s.name));
      expect(planned.steps.find((s) => s.name === 'IssueCertificates')?.commands).toEqual([
        {
          host: 'master-0',
          command: `bash functions/scripts/IssueCertificates.sh '${spare.hostname}' '${spare.ip}' 'sections'  # stdin: PROBE_UPLOAD_URL=<signed URL>`,
        },
        { host: '(workflow)', command: "node-forge on the certificates' public material it prints: SAN, key usages, chain to the CA, validity, key match" },
      ]);
      // A learner where every member runs etcd 3.4 or later; OpenShift 3.11's 3.2 has none: the plain add.
      const learner = joinsAsLearnerOn(sandbox);
      const addVerb = learner ? "etcdctl.sh 'member-add-learner'" : "etcdctl.sh 'member-add'";
      expect(planned.steps.find((s) => s.name === 'AddMember')?.commands.map((c) => c.command)).toEqual([
        expect.stringContaining("etcdctl.sh 'observe'"),
        expect.stringContaining(addVerb),
      ]);
      expect(await memberList(sandbox, 'master-0', `https://${sandbox.hosts[0]!.ip}:2379`)).toHaveLength(3);

      // The run's processes: this test's descendants (the CLI and all it starts) and every process in the sandbox's hosts.
      const sampler = await sampleArguments(100, { netns: sandbox.hosts.map((h) => `/run/netns/${h.netns}`) });
      // A planted argument proves the sampler sees what it looks for: it lives until sampled (a loaded
      // machine may take more than one interval per sample), at most 30 s.
      const canary = spawn('bash', ['-c', 'sleep 30; true', `canary?sig=${'c'.repeat(64)}`], { stdio: 'ignore' });
      const canaryExit = new Promise((resolve) => canary.on('exit', resolve));
      await waitFor('the sampler to see the planted argument', 30_000, 50, async () => sampler.seen('canary?sig=')).finally(() => canary.kill());
      await canaryExit;

      // The run holds before AddMember (its membership steps still ahead) while the hold file exists.
      const holdDir = await fs.mkdtemp(path.join(tmpdir(), 'replace-hold-'));
      const holdFile = path.join(holdDir, 'AddMember');
      await fs.writeFile(holdFile, '');
      const contender = { runId: 'r-20261202-000000-fedcba', startedBy: 'contender', pid: process.pid };
      let first: { runId: string; expiresAt: string } | undefined;
      let second: unknown;
      let now: { runId?: string; expiresAt?: string } = {};
      const started = Date.now();
      const watched = watchedWith(
        ['run', '--target', 'sandbox', '--sandbox', sandbox.name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json'],
        {
          ETCD_REPLACE_LOCK_TTL_SECONDS: '3',
          [HOLD_STEP_ENV]: 'AddMember',
          [HOLD_FILE_ENV]: holdFile,
        },
      );
      try {
        await watched.waitFor(/^✓ AcquireLock/);
        first = await readLock(sandbox);
        await watched.waitFor(/^hold: AddMember waits while /, { past: true });
        // Well past the first expiry, while the run is held.
        await sleep(Math.max(0, Date.parse(first.expiresAt) + 4000 - Date.now()));
        // Another run's acquire, judging the lock as any contender does.
        second = await new FileLock().acquire(sandbox.name, contender, 60).catch((e: unknown) => e);
        now = await readLock(sandbox).catch(() => ({}));
      } catch (error) {
        watched.kill();
        throw error;
      } finally {
        // A contender that got the lock gives it back; the run goes on.
        if (second !== undefined && !(second instanceof Error)) await new FileLock().release(sandbox.name, contender.runId);
        await fs.rm(holdDir, { recursive: true, force: true });
      }
      const out = await watched.done;
      if (first === undefined) throw new Error('the run never took its lock');
      const seconds = (Date.now() - started) / 1000;
      const sampled = await sampler.stop();

      // The lock: a contender long after the first expiry was refused, naming the run; the lock file
      // still named the run, renewed past its first expiry.
      expect(second).toBeInstanceOf(LockHeldError);
      expect((second as Error).message).toContain(first.runId);
      expect(now.runId).toBe(first.runId);
      expect(Date.parse(now.expiresAt ?? '')).toBeGreaterThan(Date.parse(first.expiresAt));

      const result = parseRunJson(out.stdout);
      expect(result.outcome).toBe('succeeded');
      expect(result.reason).toBeNull();
      const status = stepStatus(result);
      expect(status).toMatchObject({
        RemoveFailedMember: 'succeeded',
        AddMember: 'succeeded',
        PromoteNewMember: learner ? 'succeeded' : 'skipped',
        BackUpFailedMemberData: 'skipped',
        CompensateNewMember: 'skipped',
      });

      // The sampler kept up: at least one sample every 250 ms on average, and it saw the run's commands.
      expect(sampled.samples).toBeGreaterThan(seconds * 4);
      expect(sampled.processes).toBeGreaterThan(50);
      expect(sampled.hits.filter((h) => h.includes('canary?sig='))).not.toEqual([]);
      expect(sampled.hits.filter((h) => !h.includes('canary?sig='))).toEqual([]);
      console.log(
        `secrets: ${sampled.samples} samples of every process's arguments over ${seconds.toFixed(1)} s of run, ${sampled.processes} distinct processes of the run (${sampled.machineProcesses} on the machine), no credential` +
          (sampled.elsewhere ? `; ${sampled.elsewhere} credential-bearing arguments of other processes on the machine not judged` : ''),
      );
      // Nothing the CLI printed, and nothing in the run's history, carries a credential.
      expect(out.stdout + out.stderr).not.toMatch(CREDENTIAL);
      const history = await cli(['history', '--sandbox', sandbox.name, '--json']);
      expect(history.stdout).not.toMatch(CREDENTIAL);
      // The store holds no bundle of the run; no tarball of the keys is left on the CA host or the new host.
      const stored = await fs.readdir(`${sandbox.stateDir}/artifacts/runs/${result.runId}`);
      expect(stored.filter((f) => f.startsWith('bundle-'))).toEqual([]);
      const ca = await hostExec(sandbox, 'master-0', ['bash', '-c', 'find /etc/etcd/generated_certs /var/tmp /tmp -name "*.tgz" -o -name "etcd-bundle.*"']);
      expect(ca.stdout.trim()).toBe('');
      const newHost = await hostExec(sandbox, 'etcd-spare-0', [
        'bash',
        '-c',
        'find /var/tmp /tmp -name "*.tgz" -o -name "etcd-bundle.*"; stat -c %a /etc/etcd/peer.key',
      ]);
      expect(newHost.stdout.trim()).toBe('600');

      await verifyReplaced(await loadSandbox(sandbox.name), 'master-2', 'etcd-spare-0', before);
      expect(memberNames(await membersNow(sandbox, ['master-0']))).toContain(fqdn('etcd-spare-0'));
    });

    it('stops a run whose lock was taken away before its next membership change: Refused, the failed member not removed', async () => {
      await failHost(sandbox.name, 'master-1', 'kill');
      const before = memberNames(await membersNow(sandbox, ['master-0']));
      // The run holds before RemoveFailedMember, its next membership change, while the hold file exists:
      // it proved its lock before it began to wait, and proves it again when the step starts.
      const holdDir = await fs.mkdtemp(path.join(tmpdir(), 'replace-hold-'));
      const holdFile = path.join(holdDir, 'RemoveFailedMember');
      await fs.writeFile(holdFile, '');
      const watched = watchedWith(
        ['run', '--sandbox', sandbox.name, '--failed', 'master-1', '--replacement', 'etcd-spare-1', '--grace-seconds', '0', '--json'],
        { [HOLD_STEP_ENV]: 'RemoveFailedMember', [HOLD_FILE_ENV]: holdFile },
      );
      let out: Awaited<WatchedCli['done']>;
      try {
        await watched.waitFor(/^hold: RemoveFailedMember waits while /, { past: true });
        // Another holder takes the lock (as a takeover or an operator breaking it would) while the run waits.
        const held = await readLock(sandbox);
        const intruder = {
          ...held,
          runId: 'r-20261202-000000-abcdef',
          startedBy: 'intruder',
          pid: undefined,
          host: undefined,
          token: randomBytes(16).toString('hex'),
        };
        const tmp = `${lockFileOf(sandbox)}.test-${process.pid}`;
        await fs.writeFile(tmp, JSON.stringify(intruder));
        await fs.rename(tmp, lockFileOf(sandbox));
        await fs.rm(holdFile);
        out = await watched.done;
      } catch (error) {
        watched.kill();
        throw error;
      } finally {
        // The intruder's lock goes with the test.
        await fs.rm(lockFileOf(sandbox), { force: true });
        await fs.rm(holdDir, { recursive: true, force: true });
      }
      const result = parseRunJson(out.stdout);
      const record = (await new FileRunStore().get(result.runId))!;

      expect(result.outcome).toBe('refused');
      expect(exitOf(out).code).toBe(3);
      expect(result.reason).toMatch(
        new RegExp(
          `^LockLostError: run r-[0-9a-z-]+ no longer holds the lock of cluster ${sandbox.name}: run r-20261202-000000-abcdef \\(started by intruder\\)`,
        ),
      );
      expect(record.steps.find((s) => s.name === 'RemoveFailedMember')?.error?.name).toBe('LockLostError');
      const status = stepStatus(result);
      expect(status).toMatchObject({
        RemoveFailedMember: 'failed',
        AddMember: 'skipped',
        DiscardKeyBundle: expect.stringMatching(/succeeded|skipped/),
        ReleaseLock: 'succeeded',
      });
      expect(Object.values(status).filter((s) => s === 'failed')).toHaveLength(1);
      // No membership change after the lock was lost: the failed member is still listed.
      expect(memberNames(await membersNow(sandbox, ['master-0']))).toEqual(before);
      expect(record.outcome).toBe('refused');
    });
  });

  describe('5 members', () => {
    let sandbox: SandboxInfo;
    let leader: string | undefined;
    beforeAll(async () => {
      sandbox = await upSandbox(created, 't-rep', { members: 5, spares: 2, nodes: 1, dataMb: 4 });
    });

    it('replaces the powered-off leader', async () => {
      leader = await leaderOtherThanCa(sandbox);
      const before = await recordBefore(sandbox);
      await failHost(sandbox.name, leader, 'kill');

      const { stdout } = await run(
        'node',
        [BIN, 'run', '--sandbox', sandbox.name, '--failed', leader, '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json'],
        { maxBuffer: 16 << 20 },
      );
      const result = JSON.parse(stdout) as { outcome: string; steps: Array<{ name: string; status: string }> };
      expect(result.outcome).toBe('succeeded');
      expect(Object.fromEntries(result.steps.map((s) => [s.name, s.status]))).toMatchObject({
        RemoveFailedMember: 'succeeded',
        AddMember: 'succeeded',
        PromoteNewMember: joinsAsLearnerOn(sandbox) ? 'succeeded' : 'skipped',
      });
      await verifyReplaced(await loadSandbox(sandbox.name), leader, 'etcd-spare-0', before);
    });

    it('then replaces a member whose etcd died, backing up its data first', async () => {
      // The same cluster after the replacement above: its five members, one of them etcd-spare-0.
      if (leader === undefined) throw new Error('the leader replacement before this case did not run');
      const died = ['master-3', 'master-4', 'master-1'].find((h) => h !== leader)!;
      const now = afterReplacement(await loadSandbox(sandbox.name), leader, 'etcd-spare-0');
      const before = await recordBefore(now);
      await failHost(sandbox.name, died, 'etcd');

      const { stdout } = await run(
        'node',
        [BIN, 'run', '--sandbox', sandbox.name, '--failed', fqdn(died), '--replacement', 'etcd-spare-1', '--grace-seconds', '1', '--json'],
        { maxBuffer: 16 << 20 },
      );
      const result = JSON.parse(stdout) as { outcome: string; runId: string; steps: Array<{ name: string; status: string }> };
      expect(result.outcome).toBe('succeeded');
      expect(result.steps.find((s) => s.name === 'BackUpFailedMemberData')?.status).toBe('succeeded');

      await verifyReplaced(now, died, 'etcd-spare-1', before);
      // The failed host's data directory was uploaded, then emptied; its etcd is stopped.
      const backup = await run('tar', ['-tzf', `${now.stateDir}/artifacts/runs/${result.runId}/failed-member-data-${fqdn(died)}.tgz`]);
      expect(backup.stdout).toMatch(/member\/snap\/db/);
      expect((await onHost(now, died, ['find', '/var/lib/etcd', '-mindepth', '1'])).trim()).toBe('');
      expect((await onHost(now, died, ['ls', '/etc/origin/node/pods-stopped'])).trim()).toBe('etcd.yaml');
    });
  });
});
