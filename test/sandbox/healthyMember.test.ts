// Issue 15 on real etcd, through the CLI as an operator runs it, every verdict checked with etcdctl on
// a host (member list, endpoint health), never by the tool's word:
//  - a member named as the replacement, by each identity etcd knows it by, is refused with exit 2 and
//    nothing changes (node-0 / master-1, master-2 / master-1);
//  - a run killed before RemoveFailedMember, whose failed member then recovers, is resumed by the same
//    command and refused with exit 3, the member untouched;
//  - a partitioned member is replaced: Succeeded (exit 0) with `remaining` naming the manual backup, in
//    the run record, `run --json`, the text summary and history; its data stays on its host;
//  - after that, master-2 is no member: the refusal names the run that replaced it.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, type SandboxInfo } from '../../sandbox/index.ts';
import { powerFile } from '../../sandbox/model.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import {
  digestTree,
  downAll,
  hostFile,
  exitOf,
  healthOf,
  memberNames,
  membersNow,
  membershipOf,
  parseRunJson,
  stepStatus,
  upSandbox,
  WatchedCli,
} from '../support/safetyHelpers.ts';
import { cli, cliEnv } from '../support/cli.ts';
import { waitFor } from '../../sandbox/util.ts';

const exec = promisify(execFile);
const created: string[] = [];
let sb: SandboxInfo;

beforeAll(async () => {
  sb = await upSandbox(created, 't-hm', { members: 3, spares: 2, nodes: 1, dataMb: 2 });
});

afterAll(async () => {
  await downAll(created);
});

const run = (failed: string, replacement: string, ...extra: string[]) =>
  cli(['run', '--sandbox', sb.name, '--failed', failed, '--replacement', replacement, '--grace-seconds', '0', '--json', ...extra]);
const ipOf = (name: string) => sb.hosts.find((h) => h.name === name)!.ip;
const MASTERS = ['master-0', 'master-1', 'master-2'];

/** Lifts the sandbox's partition of a host (the inverse of `sandbox fail --mode partition`). */
async function heal(host: string): Promise<void> {
  const h = sb.hosts.find((x) => x.name === host)!;
  await exec('nsenter', [`--net=/run/netns/${h.netns}`, '--', 'nft', 'delete', 'table', 'inet', 'sandbox_partition']);
  await fs.writeFile(powerFile(sb.stateDir, host), 'up\n');
}

/** The member's data is there: its bolt db and at least one WAL file (etcd rewrites both while it runs). */
const keptData = (files: Record<string, string>) =>
  'var/lib/etcd/member/snap/db' in files && Object.keys(files).some((f) => /^var\/lib\/etcd\/member\/wal\/[0-9a-f-]+\.wal$/.test(f));

describe('a member named as the replacement is never touched', () => {
  it('every identity of master-1 as --replacement is refused with exit 2; membership, health and its data unchanged', async () => {
    const before = membershipOf(await membersNow(sb, ['master-0']));
    const data = await digestTree(sb, 'master-1', '/etc/etcd');
    const master1 = (await membersNow(sb, ['master-0'])).find((m) => m.name === 'master-1.sandbox.test')!;
    const forms = ['master-1', 'master-1.sandbox.test', ipOf('master-1'), `https://${ipOf('master-1')}:2380`, `https://${ipOf('master-1')}:2379`, master1.id];
    for (const failed of ['node-0', 'master-2']) {
      for (const form of forms) {
        const out = await run(failed, form);
        expect({ failed, form, ...exitOf(out) }).toMatchObject({ code: 2 });
        const result = parseRunJson(out.stdout.trim() ? out.stdout : '{"runId":"","outcome":"failed","reason":null,"steps":[]}');
        const reason = result.reason ?? out.stderr;
        expect({ failed, form, reason }).toMatchObject({ reason: expect.stringMatching(/is (a )?member .*(of the cluster)/) });
        expect(reason).not.toMatch(/would end with|healthy member/);
        if (result.steps.length)
          expect(stepStatus(result)).toMatchObject({
            SnapshotCluster: 'skipped',
            RemoveFailedMember: 'skipped',
            AddMember: 'skipped',
            StartNewMember: 'skipped',
          });
      }
    }
    expect(membershipOf(await membersNow(sb, ['master-0', 'master-2']))).toEqual(before);
    expect(await healthOf(sb, 'master-0', MASTERS)).toEqual([true, true, true]);
    expect(await digestTree(sb, 'master-1', '/etc/etcd')).toEqual(data);
  });

  it('a failed host that is no member: exit 2 "not a member", nothing changed', async () => {
    const before = membershipOf(await membersNow(sb, ['master-0']));
    const out = await run('node-0', 'etcd-spare-0');
    expect(exitOf(out)).toMatchObject({ code: 2 });
    expect(parseRunJson(out.stdout).reason).toMatch(/InvalidInputError: invalid failed: node-0 is not a member of the cluster/);
    expect(membershipOf(await membersNow(sb, ['master-0']))).toEqual(before);
  });
});

describe('a resumed run re-confirms the failure before it removes anything', () => {
  it('killed before RemoveFailedMember, the member recovers: the same command resumes and refuses with exit 3; master-2 stays', async () => {
    const before = membershipOf(await membersNow(sb, ['master-0']));
    await failHost(sb.name, 'master-2', 'partition');
    const args = ['run', '--sandbox', sb.name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--grace-seconds', '0', '--json'];
    const first = new WatchedCli(args);
    const runId = /^run (r-[0-9a-z-]+):/.exec(await first.waitFor(/^run r-[0-9a-z-]+: replace/))![1]!;
    await first.waitFor(/^▶ RemoveFailedMember$/);
    // Killed the moment its record says RemoveFailedMember (saved just before the step starts), before
    // the step's host commands (an observation, then member remove) can have changed anything.
    const store = new FileRunStore();
    for (let i = 0; i < 400 && (await store.get(runId))?.state !== 'RemoveFailedMember'; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    first.kill('SIGKILL');
    await first.done;
    const record = (await store.get(runId))!;
    expect({ outcome: record.outcome, state: record.state }).toEqual({ outcome: 'running', state: 'RemoveFailedMember' });
    expect(membershipOf(await membersNow(sb, ['master-0']))).toEqual(before); // killed before the removal

    await heal('master-2');
    await waitFor('master-2 answering', 60_000, 500, async () => (await healthOf(sb, 'master-0', MASTERS)).every(Boolean));
    const again = await cli(args);
    expect(again.stderr).toMatch(new RegExp(`^resuming unfinished run ${runId} at RemoveFailedMember$`, 'm'));
    expect(exitOf(again)).toMatchObject({ code: 3 });
    const result = parseRunJson(again.stdout);
    expect(result.runId).toBe(runId);
    expect(result.outcome).toBe('refused');
    expect(result.reason).toMatch(
      /RefusedError: member master-2\.sandbox\.test \([0-9a-f]{16}\) answers health checks again when observed before its removal \(the failure was confirmed by another execution/,
    );
    expect(stepStatus(result)).toMatchObject({ RemoveFailedMember: 'failed', StopFailedMember: 'skipped', AddMember: 'skipped' });
    const stored = (await new FileRunStore().get(runId))!;
    expect(stored.outcome).toBe('refused');
    expect(stored.reason).toMatch(/nothing was removed/);
    // The record says what was observed: the recovered member asked, and answering.
    expect(result.remaining?.join('\n')).toMatch(/\(master-2\.sandbox\.test, voter\) answers/);
    expect(result.remaining?.join('\n')).not.toMatch(/master-2\.sandbox\.test[^;]*(does not answer|not asked)/);

    expect(membershipOf(await membersNow(sb, ['master-0']))).toEqual(before);
    expect(await healthOf(sb, 'master-0', MASTERS)).toEqual([true, true, true]);
    expect(keptData(await digestTree(sb, 'master-2', '/var/lib/etcd'))).toBe(true);
    expect(await fs.stat(hostFile(sb, 'master-2', '/etc/origin/node/pods/etcd.yaml')).then(() => true)).toBe(true); // never stopped
  });
});

describe('a done replacement is reported as done', () => {
  let replacedBy = '';

  it('master-2 partitioned: Succeeded (exit 0) with remaining naming the manual backup; its data left on the host', async () => {
    await failHost(sb.name, 'master-2', 'partition');
    expect(keptData(await digestTree(sb, 'master-2', '/var/lib/etcd'))).toBe(true);
    // RollMasters waits for the partitioned master's API, which cannot answer: 15 s here instead of the
    // default 120 s, since how long it waits is not what is tested.
    const out = await cliEnv(['run', '--sandbox', sb.name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--grace-seconds', '0', '--json'], {
      ETCD_REPLACE_MASTER_HEALTH_SECONDS: '15',
    });
    const result = parseRunJson(out.stdout);
    expect({ outcome: result.outcome, reason: result.reason, ...exitOf(out) }).toMatchObject({ outcome: 'succeeded', reason: null, code: 0 });
    replacedBy = result.runId;
    expect(result.remaining?.join('\n')).toMatch(/master-2: \/var\/lib\/etcd was not backed up .* back it up off the host, then empty it/);
    expect(stepStatus(result)).toMatchObject({
      RemoveFailedMember: 'succeeded',
      BackUpFailedMemberData: 'skipped',
      AddMember: 'succeeded',
      RollMasters: 'succeeded',
    });

    const members = await membersNow(sb, ['master-0', 'master-1']);
    expect(memberNames(members)).toEqual(['etcd-spare-0.sandbox.test', 'master-0.sandbox.test', 'master-1.sandbox.test']);
    expect(members.every((m) => !m.isLearner)).toBe(true);
    expect(await healthOf(sb, 'master-0', ['master-0', 'master-1', 'etcd-spare-0'])).toEqual([true, true, true]);
    // Never wiped without a backup: the data directory still holds the member's db and WAL.
    expect(keptData(await digestTree(sb, 'master-2', '/var/lib/etcd'))).toBe(true);

    const stored = (await new FileRunStore().get(result.runId))!;
    expect(stored.remaining).toEqual(result.remaining);
    const history = await cli(['history', '--sandbox', sb.name]);
    expect(history.stdout).toMatch(/outcome: succeeded[^\n]*\n(.*\n)*\s+remaining: master-2: \/var\/lib\/etcd was not backed up/);
    const historyJson = JSON.parse((await cli(['history', '--sandbox', sb.name, '--json'])).stdout) as Array<{ runId: string; remaining?: string[] }>;
    expect(historyJson.find((r) => r.runId === result.runId)?.remaining).toEqual(result.remaining);
  });

  it('after the replacement: master-2 is refused as "not a member; replaced by run X", and master-1 as a member; nothing changed', async () => {
    expect(replacedBy).not.toBe('');
    const before = membershipOf(await membersNow(sb, ['master-0']));
    const spare = await run('master-2', 'etcd-spare-1');
    expect(exitOf(spare)).toMatchObject({ code: 2 });
    expect(parseRunJson(spare.stdout).reason).toMatch(
      new RegExp(`invalid failed: master-2 is not a member; replaced by run ${replacedBy} on \\d{4}-\\d\\d-\\d\\d `),
    );
    expect(parseRunJson(spare.stdout).reason).not.toMatch(/would end with 4 members/);
    const member = await run('master-2', 'master-1');
    expect(exitOf(member)).toMatchObject({ code: 2 });
    expect(parseRunJson(member.stdout).reason).toMatch(/invalid replacement: master-1 .* is a member of the cluster/);
    expect(membershipOf(await membersNow(sb, ['master-0']))).toEqual(before);
    expect(await healthOf(sb, 'master-0', ['master-0', 'master-1', 'etcd-spare-0'])).toEqual([true, true, true]);
  });
});
