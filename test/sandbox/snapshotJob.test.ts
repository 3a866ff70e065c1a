// The snapshot job on real etcd: SnapshotCluster starts it in the background on a healthy member and
// AwaitSnapshot waits for it; both are idempotent, a lost job is started again and a failed one is
// reported with etcdctl's reason and started again by the next attempt.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { inventoryOfSandbox, sandboxDeps, type SandboxDeps } from '../../sandbox/adapters/deps.ts';
import { AwaitSnapshot } from '../../functions/steps/AwaitSnapshot.ts';
import { SnapshotCluster } from '../../functions/steps/SnapshotCluster.ts';
import { ScriptFailedError } from '../../functions/errors.ts';
import { DEFAULT_OPTIONS, type WorkflowContext } from '../../statemachine/context.ts';
import { onHost } from '../support/clusterFacts.ts';

const exec = promisify(execFile);
const name = `t-snap-${randomBytes(3).toString('hex')}`;
let sandbox: SandboxInfo;
let deps: SandboxDeps;
const logged: string[] = [];

beforeAll(async () => {
  sandbox = await sandboxUp({ name, members: 3, spares: 0, nodes: 0, dataMb: 2 });
  deps = await sandboxDeps(name, { log: (m) => logged.push(m) });
});

afterAll(async () => {
  await deps?.close();
  await sandboxDown(name);
});

/** A run's context after its observations: master-0 is the first survivor, so the snapshot host. */
function contextFor(learner: 'auto' | 'never'): WorkflowContext {
  const runId = `snap-${randomBytes(4).toString('hex')}`;
  const inventory = inventoryOfSandbox(sandbox);
  const survivors = inventory.hosts
    .filter((h) => h.roles.includes('etcd'))
    .map((h) => ({ id: '0', name: h.hostname, peerURL: `https://${h.ip}:2380`, clientURL: `https://${h.ip}:2379` }));
  return {
    runId,
    request: { cluster: name, failed: 'master-2', startedBy: 'test' },
    options: { ...DEFAULT_OPTIONS, learner },
    inventory,
    survivors,
    learnerSupported: true,
  };
}

const jobDir = (context: WorkflowContext) => `/run/etcd-replace/${context.runId}/snapshot`;
/** The run's snapshot jobs on master-0: session leaders running the job (not their short-lived forks). */
const jobProcesses = async (context: WorkflowContext) =>
  (await onHost(sandbox, 'master-0', ['ps', '-eo', 'pid=,sid=,args=']))
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, sid, ...args]) => pid === sid && args.join(' ').includes(`etcd-replace-snapshot ${jobDir(context)} `))
    .map(([pid]) => pid);

async function expectStoredSnapshot(key: unknown): Promise<void> {
  const file = path.join(sandbox.stateDir, 'artifacts', String(key));
  expect(existsSync(file) && statSync(file).size).toBeGreaterThan(0);
  const { stdout } = await exec('etcdctl', ['snapshot', 'status', file, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } });
  expect((JSON.parse(stdout) as { totalKey: number }).totalKey).toBeGreaterThan(0);
}

describe('snapshot job', () => {
  it('with a learner: SnapshotCluster starts the job and returns; a second start finds it; AwaitSnapshot waits and checks the store', async () => {
    const context = contextFor('auto');
    const started = await SnapshotCluster(context, deps);
    expect(started.detail).toMatch(/snapshot job (started|running|done) on master-0/);
    // Not stored yet: AwaitSnapshot follows once the new member has joined.
    expect(started.output).toEqual({ snapshotKey: `runs/${context.runId}/snapshot-master-0.sandbox.test.db`, snapshotHost: 'master-0' });
    const after = { ...context, ...started.output };

    const again = await SnapshotCluster(after, deps);
    expect(again.detail).toMatch(/snapshot job (running|done)/);
    expect((await jobProcesses(context)).length).toBeLessThanOrEqual(1);

    const waited = await AwaitSnapshot(after, deps);
    expect(waited.detail).toMatch(/snapshot from master-0 at revision \d+, \d+ keys, \d+ bytes/);
    await expectStoredSnapshot(after.snapshotKey);
    // Waiting again (a resumed run) reads the finished job's result; starting again finds it done.
    expect((await AwaitSnapshot(after, deps)).detail).toBe(waited.detail);
    expect(await SnapshotCluster(after, deps)).toMatchObject({ skipped: true, detail: expect.stringMatching(/snapshot job done/) });
    expect(await jobProcesses(context)).toEqual([]);
  });

  it('without a learner too SnapshotCluster only starts the job; AwaitSnapshot waits for the stored, checked snapshot', async () => {
    const context = contextFor('never');
    const started = await SnapshotCluster(context, deps);
    expect(started.detail).toMatch(/snapshot job (started|running|done) on master-0; AwaitSnapshot waits for it once the new member has joined/);
    expect(started.output).toEqual({ snapshotKey: `runs/${context.runId}/snapshot-master-0.sandbox.test.db`, snapshotHost: 'master-0' });
    const waited = await AwaitSnapshot({ ...context, ...started.output }, deps);
    expect(waited.detail).toMatch(/snapshot from master-0 at revision \d+/);
    await expectStoredSnapshot(started.output['snapshotKey']);
  });

  it('a job its host no longer knows (state lost in a reboot) is started again by AwaitSnapshot', async () => {
    const context = contextFor('auto');
    const after = { ...context, ...(await SnapshotCluster(context, deps)).output };
    await expect.poll(() => jobProcesses(context), { timeout: 30_000 }).toEqual([]);
    await onHost(sandbox, 'master-0', ['rm', '-rf', `/run/etcd-replace/${context.runId}`]);
    await import('node:fs/promises').then((fs) => fs.rm(path.join(sandbox.stateDir, 'artifacts', String(after.snapshotKey)), { force: true }));

    const waited = await AwaitSnapshot(after, deps);
    expect(logged.join('\n')).toMatch(/master-0: no snapshot job for this run; starting it again/);
    expect(waited.detail).toMatch(/snapshot from master-0 at revision \d+/);
    await expectStoredSnapshot(after.snapshotKey);
  });

  it('a job that cannot upload fails AwaitSnapshot with the reason; the next SnapshotCluster starts it again', async () => {
    // The artifact store stops answering after the upload URL is handed out: the host's upload is refused.
    const cutOff = await sandboxDeps(name);
    const context = contextFor('auto');
    const realUploadUrl = cutOff.artifacts.uploadUrl.bind(cutOff.artifacts);
    cutOff.artifacts.uploadUrl = async (key, ttl) => {
      const url = await realUploadUrl(key, ttl);
      await cutOff.close();
      return url;
    };
    const after = { ...context, ...(await SnapshotCluster(context, cutOff)).output };
    const error = await AwaitSnapshot(after, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScriptFailedError);
    expect((error as Error).message).toMatch(/could not upload the snapshot/);
    expect(await onHost(sandbox, 'master-0', ['ls', jobDir(context)])).not.toMatch(/failed|pid/);
    const restarted = await SnapshotCluster(after, deps);
    expect(restarted.detail).toMatch(/snapshot job started/);
    expect((await AwaitSnapshot(after, deps)).detail).toMatch(/snapshot from master-0 at revision \d+/);
  });
});
