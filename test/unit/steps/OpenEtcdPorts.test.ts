// OpenEtcdPorts (functions/steps/OpenEtcdPorts.ts): 2379/2380 into the new host in both places they
// are closed: its own firewall (OpenEtcdPorts.sh) and the security group in front of it. Both already
// open: skipped.

import { describe, expect, it } from 'vitest';
import { OpenEtcdPorts } from '../../../functions/steps/OpenEtcdPorts.ts';
import { confirmedContext, exitCases, failure, HOST_WORK_RETRIES, retried, stepWorld, type StepWorld } from '../../support/stepHarness.ts';

/** The new host's firewall: closed until the first run opens it. */
function newHost(world: StepWorld): StepWorld {
  let open = false;
  world.runner.on('OpenEtcdPorts', () => {
    const changed = !open;
    open = true;
    return { stdout: { changed } };
  });
  return world;
}

describe('Step: OpenEtcdPorts', () => {
  it("opens the ports on the new host's firewall and in its security group", async () => {
    const world = newHost(stepWorld());
    const result = await OpenEtcdPorts(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual(['OpenEtcdPorts@etcd-spare-0']);
    expect(world.securityGroups.calls).toEqual(['allow etcd-spare-0', 'describe etcd-spare-0']);
    expect(result).toEqual({ output: {}, detail: 'etcd-spare-0: OS_FIREWALL_ALLOW opened 2379/2380; security group now allows 2379, 2380' });
  });

  it('a second run finds both open: skipped', async () => {
    const world = newHost(stepWorld());
    await OpenEtcdPorts(confirmedContext(), world.deps);
    const second = await OpenEtcdPorts(confirmedContext(), world.deps);
    expect(second).toEqual({
      output: {},
      detail: 'etcd-spare-0: OS_FIREWALL_ALLOW already opened 2379/2380; security group already allowed 2379, 2380',
      skipped: true,
    });
  });

  it('either one still to open is work done: not skipped', async () => {
    const world = newHost(stepWorld());
    world.securityGroups.open.set('etcd-spare-0', new Set([2379, 2380]));
    expect((await OpenEtcdPorts(confirmedContext(), world.deps)).skipped).toBeUndefined();
    const other = stepWorld();
    other.runner.on('OpenEtcdPorts', { stdout: { changed: false } });
    expect((await OpenEtcdPorts(confirmedContext(), other.deps)).skipped).toBeUndefined();
  });

  it.each(exitCases(HOST_WORK_RETRIES))('OpenEtcdPorts.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = stepWorld();
    world.runner.exits('OpenEtcdPorts', code, 'iptables-save failed');
    const error = await failure(OpenEtcdPorts(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(retried('OpenEtcdPorts', error)).toBe(isRetried);
  });
});
