// A whole restore-quorum run (statemachine/restoreSpec.ts) through the XState machine with the real steps of
// RESTORE_STEPS, from ValidateRestoreRequest to its closing state, on the fakes of test/support: a cluster
// whose membership changes as etcd's does, hosts that answer each script as the real one does (the
// force and the restore change the cluster, a started member joins it), security groups that fence, an
// artifact store and a lock. Only the person who approves is a fake. Three runs: from the survivor, with
// one former member added back on its own host and one on a spare; from a verified snapshot, every former
// member added back on its own host; and a re-add that cannot start, whose compensation undoes that member only.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../functions/errors.ts';
import { artifactKey } from '../../functions/cluster/artifactKeys.ts';
import { MASTER_CONFIG_PATH } from '../../functions/config/paths.ts';
import { getEtcdClientUrls } from '../../functions/config/masterConfig.ts';
import { NO_LEADER, type EndpointStatusResult, type Host, type RunRecord, type ScriptRequest } from '../../functions/ports.ts';
import { RESTORE_STEPS } from '../../functions/steps/restoreSteps.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { makeCa, type IssuedCertificate } from '../support/certificates.ts';
import { fakeMember, memberId, memberListLine, unitInventory } from '../support/fakeCluster.ts';
import { RESTORE_READD as READD, RESTORE_TASKS_FROM_SURVIVOR } from '../support/restorePaths.ts';
import { stepWorld, type StepWorld } from '../support/stepHarness.ts';
import { runXState, type StepFake } from '../support/xstateRun.ts';

const RUN = 'r-restore-0001';
const inventory = unitInventory([{ name: 'etcd-spare-1', hostname: 'etcd-spare-1.example.test', ip: '198.51.100.10', roles: ['spare'] }]);
const HOST = Object.fromEntries(inventory.hosts.map((h) => [h.name, h])) as Record<string, Host>;
const MASTERS = ['master-0', 'master-1', 'master-2'];
const ETCD_CONF = readFileSync(new URL('../../sandbox/templates/etcd.conf', import.meta.url), 'utf8');
const MASTER_CONFIG = readFileSync(new URL('../../sandbox/templates/master-config.yaml', import.meta.url), 'utf8').replaceAll('.example.com', '.example.test');
const SHA = 'a'.repeat(64);
const MANIFEST = 'b'.repeat(64);
const BYTES = 4096;
const APPROVAL = { by: 'cli:jane', at: '2030-01-01T00:05:00.000Z' };

let tmp: string;
/** VerifyCertificates.sh's output for each host a member may be added on, certificates issued by one CA. */
const certificates = new Map<string, string>();

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'restore-run-'));
  const ca = makeCa(tmp, 'ca', 'etcd-signer@1700000000');
  for (const name of [...MASTERS, 'etcd-spare-0']) {
    const h = HOST[name]!;
    const san = `IP:${h.ip}, DNS:${h.hostname}`;
    const server: IssuedCertificate = ca.issue({ cn: h.hostname, san, extensions: 'etcd_v3_ca_server' });
    const peer: IssuedCertificate = ca.issue({ cn: h.hostname, san, extensions: 'etcd_v3_ca_peer' });
    const parts: Array<[string, string]> = [
      ['CA', ca.caPem],
      ['SERVER', server.cert],
      ['SERVER-PUBLIC-KEY', server.publicKey],
      ['PEER', peer.cert],
      ['PEER-PUBLIC-KEY', peer.publicKey],
    ];
    certificates.set(h.hostname, parts.map(([n, text]) => `-----${n}-----\n${text.trim()}\n`).join(''));
  }
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const described = (n: number, extra: Record<string, unknown>) => ({
  etcd: 'running',
  source: 'endpoint',
  memberId: memberId(n),
  clusterId: 'c1c2c3c4c5c6c7c8',
  name: `master-${n - 0xa0}.example.test`,
  leaderId: NO_LEADER,
  members: 3,
  version: '3.2.22',
  revision: 1240,
  raftIndex: 1544,
  raftTerm: 12,
  dbBytes: 2_000_000,
  keys: null,
  ...extra,
});
const stoppedAt = (n: number, revision: number) =>
  described(n, {
    etcd: 'stopped',
    source: 'backend',
    name: null,
    leaderId: null,
    members: null,
    version: null,
    revision,
    raftIndex: revision + 300,
    raftTerm: null,
  });
const noData = { ...stoppedAt(0xa0, 0), source: 'none', memberId: null, clusterId: null, revision: null, raftIndex: null, dbBytes: null, keys: null };

interface RestoreWorld extends StepWorld {
  /** Hosts powered off: every script sent there fails as unreachable. */
  off: Set<string>;
  /** Hosts whose StartNewMember never starts etcd. */
  neverStarts: Set<string>;
}

/**
 * Three masters at etcd 3.2.22 (master-0 the CA and installer host), two spares; `down` answer nothing (their
 * etcd dead); `off` are powered off. Every host answers the scripts the restore sends as the real ones do.
 */
function world(down: string[], off: string[] = []): RestoreWorld {
  const members = MASTERS.map((name, i) => fakeMember(0xa0 + i, name, HOST[name]!.ip, !down.includes(name), { version: '3.2.22', leaderId: NO_LEADER }));
  const w = stepWorld(members, { now: new Date() }) as RestoreWorld;
  w.off = new Set(off);
  w.neverStarts = new Set();
  // The certificates were issued just now: the run's clock is the real one.
  w.deps.now = () => new Date();
  const fake = w.runner;
  w.deps.runner = {
    run: async (request: ScriptRequest) => {
      if (w.off.has(request.host.name)) throw new HostUnreachableError(`${request.host.name} is powered off`);
      return fake.run(request);
    },
  };
  w.deps.resolveInventory = async () => inventory;
  // A host that is up answers what etcd it has (a re-add's spare: nothing of etcd yet).
  fake.on('DescribeEtcdHost', (r) =>
    r.args.length === 0
      ? { stdout: { staticPod: false, unitActive: false, unitEnabled: false, installedVersion: null, listening: false, running: null, dataDirEmpty: true } }
      : new Error(`no answer for DescribeEtcdHost ${r.args.join(' ')}`),
  );
  // The network fence as a reader outside the host meets it: a fenced host's endpoint does not answer.
  const fencedUrl = (endpoint: string) => [...w.securityGroups.fenced].some((name) => endpoint === `https://${HOST[name]!.ip}:2379`);
  const hide = (statuses: EndpointStatusResult[]): EndpointStatusResult[] =>
    statuses.map((s) => (fencedUrl(s.endpoint) ? { endpoint: s.endpoint, error: 'dial tcp: i/o timeout' } : s));
  const status = w.cluster.status.bind(w.cluster);
  const view = w.cluster.view.bind(w.cluster);
  w.cluster.status = async (endpoints) => hide(await status(endpoints));
  w.cluster.view = async (endpoints) => {
    const seen = await view(endpoints);
    return { ...seen, statuses: hide(seen.statuses) };
  };
  for (const m of MASTERS) fake.putFile(m, MASTER_CONFIG_PATH, MASTER_CONFIG);
  const joined = (ip: string) => w.cluster.members.find((m) => m.ip === ip);

  // Fenced on the host as FenceFormerMember.sh does: stopped and uploaded, then confirmed.
  const marked = new Set<string>();
  fake.on(
    'FenceFormerMember',
    (r) => {
      if (marked.has(r.host.name))
        return { stdout: { stopped: false, kind: 'pod', backup: { marked: true, bytes: BYTES, sha256: SHA, manifest: MANIFEST, at: '2030-01-01T00:00:00Z' } } };
      w.artifacts.put(`runs/${RUN}/fence-${r.host.hostname}.tgz`, BYTES);
      return { stdout: { stopped: true, kind: 'pod', backup: { marked: false, empty: false, bytes: BYTES, sha256: SHA, manifest: MANIFEST } } };
    },
    { args: ['fence'] },
  );
  fake.on(
    'FenceFormerMember',
    (r) => {
      const before = marked.has(r.host.name);
      marked.add(r.host.name);
      return { stdout: { confirmed: true, markedBefore: before } };
    },
    { args: ['confirm'] },
  );

  // The replacement's add path, on whichever host a former member is added back on.
  fake.on('IssueCertificates', (r) => {
    w.artifacts.put(artifactKey.caProbe(RUN, r.host.hostname), 1);
    fake.putFile(r.host.name, `/etc/etcd/generated_certs/etcd-${r.args[0]}/etcd.conf`, ETCD_CONF);
    return { stdout: { prefix: `/etc/etcd/generated_certs/etcd-${r.args[0]}`, issued: 'server peer', restoredCa: false } };
  });
  fake.on('VerifyCertificates', (r) => ({ stdout: certificates.get(r.args[0]!) ?? '' }));
  fake.on('OpenEtcdPorts', { stdout: { changed: true } });
  // A former master holds the old member's data: stored off the host before the directory is emptied.
  fake.on(
    'InstallEtcd',
    (r) => {
      if (!MASTERS.includes(r.host.name))
        return {
          stdout: {
            found: [],
            stopped: false,
            data: { empty: true },
            installed: { version: '3.2.22', package: 'etcd-3.2.22-1.el7.x86_64', action: 'install' },
          },
        };
      w.artifacts.put(artifactKey.replacementPriorData(RUN, r.host.hostname), BYTES);
      return {
        stdout: {
          found: ['data in /var/lib/etcd', 'static pod /etc/origin/node/pods-stopped/etcd.yaml'],
          stopped: false,
          data: { empty: false, bytes: BYTES, sha256: SHA, manifest: MANIFEST },
        },
      };
    },
    { args: ['prepare'] },
  );
  fake.on('InstallEtcd', { stdout: { wiped: true } }, { args: ['wipe'] });
  fake.on('InstallEtcd', { stdout: { version: '3.2.22', package: 'etcd-3.2.22-1.el7.x86_64', action: 'install' } }, { args: ['install'] });
  fake.on('ConfigureNewMember', (r) => {
    w.artifacts.put(artifactKey.bundle(RUN, r.args[0]!), 8192);
    return { stdout: { bytes: 8192, sha256: '12'.repeat(32) } };
  });
  fake.on('StartNewMember', (r) => {
    if (w.neverStarts.has(r.host.name)) return { stdout: { started: 'now', backedUpData: false, state: 'noProgress', named: false } };
    const m = joined(r.host.ip)!;
    m.name = r.host.hostname;
    m.up = true;
    return { stdout: { started: 'now', backedUpData: false, state: 'caughtUp' } };
  });
  // VerifyClusterHealth.sh prints the member list first, then its result.
  fake.on('VerifyClusterHealth', async (r) => ({ stdout: `${r.args[1] ? `${await memberListLine(w.cluster)}\n` : ''}{"healthy":true}\n` }));
  fake.on('RollMasters', { stdout: { restarted: true } });
  fake.on('CompensateNewMember', { stdout: { stopped: true } });
  return w;
}

/** master-2 runs ForceNewCluster.sh as the real one does: backed up, then forced into a cluster of one (a2 leading itself). */
function forcible(w: RestoreWorld, survivor: string, n: number): void {
  w.runner.on(
    'ForceNewCluster',
    (r) => {
      w.artifacts.put(`runs/${RUN}/force-${r.host.hostname}.tgz`, BYTES);
      return { stdout: { stopped: true, kind: 'pod', backup: { marked: false, empty: false, bytes: BYTES, sha256: SHA, manifest: MANIFEST } } };
    },
    { host: survivor, args: ['backup'] },
  );
  w.runner.on(
    'ForceNewCluster',
    () => {
      w.cluster.members = w.cluster.members.filter((m) => m.id === memberId(n)).map((m) => ({ ...m, leaderId: memberId(n) }));
      w.cluster.leaderId = memberId(n);
      return {
        stdout: {
          memberId: memberId(n),
          clusterId: 'c1c2c3c4c5c6c7c8',
          name: HOST[survivor]!.hostname,
          peerUrl: `https://${HOST[survivor]!.ip}:2380`,
          revision: 1241,
          raftIndex: 1600,
          did: ['setFlag', 'startForced', 'stop', 'removeFlag', 'start'],
          markedBefore: false,
          peerUrlUpdated: false,
        },
      };
    },
    { host: survivor, args: ['force'] },
  );
}

/** Etcd dead on master-0 (its host up, at revision 1200), master-1 powered off; master-2 answers alone at 1240. */
function twoLost(): RestoreWorld {
  const w = world(['master-0', 'master-1'], ['master-1']);
  w.runner.on('DescribeRestorePoint', { stdout: stoppedAt(0xa0, 1200) }, { host: 'master-0' });
  // Read after the force: the member alone, leading itself.
  const forced = () => w.cluster.members.length === 1;
  w.runner.on(
    'DescribeRestorePoint',
    () => ({ stdout: forced() ? described(0xa2, { members: 1, leaderId: memberId(0xa2), revision: 1241 }) : described(0xa2, {}) }),
    { host: 'master-2' },
  );
  forcible(w, 'master-2', 0xa2);
  return w;
}

const input = (options: Partial<RestoreContext['options']> = {}): RestoreContext => ({
  runId: RUN,
  request: { cluster: 'unit', failed: '', startedBy: 'cli:jane', inventory },
  options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 900, ...options },
});

/** The real steps on `deps`; the approval is a person's answer. */
function realSteps(deps: StepDeps): Record<string, StepFake<RestoreContext>> {
  const steps: Record<string, StepFake<RestoreContext>> = {};
  for (const [name, step] of Object.entries(RESTORE_STEPS)) steps[name] = async (context) => (await step(context, deps)).output;
  steps['AwaitApproval'] = async () => ({ approval: APPROVAL });
  return steps;
}

const isTask = (name: string) => RESTORE_WORKFLOW.tasks.some((t) => t.name === name);
const startedMembers = (w: StepWorld) =>
  w.cluster.members
    .filter((m) => m.name !== '')
    .map((m) => m.name)
    .sort();

describe('A whole restore-quorum run through XState with the real steps', () => {
  it('from the survivor: master-2 forced; master-0 (etcd dead, host up) re-added on its own host, master-1 (powered off) on a spare; masters rolled; measured', async () => {
    const w = twoLost();
    const steps = realSteps(w.deps);

    const run = await runXState(steps, input(), RESTORE_WORKFLOW);
    expect(run.finalContext.error ?? null).toBeNull();
    expect(run.finalState).toBe('Succeeded');
    const tasks = run.path.filter(isTask);
    expect(tasks).toEqual(RESTORE_TASKS_FROM_SURVIVOR);
    const end = run.finalContext;
    // master-0 on its own host first, then master-1 on the spare pool's first free host.
    expect(end.reAdds).toEqual([
      { former: 'master-0', on: 'master-0', how: 'same-host' },
      { former: 'master-1', on: 'etcd-spare-0', how: 'spare' },
    ]);
    // The cluster, as etcd lists it: the survivor and the two re-added members, all started.
    expect(startedMembers(w)).toEqual(['etcd-spare-0.example.test', 'master-0.example.test', 'master-2.example.test']);
    expect(w.cluster.changes).toEqual([`add https://${HOST['master-0']!.ip}:2380`, `add https://${HOST['etcd-spare-0']!.ip}:2380`]);
    // master-0's network fence lifted only once it was loaded for its re-add, after the force; master-1 stays fenced.
    expect([...w.securityGroups.fenced]).toEqual(['master-1']);
    const calls = w.securityGroups.calls;
    expect(calls.indexOf('unfence master-0')).toBeGreaterThan(-1);
    expect(calls.filter((c) => c.startsWith('unfence'))).toEqual(['unfence master-0']);
    expect(end.fenced?.find((f) => f.host === 'master-0')).toMatchObject({ how: ['network', 'on-host'], networkLifted: { by: 'PrepareFormerMember' } });
    expect(end.fenced?.find((f) => f.host === 'master-1')?.networkLifted).toBeUndefined();
    // master-0's old data: stored by the fence, stored again by InstallEtcd before its directory was emptied.
    const onMaster0 = w.runner.sent().filter((line) => line.includes('@master-0'));
    const fence = onMaster0.findIndex((l) => l.startsWith('FenceFormerMember@master-0 confirm'));
    const prepare = onMaster0.findIndex((l) => l.startsWith('InstallEtcd@master-0 prepare'));
    const wipe = onMaster0.findIndex((l) => l.startsWith('InstallEtcd@master-0 wipe'));
    expect(fence).toBeGreaterThan(-1);
    expect(prepare).toBeGreaterThan(fence);
    expect(wipe).toBeGreaterThan(prepare);
    expect(w.artifacts.objects.has(`runs/${RUN}/fence-master-0.example.test.tgz`)).toBe(true);
    expect(w.artifacts.objects.has(artifactKey.replacementPriorData(RUN, 'master-0.example.test'))).toBe(true);
    // No spare holds old data to keep: nothing wiped there.
    expect(w.runner.sent('InstallEtcd').filter((l) => l.includes('@etcd-spare-0 wipe'))).toEqual([]);
    // The second re-add knew the first as a survivor: its ETCD_INITIAL_CLUSTER names all three.
    expect(end.initialCluster?.split(',').sort()).toEqual(
      ['etcd-spare-0', 'master-0', 'master-2'].map((n) => `${HOST[n]!.hostname}=https://${HOST[n]!.ip}:2380`).sort(),
    );
    // Masters name the members only; master-1 is powered off and left in remaining.
    for (const m of ['master-0', 'master-2']) {
      expect(getEtcdClientUrls(w.runner.file(m, MASTER_CONFIG_PATH)!).sort()).toEqual(
        ['etcd-spare-0', 'master-0', 'master-2'].map((n) => `https://${HOST[n]!.hostname}:2379`).sort(),
      );
    }
    expect(end.remaining?.some((r) => r.startsWith('master-1 is unreachable'))).toBe(true);
    // The measures: full strength at the last re-add's VerifyClusterHealth.
    expect(end.restoreMeasures).toMatchObject({ revisionChosen: 1240, highestRevisionSeen: 1240, revisionsLost: 0, fullStrengthAt: end.clusterVerifiedAt });
    expect(Date.parse(end.restoreMeasures!.fullStrengthAt)).toBeGreaterThanOrEqual(Date.parse(end.quorumLossConfirmedAt!));
    expect(end.restoreMeasures?.fenced).toEqual([
      { host: 'master-0', how: ['network', 'on-host'] },
      { host: 'master-1', how: ['network'] },
    ]);
    // The bundles (private keys) are gone from the store; the lock is released.
    expect([...w.artifacts.objects.keys()].filter((k) => k.includes('bundle-'))).toEqual([]);
    expect(await w.lock.current('unit')).toBeNull();
  });

  it('from a verified snapshot: no member has data; restored on master-0, whose network fence is lifted once restored; master-1 and master-2 re-added on their own hosts', async () => {
    const w = world(MASTERS);
    w.runner.on('DescribeRestorePoint', (r) => ({ stdout: r.host.name === 'master-0' && restored ? restoredPoint : noData }));
    const key = 'runs/r-earlier-0001/snapshot-master-1.example.test.db';
    const record: RunRecord = {
      runId: 'r-earlier-0001',
      cluster: 'unit',
      target: 'sandbox',
      startedBy: 'test',
      request: {},
      outcome: 'succeeded',
      startedAt: '2025-12-20T00:00:00Z',
      state: 'Succeeded',
      steps: [],
      context: { snapshotKey: key, snapshotVerified: { location: `s3://unit-artifacts/${key}`, bytes: 2_000_000, sha256: SHA, revision: 1150 } },
    };
    w.deps.pastRuns = async () => [record];
    w.artifacts.put(key, 2_000_000);
    const NEW = memberId(0xc0);
    let restored = false;
    const restoredPoint = described(0xa0, { memberId: NEW, members: 1, leaderId: NEW, revision: 1150 });
    w.runner.on(
      'RestoreFromSnapshot',
      () => {
        restored = true;
        w.cluster.members = [fakeMember(0xc0, 'master-0', HOST['master-0']!.ip, true, { version: '3.2.22', leaderId: NEW })];
        w.cluster.leaderId = NEW;
        return {
          stdout: {
            memberId: NEW,
            clusterId: 'd1d2d3d4d5d6d7d8',
            name: 'master-0.example.test',
            peerUrl: `https://${HOST['master-0']!.ip}:2380`,
            revision: 1150,
            raftIndex: 5,
            did: ['stop', 'keep', 'restore', 'configure', 'start'],
            restoredBefore: false,
            peerUrlUpdated: false,
          },
        };
      },
      { host: 'master-0' },
    );

    const run = await runXState(realSteps(w.deps), input(), RESTORE_WORKFLOW);
    expect(run.finalContext.error ?? null).toBeNull();
    expect(run.finalState).toBe('Succeeded');
    const tasks = run.path.filter(isTask);
    expect(tasks.slice(tasks.indexOf('FenceFormerMembers'), tasks.indexOf('RollMasters'))).toEqual([
      'FenceFormerMembers',
      'RestoreFromSnapshot',
      'VerifyRestoredMember',
      ...READD,
      ...READD,
    ]);
    const end = run.finalContext;
    expect(end.survivor).toMatchObject({ kind: 'snapshot', key, revision: 1150 });
    expect(end.reAdds).toEqual([
      { former: 'master-1', on: 'master-1', how: 'same-host' },
      { former: 'master-2', on: 'master-2', how: 'same-host' },
    ]);
    expect(startedMembers(w)).toEqual(['master-0.example.test', 'master-1.example.test', 'master-2.example.test']);
    expect(w.cluster.changes).toEqual([`add https://${HOST['master-1']!.ip}:2380`, `add https://${HOST['master-2']!.ip}:2380`]);
    // Every fence lifted, each by the step that no longer needed it; the restored host's before it was read from outside.
    expect([...w.securityGroups.fenced]).toEqual([]);
    expect(end.fenced?.map((f) => [f.host, f.networkLifted?.by])).toEqual([
      ['master-0', 'RestoreFromSnapshot'],
      ['master-1', 'PrepareFormerMember'],
      ['master-2', 'PrepareFormerMember'],
    ]);
    expect(w.securityGroups.calls.filter((c) => c.startsWith('unfence'))).toEqual(['unfence master-0', 'unfence master-1', 'unfence master-2']);
    // The re-adds join the restored cluster: its ID, not the old one's.
    expect(end.clusterId).toBe('c1c2c3c4c5c6c7c8');
    expect(w.runner.sent('StartNewMember').map((l) => l.split(' ')[2])).toEqual([end.clusterId, end.clusterId]);
    expect(end.restoreMeasures).toMatchObject({ revisionChosen: 1150, highestRevisionSeen: null, fullStrengthAt: end.clusterVerifiedAt });
    expect(run.path.filter((s) => s === 'ForceNewCluster')).toEqual([]);
  });

  it('a re-add that cannot start: compensation removes that member only, the one re-added before stays, the run ends Failed', async () => {
    const w = twoLost();
    w.neverStarts.add('etcd-spare-0');
    const run = await runXState(realSteps(w.deps), input(), RESTORE_WORKFLOW);
    expect(run.finalState).toBe('Failed');
    expect(run.finalContext.error?.Error).toBe('NewMemberFailedError');
    const tasks = run.path.filter(isTask);
    // The spare's re-add up to its start (no health check after it), then its compensation.
    expect(tasks.slice(tasks.lastIndexOf('PrepareFormerMember'))).toEqual([
      ...READD.slice(0, READD.indexOf('StartNewMember') + 1),
      'CompensateNewMember',
      'DiscardKeyBundle',
      'ReleaseLock',
    ]);
    expect(run.invocations.filter((n) => n === 'StartNewMember')).toHaveLength(3); // master-0's, then the spare's try and its one retry
    // The spare's member added, then removed; master-0's stays, started, beside the survivor.
    const spareId = memberId(0xb1);
    expect(w.cluster.changes).toEqual([`add https://${HOST['master-0']!.ip}:2380`, `add https://${HOST['etcd-spare-0']!.ip}:2380`, `remove ${spareId}`]);
    expect(startedMembers(w)).toEqual(['master-0.example.test', 'master-2.example.test']);
    expect(w.cluster.members.map((m) => m.id)).toEqual([memberId(0xa2), memberId(0xb0)]);
    expect(w.runner.sent('CompensateNewMember')).toEqual([`CompensateNewMember@etcd-spare-0 c1c2c3c4c5c6c7c8 ${spareId}`]);
    expect(run.finalContext.remaining).toEqual(
      expect.arrayContaining([
        'the former member master-1 is gone and has no replacement: the cluster runs with 2 members',
        expect.stringMatching(/^fix the cause \(NewMemberFailedError: .*\) and run the restore again$/),
      ]),
    );
    // Nothing measured, masters not rolled; the spare's key bundle discarded; the lock released.
    expect(run.finalContext.restoreMeasures).toBeUndefined();
    expect(w.runner.sent('RollMasters')).toEqual([]);
    expect([...w.artifacts.objects.keys()].filter((k) => k.includes('bundle-'))).toEqual([]);
    expect(await w.lock.current('unit')).toBeNull();
  });
});

describe('The restore under another run’s lock', () => {
  it('waits for the lock without asking the holder to take anything in: a restore names no failed member', async () => {
    const w = world(['master-0', 'master-1']);
    await w.lock.acquire('unit', { runId: 'r-holder-0009', startedBy: 'alarm:etcd', pid: 1, host: 'x' } as never, 600);
    const validated = { ...input(), inventory, validatedAt: new Date().toISOString() };
    const error = await RESTORE_STEPS.AcquireLock(validated, w.deps).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('LockWaitingError');
    expect(error?.message).toContain('this run names no member for it to take in');
    expect(w.lock.calls.filter((c) => c.startsWith('requestJoin'))).toEqual([]);
    expect((await w.lock.current('unit'))?.joins ?? []).toEqual([]);
  });
});
