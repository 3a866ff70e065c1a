// The scaleup playbook's inventory steps around it: CheckScaleupPlaybook (before any membership change),
// PrepareInventory (the copy kept, then the edit) and RestoreInventory (only the run's own edit put
// back). The sandbox runs their scripts for real (test/sandbox/ansiblePath.test.ts); here, the decisions.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RefusedError } from '../../../functions/errors.ts';
import { getGroupHosts } from '../../../functions/config/inventory.ts';
import { CheckScaleupPlaybook } from '../../../functions/steps/CheckScaleupPlaybook.ts';
import { PrepareInventory } from '../../../functions/steps/PrepareInventory.ts';
import { RestoreInventory } from '../../../functions/steps/RestoreInventory.ts';
import { after, confirmedContext, failure, HOSTS, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';

const HOSTS_FILE = '/etc/ansible/hosts';
const COPY = `${HOSTS_FILE}.before-${RUN_ID}`;
const INVENTORY = readFileSync(new URL('../../../sandbox/templates/hosts.ini', import.meta.url), 'utf8').replace(/example\.com/g, 'example.test');
const ready = (extra = {}) => confirmedContext({ failedMemberRemoved: true, addByPlaybook: true, ...extra });

/** A world whose installer host (master-0) holds the inventory; PrepareInventory.sh keeps its copy as the script does. */
function withInventory(text = INVENTORY): StepWorld {
  const world = stepWorld();
  world.runner.putFile('master-0', HOSTS_FILE, text);
  world.runner.on('PrepareInventory', () => {
    const kept = world.runner.file('master-0', COPY) === undefined;
    if (kept) world.runner.putFile('master-0', COPY, world.runner.file('master-0', HOSTS_FILE)!);
    return { stdout: { copy: COPY, kept } };
  });
  return world;
}

describe('Step: PrepareInventory', () => {
  it('keeps the inventory as it was once, then writes the scaleup edit; a second try changes nothing', async () => {
    const world = withInventory();
    const first = await PrepareInventory(ready(), world.deps);
    const text = world.runner.file('master-0', HOSTS_FILE)!;
    expect(getGroupHosts(text, 'new_etcd')).toEqual([HOSTS['etcd-spare-0'].hostname]);
    expect(getGroupHosts(text, 'etcd')).toEqual(['master-0.example.test', 'master-1.example.test']);
    expect(world.runner.file('master-0', COPY)).toBe(INVENTORY);
    expect(first.detail).toMatch(/the inventory before the run kept in \/etc\/ansible\/hosts\.before-r-unit-0001$/);
    const again = await PrepareInventory(after(ready(), first), world.deps);
    expect(again.skipped).toBe(true);
    expect(world.runner.file('master-0', COPY)).toBe(INVENTORY);
  });
});

describe('Step: RestoreInventory', () => {
  it("puts back the inventory before the run when it holds the run's edit (before or after UpdateInventory)", async () => {
    const world = withInventory();
    await PrepareInventory(ready(), world.deps);
    const result = await RestoreInventory(ready(), world.deps);
    expect(world.runner.file('master-0', HOSTS_FILE)).toBe(INVENTORY);
    expect(result.detail).toMatch(/put back as it was before the run/);
    expect((await RestoreInventory(ready(), world.deps)).skipped).toBe(true);
  });

  it('leaves an inventory someone changed since, and says where the copy is', async () => {
    const world = withInventory();
    await PrepareInventory(ready(), world.deps);
    const theirs = `${world.runner.file('master-0', HOSTS_FILE)!}\n[extra]\nsomeone.example.test\n`;
    world.runner.putFile('master-0', HOSTS_FILE, theirs);
    const result = await RestoreInventory(ready(), world.deps);
    expect(world.runner.file('master-0', HOSTS_FILE)).toBe(theirs);
    expect(result.output.remaining?.at(-1)).toBe(
      `${HOSTS_FILE} on master-0 has changed since this run edited it, so it was not put back: the inventory before the run is in ${COPY}`,
    );
  });

  it('a run that kept no copy did not edit the inventory: nothing to put back', async () => {
    const world = withInventory();
    const result = await RestoreInventory(ready(), world.deps);
    expect(result.skipped).toBe(true);
    expect(world.runner.sent('WriteHostFile')).toEqual([]);
  });
});

describe('Step: CheckScaleupPlaybook', () => {
  const tools = { stdout: { ansible: 'ansible-playbook [core 2.14.18]', reached: 3 } };

  it('checks the installer with the inventory as PrepareInventory will write it, and reads the members’ quota on the CA host', async () => {
    const world = withInventory();
    world.runner.on('CheckScaleupPlaybook', tools, { host: 'master-0', args: ['installer'] });
    world.runner.on('CheckScaleupPlaybook', { stdout: { restoredCa: false, quotaBackendBytes: '4294967296' } }, { host: 'master-0', args: ['ca'] });
    const result = await CheckScaleupPlaybook(ready(), world.deps);
    const installer = world.runner.of('CheckScaleupPlaybook').find((r) => r.args[0] === 'installer')!;
    const planned = Buffer.from(installer.args[2]!, 'base64').toString('utf8');
    expect(getGroupHosts(planned, 'new_etcd')).toEqual([HOSTS['etcd-spare-0'].hostname]);
    expect(world.runner.file('master-0', HOSTS_FILE)).toBe(INVENTORY);
    expect(result.output).toEqual({ scaleupVars: { etcd_quota_backend_bytes: '4294967296' } });
    expect(world.runner.of('CheckScaleupPlaybook').find((r) => r.args[0] === 'ca')?.secrets).toBeUndefined();
  });

  it('refuses, changing nothing, an inventory that cannot carry the scaleup, and the installer host as the failed host', async () => {
    const world = withInventory('[masters]\nmaster-0.example.test\n');
    const error = await failure(CheckScaleupPlaybook(ready(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(
      /cannot carry the scaleup: the inventory has no \[OSEv3:children\] group; the inventory has no \[etcd\] group; nothing was changed/,
    );
    const onInstaller = await failure(CheckScaleupPlaybook(ready({ failedHost: HOSTS['master-0'] }), withInventory().deps));
    expect(onInstaller.message).toMatch(/master-0 is the installer host, where the scaleup playbook runs/);
  });

  it('the CA host failed and a backup is named: the new CA host gets the backup’s URL on stdin', async () => {
    const world = withInventory();
    world.artifacts.put('backups/etcd-ca.tgz', 100);
    world.runner.on('CheckScaleupPlaybook', tools, { args: ['installer'] });
    world.runner.on('CheckScaleupPlaybook', { stdout: { restoredCa: true, quotaBackendBytes: null } }, { host: 'master-1', args: ['ca'] });
    const context = ready({
      failedHost: HOSTS['master-2'],
      caHost: HOSTS['master-1'],
      inventory: {
        ...ready().inventory!,
        hosts: ready().inventory!.hosts.map((h) =>
          h.name === 'master-2' ? { ...h, roles: [...h.roles, 'ca' as const] } : { ...h, roles: h.roles.filter((r) => r !== 'ca') },
        ),
      },
      options: { graceSeconds: 0, learner: 'auto' as const, addMethod: 'ansible' as const, caBackupKey: 'backups/etcd-ca.tgz' },
    });
    const result = await CheckScaleupPlaybook(context, world.deps);
    expect(Object.keys(world.runner.of('CheckScaleupPlaybook').find((r) => r.args[0] === 'ca')?.secrets ?? {})).toEqual(['CA_BACKUP_URL']);
    expect(result.detail).toMatch(/^restored \/etc\/etcd\/ca on master-1 from backups\/etcd-ca\.tgz/);
    expect(result.output).toEqual({});
  });
});
