// UpdateInventory (functions/steps/UpdateInventory.ts): on the installer host, the Ansible inventory's
// [etcd] group loses the failed host and gains the new one (ReadHostFile, WriteHostFile over the
// content read); nothing else changes. Already so: skipped. An installer host that is the failed host
// and unreachable leaves the edit in `remaining`.

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

describe('Step: UpdateInventory', () => {
  it('replaces the failed host by the new one in [etcd] on the installer host, and nothing else', async () => {
    const world = installer();
    const result = await UpdateInventory(confirmedContext(), world.deps);
    expect(world.runner.requests.map((r) => `${r.script}@${r.host.name} ${r.args[0]}`)).toEqual([
      `ReadHostFile@master-0 ${INVENTORY_PATH}`,
      `WriteHostFile@master-0 ${INVENTORY_PATH}`,
    ]);
    expect(world.runner.of('WriteHostFile')[0]?.args).toHaveLength(3);
    const written = world.runner.file('master-0', INVENTORY_PATH)!;
    expect(getGroupHosts(written, 'etcd')).toEqual(['master-0.example.test', 'master-1.example.test', 'etcd-spare-0.example.test']);
    expect(written.split('\n').filter((line) => !HOSTS_INI.split('\n').includes(line))).toEqual(['etcd-spare-0.example.test']);
    expect(result).toEqual({ output: {}, detail: `${INVENTORY_PATH} on master-0: [etcd] now lists etcd-spare-0.example.test without master-2.example.test` });
  });

  it('a second run finds the inventory right: skipped, nothing written', async () => {
    const world = installer();
    const first = await UpdateInventory(confirmedContext(), world.deps);
    const second = await UpdateInventory(after(confirmedContext(), first), world.deps);
    expect(second).toEqual({
      output: {},
      detail: `${INVENTORY_PATH} on master-0: [etcd] already lists etcd-spare-0.example.test without master-2.example.test`,
      skipped: true,
    });
    expect(world.runner.of('WriteHostFile')).toHaveLength(1);
  });

  it('no inventory on the installer host: ConfigEditError', async () => {
    const world = stepWorld();
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(ConfigEditError);
    expect(world.runner.of('WriteHostFile')).toEqual([]);
  });

  it('the installer host is the failed host and unreachable: the edit is left in remaining, skipped', async () => {
    const world = stepWorld();
    world.runner.on('ReadHostFile', new HostUnreachableError('master-2 is powered off'));
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
    world.runner.on('ReadHostFile', new HostUnreachableError('master-0 does not answer'));
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(HostUnreachableError);
    expect(retried('UpdateInventory', error)).toBe(true);
  });

  it('the inventory changed since it was read (WriteHostFile exit 3): RefusedError, not retried', async () => {
    const world = installer();
    world.runner.on('ReadHostFile', { stdout: `${'0'.repeat(64)}\n${HOSTS_INI}` });
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(retried('UpdateInventory', error)).toBe(false);
    expect(world.runner.file('master-0', INVENTORY_PATH)).toBe(HOSTS_INI);
  });

  it.each([
    ['ReadHostFile', 2, 'InvalidInputError', false],
    ['ReadHostFile', 1, 'ScriptFailedError', true],
    ['WriteHostFile', 2, 'InvalidInputError', false],
    ['WriteHostFile', 4, 'ScriptTimedOutError', true],
  ] as const)('%s exit %i is %s (retried: %s)', async (script, code, name, isRetried) => {
    const world = installer();
    world.runner.exits(script, code, 'not a file this workflow reads');
    const error = await failure(UpdateInventory(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('UpdateInventory', error)).toBe(isRetried);
  });
});
