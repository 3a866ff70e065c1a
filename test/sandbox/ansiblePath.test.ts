// The runbook's other way in (37.2.1) on real etcd 3.2.22: openshift-ansible's scaleup playbook run by
// the real ansible-playbook over the hosts' real sshd (the playbook itself is the sandbox's stand-in,
// sandbox/standins/openshift-ansible). Two identical sandboxes lose master-2 the same way; one is
// replaced by the manual steps (37.2.2), the other by the playbook, side by side, and their end states,
// read from the hosts, must be equal. Then each sandbox carries the playbook's known failures:
// - the playbook sandbox: a scaleup that fails after `member add` (the stand-in's fault marker) is
//   compensated, and the same command then finishes it;
// - the manual sandbox: the failed host first in [etcd]; a run killed while the playbook runs, then the
//   same command; the installer host (also the CA host) as the failed host, refused before anything.

import { promises as fs } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, type SandboxInfo } from '../../sandbox/index.ts';
import { waitFor } from '../../sandbox/util.ts';
import type { RunRecord } from '../../functions/ports.ts';
import { cli } from '../support/cli.ts';
import { endState } from '../support/endState.ts';
import { fqdn, runArgs } from '../support/runChecks.ts';
import { downAll, exitOf, hostFile, memberNames, membersNow, parseRunJson, runsOf, sh, upSandbox, WatchedCli } from '../support/safetyHelpers.ts';

const created: string[] = [];
afterAll(async () => {
  await downAll(created);
});

const ansible = ['--add-method', 'ansible'];
const recordOf = async (sandbox: SandboxInfo, runId: string): Promise<RunRecord> => (await runsOf(sandbox.name)).find((r) => r.runId === runId)!;
const inventoryOf = (sandbox: SandboxInfo) => fs.readFile(hostFile(sandbox, 'master-0', '/etc/ansible/hosts'), 'utf8');
const etcdRpm = (sandbox: SandboxInfo, host: string) => sh(sandbox, host, 'rpm -q etcd').then((s) => s.trim());

describe('The ansible add method (runbook 37.2.1), etcd 3.2.22', () => {
  let manual: SandboxInfo;
  let playbook: SandboxInfo;

  beforeAll(async () => {
    // Identical twins: the same members, spares and node, the same data.
    [manual, playbook] = await Promise.all([
      upSandbox(created, 'addm', { members: 3, spares: 3, nodes: 1 }),
      upSandbox(created, 'adda', { members: 3, spares: 3, nodes: 1 }),
    ]);
    await Promise.all([failHost(manual.name, 'master-2', 'kill'), failHost(playbook.name, 'master-2', 'kill')]);
  }, 180_000);

  it('replaces a powered-off master-2 and ends where the manual path ends: members, etcd.conf, certificates, masters, inventory, flannel', async () => {
    const [byHand, byPlaybook] = await Promise.all([
      cli(runArgs(manual, 'master-2', 'etcd-spare-0')),
      cli(runArgs(playbook, 'master-2', 'etcd-spare-0', ...ansible)),
    ]);
    expect(exitOf(byHand)).toMatchObject({ code: 0 });
    expect(exitOf(byPlaybook)).toMatchObject({ code: 0 });
    const viaPlaybook = parseRunJson(byPlaybook.stdout);
    const ran = viaPlaybook.steps.filter((s) => s.status !== 'skipped' && s.status !== 'pending').map((s) => s.name);
    expect(ran).toEqual(expect.arrayContaining(['CheckScaleupPlaybook', 'PrepareInventory', 'RunScaleupPlaybook', 'UpdateInventory']));
    for (const manualStep of ['IssueCertificates', 'ConfigureNewMember', 'AddMember', 'StartNewMember']) expect(ran).not.toContain(manualStep);

    const where = { newHost: 'etcd-spare-0', live: ['master-0', 'master-1', 'etcd-spare-0'], flannelHosts: ['master-0', 'master-1', 'node-0'] };
    const [a, b] = await Promise.all([endState(manual, where), endState(playbook, where)]);
    expect(b).toEqual(a);
    // What they agree on is the runbook's end state, not a shared mistake.
    expect(b.members).toHaveLength(3);
    expect(b.members.every((m) => !m.includes('master-2'))).toBe(true);
    expect(b.etcdConf).toContain('ETCD_INITIAL_CLUSTER_STATE=existing');
    expect(b.certificates['server.crt']).toEqual(expect.arrayContaining(['issuer=<the cluster CA>', 'server.crt: OK']));
    expect(b.certificates['server.crt']!.join(' ')).toContain('DNS:etcd-spare-0.sandbox.test');
    expect(b.etcdConf).toContain('ETCD_QUOTA_BACKEND_BYTES=4294967296');
    expect(b.inventory).toEqual({ etcd: [fqdn('etcd-spare-0'), fqdn('master-0'), fqdn('master-1')], newEtcd: [] });
    expect(Object.values(b.masterUrls).every((urls) => urls.length === 3 && urls.includes(`https://${fqdn('etcd-spare-0')}:2379`))).toBe(true);
    // The playbook asks for a bare `etcd` (3.3.11 from Extras); InstallEtcd pinned the members' version first.
    expect(await etcdRpm(playbook, 'etcd-spare-0')).toBe('etcd-3.2.22-1.el7.x86_64');

    // The record keeps the PLAY RECAP; the artifact store keeps the whole output.
    const record = await recordOf(playbook, viaPlaybook.runId);
    const scaleup = record.context['scaleup'] as { exitCode: number; recap: Record<string, { failed: number; ok: number }>; outputKey: string };
    expect(scaleup.exitCode).toBe(0);
    expect(Object.keys(scaleup.recap).sort()).toEqual(['etcd-spare-0.sandbox.test', 'localhost', 'master-0.sandbox.test', 'master-1.sandbox.test']);
    expect(Object.values(scaleup.recap).every((c) => c.failed === 0)).toBe(true);
    const output = await fs.readFile(`${playbook.stateDir}/artifacts/${scaleup.outputKey}`, 'utf8');
    expect(output).toMatch(/TASK \[etcd : Add new etcd members to cluster\]/);
    expect(output).toMatch(/PLAY RECAP/);
    // The inventory as it was before the run is kept beside it.
    expect(await fs.readFile(hostFile(playbook, 'master-0', `/etc/ansible/hosts.before-${viaPlaybook.runId}`), 'utf8')).toMatch(/^master-2\.sandbox\.test$/m);
  }, 420_000);

  it('compensates a scaleup that fails after member add (the member removed, the inventory put back), and the same command then finishes it', async () => {
    await failHost(playbook.name, 'master-1', 'kill');
    const before = await inventoryOf(playbook);
    const armed = await cli(['sandbox', 'fail', '--sandbox', playbook.name, 'etcd-spare-1', '--mode', 'scaleup', '--task', 'etcd : Enable etcd']);
    expect(exitOf(armed)).toMatchObject({ code: 0 });

    const failed = await cli(runArgs(playbook, 'master-1', 'etcd-spare-1', ...ansible));
    const result = parseRunJson(failed.stdout);
    expect(exitOf(failed)).toMatchObject({ code: 1 });
    expect(result.outcome).toBe('failed');
    expect(result.reason).toMatch(/ScaleupFailedError: the scaleup playbook failed \(exit 2\) at TASK \[etcd : Enable etcd\] on etcd-spare-1\.sandbox\.test/);
    expect(result.reason).toMatch(/member [0-9a-f]{16} was added at https:\/\/[0-9.]+:2380 and has not started/);
    const steps = result.steps.filter((s) => ['RunScaleupPlaybook', 'RestoreInventory', 'RestoreMasterUrls', 'CompensateNewMember'].includes(s.name));
    expect(steps.map((s) => s.status)).toEqual(['failed', 'succeeded', 'succeeded', 'succeeded']);
    const masterConfig = await fs.readFile(hostFile(playbook, 'master-0', '/etc/origin/master/master-config.yaml'), 'utf8');
    expect(masterConfig).not.toContain(fqdn('etcd-spare-1'));
    // From the hosts: the added member is gone again, the two left are healthy, the inventory is as it was.
    expect(memberNames(await membersNow(playbook, ['master-0', 'etcd-spare-0']))).toEqual([fqdn('etcd-spare-0'), fqdn('master-0')]);
    expect(await inventoryOf(playbook)).toBe(before);
    expect((await sh(playbook, 'etcd-spare-1', 'systemctl is-active etcd || true')).trim()).not.toBe('active');

    const again = await cli(runArgs(playbook, 'master-1', 'etcd-spare-1', ...ansible));
    expect(exitOf(again)).toMatchObject({ code: 0 });
    expect(memberNames(await membersNow(playbook, ['master-0', 'etcd-spare-0']))).toEqual([fqdn('etcd-spare-0'), fqdn('etcd-spare-1'), fqdn('master-0')]);
    expect(await etcdRpm(playbook, 'etcd-spare-1')).toBe('etcd-3.2.22-1.el7.x86_64');
  }, 420_000);

  it('puts the CA host first in [etcd] when the failed host was first there', async () => {
    // The manual twin now: master-0, master-1, etcd-spare-0. An inventory that lists master-1 first.
    await sh(manual, 'master-0', "sed -i '/^\\[etcd\\]$/,/^$/{/^master-1\\./d}; s/^\\[etcd\\]$/[etcd]\\nmaster-1.sandbox.test/' /etc/ansible/hosts");
    expect((await inventoryOf(manual)).match(/^\[etcd\]\n(.*)$/m)?.[1]).toBe(fqdn('master-1'));
    await failHost(manual.name, 'master-1', 'kill');

    const out = await cli(runArgs(manual, 'master-1', 'etcd-spare-1', ...ansible));
    expect(exitOf(out)).toMatchObject({ code: 0 });
    const record = await recordOf(manual, parseRunJson(out.stdout).runId);
    expect(record.steps.find((s) => s.name === 'PrepareInventory')?.detail).toMatch(
      /\[etcd\] starts with master-0\.sandbox\.test without master-1\.sandbox\.test/,
    );
    const output = await fs.readFile(`${manual.stateDir}/artifacts/${String((record.context['scaleup'] as { outputKey: string }).outputKey)}`, 'utf8');
    // `member add` ran on the live CA host, never on the dead first host.
    expect(output).toMatch(/TASK \[etcd : Add new etcd members to cluster\][\s\S]*?changed: \[etcd-spare-1\.sandbox\.test -> master-0\.sandbox\.test\]/);
    expect(memberNames(await membersNow(manual, ['master-0']))).toEqual([fqdn('etcd-spare-0'), fqdn('etcd-spare-1'), fqdn('master-0')]);
  }, 420_000);

  it('a run killed while the playbook runs: the same command waits for that playbook and finishes, never starting a second one', async () => {
    await failHost(manual.name, 'etcd-spare-0', 'kill');
    const first = new WatchedCli(runArgs(manual, 'etcd-spare-0', 'etcd-spare-2', ...ansible));
    const runId = /run (r-[0-9a-f-]+)/.exec(await first.waitFor(/^run r-/))![1]!;
    const log = hostFile(manual, 'master-0', `/run/etcd-replace/${runId}/scaleup/log`);
    // Killed once the playbook has added the member and is configuring the new host.
    await waitFor('the playbook to configure the new host', 240_000, 200, async () =>
      /TASK \[etcd : Write etcd global config file\]/.test(await fs.readFile(log, 'utf8').catch(() => '')),
    );
    first.kill('SIGKILL');
    await first.done;

    const again = await cli(runArgs(manual, 'etcd-spare-0', 'etcd-spare-2', ...ansible));
    expect(exitOf(again)).toMatchObject({ code: 0 });
    expect(again.stderr).toMatch(new RegExp(`resuming unfinished run ${runId}`));
    const text = await fs.readFile(log, 'utf8');
    expect(text.match(/TASK \[etcd : Add new etcd members to cluster\]/g)).toHaveLength(1);
    expect(memberNames(await membersNow(manual, ['master-0']))).toEqual([fqdn('etcd-spare-1'), fqdn('etcd-spare-2'), fqdn('master-0')]);
  }, 420_000);

  it('refuses the installer host (here also the CA host) as the failed host before anything changes', async () => {
    const before = await inventoryOf(manual);
    const out = await cli(runArgs(manual, 'master-0', 'etcd-spare-0', ...ansible));
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(
      /master-0 is the installer host, where the scaleup playbook runs: replace it with --add-method manual \(and --ca-backup-key: it is the CA host too\); nothing was changed/,
    );
    expect(await inventoryOf(manual)).toBe(before);
    expect(memberNames(await membersNow(manual, ['master-0']))).toEqual([fqdn('etcd-spare-1'), fqdn('etcd-spare-2'), fqdn('master-0')]);
  }, 60_000);
});
