// restore-quorum end to end on etcd 3.2.22, each result checked from the hosts with etcdctl. One 3-member
// sandbox with two spares that loses quorum again and again, in order:
//   1. quorum holds: refused (exit 3), nothing changed.
//   2. master-1 and master-2 powered off under write load, master-0 leading (so every acknowledged write is
//      in its log): `--from master-1` (it does not answer) exits 2; the restore from master-0, approved with
//      the command its waiting line prints, brings the cluster back to three (master-0 and the two spares);
//      every acknowledged write is on every member; the masters' urls name members only. Then the two old
//      hosts boot again with their old data: neither accepts a write at its own client URL (asked on each
//      host, while both are up), and `probe`, the next observation, fences both on the host.
//   3. etcd dead on master-0, then more writes, then dead on etcd-spare-0 (every host up): an approval not
//      given in time, or declined, ends Refused, nothing changed; master-0's etcd back before the approval: refused,
//      nothing fenced.
//   4. the same loss again: the restore chooses etcd-spare-1 (the highest revision; not master-0); killed
//      during ForceNewCluster, then during a re-add, the same command finishes; master-0 and etcd-spare-0
//      are re-added on their own hosts once their etcd fault is lifted (as an operator lifts the cause).
//   5. no usable survivor: a replacement run (etcd-spare-0 powered off, replaced by etcd-spare-2) verifies its
//      snapshot; 10 more keys are written; then etcd-spare-1 and etcd-spare-2 are powered off and master-0's
//      etcd dies with its data directory gone. No member answers a member list, so the membership is what the
//      runs left; the restore takes the newest verified snapshot, restores it on master-0 (its etcd fault
//      lifted once the fence has stopped it) and re-adds the two
//      powered-off members on the next two spares. Every key of the snapshot is on every member; the 10 later
//      keys are the loss the plan stated.
// A sandbox of its own: it loses quorum on purpose, which no other suite's sandbox can afford, and the
// scripts' suite (restoreScripts.test.ts) ends with a cluster of one.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFence, failHost, healHost, type SandboxInfo } from '../../sandbox/index.ts';
import { waitFor } from '../../sandbox/util.ts';
import { etcdctl, memberList } from '../support/clusterFacts.ts';
import { cli } from '../support/cli.ts';
import {
  clientUrl,
  digestTree,
  downAll,
  exitOf,
  healthOf,
  holdBefore,
  memberNames,
  parseRunJson,
  runsOf,
  sh,
  upSandbox,
  WatchedCli,
} from '../support/safetyHelpers.ts';
import { makeLeader } from '../support/verifyReplaced.ts';
import { acknowledging, startWriter, writerKeysOn } from '../support/writer.ts';
import { fqdn } from '../support/runChecks.ts';

const created: string[] = [];
let sandbox: SandboxInfo;

beforeAll(async () => {
  sandbox = await upSandbox(created, 't-rqe', { members: 3, spares: 5, nodes: 1, dataMb: 2 });
});

afterAll(async () => {
  await downAll(created);
});

const ipOf = (host: string) => sandbox.hosts.find((h) => h.name === host)!.ip;
const restoreArgs = (...extra: string[]) => ['restore-quorum', '--target', 'sandbox', '--sandbox', sandbox.name, '--grace-seconds', '1', '--json', ...extra];

/** What a restore that is refused must leave as it was: each host's /etc/etcd and static pods, and its network fence. */
async function untouched(hosts: string[]): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const host of hosts) {
    out[host] = {
      etc: await digestTree(sandbox, host, 'etc/etcd'),
      pods: await digestTree(sandbox, host, 'etc/origin/node'),
      fenced: (await describeFence(sandbox, host)).fenced,
    };
  }
  return out;
}

/** A restore started, approved with the exact command its waiting line prints, and run to its end. */
async function approvedRestore(args: string[], env: Record<string, string> = {}): Promise<{ watched: WatchedCli; runId: string }> {
  const watched = new WatchedCli(args, env);
  const line = await watched.waitFor(/^waiting for approval of run /);
  const command = /approve with: etcd-replace (approve \S+ --target sandbox --sandbox \S+)$/.exec(line)?.[1];
  if (command === undefined) throw new Error(`no approve command in the waiting line: ${line}`);
  const approved = await cli(command.split(' '));
  expect(exitOf(approved)).toMatchObject({ code: 0 });
  return { watched, runId: command.split(' ')[1]! };
}

/** A put of `key` through the host's own client URL, asked on that host (etcdctl's 3 s command timeout): whether etcd accepted it. */
const puts = (host: string, key: string): Promise<boolean> =>
  etcdctl(sandbox, host, [clientUrl(ipOf(host))], ['--command-timeout=3s', 'put', key, host]).then(
    () => true,
    () => false,
  );

/**
 * etcd dies on master-0 (the leader after a restore from it), then 20 keys under `prefix` are written through
 * etcd-spare-0 once the two left have a leader, then etcd dies on etcd-spare-0: etcd-spare-1 runs on alone,
 * with the newest data beside etcd-spare-0's and master-0's older.
 */
async function loseQuorumNewestOnSpare1(prefix: string): Promise<void> {
  await failHost(sandbox.name, 'master-0', 'etcd');
  await waitFor('a leader among etcd-spare-0 and etcd-spare-1', 30_000, 250, () => puts('etcd-spare-0', `${prefix}0`));
  for (let i = 1; i <= 20; i += 1) expect(await puts('etcd-spare-0', `${prefix}${i}`)).toBe(true);
  await failHost(sandbox.name, 'etcd-spare-0', 'etcd');
}

describe('restore-quorum on the sandbox (etcd 3.2.22)', () => {
  it('refuses while quorum holds: exit 3, nothing changed', async () => {
    const before = await untouched(['master-0', 'master-1', 'master-2']);
    const out = await cli(restoreArgs());
    expect(exitOf(out)).toMatchObject({ code: 3 });
    expect(parseRunJson(out.stdout).outcome).toBe('refused');
    expect(out.stderr).toMatch(/restore-quorum refused: quorum is back: 3 of 3 voting members answer/);
    expect(await untouched(['master-0', 'master-1', 'master-2'])).toEqual(before);
  });

  it('restores from master-0 after master-1 and master-2 are powered off under write load; the old hosts, back, accept no write and are fenced on the host by the next observation', async () => {
    await makeLeader(sandbox, 'master-0');
    const writer = await startWriter(sandbox, [clientUrl(ipOf('master-0'))]);
    await acknowledging(writer);
    await failHost(sandbox.name, 'master-1', 'kill');
    await failHost(sandbox.name, 'master-2', 'kill');

    // --from a member that does not answer (its host is off, its data unreadable): exit 2, nothing changed.
    const before = await untouched(['master-0']);
    const from = await cli(restoreArgs('--from', 'master-1'));
    expect(exitOf(from)).toMatchObject({ code: 2 });
    expect(await untouched(['master-0'])).toEqual(before);

    const { watched, runId } = await approvedRestore(restoreArgs());
    const out = await watched.done;
    const ackedBefore = writer.count();
    await acknowledging(writer);
    const writes = await writer.stop();
    expect(exitOf(out)).toMatchObject({ code: 0 });
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('succeeded');
    expect(result.runId).toBe(runId);

    // Three healthy members, master-0 and the two spares, checked from the hosts.
    const members = await memberList(sandbox, 'master-0', clientUrl(ipOf('master-0')));
    expect(memberNames(members)).toEqual([fqdn('etcd-spare-0'), fqdn('etcd-spare-1'), fqdn('master-0')]);
    expect(await healthOf(sandbox, 'master-0', ['master-0', 'etcd-spare-0', 'etcd-spare-1'])).toEqual([true, true, true]);
    // Every write acknowledged before and after the loss is on every member, each read from its own copy.
    expect(ackedBefore).toBeGreaterThan(20);
    for (const host of ['master-0', 'etcd-spare-0', 'etcd-spare-1']) {
      await waitFor(`${host} to hold every acknowledged write`, 20_000, 250, async () => {
        const held = await writerKeysOn(sandbox, host, clientUrl(ipOf(host)));
        return writes.acknowledged.every((k) => held.has(k));
      });
    }
    // master-0's API names the members only.
    const config = await sh(sandbox, 'master-0', 'cat /etc/origin/master/master-config.yaml');
    const urls = [...config.matchAll(/^\s+- (https:\/\/\S+:2379)$/gm)].map((m) => m[1]).sort();
    expect(urls).toEqual(['etcd-spare-0', 'etcd-spare-1', 'master-0'].map((h) => `https://${fqdn(h)}:2379`));
    const [record] = await runsOf(sandbox.name);
    const measures = record?.context['restoreMeasures'];
    console.log(`restore from a survivor: ${JSON.stringify(measures)}; ${writes.acknowledged.length} writes acknowledged, none lost`);

    // The old hosts boot again with their old data and static pods; the network fence holds them apart.
    await healHost(sandbox.name, 'master-1');
    await healHost(sandbox.name, 'master-2');
    for (const host of ['master-1', 'master-2']) {
      await waitFor(`etcd to run again on ${host}`, 30_000, 250, async () => (await sh(sandbox, host, 'ss -ltn')).includes(`${ipOf(host)}:2379`));
    }
    expect(await puts('master-1', '/split-brain')).toBe(false);
    expect(await puts('master-2', '/split-brain')).toBe(false);
    const probe = await cli(['probe', '--target', 'sandbox', '--sandbox', sandbox.name, '--json']);
    expect(exitOf(probe)).toMatchObject({ code: 0 });
    const hosts = (JSON.parse(probe.stdout) as { hosts: Array<{ host: string; action: string; changed: boolean }> }).hosts;
    for (const host of ['master-1', 'master-2']) {
      expect(hosts.find((h) => h.host === host)).toMatchObject({ action: 'fenced-on-host', changed: true });
      expect(await sh(sandbox, host, 'test ! -e /etc/origin/node/pods/etcd.yaml && test -f /etc/origin/node/pods-stopped/etcd.yaml && echo moved')).toBe(
        'moved\n',
      );
      await waitFor(`etcd to stop on ${host}`, 20_000, 250, async () => !(await sh(sandbox, host, 'ss -ltn')).includes(`${ipOf(host)}:2379`));
    }
    // The members never saw the old hosts' write.
    expect(await etcdctl(sandbox, 'master-0', [clientUrl(ipOf('master-0'))], ['get', '/split-brain'])).toBe('');
  });

  it('etcd dead on two hosts that stay up: an approval not given in time, one declined, and quorum back before approval, are refused with nothing changed', async () => {
    await loseQuorumNewestOnSpare1('/after-master-0/');
    const hosts = ['master-0', 'etcd-spare-0', 'etcd-spare-1'];
    const before = await untouched(hosts);
    const membersBefore = await memberList(sandbox, 'etcd-spare-1', clientUrl(ipOf('etcd-spare-1')));

    const timedOut = await cli(restoreArgs('--approval-timeout-seconds', '2'));
    expect(exitOf(timedOut)).toMatchObject({ code: 3 });
    expect(parseRunJson(timedOut.stdout).outcome).toBe('refused');
    expect(await untouched(hosts)).toEqual(before);

    // Declined with the command the waiting line prints: refused, nothing changed.
    const declined = new WatchedCli(restoreArgs());
    const asked = await declined.waitFor(/^waiting for approval of run /);
    const approve = /approve with: etcd-replace (approve .+)$/.exec(asked)![1]!.split(' ');
    expect(exitOf(await cli([...approve, '--decline', '--reason', 'restore from the newer backup']))).toMatchObject({ code: 0 });
    const notGiven = await declined.done;
    expect(exitOf(notGiven)).toMatchObject({ code: 3 });
    expect(parseRunJson(notGiven.stdout).outcome).toBe('refused');
    expect(notGiven.stderr).toMatch(/restore from the newer backup/);
    expect(await untouched(hosts)).toEqual(before);

    // master-0's etcd comes back while the restore waits for its approval: quorum is back, nothing is fenced.
    const watched = new WatchedCli(restoreArgs());
    const line = await watched.waitFor(/^waiting for approval of run /);
    await healHost(sandbox.name, 'master-0');
    await waitFor('quorum back', 30_000, 250, async () => (await healthOf(sandbox, 'etcd-spare-1', ['master-0'])).every(Boolean));
    const command = /approve with: etcd-replace (approve .+)$/.exec(line)![1]!;
    expect(exitOf(await cli(command.split(' ')))).toMatchObject({ code: 0 });
    const out = await watched.done;
    expect(exitOf(out)).toMatchObject({ code: 3 });
    expect(parseRunJson(out.stdout).outcome).toBe('refused');
    expect(out.stderr).toMatch(/✗ FenceFormerMembers .*restore-quorum refused: quorum/);
    for (const host of hosts) expect((await describeFence(sandbox, host)).fenced).toBe(false);
    expect(memberNames(await memberList(sandbox, 'etcd-spare-1', clientUrl(ipOf('etcd-spare-1'))))).toEqual(memberNames(membersBefore));
    // The cluster whole again for what follows.
    await healHost(sandbox.name, 'etcd-spare-0');
    await waitFor('three healthy members', 30_000, 250, async () => (await healthOf(sandbox, 'etcd-spare-1', hosts)).every(Boolean));
  });

  it('restores from etcd-spare-1, the highest revision (not master-0); killed during the force and during a re-add, the same command finishes', async () => {
    // master-0 first, then more writes, then etcd-spare-0: etcd-spare-1 runs on alone with the newest data.
    await loseQuorumNewestOnSpare1('/after-master-0-again/');

    const { watched: first, runId } = await approvedRestore(restoreArgs());
    await first.waitFor(/^▶ ForceNewCluster/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    first.kill();
    await first.done;

    // The same command takes the run over; before the re-adds the etcd faults are lifted (the pods stay
    // moved away by the fence), then it is killed again during the first re-add's start.
    const hold = await holdBefore('PrepareFormerMember');
    const second = new WatchedCli(restoreArgs(), hold.env);
    await second.waitFor(/^hold: PrepareFormerMember waits while /);
    await healHost(sandbox.name, 'master-0');
    await healHost(sandbox.name, 'etcd-spare-0');
    await hold.release();
    await second.waitFor(/^▶ StartNewMember/);
    second.kill();
    await second.done;

    const third = await cli(restoreArgs());
    expect(exitOf(third)).toMatchObject({ code: 0 });
    const result = parseRunJson(third.stdout);
    expect(result.runId).toBe(runId);
    expect(result.outcome).toBe('succeeded');

    const members = await memberList(sandbox, 'etcd-spare-1', clientUrl(ipOf('etcd-spare-1')));
    expect(memberNames(members)).toEqual([fqdn('etcd-spare-0'), fqdn('etcd-spare-1'), fqdn('master-0')]);
    expect(await healthOf(sandbox, 'etcd-spare-1', ['master-0', 'etcd-spare-0', 'etcd-spare-1'])).toEqual([true, true, true]);
    // The writes made after master-0 died are on every member, master-0 included.
    for (const host of ['master-0', 'etcd-spare-0', 'etcd-spare-1']) {
      const keys = await etcdctl(sandbox, host, [clientUrl(ipOf(host))], ['get', '/after-master-0-again/', '--prefix', '--keys-only', '--consistency=s']);
      expect(keys.split('\n').filter((k) => k !== '')).toHaveLength(21);
    }
    const [record] = await runsOf(sandbox.name);
    expect(record?.context['survivor']).toMatchObject({ kind: 'member', host: 'etcd-spare-1' });
    const reAdds = record?.context['reAdds'];
    console.log(`restore from the highest revision, killed twice: re-adds ${JSON.stringify(reAdds)}`);
  });

  it('no usable survivor: restores the verified snapshot of an earlier run on master-0 and re-adds the powered-off members on spares; the keys after the snapshot are the stated loss', async () => {
    // A replacement run verifies its snapshot: etcd-spare-0 powered off, replaced by etcd-spare-2.
    await failHost(sandbox.name, 'etcd-spare-0', 'kill');
    const replaced = await cli([
      'run',
      '--sandbox',
      sandbox.name,
      '--failed',
      'etcd-spare-0',
      '--replacement',
      'etcd-spare-2',
      '--grace-seconds',
      '0',
      '--json',
    ]);
    expect(exitOf(replaced)).toMatchObject({ code: 0 });
    const [replacement] = await runsOf(sandbox.name);
    expect(replacement?.runId).toBe(parseRunJson(replaced.stdout).runId);
    const snapshotKey = replacement?.context['snapshotKey'];
    expect(replacement?.context['snapshotVerified']).toBeDefined();
    for (let i = 0; i < 10; i += 1) expect(await puts('master-0', `/after-snapshot/${i}`)).toBe(true);

    // Nothing usable is left: two members powered off, master-0's etcd dead with its data directory gone.
    await failHost(sandbox.name, 'etcd-spare-1', 'kill');
    await failHost(sandbox.name, 'etcd-spare-2', 'kill');
    await failHost(sandbox.name, 'master-0', 'etcd');
    await sh(sandbox, 'master-0', 'rm -rf /var/lib/etcd/member');

    // Once the fence has stopped what was left of master-0's etcd, its fault is lifted (as an operator
    // lifts the cause: a disk replaced), so etcd can run there again for the snapshot.
    const hold = await holdBefore('RestoreFromSnapshot');
    const { watched } = await approvedRestore(restoreArgs(), hold.env);
    await watched.waitFor(/^hold: RestoreFromSnapshot waits while /);
    await healHost(sandbox.name, 'master-0');
    await hold.release();
    const out = await watched.done;
    expect(exitOf(out)).toMatchObject({ code: 0 });
    expect(parseRunJson(out.stdout).outcome).toBe('succeeded');
    const [record] = await runsOf(sandbox.name);
    expect(record?.context['survivor']).toMatchObject({ kind: 'snapshot', key: snapshotKey, chosenBy: 'newest' });
    expect(record?.context['formerMembers']).toEqual([
      expect.objectContaining({ host: 'master-0' }),
      expect.objectContaining({ host: 'etcd-spare-1' }),
      expect.objectContaining({ host: 'etcd-spare-2' }),
    ]);
    expect(record?.context['reAdds']).toEqual([
      { former: 'etcd-spare-1', on: 'etcd-spare-3', how: 'spare' },
      { former: 'etcd-spare-2', on: 'etcd-spare-4', how: 'spare' },
    ]);

    const hosts = ['master-0', 'etcd-spare-3', 'etcd-spare-4'];
    expect(memberNames(await memberList(sandbox, 'master-0', clientUrl(ipOf('master-0'))))).toEqual(hosts.map(fqdn).sort());
    expect(await healthOf(sandbox, 'master-0', hosts)).toEqual([true, true, true]);
    for (const host of hosts) {
      const keysOf = async (prefix: string) =>
        (await etcdctl(sandbox, host, [clientUrl(ipOf(host))], ['get', prefix, '--prefix', '--keys-only', '--consistency=s']))
          .split('\n')
          .filter((k) => k !== '');
      expect(await keysOf('/after-master-0-again/')).toHaveLength(21);
      expect(await keysOf('/after-snapshot/')).toEqual([]);
    }
    // The powered-off members stay fenced on the network.
    for (const host of ['etcd-spare-1', 'etcd-spare-2']) expect((await describeFence(sandbox, host)).fenced).toBe(true);
    console.log(`restore from a snapshot: ${JSON.stringify(record?.context['expectedLoss'])}; ${JSON.stringify(record?.context['restoreMeasures'])}`);
  });
});
