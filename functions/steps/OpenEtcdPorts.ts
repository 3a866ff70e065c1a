// OpenEtcdPorts: 2379/2380 into the new host, in both places they are closed: the security group in
// front of it, here, and the host's own firewall (OS_FIREWALL_ALLOW, saved to /etc/sysconfig/iptables),
// opened by the first command InstallEtcd sends to the host (InstallEtcd.sh prepare with `ports`, the
// step right after this one, still before any membership change): one host command where there were two.

import { need } from '../cluster/need.ts';
import type { Step } from '../workflow/step.ts';

export const OpenEtcdPorts: Step = async (context, deps) => {
  const host = need(context.replacement, 'replacement');
  const group = await deps.securityGroups.allowEtcdPorts(host);
  const open = await deps.securityGroups.describeEtcdPorts(host);
  return {
    output: {},
    detail: `${host.name}: security group ${group.changed ? 'now allows' : 'already allowed'} ${open.join(', ')}; OS_FIREWALL_ALLOW is opened by InstallEtcd's first command`,
    ...(group.changed ? {} : { skipped: true }),
  };
};
