// End to end on real etcd: fail a member, replace it with the workflow, then check the cluster
// independently with etcdctl and file reads on the hosts.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { failHost, loadSandbox, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { memberList, onHost } from '../support/clusterFacts.ts';
import { STATES } from '../../statemachine/spec.ts';
import { leaderOtherThanCa, makeLeader, recordBefore, verifyReplaced } from '../support/verifyReplaced.ts';
import { BIN } from '../support/cli.ts';

const run = promisify(execFile);
const created: string[] = [];

afterAll(async () => {
  for (const name of created) await sandboxDown(name);
});

/** Whether the workflow adds the new member as a learner here: every member on etcd 3.4 or later. */
const joinsAsLearnerOn = (sandbox: SandboxInfo) => !/^3\.[23]\./.test(sandbox.etcdVersion);

async function up(members: 3 | 5): Promise<SandboxInfo> {
  const name = `t-rep-${randomBytes(3).toString('hex')}`;
  created.push(name);
  return sandboxUp({ name, members, spares: 1, nodes: 1, dataMb: 4 });
}

describe('Workflow: replace a failed member on the sandbox', () => {
  it('replaces the powered-off leader of a 3-member cluster through the CLI', async () => {
    const sandbox = await up(3);
    await makeLeader(sandbox, 'master-2');
    const before = await recordBefore(sandbox);
    await failHost(sandbox.name, 'master-2', 'kill');

    // The plan changes nothing and names every step with the exact commands for these hosts.
    const spare = sandbox.hosts.find((h) => h.name === 'etcd-spare-0')!;
    const planned = JSON.parse((await run('node', [BIN, 'plan', '--target', 'sandbox', '--sandbox', sandbox.name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--json'])).stdout) as {
      verdict: string;
      steps: Array<{ name: string; commands: Array<{ host: string; command: string }> }>;
    };
    expect(planned.verdict).toMatch(/^would proceed/);
    expect(planned.steps.map((s) => s.name)).toEqual(STATES.map((s) => s.name));
    expect(planned.steps.find((s) => s.name === 'IssueCertificates')?.commands).toEqual([
      { host: 'master-0', command: `bash functions/scripts/IssueCertificates.sh '${spare.hostname}' '${spare.ip}'  # stdin: PROBE_UPLOAD_URL=<signed URL>` },
    ]);
    // A learner where every member runs etcd 3.4 or later; OpenShift 3.11's 3.2 has none: the plain add.
    const learner = joinsAsLearnerOn(sandbox);
    const addVerb = learner ? "etcdctl.sh 'member-add-learner'" : "etcdctl.sh 'member-add'";
    expect(planned.steps.find((s) => s.name === 'AddMember')?.commands.map((c) => c.command)).toEqual([expect.stringContaining("etcdctl.sh 'observe'"), expect.stringContaining(addVerb)]);
    expect(await memberList(sandbox, 'master-0', `https://${sandbox.hosts[0]!.ip}:2379`)).toHaveLength(3);

    const { stdout } = await run('node', [BIN, 'run', '--target', 'sandbox', '--sandbox', sandbox.name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json'], { maxBuffer: 16 << 20 });
    const result = JSON.parse(stdout) as { outcome: string; reason: string | null; steps: Array<{ name: string; status: string; attempts: number }> };
    expect(result.outcome).toBe('succeeded');
    expect(result.reason).toBeNull();
    const status = Object.fromEntries(result.steps.map((s) => [s.name, s.status]));
    expect(status).toMatchObject({ RemoveFailedMember: 'succeeded', AddMember: 'succeeded', PromoteNewMember: learner ? 'succeeded' : 'skipped', BackUpFailedMemberData: 'skipped', CompensateNewMember: 'skipped' });

    await verifyReplaced(await loadSandbox(sandbox.name), 'master-2', 'etcd-spare-0', before);
  });

  it('replaces the powered-off leader of a 5-member cluster', async () => {
    const sandbox = await up(5);
    const leader = await leaderOtherThanCa(sandbox);
    const before = await recordBefore(sandbox);
    await failHost(sandbox.name, leader, 'kill');

    const { stdout } = await run('node', [BIN, 'run', '--sandbox', sandbox.name, '--failed', leader, '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json'], { maxBuffer: 16 << 20 });
    const result = JSON.parse(stdout) as { outcome: string; steps: Array<{ name: string; status: string }> };
    expect(result.outcome).toBe('succeeded');
    expect(Object.fromEntries(result.steps.map((s) => [s.name, s.status]))).toMatchObject({ RemoveFailedMember: 'succeeded', AddMember: 'succeeded', PromoteNewMember: joinsAsLearnerOn(sandbox) ? 'succeeded' : 'skipped' });
    await verifyReplaced(await loadSandbox(sandbox.name), leader, 'etcd-spare-0', before);
  });

  it('replaces a member whose etcd died in a 5-member cluster, backing up its data first', async () => {
    const sandbox = await up(5);
    const before = await recordBefore(sandbox);
    await failHost(sandbox.name, 'master-3', 'etcd');

    const { stdout } = await run('node', [BIN, 'run', '--sandbox', sandbox.name, '--failed', 'master-3.sandbox.test', '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json'], { maxBuffer: 16 << 20 });
    const result = JSON.parse(stdout) as { outcome: string; runId: string; steps: Array<{ name: string; status: string }> };
    expect(result.outcome).toBe('succeeded');
    expect(result.steps.find((s) => s.name === 'BackUpFailedMemberData')?.status).toBe('succeeded');

    const info = await loadSandbox(sandbox.name);
    await verifyReplaced(info, 'master-3', 'etcd-spare-0', before);
    // The failed host's data directory was uploaded, then emptied; its etcd is stopped.
    const backup = await run('tar', ['-tzf', `${info.stateDir}/artifacts/runs/${result.runId}/failed-member-data-master-3.sandbox.test.tgz`]);
    expect(backup.stdout).toMatch(/member\/snap\/db/);
    expect((await onHost(info, 'master-3', ['find', '/var/lib/etcd', '-mindepth', '1'])).trim()).toBe('');
    expect((await onHost(info, 'master-3', ['ls', '/etc/origin/node/pods-stopped'])).trim()).toBe('etcd.yaml');
  });
});
