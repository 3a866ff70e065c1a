// The restore-quorum host scripts on one real 3-member cluster that loses quorum: etcd dies on master-0,
// more keys are written, etcd dies on master-1, and master-2 runs on alone without a leader. Then, as
// OpenShift 3.11's "Restoring etcd quorum" does by hand: DescribeRestorePoint on each member (checked
// against what etcdctl reads on the host), FenceFormerMember on a former member, ForceNewCluster on the
// survivor with the highest revision; then, as "Restoring etcd" does, RestoreFromSnapshot of a snapshot of
// that cluster of one on the same host; every result checked from the hosts with etcdctl, and every
// script run twice. A sandbox of its own: the others keep their quorum, and this one ends with a cluster
// of one. Tests run in order.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript } from '../../functions/hosts/hostScript.ts';
import type { Host } from '../../functions/ports.ts';
import { SandboxArtifactStore } from '../../sandbox/adapters/artifactServer.ts';
import { SandboxHostRunner } from '../../sandbox/adapters/hostRunner.ts';
import { failHost, healHost, hostExec, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { waitFor } from '../../sandbox/util.ts';
import { sleep, uniqueName } from '../support/sandboxHelpers.ts';
import type { DescribedRestorePoint } from '../../statemachine/restorePolicy.ts';

const name = uniqueName('t-rq');
const RUN_ID = 'restore-quorum-test-1';
const MEMBERS = ['master-0', 'master-1', 'master-2'] as const;
const TLS = '--cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key';
let sandbox: SandboxInfo;
let store: SandboxArtifactStore;
let runner: SandboxHostRunner;

interface Backup {
  marked: boolean;
  empty?: boolean;
  bytes: number;
  sha256: string;
  manifest: string;
}
interface Status {
  revision: number;
  raftIndex: number;
  raftTerm: number;
  memberId: string;
  clusterId: string;
  leader: string;
}

const host = (short: string): Host => {
  const found = sandbox.hosts.find((h) => h.name === short);
  if (!found) throw new Error(`no host ${short}`);
  return { name: found.name, hostname: found.hostname, ip: found.ip, roles: found.roles };
};
const sh = async (short: string, script: string) => {
  const out = await hostExec(sandbox, short, ['bash', '-c', script], { env: { ETCDCTL_API: '3' }, timeoutMs: 30_000 });
  if (out.exitCode !== 0) throw new Error(`on ${short}: ${script}: exit ${out.exitCode}: ${out.stderr}`);
  return out.stdout;
};
const hex = (n: bigint) => n.toString(16).padStart(16, '0');
/** `etcdctl endpoint status` of the member on SHORT, run there (IDs as 16 hex digits; BigInt: they pass 2^53). */
const endpointStatus = async (short: string): Promise<Status> => {
  const out = await sh(short, `etcdctl ${TLS} --endpoints=https://${host(short).ip}:2379 endpoint status -w json`);
  // JSON leaves out a zero field: a member without a leader has no "leader".
  const big = (field: string, zero = '-1') => BigInt(new RegExp(`"${field}":(\\d+)`).exec(out)?.[1] ?? zero);
  return {
    revision: Number(big('revision')),
    raftIndex: Number(big('raftIndex')),
    raftTerm: Number(big('raftTerm')),
    memberId: hex(big('member_id')),
    clusterId: hex(big('cluster_id')),
    leader: hex(big('leader', '0')),
  };
};
/** COUNT puts through the member on SHORT, each acknowledged (a put that fails fails the test). */
const put = (short: string, prefix: string, count: number) =>
  sh(
    short,
    `for i in $(seq 1 ${count}); do etcdctl ${TLS} --endpoints=https://${host(short).ip}:2379 put /restore-test/${prefix}-$i v$i >/dev/null || exit 1; done`,
  );
const describeRestorePoint = (short: string) =>
  runScript<DescribedRestorePoint>(runner, { host: host(short), script: 'DescribeRestorePoint', timeoutSeconds: 60 });
/** What is on the host that a rerun must not change: the data directory's files and sizes, etcd.conf, the pods. */
const hostState = (short: string) =>
  sh(
    short,
    'cd /var/lib/etcd && find . -type f -printf "%P %s\\n" | LC_ALL=C sort | sha256sum; sha256sum /etc/etcd/etcd.conf; ls /etc/origin/node/pods /etc/origin/node/pods-stopped',
  );
const etcdPid = (short: string) => sh(short, 'ss -Hltnp "( sport = :2379 )" | grep -oE "pid=[0-9]+" | sort -u');
/** The artifact's size and sha256 as the store holds it. */
const stored = async (key: string) => {
  const info = await store.head(key);
  if (!info) throw new Error(`no artifact ${key}`);
  return { bytes: info.size, sha256: createHash('sha256').update(readFileSync(info.location)).digest('hex'), location: info.location };
};

const before: Partial<Record<(typeof MEMBERS)[number], Status>> = {};
const points: Partial<Record<(typeof MEMBERS)[number], DescribedRestorePoint>> = {};
let survivor: (typeof MEMBERS)[number];
let keysBefore: string[] = [];
/** A member's raft index before its last write: that write's entry, which its backend holds, is above it. */
const beforeLastPut: Partial<Record<(typeof MEMBERS)[number], number>> = {};

beforeAll(async () => {
  sandbox = await sandboxUp({ name, members: 3, spares: 0, nodes: 0, dataMb: 1 });
  store = new SandboxArtifactStore({ dir: path.join(sandbox.stateDir, 'artifacts'), host: sandbox.gateway });
  await store.start();
  runner = new SandboxHostRunner(sandbox);
});

afterAll(async () => {
  await store?.close();
  await sandboxDown(name);
});

describe('Quorum lost: etcd dies on master-0, then, after more writes, on master-1', () => {
  it('leaves master-2 running without a leader', async () => {
    await put('master-0', 'a', 19);
    beforeLastPut['master-0'] = (await endpointStatus('master-0')).raftIndex;
    await put('master-0', 'a-last', 1);
    await sleep(500); // past the backend's batch interval (100 ms): what was applied is on disk when etcd dies
    before['master-0'] = await endpointStatus('master-0');
    await failHost(name, 'master-0', 'etcd');
    // master-0 may have led: the two left elect a leader before the next writes.
    await waitFor('master-1 and master-2 to agree on a leader', 15_000, 250, async () => {
      const [one, two] = await Promise.all([endpointStatus('master-1'), endpointStatus('master-2')]);
      return one.leader !== hex(0n) && one.leader === two.leader && one.leader !== before['master-0']!.memberId ? true : undefined;
    });
    await put('master-1', 'b', 19);
    beforeLastPut['master-1'] = (await endpointStatus('master-1')).raftIndex;
    await put('master-1', 'b-last', 1);
    const applied = (await endpointStatus('master-1')).revision;
    await waitFor('master-2 to apply every write', 10_000, 100, async () => ((await endpointStatus('master-2')).revision === applied ? true : undefined));
    await sleep(500);
    before['master-1'] = await endpointStatus('master-1');
    keysBefore = (await sh('master-1', `etcdctl ${TLS} --endpoints=https://${host('master-1').ip}:2379 get --prefix --keys-only /restore-test/`))
      .split('\n')
      .filter(Boolean)
      .sort();
    expect(keysBefore).toHaveLength(40);
    await failHost(name, 'master-1', 'etcd');
    await waitFor('master-2 to lose its leader', 15_000, 250, async () => ((await endpointStatus('master-2')).leader === hex(0n) ? true : undefined));
    before['master-2'] = await endpointStatus('master-2');
    expect(before['master-2'].revision).toBe(before['master-1'].revision);
    expect(before['master-1'].revision).toBeGreaterThan(before['master-0'].revision);
  });
});

describe('Script: DescribeRestorePoint', () => {
  it('reports, for a running member without quorum, what its endpoint status says on the host', async () => {
    const point = await describeRestorePoint('master-2');
    const after = await endpointStatus('master-2');
    points['master-2'] = point;
    expect(point).toMatchObject({
      etcd: 'running',
      source: 'endpoint',
      memberId: after.memberId,
      clusterId: after.clusterId,
      name: 'master-2.sandbox.test',
      leaderId: hex(0n),
      members: 3,
      version: sandbox.etcdVersion,
      revision: after.revision,
      raftIndex: after.raftIndex,
      keys: null,
    });
    // Its term goes up with each election it cannot win.
    expect(point.raftTerm).toBeGreaterThanOrEqual(before['master-2']?.raftTerm ?? Infinity);
    expect(point.raftTerm).toBeLessThanOrEqual(after.raftTerm);
  });

  it.each(['master-0', 'master-1'] as const)(
    'reports, for stopped %s, what its data holds: as etcdctl reads it on the host, and as it stood when etcd died',
    async (short) => {
      const point = await describeRestorePoint(short);
      points[short] = point;
      const was = before[short];
      // etcdctl on the host, on a copy of the backend (bolt locks the file it opens).
      const status = JSON.parse(
        await sh(short, 'd=$(mktemp -d) && cp /var/lib/etcd/member/snap/db "$d/db" && etcdctl snapshot status "$d/db" -w json; rm -rf "$d"'),
      ) as { revision: number; totalKey: number; totalSize: number };
      expect(point).toEqual({
        etcd: 'stopped',
        source: 'backend',
        memberId: was?.memberId,
        clusterId: was?.clusterId,
        name: null,
        leaderId: null,
        members: null,
        version: null,
        revision: status.revision,
        raftIndex: expect.any(Number),
        raftTerm: null,
        dbBytes: status.totalSize,
        keys: status.totalKey,
      });
      expect(point.revision).toBe(was?.revision);
      // The index of the last entry its backend applied: the last write's or later; never past what the
      // member last answered (entries that write nothing to the backend, quorum reads among them, are not in it).
      expect(point.raftIndex).toBeGreaterThan(beforeLastPut[short] ?? Infinity);
      expect(point.raftIndex).toBeLessThanOrEqual(was?.raftIndex ?? -1);
    },
  );

  // master-1 and master-2 hold the same writes (the same revision); master-2 answers, and its raft index
  // is the one it applied, not the one its backend last committed.
  it('chooses master-2: the highest revision, then raft index, then an answering member; never master-0', () => {
    const ranked = MEMBERS.map((m) => ({ m, p: points[m] as DescribedRestorePoint })).sort(
      (a, b) => (b.p.revision ?? -1) - (a.p.revision ?? -1) || (b.p.raftIndex ?? -1) - (a.p.raftIndex ?? -1) || (a.p.etcd === 'running' ? -1 : 1),
    );
    survivor = ranked[0]?.m ?? 'master-0';
    expect(survivor).toBe('master-2');
    expect(points[survivor]?.revision).toBe(Math.max(...MEMBERS.map((m) => points[m]?.revision ?? -1)));
    expect(points['master-0']?.revision).toBeLessThan(points[survivor]?.revision ?? 0);
  });

  it('takes no arguments (exit 2), and reading changed nothing on the hosts', async () => {
    const out = await runner.run({ host: host('master-1'), script: 'DescribeRestorePoint', args: ['--all'], timeoutSeconds: 30 });
    expect(out).toMatchObject({ exitCode: 2, stdout: '' });
    expect(out.stderr).toContain('takes no arguments');
    expect((await sh('master-1', 'ls /var/tmp | grep -c etcd-restore-point || true')).trim()).toBe('0');
    expect(await describeRestorePoint('master-1')).toEqual(points['master-1']);
  });
});

describe('Script: FenceFormerMember', () => {
  const key = `runs/${RUN_ID}/fence-master-1.tgz`;
  let backup: Backup;

  it('stops nothing and changes nothing with bad arguments (exit 2)', async () => {
    const bad = [[], ['fence'], ['fence', 'Bad Id'], ['fence', RUN_ID, 'extra'], ['confirm', RUN_ID, '12', 'x', 'y'], ['wipe', RUN_ID]];
    const codes = [];
    for (const args of bad) codes.push((await runner.run({ host: host('master-1'), script: 'FenceFormerMember', args, timeoutSeconds: 30 })).exitCode);
    expect(codes).toEqual(bad.map(() => 2));
    const noUrl = await runner.run({ host: host('master-1'), script: 'FenceFormerMember', args: ['fence', RUN_ID], timeoutSeconds: 30 });
    expect(noUrl).toMatchObject({ exitCode: 2, stderr: 'no upload URL on stdin\n' });
    expect(await sh('master-1', 'ls /etc/origin/node/pods')).toContain('etcd.yaml');
  });

  it('moves the static pod to pods-stopped and uploads the data directory off the host; confirm marks it', async () => {
    const url = await store.uploadUrl(key, 600);
    const fenced = await runScript<{ stopped: boolean; kind: string; backup: Backup }>(runner, {
      host: host('master-1'),
      script: 'FenceFormerMember',
      args: ['fence', RUN_ID],
      secrets: { UPLOAD_URL: url },
      timeoutSeconds: 120,
    });
    expect(fenced).toMatchObject({ stopped: true, kind: 'pod', backup: { marked: false, empty: false } });
    backup = fenced.backup;
    const artifact = await stored(key);
    expect({ bytes: artifact.bytes, sha256: artifact.sha256 }).toEqual({ bytes: backup.bytes, sha256: backup.sha256 });
    expect(await sh('master-1', 'ls /etc/origin/node/pods-stopped; test ! -e /etc/origin/node/pods/etcd.yaml && echo gone')).toBe('etcd.yaml\ngone\n');
    expect(execFileSync('tar', ['-tzf', artifact.location], { encoding: 'utf8' }).split('\n')).toContain('./member/snap/db');
    const confirmed = await runScript(runner, {
      host: host('master-1'),
      script: 'FenceFormerMember',
      args: ['confirm', RUN_ID, String(backup.bytes), backup.sha256, backup.manifest],
    });
    expect(confirmed).toEqual({ confirmed: true, markedBefore: false });
    expect(JSON.parse(await sh('master-1', `cat /etc/etcd/restore-quorum/${RUN_ID}.fence`))).toMatchObject({
      bytes: backup.bytes,
      sha256: backup.sha256,
      manifest: backup.manifest,
    });
  });

  it('a rerun of each uploads nothing and changes nothing; etcd stays down once its fault is gone', async () => {
    const state = await hostState('master-1');
    const uploadedAt = (await store.head(key))?.location;
    const again = await runScript<{ stopped: boolean; backup: Backup }>(runner, {
      host: host('master-1'),
      script: 'FenceFormerMember',
      args: ['fence', RUN_ID],
      secrets: { UPLOAD_URL: await store.uploadUrl(`runs/${RUN_ID}/fence-master-1-again.tgz`, 600) },
    });
    expect(again).toMatchObject({ stopped: false, backup: { marked: true, bytes: backup.bytes, sha256: backup.sha256, manifest: backup.manifest } });
    expect(await store.head(`runs/${RUN_ID}/fence-master-1-again.tgz`)).toBeNull();
    expect(
      await runScript(runner, {
        host: host('master-1'),
        script: 'FenceFormerMember',
        args: ['confirm', RUN_ID, String(backup.bytes), backup.sha256, backup.manifest],
      }),
    ).toEqual({ confirmed: true, markedBefore: true });
    expect(await hostState('master-1')).toBe(state);
    expect(uploadedAt).toBeDefined();
    // The sandbox's fault goes: the kubelet would run etcd again, had the pod not been moved.
    await healHost(name, 'master-1');
    await sleep(2500); // the stand-in kubelet starts a pod within 1 s
    expect(await etcdPid('master-1')).toBe('');
  });
});

describe('Script: ForceNewCluster', () => {
  const key = () => `runs/${RUN_ID}/force-${survivor}.tgz`;
  let backup: Backup;
  let forced: { memberId: string; clusterId: string; name: string; peerUrl: string; revision: number; did: string[]; markedBefore: boolean };

  it('backup: stops etcd and uploads the data directory off the host before anything changes', async () => {
    const bad = await runner.run({ host: host(survivor), script: 'ForceNewCluster', args: ['force', RUN_ID, '1', 'a', 'b', '1', '30'], timeoutSeconds: 30 });
    expect(bad.exitCode).toBe(2);
    const conf = await sh(survivor, 'sha256sum /etc/etcd/etcd.conf');
    const result = await runScript<{ stopped: boolean; kind: string; backup: Backup }>(runner, {
      host: host(survivor),
      script: 'ForceNewCluster',
      args: ['backup', RUN_ID],
      secrets: { UPLOAD_URL: await store.uploadUrl(key(), 600) },
      timeoutSeconds: 120,
    });
    expect(result).toMatchObject({ stopped: true, kind: 'pod', backup: { marked: false, empty: false } });
    backup = result.backup;
    const artifact = await stored(key());
    expect({ bytes: artifact.bytes, sha256: artifact.sha256 }).toEqual({ bytes: backup.bytes, sha256: backup.sha256 });
    expect(await sh(survivor, 'sha256sum /etc/etcd/etcd.conf')).toBe(conf);
    expect(await etcdPid(survivor)).toBe('');
  });

  it("force: the runbook's ETCD_FORCE_NEW_CLUSTER=true, a start, alone in the member list, the flag removed, a restart", async () => {
    const chosen = points[survivor]?.revision ?? Infinity;
    forced = await runScript(runner, {
      host: host(survivor),
      script: 'ForceNewCluster',
      args: ['force', RUN_ID, String(backup.bytes), backup.sha256, backup.manifest, String(chosen), '60'],
      timeoutSeconds: 240,
    });
    expect(forced).toMatchObject({
      memberId: before[survivor]?.memberId,
      clusterId: before[survivor]?.clusterId,
      name: `${survivor}.sandbox.test`,
      peerUrl: `https://${host(survivor).ip}:2380`,
      did: ['setFlag', 'startForced', 'stop', 'removeFlag', 'start'],
      markedBefore: false,
      peerUrlUpdated: false,
    });
    expect(forced.revision).toBeGreaterThanOrEqual(chosen);
  });

  it('leaves one healthy member, at the chosen revision or later, with every key written before the failure, and no flag', async () => {
    const endpoint = `--endpoints=https://${host(survivor).ip}:2379`;
    const members = (await sh(survivor, `etcdctl ${TLS} ${endpoint} member list`)).trim().split('\n');
    expect(members).toEqual([expect.stringMatching(new RegExp(`^${forced.memberId.replace(/^0+/, '')}, started, ${survivor}\\.sandbox\\.test, https://`))]);
    expect(await sh(survivor, `etcdctl ${TLS} ${endpoint} endpoint health 2>&1`)).toContain('is healthy: successfully committed proposal');
    const status = await endpointStatus(survivor);
    expect(status.leader).toBe(status.memberId);
    expect(status.revision).toBeGreaterThanOrEqual(points[survivor]?.revision ?? Infinity);
    const keys = (await sh(survivor, `etcdctl ${TLS} ${endpoint} get --prefix --keys-only /restore-test/`)).split('\n').filter(Boolean).sort();
    expect(keys).toEqual(keysBefore);
    expect(await sh(survivor, `etcdctl ${TLS} ${endpoint} put /restore-test/after yes`)).toBe('OK\n');
    expect(await sh(survivor, 'grep -c ETCD_FORCE_NEW_CLUSTER /etc/etcd/etcd.conf || true')).toBe('0\n');
    const pid = (await etcdPid(survivor)).trim().replace('pid=', '');
    expect(await sh(survivor, `tr '\\0' '\\n' < /proc/${pid}/environ | grep -c ETCD_FORCE_NEW_CLUSTER || true`)).toBe('0\n');
    expect(await sh(survivor, 'ls /etc/etcd/ | grep -c "^etcd.conf.etcd-replace\\." || true')).not.toBe('0\n'); // the dated copy kept
  });

  it('a rerun of backup and force changes nothing: no upload, no restart', async () => {
    const state = await hostState(survivor);
    const pid = await etcdPid(survivor);
    const again = await runScript<{ stopped: boolean; backup: Backup }>(runner, {
      host: host(survivor),
      script: 'ForceNewCluster',
      args: ['backup', RUN_ID],
      secrets: { UPLOAD_URL: await store.uploadUrl(`${key()}-again`, 600) },
    });
    expect(again).toMatchObject({ stopped: false, backup: { marked: true, bytes: backup.bytes, sha256: backup.sha256 } });
    expect(await store.head(`${key()}-again`)).toBeNull();
    const forcedAgain = await runScript<typeof forced>(runner, {
      host: host(survivor),
      script: 'ForceNewCluster',
      args: ['force', RUN_ID, String(backup.bytes), backup.sha256, backup.manifest, String(points[survivor]?.revision), '60'],
      timeoutSeconds: 120,
    });
    expect(forcedAgain).toMatchObject({ memberId: forced.memberId, clusterId: forced.clusterId, did: [], markedBefore: true, peerUrlUpdated: false });
    expect(forcedAgain.revision).toBe(forced.revision + 1); // the one write since
    expect(await etcdPid(survivor)).toBe(pid);
    // The data directory grows with the write and the WAL; etcd.conf and the pods stay as they were.
    expect((await hostState(survivor)).split('\n').slice(1)).toEqual(state.split('\n').slice(1));
  });

  // The host as a kill leaves it: after setFlag (etcd stopped, the flag set), and after startForced (etcd
  // running with the flag). Forcing a cluster of one again changes nothing in its data.
  it.each([
    ['after setFlag', false, ['startForced', 'stop', 'removeFlag', 'start']],
    ['after startForced', true, ['stop', 'removeFlag', 'start']],
  ] as const)('force finishes from where a kill %s left it', async (_when, running, did) => {
    const pods = '/etc/origin/node/pods';
    await sh(survivor, `mv ${pods}/etcd.yaml ${pods}-stopped/ && for i in $(seq 100); do ss -Hltn "( sport = :2379 )" | grep -q . || break; sleep 0.1; done`);
    await sh(survivor, 'echo ETCD_FORCE_NEW_CLUSTER=true >> /etc/etcd/etcd.conf');
    if (running) {
      await sh(survivor, `mv ${pods}-stopped/etcd.yaml ${pods}/`);
      await waitFor('etcd to run with the flag', 10_000, 100, async () => ((await etcdPid(survivor)) !== '' ? true : undefined));
    }
    const resumed = await runScript<typeof forced>(runner, {
      host: host(survivor),
      script: 'ForceNewCluster',
      args: ['force', RUN_ID, String(backup.bytes), backup.sha256, backup.manifest, String(points[survivor]?.revision), '60'],
      timeoutSeconds: 240,
    });
    expect(resumed).toMatchObject({ memberId: forced.memberId, clusterId: forced.clusterId, did, markedBefore: true });
    const endpoint = `--endpoints=https://${host(survivor).ip}:2379`;
    expect((await sh(survivor, `etcdctl ${TLS} ${endpoint} member list`)).trim().split('\n')).toHaveLength(1);
    const keys = (await sh(survivor, `etcdctl ${TLS} ${endpoint} get --prefix --keys-only /restore-test/`)).split('\n').filter(Boolean).sort();
    expect(keys).toEqual([...keysBefore, '/restore-test/after'].sort());
    expect(await sh(survivor, 'grep -c ETCD_FORCE_NEW_CLUSTER /etc/etcd/etcd.conf || true')).toBe('0\n');
  });

  it('the former members stay down; FixLocalhostPeerUrls and StopFailedMember read and stop as before', async () => {
    expect(await runScript(runner, { host: host(survivor), script: 'FixLocalhostPeerUrls' })).toEqual({ listenIp: host(survivor).ip });
    const former = survivor === 'master-2' ? 'master-1' : 'master-2';
    expect(await etcdPid(former)).toBe('');
    expect(await etcdPid('master-0')).toBe('');
    const stopped = await runScript(runner, { host: host(former), script: 'StopFailedMember' });
    expect(stopped).toEqual({ movedManifests: expect.any(Number), stoppedUnit: false });
    expect(await runScript(runner, { host: host(former), script: 'StopFailedMember' })).toEqual({ movedManifests: 0, stoppedUnit: false });
    expect(await sh(former, 'ls /etc/origin/node/pods | wc -l')).toBe('0\n');
  });
});

// No usable survivor: a verified snapshot of the cluster of one (etcdctl snapshot save on the host, as the
// snapshot job takes it), more writes after it, then the snapshot restored on the same host as a cluster of
// one. The keys of the snapshot are there and the later ones are not.
describe('Script: RestoreFromSnapshot', () => {
  const key = `runs/${RUN_ID}/snapshot-restore-test.db`;
  const endpoint = () => `--endpoints=https://${host(survivor).ip}:2379`;
  const keys = async () => (await sh(survivor, `etcdctl ${TLS} ${endpoint()} get --prefix --keys-only /restore-test/`)).split('\n').filter(Boolean).sort();
  let snapshot: { sha256: string; revision: number; keys: string[] };
  let restored: { memberId: string; clusterId: string; name: string; peerUrl: string; revision: number; did: string[]; restoredBefore: boolean };
  const restore = (args: string[], secrets: Record<string, string> = {}) =>
    runner.run({ host: host(survivor), script: 'RestoreFromSnapshot', args, secrets, timeoutSeconds: 120 });

  it('refuses while etcd here serves a working cluster (exit 3, nothing changed), and bad arguments (exit 2)', async () => {
    const file = '/var/tmp/restore-test-snapshot.db';
    await sh(survivor, `etcdctl ${TLS} ${endpoint()} snapshot save ${file} >/dev/null`);
    const status = JSON.parse(await sh(survivor, `etcdctl snapshot status ${file} -w json`)) as { revision: number };
    snapshot = { sha256: (await sh(survivor, `sha256sum ${file}`)).split(' ')[0] ?? '', revision: status.revision, keys: await keys() };
    await sh(survivor, `curl -fsS -T ${file} '${await store.uploadUrl(key, 600)}' && rm -f ${file}`);
    expect((await stored(key)).sha256).toBe(snapshot.sha256);
    await put(survivor, 'later', 5);
    const state = await hostState(survivor);
    const secrets = { SNAPSHOT_URL: await store.downloadUrl(key, 600) };
    const bad = [[], [RUN_ID, 'x', '1', '30'], [RUN_ID, snapshot.sha256, '-1', '30'], [RUN_ID, snapshot.sha256, '1', '0'], ['Bad', snapshot.sha256, '1', '30']];
    const codes = [];
    for (const args of bad) codes.push((await restore(args, secrets)).exitCode);
    expect(codes).toEqual(bad.map(() => 2));
    const refused = await restore([RUN_ID, snapshot.sha256, String(snapshot.revision), '60'], secrets);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toContain('it serves a working cluster');
    expect(await hostState(survivor)).toBe(state);
  });

  it('with etcd stopped: keeps the old data, restores the snapshot as this host alone, starts it', async () => {
    await sh(survivor, 'mv /etc/origin/node/pods/etcd.yaml /etc/origin/node/pods-stopped/');
    await waitFor('etcd to stop', 15_000, 100, async () => ((await etcdPid(survivor)) === '' ? true : undefined));
    restored = await runScript(runner, {
      host: host(survivor),
      script: 'RestoreFromSnapshot',
      args: [RUN_ID, snapshot.sha256, String(snapshot.revision), '60'],
      secrets: { SNAPSHOT_URL: await store.downloadUrl(key, 600) },
      timeoutSeconds: 120,
    });
    expect(restored).toMatchObject({
      name: `${survivor}.sandbox.test`,
      peerUrl: `https://${host(survivor).ip}:2380`,
      did: ['keep', 'restore', 'configure', 'start'],
      restoredBefore: false,
      peerUrlUpdated: false,
    });
    expect(restored.revision).toBeGreaterThanOrEqual(snapshot.revision);
  });

  it('leaves one healthy member with the keys of the snapshot and none written after it; the old data kept', async () => {
    const members = (await sh(survivor, `etcdctl ${TLS} ${endpoint()} member list`)).trim().split('\n');
    expect(members).toEqual([expect.stringMatching(new RegExp(`^${restored.memberId.replace(/^0+/, '')}, started, ${survivor}\\.sandbox\\.test, https://`))]);
    expect(await sh(survivor, `etcdctl ${TLS} ${endpoint()} endpoint health 2>&1`)).toContain('is healthy');
    const status = await endpointStatus(survivor);
    expect(status).toMatchObject({ memberId: restored.memberId, leader: restored.memberId, clusterId: restored.clusterId });
    expect(restored.revision).toBe(snapshot.revision); // the snapshot's data, not the later writes
    expect(await keys()).toEqual(snapshot.keys);
    expect(snapshot.keys).toContain('/restore-test/after');
    expect((await keys()).filter((k) => k.startsWith('/restore-test/later'))).toEqual([]);
    expect(await sh(survivor, 'grep -E "^ETCD_INITIAL_CLUSTER(_STATE)?=" /etc/etcd/etcd.conf')).toBe(
      `ETCD_INITIAL_CLUSTER=${survivor}.sandbox.test=https://${host(survivor).ip}:2380\nETCD_INITIAL_CLUSTER_STATE=new\n`,
    );
    expect(await sh(survivor, `ls -A /var/lib/etcd; ls /var/lib/etcd/.etcd-replace-before-${RUN_ID}`)).toBe(`.etcd-replace-before-${RUN_ID}\nmember\nmember\n`);
    expect(await sh(survivor, `etcdctl ${TLS} ${endpoint()} put /restore-test/restored yes`)).toBe('OK\n');
  });

  it('a rerun only verifies: no download, no restart, nothing changed', async () => {
    const state = await hostState(survivor);
    const pid = await etcdPid(survivor);
    const again = await runScript<typeof restored>(runner, {
      host: host(survivor),
      script: 'RestoreFromSnapshot',
      args: [RUN_ID, snapshot.sha256, String(snapshot.revision), '60'],
      timeoutSeconds: 120,
    });
    expect(again).toMatchObject({ memberId: restored.memberId, clusterId: restored.clusterId, did: [], restoredBefore: true });
    expect(again.revision).toBe(restored.revision + 1);
    expect(await etcdPid(survivor)).toBe(pid);
    expect((await hostState(survivor)).split('\n').slice(1)).toEqual(state.split('\n').slice(1));
  });

  // A second restore (another run) stopped by a failed download after the old data was moved aside: the
  // same command goes on from there.
  it('goes on after a failure midway: the download fails once the old data is kept, the rerun restores', async () => {
    const run = 'restore-quorum-test-2';
    await sh(survivor, 'mv /etc/origin/node/pods/etcd.yaml /etc/origin/node/pods-stopped/');
    await waitFor('etcd to stop', 15_000, 100, async () => ((await etcdPid(survivor)) === '' ? true : undefined));
    const missing = await restore([run, snapshot.sha256, String(snapshot.revision), '60'], {
      SNAPSHOT_URL: await store.downloadUrl(`runs/${RUN_ID}/no-such-snapshot.db`, 600),
    });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('the snapshot could not be downloaded; nothing is in place');
    expect(await sh(survivor, 'ls -A /var/lib/etcd')).toBe(`.etcd-replace-before-${RUN_ID}\n.etcd-replace-before-${run}\n`);
    const resumed = await runScript<typeof restored>(runner, {
      host: host(survivor),
      script: 'RestoreFromSnapshot',
      args: [run, snapshot.sha256, String(snapshot.revision), '60'],
      secrets: { SNAPSHOT_URL: await store.downloadUrl(key, 600) },
      timeoutSeconds: 120,
    });
    expect(resumed).toMatchObject({ memberId: restored.memberId, did: ['restore', 'start'], restoredBefore: false });
    expect(await keys()).toEqual(snapshot.keys);
    expect((await sh(survivor, `etcdctl ${TLS} ${endpoint()} member list`)).trim().split('\n')).toHaveLength(1);
  });
});
