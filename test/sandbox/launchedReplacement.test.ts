// No spare in the pool: the run launches its replacement (ProvisionReplacement, the sandbox's
// provisioning adapter) and replaces the failed member with it, checked independently; a launched
// host whose etcd cannot start is removed again (TerminateLaunchedHost) once compensation has
// removed its member, and nothing else is touched.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { failHost, loadSandbox, type SandboxInfo } from '../../sandbox/index.ts';
import { BIN } from '../support/cli.ts';
import { recordBefore, verifyReplaced, type Before } from '../support/verifyReplaced.ts';
import { downAll, exitOf, holdBefore, membershipOf, membersNow, parseRunJson, sh, stepStatus, upSandbox, WatchedCli } from '../support/safetyHelpers.ts';
import { waitFor } from '../../sandbox/util.ts';

const exec = promisify(execFile);
const created: string[] = [];
let sandbox: SandboxInfo;
let before: Before;

beforeAll(async () => {
  sandbox = await upSandbox(created, 't-new', { members: 3, spares: 0, nodes: 1, dataMb: 2 });
  expect(sandbox.hosts.filter((h) => h.roles.includes('spare'))).toEqual([]);
  before = await recordBefore(sandbox);
  await failHost(sandbox.name, 'master-2', 'kill');
});

afterAll(async () => {
  await downAll(created);
});

async function statusHosts(): Promise<Array<{ name: string; launchedBy?: string }>> {
  const { stdout } = await exec('node', [BIN, 'sandbox', 'status', '--sandbox', sandbox.name, '--json']);
  return (JSON.parse(stdout) as { hosts: Array<{ name: string; launchedBy?: string }> }).hosts;
}

async function finish(cli: WatchedCli) {
  const out = await cli.done;
  const result = parseRunJson(out.stdout);
  const record = (await new FileRunStore().get(result.runId))!;
  return { out, result, record, status: stepStatus(result) };
}

describe('Workflow: no spare in the pool, the run launches its replacement', () => {
  it('replaces powered-off master-2 with etcd-new-0, launched for the run (no --replacement)', async () => {
    const { out, result, record, status } = await finish(
      new WatchedCli(['run', '--sandbox', sandbox.name, '--failed', 'master-2', '--grace-seconds', '0', '--json']),
    );
    expect(exitOf(out)).toMatchObject({ code: 0 });
    expect(result.outcome).toBe('succeeded');
    expect(status).toMatchObject({
      ProvisionReplacement: 'succeeded',
      AddMember: 'succeeded',
      TerminateLaunchedHost: 'skipped',
      CompensateNewMember: 'skipped',
    });
    // The record and --json name the host chosen and how it was chosen.
    expect(result).toMatchObject({ replacement: { name: 'etcd-new-0', chosen: 'launched', launched: 'etcd-new-0' } });
    expect(record.context).toMatchObject({
      replacementChoice: 'launched',
      replacementLaunched: 'etcd-new-0',
      replacement: { name: 'etcd-new-0', roles: ['spare'] },
    });
    expect(record.steps.find((s) => s.name === 'ValidateInput')?.detail).toMatch(/replacement to be launched \(the spare pool is empty\)/);
    expect(record.steps.find((s) => s.name === 'ProvisionReplacement')?.detail).toMatch(/^launched etcd-new-0 \(etcd-new-0\.sandbox\.test, /);
    expect(await statusHosts()).toContainEqual(expect.objectContaining({ name: 'etcd-new-0', launchedBy: result.runId }));
    await verifyReplaced(await loadSandbox(sandbox.name), 'master-2', 'etcd-new-0', before);
  });

  it('a launched host whose etcd cannot start is removed again once its member is removed; the cluster keeps its two healthy members', async () => {
    // master-1 fails now (powered off); `--replacement new` launches etcd-new-1. Once the new host is
    // prepared (InstallEtcd refuses a host where something else holds etcd's ports), a process takes
    // its peer port, so its etcd exits at once.
    await failHost(sandbox.name, 'master-1', 'kill');
    const live = ['master-0', 'etcd-new-0'];
    const membersBefore = membershipOf(await membersNow(sandbox, live));
    // The start wait is set short (the default is 60 s): how long StartNewMember waits is not what is tested.
    // The run waits before StartNewMember while the port holder starts.
    const hold = await holdBefore('StartNewMember');
    const cli = new WatchedCli(['run', '--sandbox', sandbox.name, '--failed', 'master-1', '--replacement', 'new', '--grace-seconds', '0', '--json'], {
      ETCD_REPLACE_MEMBER_START_SECONDS: '15',
      ...hold.env,
    });
    let pid = 0;
    try {
      await cli.waitFor(/^hold: StartNewMember waits while /, { past: true });
      const launched = await loadSandbox(sandbox.name);
      expect(launched.hosts.map((h) => h.name)).toContain('etcd-new-1');
      pid = Number(
        (
          await sh(
            launched,
            'etcd-new-1',
            `${process.execPath} -e "require('net').createServer(() => {}).listen(2380, '0.0.0.0')" </dev/null >/dev/null 2>&1 & echo $!`,
          )
        ).trim(),
      );
      expect(pid).toBeGreaterThan(1);
      await waitFor('the port holder to listen', 20_000, 200, async () => (await sh(launched, 'etcd-new-1', "ss -Hltn '( sport = :2380 )'")).trim() !== '');
    } finally {
      await hold.release();
    }
    void cli.waitFor(/^▶ CompensateNewMember$/).then(
      () => process.kill(pid, 'SIGKILL'),
      () => undefined,
    );
    const { out, result, record, status } = await finish(cli);
    expect(exitOf(out)).toMatchObject({ code: 1 });
    expect(result.outcome).toBe('failed');
    expect(status).toMatchObject({
      ProvisionReplacement: 'succeeded',
      StartNewMember: 'failed',
      CompensateNewMember: 'succeeded',
      TerminateLaunchedHost: 'succeeded',
    });
    expect(record.steps.find((s) => s.name === 'TerminateLaunchedHost' && s.status === 'succeeded')?.detail).toMatch(/^terminated etcd-new-1 \(etcd-new-1\)/);
    expect(record.steps.filter((s) => s.name === 'StartNewMember' && s.status === 'failed').map((s) => s.error?.message)).toContainEqual(
      expect.stringContaining('within 15s'),
    );
    // etcd-new-1 is gone from the sandbox (record, status, network namespace); etcd-new-0 and the members are untouched.
    const after = await loadSandbox(sandbox.name);
    expect(after.hosts.map((h) => h.name)).not.toContain('etcd-new-1');
    expect((await statusHosts()).map((h) => h.name)).toEqual(expect.arrayContaining(['master-0', 'master-1', 'master-2', 'etcd-new-0']));
    expect((await exec('ip', ['netns', 'list'])).stdout).not.toMatch(new RegExp(`er-${sandbox.name}-etcd-new-1\\b`));
    expect(membershipOf(await membersNow(after, live)).filter((m) => !m.includes('master-1'))).toEqual(membersBefore.filter((m) => !m.includes('master-1')));
    expect(record.remaining?.join('\n')).toMatch(/run the replacement again/);
  });
});
