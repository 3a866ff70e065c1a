// The spare pool and repeated requests on real etcd, through the CLI as an operator runs it, on ONE
// 3-member sandbox with two spares (grace 0), every outcome read from the hosts (etcdctl member list,
// endpoint health, files on the hosts, the artifact store), not from the tool's word:
//  - two failures one after the other with --replacement omitted: the first takes etcd-spare-0, the
//    second etcd-spare-1 (etcd-spare-0 is a member now: the pool skips it);
//  - the same command after a success: exit 0, "already done by run R on DATE", membership unchanged;
//  - a partitioned member replaced (its data left on the host, its master not corrected), then healed:
//    the same command backs up its /var/lib/etcd (uploaded first, then emptied), rolls its master and
//    exits 0 naming the run;
//  - no free host left in the pool: the run launches one (etcd-new-0) and replaces the member with it.

import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, loadSandbox, type SandboxInfo } from '../../sandbox/index.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { getEtcdClientUrls } from '../../functions/config/masterConfig.ts';
import { cli, cliEnv } from '../support/cli.ts';
import { readFileOn } from '../support/clusterFacts.ts';
import {
  digestTree,
  downAll,
  exitOf,
  healthOf,
  hostFile,
  memberNames,
  membersNow,
  membershipOf,
  parseRunJson,
  stepStatus,
  upSandbox,
} from '../support/safetyHelpers.ts';
import { waitFor } from '../../sandbox/util.ts';

const exec = promisify(execFile);
const created: string[] = [];
let sb: SandboxInfo;

beforeAll(async () => {
  sb = await upSandbox(created, 't-rp', { members: 3, spares: 2, nodes: 0, dataMb: 2 });
});

afterAll(async () => {
  await downAll(created);
});

const runCli = (failed: string, ...extra: string[]) => cli(['run', '--sandbox', sb.name, '--failed', failed, '--grace-seconds', '0', '--json', ...extra]);

/** `run --json`, expected to exit 0: the exit code with the stderr tail first, so a failure shows why. */
async function run(failed: string, ...extra: string[]) {
  const out = await runCli(failed, ...extra);
  expect(exitOf(out)).toMatchObject({ code: 0 });
  return out;
}
const hostname = (name: string) => `${name}.${'sandbox.test'}`;
const names = (...hosts: string[]) => hosts.map(hostname).sort();

/** The member's data is there: its bolt db and at least one WAL file. */
const keptData = (files: Record<string, string>) =>
  'var/lib/etcd/member/snap/db' in files && Object.keys(files).some((f) => /^var\/lib\/etcd\/member\/wal\/[0-9a-f-]+\.wal$/.test(f));

/** Lifts `sandbox fail --mode partition` (its nft table and its power state); the host's etcd stays stopped: it is no member. */
async function heal(host: string): Promise<void> {
  const h = sb.hosts.find((x) => x.name === host)!;
  await exec('nsenter', [`--net=/run/netns/${h.netns}`, '--', 'nft', 'delete', 'table', 'inet', 'sandbox_partition']);
  await fs.writeFile(path.join(sb.stateDir, 'hosts', host, 'power'), 'running\n');
}

describe('Workflow: the spare pool skips members; a repeated request is done once', () => {
  let first = '';
  let second = '';

  it('master-2 powered off, no --replacement: etcd-spare-0 from the pool', async () => {
    await failHost(sb.name, 'master-2', 'kill');
    const out = await run('master-2');
    const result = parseRunJson(out.stdout);
    expect({ outcome: result.outcome, ...exitOf(out) }).toMatchObject({ outcome: 'succeeded', code: 0 });
    first = result.runId;
    expect(result).toMatchObject({ replacement: { name: 'etcd-spare-0', chosen: 'spare' } });
    const members = await membersNow(sb, ['master-0', 'master-1']);
    expect(memberNames(members)).toEqual(names('master-0', 'master-1', 'etcd-spare-0'));
    expect(members.every((m) => !m.isLearner)).toBe(true);
    expect(await healthOf(sb, 'master-0', ['master-0', 'master-1', 'etcd-spare-0'])).toEqual([true, true, true]);
  });

  it('the same command again: exit 0 "already done by run R", nothing removed or added', async () => {
    expect(first).not.toBe('');
    const before = membershipOf(await membersNow(sb, ['master-0']));
    const out = await run('master-2');
    const result = parseRunJson(out.stdout);
    expect({ outcome: result.outcome, ...exitOf(out) }).toMatchObject({ outcome: 'succeeded', code: 0 });
    expect(result.runId).not.toBe(first);
    expect(result.reason).toMatch(
      new RegExp(`^already done by run ${first} on \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ: etcd-spare-0 is member [0-9a-f]{16}`),
    );
    expect(stepStatus(result)).toMatchObject({
      CheckClusterHealth: 'skipped',
      RemoveFailedMember: 'skipped',
      AddMember: 'skipped',
      StartNewMember: 'skipped',
      SnapshotCluster: 'skipped',
      VerifyClusterHealth: 'succeeded',
      ReleaseLock: 'succeeded',
    });
    const record = (await new FileRunStore().get(result.runId))!;
    expect(record.steps.find((s) => s.name === 'ValidateInput')?.detail).toMatch(
      new RegExp(`master-2 is no member and etcd-spare-0 is member [0-9a-f]{16}, added for it: already done by run ${first}`),
    );
    // The same named replacement is the same request.
    const named = await run('master-2', '--replacement', 'etcd-spare-0');
    expect({ reason: parseRunJson(named.stdout).reason, ...exitOf(named) }).toMatchObject({
      reason: expect.stringMatching(`already done by run ${first}`),
      code: 0,
    });
    expect(membershipOf(await membersNow(sb, ['master-0']))).toEqual(before);
    expect(await healthOf(sb, 'master-0', ['master-0', 'master-1', 'etcd-spare-0'])).toEqual([true, true, true]);
  });

  it('master-1 partitioned, no --replacement: etcd-spare-1, not etcd-spare-0 (a member now); its data stays on the host', async () => {
    await failHost(sb.name, 'master-1', 'partition');
    // RollMasters waits for the partitioned master's API, which cannot answer: 15 s here instead of the
    // default 120 s, since how long it waits is not what is tested.
    const out = await cliEnv(['run', '--sandbox', sb.name, '--failed', 'master-1', '--grace-seconds', '0', '--json'], {
      ETCD_REPLACE_MASTER_HEALTH_SECONDS: '15',
    });
    expect(exitOf(out)).toMatchObject({ code: 0 });
    const result = parseRunJson(out.stdout);
    expect({ outcome: result.outcome, ...exitOf(out) }).toMatchObject({ outcome: 'succeeded', code: 0 });
    second = result.runId;
    expect(result).toMatchObject({ replacement: { name: 'etcd-spare-1', chosen: 'spare' } });
    const record = (await new FileRunStore().get(second))!;
    // The sandbox counts etcd-spare-0 an etcd host since it is a member, as AWS enrols a run's new member.
    expect(record.steps.find((s) => s.name === 'ValidateInput')?.detail).toMatch(/replacement etcd-spare-1 \([0-9.]+, from the spare pool\)/);
    expect(record.context).toMatchObject({
      inventory: { hosts: expect.arrayContaining([expect.objectContaining({ name: 'etcd-spare-0', roles: ['etcd'] })]) },
    });
    expect(result.remaining?.join('\n')).toMatch(/master-1: \/var\/lib\/etcd was not backed up/);
    expect(result.remaining?.join('\n')).toMatch(/master-1 \(the replaced member's host\): etcdClientInfo\.urls/);
    expect(memberNames(await membersNow(sb, ['master-0', 'etcd-spare-0']))).toEqual(names('master-0', 'etcd-spare-0', 'etcd-spare-1'));
    expect(keptData(await digestTree(sb, 'master-1', '/var/lib/etcd'))).toBe(true);
  });

  it("healed, the same command: backs up and empties master-1's data, rolls its master, exit 0 naming the run", async () => {
    expect(second).not.toBe('');
    await heal('master-1');
    const before = membershipOf(await membersNow(sb, ['master-0']));
    const out = await run('master-1');
    const result = parseRunJson(out.stdout);
    expect({ outcome: result.outcome, ...exitOf(out) }).toMatchObject({ outcome: 'succeeded', code: 0 });
    expect(result.reason).toMatch(
      new RegExp(`^already done by run ${second} on .*: etcd-spare-1 is member [0-9a-f]{16}; since then master-1's /var/lib/etcd was backed up and emptied$`),
    );
    expect(stepStatus(result)).toMatchObject({
      BackUpFailedMemberData: 'succeeded',
      RollMasters: 'succeeded',
      RemoveFailedMember: 'skipped',
      AddMember: 'skipped',
    });
    expect((result.remaining ?? []).filter((line) => /master-1/.test(line))).toEqual([]);
    const record = (await new FileRunStore().get(result.runId))!;
    expect(record.steps.find((s) => s.name === 'BackUpFailedMemberData')?.detail).toMatch(
      /^master-1: \/var\/lib\/etcd backed up \(\d+ bytes, sha256 [0-9a-f]{12}…\) to .*, then emptied$/,
    );
    // On the host: the data directory is empty, and the backup is whole in the store.
    expect(Object.keys(await digestTree(sb, 'master-1', '/var/lib/etcd'))).toEqual([]);
    const backup = path.join(sb.stateDir, 'artifacts', `runs/${result.runId}/failed-member-data-${hostname('master-1')}.tgz`);
    expect(existsSync(backup)).toBe(true);
    const listing = (await exec('tar', ['-tzf', backup])).stdout;
    expect(listing).toMatch(/member\/snap\/db/);
    // master-1's master names the live members now, and its API answers.
    const urls = getEtcdClientUrls(await readFileOn(sb, 'master-1', '/etc/origin/master/master-config.yaml')).sort();
    expect(urls).toEqual(names('master-0', 'etcd-spare-0', 'etcd-spare-1').map((h) => `https://${h}:2379`));
    await waitFor(
      'master-1 API healthy',
      30_000,
      200,
      async () =>
        (
          await exec('nsenter', [
            `--net=/run/netns/${sb.hosts.find((h) => h.name === 'master-1')!.netns}`,
            '--',
            'curl',
            '-ksf',
            'https://localhost:8443/healthz',
          ])
        ).stdout.trim() === 'ok',
    );
    expect(membershipOf(await membersNow(sb, ['master-0']))).toEqual(before);
    expect(existsSync(hostFile(sb, 'master-1', '/etc/origin/node/pods/etcd.yaml'))).toBe(false);
  });

  it('etcd-spare-0 fails with no free host in the pool: a host is launched and takes its place', async () => {
    await failHost(sb.name, 'etcd-spare-0', 'kill');
    const out = await run('etcd-spare-0');
    const result = parseRunJson(out.stdout);
    expect({ outcome: result.outcome, ...exitOf(out) }).toMatchObject({ outcome: 'succeeded', code: 0 });
    expect(result).toMatchObject({ replacement: { name: 'etcd-new-0', chosen: 'launched', launched: 'etcd-new-0' } });
    const record = (await new FileRunStore().get(result.runId))!;
    expect(record.steps.find((s) => s.name === 'ValidateInput')?.detail).toMatch(/to be launched \(the spare pool is empty\)/);
    const after = await loadSandbox(sb.name);
    expect(after.hosts.map((h) => h.name)).toContain('etcd-new-0');
    const members = await membersNow(after, ['master-0', 'etcd-spare-1']);
    expect(memberNames(members)).toEqual(names('master-0', 'etcd-spare-1', 'etcd-new-0'));
    expect(await healthOf(after, 'master-0', ['master-0', 'etcd-spare-1', 'etcd-new-0'])).toEqual([true, true, true]);
  });
});
