// The CA host itself fails: with a backup of /etc/etcd/ca in the artifact store, a surviving member
// restores it (only because it is the CA the cluster trusts) and the replacement completes; a backup
// of another CA is refused before any membership change.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { failHost, loadSandbox, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { memberList, onHost, waitForLeader } from '../support/clusterFacts.ts';
import { recordBefore, verifyReplaced } from '../support/verifyReplaced.ts';
import { BIN } from '../support/cli.ts';

const run = promisify(execFile);
const created: string[] = [];
afterAll(async () => {
  for (const name of created) await sandboxDown(name);
});

/** Packs a host's /etc/etcd/ca into the sandbox's artifact store under `key`, as an operator's backup. */
async function backUpCa(sandbox: SandboxInfo, host: string, key: string): Promise<void> {
  const file = path.join(sandbox.stateDir, 'artifacts', key);
  await mkdir(path.dirname(file), { recursive: true });
  const tgz = await onHost(sandbox, host, ['bash', '-c', 'tar -czf - -C /etc/etcd/ca . | base64 -w0']);
  await import('node:fs/promises').then((fs) => fs.writeFile(file, Buffer.from(tgz, 'base64')));
}

async function cliRun(
  args: string[],
): Promise<{ code: number; result: { outcome: string; reason: string | null; remaining?: string[]; steps: Array<{ name: string; status: string }> } }> {
  try {
    const { stdout } = await run('node', [BIN, 'run', ...args, '--json'], { maxBuffer: 16 << 20 });
    return { code: 0, result: JSON.parse(stdout) };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, result: JSON.parse(e.stdout) };
  }
}

describe('Workflow: the etcd CA host fails', () => {
  it('restores the CA from a backup onto a survivor and replaces the CA host', async () => {
    const name = `t-ca-${randomBytes(3).toString('hex')}`;
    created.push(name);
    const sandbox = await sandboxUp({ name, members: 3, spares: 1, nodes: 1, dataMb: 2 });
    await backUpCa(sandbox, 'master-0', 'ca/etcd-ca.tgz');
    const before = await recordBefore(sandbox);
    await failHost(name, 'master-0', 'kill');
    await waitForLeader(sandbox, ['master-1', 'master-2']);

    const refused = await cliRun(['--sandbox', name, '--failed', 'master-0', '--replacement', 'etcd-spare-0', '--grace-seconds', '0']);
    expect(refused.code).toBe(3);
    expect(refused.result.reason).toMatch(/master-0 is the etcd CA host.*--ca-backup-key/s);

    const { code, result } = await cliRun([
      '--sandbox',
      name,
      '--failed',
      'master-0',
      '--replacement',
      'etcd-spare-0',
      '--grace-seconds',
      '0',
      '--ca-backup-key',
      'ca/etcd-ca.tgz',
    ]);
    expect(result.reason).toBeNull();
    expect(code).toBe(0);
    expect(result.remaining?.join('\n')).toMatch(/installer host\) is unreachable/);

    const info = await loadSandbox(name);
    // master-0 is gone, so verifyReplaced reads through master-1.
    await verifyReplaced(info, 'master-0', 'etcd-spare-0', before, { via: 'master-1', installer: null });
    // Exactly one survivor took over as the CA host, with the CA restored from the backup.
    const holders: string[] = [];
    for (const host of ['master-1', 'master-2']) {
      const files = (await onHost(info, host, ['bash', '-c', 'ls /etc/etcd/ca 2>/dev/null || true'])).split('\n');
      if (files.includes('ca.key')) holders.push(host);
      if (files.includes('ca.key')) expect(files).toEqual(expect.arrayContaining(['ca.crt', 'index.txt', 'openssl.cnf']));
    }
    expect(holders).toHaveLength(1);
  });

  it('refuses a backup of another CA before any membership change', async () => {
    const name = `t-ca-${randomBytes(3).toString('hex')}`;
    const other = `t-ca-${randomBytes(3).toString('hex')}`;
    created.push(name, other);
    const [sandbox, foreign] = await Promise.all([
      sandboxUp({ name, members: 3, spares: 1, nodes: 0, dataMb: 1 }),
      sandboxUp({ name: other, members: 3, spares: 1, nodes: 0, dataMb: 1 }),
    ]);
    // The other sandbox's CA, stored as if it were this cluster's backup.
    const tgz = await onHost(foreign, 'master-0', ['bash', '-c', 'tar -czf - -C /etc/etcd/ca . | base64 -w0']);
    const file = path.join(sandbox.stateDir, 'artifacts', 'ca', 'etcd-ca.tgz');
    await mkdir(path.dirname(file), { recursive: true });
    await import('node:fs/promises').then((fs) => fs.writeFile(file, Buffer.from(tgz, 'base64')));
    await sandboxDown(other);
    await failHost(name, 'master-0', 'kill');
    await waitForLeader(sandbox, ['master-1', 'master-2']);

    const { code, result } = await cliRun([
      '--sandbox',
      name,
      '--failed',
      'master-0',
      '--replacement',
      'etcd-spare-0',
      '--grace-seconds',
      '0',
      '--ca-backup-key',
      'ca/etcd-ca.tgz',
    ]);
    expect(code).toBe(3);
    expect(result.reason).toMatch(/not the CA this cluster trusts/);
    expect(result.steps.find((s) => s.name === 'RemoveFailedMember')?.status).toBe('skipped');
    const members = await memberList(sandbox, 'master-1', `https://${sandbox.hosts.find((h) => h.name === 'master-1')!.ip}:2379`);
    expect(members).toHaveLength(3);
    expect((await onHost(sandbox, 'master-1', ['bash', '-c', 'ls /etc/etcd/ca 2>/dev/null | wc -l'])).trim()).toBe('0');
  });
});
