// OpenEtcdPorts (functions/steps/OpenEtcdPorts.ts): 2379/2380 into the new host through the security
// group in front of it; the host's own firewall is opened by InstallEtcd's first command (InstallEtcd.sh
// prepare with `ports`, test/unit/steps/InstallEtcd.test.ts), so nothing is sent to the host here. Already
// open: skipped.

import { describe, expect, it } from 'vitest';
import { OpenEtcdPorts } from '../../../functions/steps/OpenEtcdPorts.ts';
import { confirmedContext, stepWorld } from '../../support/stepHarness.ts';

describe('Step: OpenEtcdPorts', () => {
  it('opens the ports in the security group of the new host, and sends the host nothing', async () => {
    const world = stepWorld();
    const result = await OpenEtcdPorts(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual([]);
    expect(world.securityGroups.calls).toEqual(['allow etcd-spare-0', 'describe etcd-spare-0']);
    expect(result).toEqual({
      output: {},
      detail: "etcd-spare-0: security group now allows 2379, 2380; OS_FIREWALL_ALLOW is opened by InstallEtcd's first command",
    });
  });

  it('a second run finds them open: skipped', async () => {
    const world = stepWorld();
    await OpenEtcdPorts(confirmedContext(), world.deps);
    const second = await OpenEtcdPorts(confirmedContext(), world.deps);
    expect(second).toEqual({
      output: {},
      detail: "etcd-spare-0: security group already allowed 2379, 2380; OS_FIREWALL_ALLOW is opened by InstallEtcd's first command",
      skipped: true,
    });
  });
});
