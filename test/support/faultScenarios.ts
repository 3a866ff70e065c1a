// Fault scenarios on real etcd through the CLI, shared by the fault suite on etcd 3.2.22
// (test/sandbox/faults.test.ts: the plain `member add`) and the learner suite on 3.4.23
// (test/sandbox/learner/: `member add --learner` and `member promote`). Each takes the hosts it works on,
// so one sandbox can carry several scenarios in a row; each asserts what holds on either path and
// returns the run for the assertions of one path.

import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { expect } from 'vitest';
import { failHost, type SandboxInfo } from '../../sandbox/index.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { etcdctl } from './clusterFacts.ts';
import { fqdn, hasLearners, runArgs } from './runChecks.ts';

export { fqdn, runArgs };
import { clientUrl, exitOf, healthOf, holdBefore, memberNames, membersNow, parseRunJson, sh, stepStatus, WatchedCli } from './safetyHelpers.ts';
import { waitFor } from '../../sandbox/util.ts';

/** The watched CLI's exit, its `run --json` document, its run record and each step's status. */
export async function finish(cli: WatchedCli) {
  const out = await cli.done;
  const result = parseRunJson(out.stdout);
  const record = (await new FileRunStore().get(result.runId))!;
  return { out, result, record, status: stepStatus(result) };
}

/** Runs nft in a host's network namespace. */
export function nftIn(netns: string, args: string[], input = ''): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', 'nft', ...args], { stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nft ${args.join(' ')} exited ${code}`))));
    child.stdin.end(input);
  });
}

/** Member ID → is-leader, as each live endpoint reports. */
async function leaderOf(sandbox: SandboxInfo, via: string, hosts: string[]): Promise<string> {
  const endpoints = hosts.map((h) => clientUrl(sandbox.hosts.find((x) => x.name === h)!.ip));
  const text = await etcdctl(sandbox, via, endpoints, ['endpoint', 'status', '-w', 'json']);
  const statuses = JSON.parse(text.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"')) as Array<{
    Status: { header: { member_id: string }; leader: string };
  }>;
  const leaders = [...new Set(statuses.map((s) => BigInt(s.Status.leader).toString(16).padStart(16, '0')))];
  if (leaders.length !== 1) throw new Error(`no single leader: ${leaders.join(', ')}`);
  return leaders[0]!;
}

/** Moves leadership to another of the live voting members; returns [from, to]. */
async function moveLeader(sandbox: SandboxInfo, hosts: string[]): Promise<[string, string]> {
  const from = await leaderOf(sandbox, hosts[0]!, hosts);
  const members = await membersNow(sandbox, hosts);
  const to = members.find((m) => !m.isLearner && m.id !== from && hosts.some((h) => m.name === fqdn(h)))!.id;
  const endpoints = hosts.map((h) => clientUrl(sandbox.hosts.find((x) => x.name === h)!.ip));
  await etcdctl(sandbox, hosts[0]!, endpoints, ['move-leader', to]);
  return [from, to];
}

/**
 * The new host never starts: once the new host is prepared (InstallEtcd refuses a host where something
 * else holds etcd's ports), a process takes the peer port on `replacement`, so its etcd exits at once
 * ("address already in use"). Compensation removes the new member again; `survivors` (the CA host
 * first) are the healthy members left; the record says what remains. `failed` is down already.
 */
/** StartNewMember's start wait in the runs whose new member never starts. */
const NEVER_STARTS_WAIT_SECONDS = 15;

export async function newHostNeverStarts(sandbox: SandboxInfo, failed: string, replacement: string, survivors: string[]) {
  // The new member's etcd never listens: each of StartNewMember's two attempts gives up after the
  // start wait, set short here (the default is 60 s) since how long it waits is not what is tested.
  // The run waits before StartNewMember while a process takes the new host's peer port, so its etcd
  // exits at once (InstallEtcd, earlier, refuses a host where something holds etcd's ports).
  const hold = await holdBefore('StartNewMember');
  const cli = new WatchedCli(runArgs(sandbox, failed, replacement), { ETCD_REPLACE_MEMBER_START_SECONDS: String(NEVER_STARTS_WAIT_SECONDS), ...hold.env });
  await cli.waitFor(/^hold: StartNewMember waits while /, { past: true }).catch(async (error: unknown) => {
    await hold.release();
    throw error;
  });
  const pid = Number(
    (
      await sh(
        sandbox,
        replacement,
        `${process.execPath} -e "require('net').createServer(() => {}).listen(2380, '0.0.0.0')" </dev/null >/dev/null 2>&1 & echo $!`,
      )
    ).trim(),
  );
  expect(pid).toBeGreaterThan(1);
  let run;
  try {
    await waitFor('the port holder to listen', 20_000, 200, async () => (await sh(sandbox, replacement, "ss -Hltn '( sport = :2380 )'")).trim() !== '');
    await hold.release();
    // Once compensation starts the holder may go (compensation waits for the ports to close).
    void cli.waitFor(/^▶ CompensateNewMember$/).then(
      () => process.kill(pid, 'SIGKILL'),
      () => undefined,
    );
    run = await finish(cli);
    const { out, result, record, status } = run;
    expect(exitOf(out)).toMatchObject({ code: 1 });
    expect(result.outcome).toBe('failed');
    expect(result.reason).toMatch(/StartNewMember|etcd/);
    expect(status).toMatchObject({
      RemoveFailedMember: 'succeeded',
      AddMember: 'succeeded',
      StartNewMember: 'failed',
      PromoteNewMember: 'skipped',
      CompensateNewMember: 'succeeded',
      VerifyClusterHealth: 'skipped',
    });
    expect(record.steps.find((s) => s.name === 'CompensateNewMember' && s.status === 'succeeded')?.detail).toMatch(/removed member [0-9a-f]{16}/);
    // Each attempt waited the start wait the run was given, not the default.
    expect(record.steps.filter((s) => s.name === 'StartNewMember' && s.status === 'failed').map((s) => s.error?.message)).toContainEqual(
      expect.stringContaining(`within ${NEVER_STARTS_WAIT_SECONDS}s`),
    );
    expect(record.remaining?.join('\n')).toMatch(new RegExp(`has no replacement: the cluster runs with ${survivors.length} members`));
    expect(record.remaining?.join('\n')).toMatch(/run the replacement again/);
  } finally {
    await hold.release();
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  expect(memberNames(await membersNow(sandbox, [survivors[0]!]))).toEqual(survivors.map(fqdn).sort());
  expect(await healthOf(sandbox, survivors[0]!, survivors)).toEqual(survivors.map(() => true));
  expect((await sh(sandbox, replacement, "systemctl is-active etcd || true; ss -Hltn '( sport = :2379 )'")).trim()).not.toMatch(/^active/);
  return run;
}

/**
 * After a compensated failure the same command finishes the replacement: the removal is the earlier
 * run's, by its record. The caller checks the replaced cluster (verifyReplaced).
 */
export async function finishAfterCompensation(sandbox: SandboxInfo, failed: string, replacement: string) {
  const run = await finish(new WatchedCli(runArgs(sandbox, failed, replacement)));
  const { out, result, record, status } = run;
  expect(exitOf(out)).toMatchObject({ code: 0 });
  expect(result.outcome).toBe('succeeded');
  expect(status).toMatchObject({ RemoveFailedMember: 'skipped', AddMember: 'succeeded', StartNewMember: 'succeeded' });
  expect(record.steps.find((s) => s.name === 'RemoveFailedMember')?.detail).toMatch(/removed earlier by run r-/);
  return run;
}

/**
 * The leader moves during the membership changes (after AddMember starts, and again when PromoteNewMember
 * starts on the learner path): retries absorb it and the run succeeds. `voters` are the live voting
 * members leadership moves among; `failed` is down already. etcd has MoveLeader from 3.3: on OpenShift
 * 3.11's 3.2 only a failure moves the leader (the fault suite's (d5) covers that).
 */
export async function leaderMovesDuringChanges(sandbox: SandboxInfo, failed: string, replacement: string, voters: string[]) {
  const cli = new WatchedCli(runArgs(sandbox, failed, replacement));
  const moves: Array<[string, string]> = [];
  await cli.waitFor(/^▶ AddMember$/);
  moves.push(await moveLeader(sandbox, voters));
  const promote = await cli.waitFor(/^▶ (PromoteNewMember|VerifyClusterHealth)$/).catch(() => null);
  if (promote?.endsWith('PromoteNewMember')) moves.push(await moveLeader(sandbox, voters));
  const run = await finish(cli);
  const { out, result, status } = run;
  expect(exitOf(out)).toMatchObject({ code: 0 });
  expect(result.outcome).toBe('succeeded');
  expect(status).toMatchObject({ RemoveFailedMember: 'succeeded', AddMember: 'succeeded', StartNewMember: 'succeeded' });
  expect(moves.every(([from, to]) => from !== to)).toBe(true);
  return { ...run, moves };
}

/**
 * Double fault: `failed` is powered off here; once the new member is added, `second` (a surviving
 * member that is not the CA host, `caHost`; it may hold the run's snapshot job) dies too. The run stops
 * within tens of seconds with a record that names the member left, the quorum and the snapshot; the
 * store keeps no bundle. The cluster has three members before: with a learner quorum is lost, without
 * one the new member votes and brings it back.
 */
export async function doubleFault(sandbox: SandboxInfo, hosts: { failed: string; replacement: string; second: string; caHost: string }) {
  const { failed, replacement, second, caHost } = hosts;
  const learner = hasLearners(sandbox.etcdVersion);
  await failHost(sandbox.name, failed, 'kill');
  const cli = new WatchedCli(runArgs(sandbox, failed, replacement));
  await cli.waitFor(/^✓ SnapshotCluster/);
  await cli.waitFor(/^✓ AddMember/);
  const killedAt = Date.now();
  await failHost(sandbox.name, second, 'kill');
  const { out, result, record, status } = await finish(cli);
  const afterKill = (Date.now() - killedAt) / 1000;
  const remaining = (record.remaining ?? []).join('\n');
  const json = JSON.parse(out.stdout) as { cleanupError?: string; remaining?: string[] };
  console.log(
    `double fault (etcd ${sandbox.etcdVersion}): ${result.outcome} ${afterKill.toFixed(1)} s after the second member died; reason ${result.reason ?? ''}; cleanup ${record.cleanupError ?? 'none'}`,
  );

  expect(result.outcome).toBe('failed');
  expect(exitOf(out).code).toBe(1);
  expect(json.remaining).toEqual(record.remaining);
  if (learner) {
    // A learner cannot vote: one of two voters is left, and nothing the run can do brings quorum back.
    expect(result.reason).toMatch(/^QuorumLostError: member [0-9a-f]{16} cannot join: quorum is lost: 1 of 2 voting members answer/);
    expect(record.cleanupError).toMatch(/^QuorumLostError: CompensateNewMember changes nothing/);
    expect(json.cleanupError).toBe(record.cleanupError);
    expect(status).toMatchObject({ StartNewMember: 'failed', CompensateNewMember: 'failed', DiscardKeyBundle: 'succeeded', RecordClusterState: 'succeeded' });
    expect(remaining).toMatch(/cluster now: quorum is lost: 1 of 2 voting members answer and 2 are needed; 3 members:/);
    expect(remaining).toMatch(/[0-9a-f]{16} \([^,]+, learner, added by this run\)/);
    expect(remaining).toMatch(/that this run added is still in the member list as a learner/);
    // The snapshot is named: verified (sha256) where its job's host answers, else by location and size.
    expect(remaining).toMatch(
      new RegExp(
        `this run's (verified snapshot: .*snapshot-.*\\.db, \\d+ bytes, sha256 [0-9a-f]{64}, revision \\d+|snapshot: .*snapshot-.*\\.db, \\d+ bytes; its job on ${second} could not confirm its check)`,
      ),
    );
    expect(remaining).toMatch(/What remains is restore-quorum: restore the cluster from a snapshot instead/);
    expect(afterKill).toBeLessThan(60);
  } else {
    // Without a learner the new member votes: its start brings quorum back (2 of 3), so it is kept; the
    // run goes on until the health check finds the dead member, and the record describes the cluster.
    // The next step that needs the dead member fails (which one depends on the member: the installer
    // host, the health check); compensation, if reached, leaves the voting new member in place.
    expect(status).toMatchObject({ StartNewMember: 'succeeded', RecordClusterState: 'succeeded' });
    expect(result.reason).not.toMatch(/QuorumLostError/);
    if (record.cleanupError) expect(record.cleanupError).toMatch(/^RefusedError: CompensateNewMember leaves member [0-9a-f]{16} in place/);
    expect(remaining).toMatch(/cluster now: quorum holds: 2 of 3 voting members answer and 2 are needed; 3 members:/);
    expect(remaining).toMatch(/that this run added runs and votes: keep it/);
    expect(memberNames(await membersNow(sandbox, [caHost]))).toContain(fqdn(replacement));
  }
  const stored = await fs.readdir(`${sandbox.stateDir}/artifacts/runs/${result.runId}`);
  expect(stored.filter((f) => f.startsWith('bundle-'))).toEqual([]);
  expect(status['ReleaseLock']).toBe('succeeded');
  return { out, result, record, status };
}
