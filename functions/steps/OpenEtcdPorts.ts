// OpenEtcdPorts: 2379/2380 into the new host, in both places they are closed: the host's own firewall
// (OS_FIREWALL_ALLOW, saved to /etc/sysconfig/iptables) and the security group in front of it.

import { need } from '../cluster/need.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';

export const OpenEtcdPorts: Step = async (context, deps) => {
  const host = need(context.replacement, 'replacement');
  const [firewall, group] = await Promise.all([
    runScript<{ changed: boolean }>(deps.runner, { host, script: 'OpenEtcdPorts' }),
    deps.securityGroups.allowEtcdPorts(host),
  ]);
  const open = await deps.securityGroups.describeEtcdPorts(host);
  return {
    output: {},
    detail: `${host.name}: OS_FIREWALL_ALLOW ${firewall.changed ? 'opened' : 'already opened'} 2379/2380; security group ${group.changed ? 'now allows' : 'already allowed'} ${open.join(', ')}`,
    ...(firewall.changed || group.changed ? {} : { skipped: true }),
  };
};
