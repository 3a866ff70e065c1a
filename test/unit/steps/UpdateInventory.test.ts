// UpdateInventory (functions/steps/UpdateInventory.ts): on the installer host, the Ansible inventory's
// [etcd] group loses the failed host and gains the new one in one command (WriteHostFile.sh
// join-etcd-group NEW FAILED reads, edits and writes it there); nothing else changes. An inventory the
// host's edit declines is read and edited by the workflow (ReadHostFile, WriteHostFile over the content
// read). Already so: skipped. An installer host that is the failed host and unreachable leaves the edit
// in `remaining`.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getGroupHosts } from '../../../functions/config/inventory.ts';
import { ConfigEditError, HostUnreachableError, RefusedError } from '../../../functions/errors.ts';
import { INVENTORY_PATH } from '../../../functions/config/paths.ts';
import { UpdateInventory } from '../../../functions/steps/UpdateInventory.ts';
import { after, confirmedContext, failure, HOSTS, retried, stepWorld } from '../../support/stepHarness.ts';

const HOSTS_INI = readFileSync(new URL('../../../sandbox/templates/hosts.ini', import.meta.url), 'utf8').replaceAll('.example.com', '.example.test');

function installer() {
  const world = stepWorld();
  world.runner.putFile('master-0', INVENTORY_PATH, HOSTS_INI);
  return world;
}

const JOIN = ['join-etcd-group', 'etcd-spare-0.example.test', 'master-2.example.test'];

describe('Step: UpdateInventory', () => {
  it('replaces the failed host by the new one in [etcd] on the installer host, and nothing else, in one command', async () => {
    const world = installer();
    const result = await UpdateInventory(confirmedContext(), world.deps);
    expect(world.runner.requests.map((r) => [`${r.script}@${r.host.name}`, ...r.args])).toEqual([['WriteHostFile@master-0', ...JOIN]]);
    const written = world.runner.file('master-0', INVENTORY_PATH)!;
    expect(getGroupHosts(written, 'etcd')).toEqual(['master-0.example.test', 'master-1.example.test', 'etcd-spare-0.example.test']);
    expect(written.split('\n').filter((line) => !HOSTS_INI.split('\n').includes(line))).toEqual(['etcd-spare-0.example.test']);
    expect(result).toEqual({ output: {}, detail: `${INVENTORY_PATH} on master-0: [etcd] now lists etcd-spare-0.example.test without master-2.example.test` });
  });

  it('a second run finds the inventory right: skipped, nothing written', async () => {
    const world = installer();
    const first = await UpdateInventory(confirmedContext(), world.deps);
    const once = world.runner.file('master-0', INVENTORY_PATH);
    const second = await UpdateInventory(after(confirmedContext(), first), world.deps);
    expect(second).toEqual({
      output: {},
      detail: `${INVENTORY_PATH} on master-0: [etcd] already lists etcd-spare-0.example.test without master-2.example.test`,
      skipped: true,
    });
    expect(world.runner.file('master-0', INVENTORY_PATH)).toBe(once);
    expect(world.runner.sent()).toHaveLength(2);
  });

  it("an inventory the host's edit declines is read and edited by the workflow, then written over the content read", async () => {
    const world = installer();
    world.runner.declineHostEdits.add('master-0');
    const result = await UpdateInventory(confirmedContext(), world.deps);
    expect(world.runner.requests.map((r) => `${r.script}@${r.host.name} ${r.args[0]}`)).toEqual([
      'WriteHostFile@master-0 join-etcd-group',
      `ReadHostFile@master-0 ${INVENTORY_PATH}`,
      `WriteHostFile@master-0 ${INVENTORY_PATH}`,
    ]);
    expect(getGroupHosts(world.runner.file('master-0', INVENTORY_PATH)!, 'etcd')).toEqual([
      'master-0.example.test',
      'master-1.example.test',
      'etcd-spare-0.example.test',
    ]);
    expect(world.logs.some((line) => line.includes('edited by the workflow itself'))).toBe(true);
    expect(result.detail).toBe(`${INVENTORY_PATH} on master-0: [etcd] now lists etcd-spare-0.example.test without master-2.example.test`);
  });

  it('a name that is no hostname never reaches the shell: the workflow reads and edits the inventory', async () => {
    const world = installer();
    await UpdateInventory(confirmedContext({ failedHost: { ...HOSTS['master-2'], hostname: 'Master-2.example.test' } }), world.deps);
    expect(world.runner.requests.map((r) => `${r.script}@${r.host.name} ${r.args[0]}`)).toEqual([
      `ReadHostFile@master-0 ${INVENTORY_PATH}`,
      `WriteHostFile@master-0 ${INVENTORY_PATH}`,
    ]);
  });

  it('no inventory on the installer host: ConfigEditError, nothing written', async () => {
    const world = stepWorld();
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(ConfigEditError);
    expect(world.runner.sent()).toEqual([`WriteHostFile@master-0 ${JOIN.join(' ')}`]);
    expect(world.runner.file('master-0', INVENTORY_PATH)).toBeUndefined();
  });

  it('the installer host is the failed host and unreachable: the edit is left in remaining, skipped', async () => {
    const world = stepWorld();
    world.runner.on('WriteHostFile', new HostUnreachableError('master-2 is powered off'));
    const context = confirmedContext({ installerHost: HOSTS['master-2'], remaining: ['earlier'] });
    const result = await UpdateInventory(context, world.deps);
    expect(result).toMatchObject({
      skipped: true,
      output: {
        remaining: [
          'earlier',
          `master-2 (the installer host) is unreachable: in ${INVENTORY_PATH}, [etcd] must drop master-2.example.test and list etcd-spare-0.example.test`,
        ],
      },
    });
  });

  it('another unreachable installer host is passed on (HostUnreachableError, retried)', async () => {
    const world = stepWorld();
    world.runner.on('WriteHostFile', new HostUnreachableError('master-0 does not answer'));
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(HostUnreachableError);
    expect(retried('UpdateInventory', error)).toBe(true);
  });

  it('the inventory changed since the workflow read it (WriteHostFile exit 3): RefusedError, not retried', async () => {
    const world = installer();
    world.runner.declineHostEdits.add('master-0');
    world.runner.on('ReadHostFile', { stdout: `${'0'.repeat(64)}\n${HOSTS_INI}` });
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(retried('UpdateInventory', error)).toBe(false);
    expect(world.runner.file('master-0', INVENTORY_PATH)).toBe(HOSTS_INI);
  });

  it.each([
    ['WriteHostFile', 2, 'InvalidInputError', false],
    ['WriteHostFile', 1, 'ScriptFailedError', true],
    ['WriteHostFile', 3, 'RefusedError', false],
    ['WriteHostFile', 4, 'ScriptTimedOutError', true],
  ] as const)('%s join-etcd-group exit %i is %s (retried: %s)', async (script, code, name, isRetried) => {
    const world = installer();
    world.runner.exits(script, code, 'the inventory changed since it was read');
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('UpdateInventory', error)).toBe(isRetried);
    expect(world.runner.file('master-0', INVENTORY_PATH)).toBe(HOSTS_INI);
  });

  it.each([
    ['ReadHostFile', 2, 'InvalidInputError', false],
    ['ReadHostFile', 1, 'ScriptFailedError', true],
  ] as const)('after a declined edit, %s exit %i is %s (retried: %s)', async (script, code, name, isRetried) => {
    const world = installer();
    world.runner.declineHostEdits.add('master-0');
    world.runner.exits(script, code, 'not a file this workflow reads');
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('UpdateInventory', error)).toBe(isRetried);
  });
});
