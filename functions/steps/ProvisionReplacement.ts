// ProvisionReplacement: when ValidateInput chose to launch the replacement (`--replacement new`, or
// none named and the spare pool empty), launch it now, after the first observation confirmed there is
// a failed member to replace and before anything is prepared for the new host. The provisioning port
// finds the host this run launched already (a resumed run) instead of launching another, and answers
// once the host is ready (ReplacementNotReadyError, retried, until then). The host joins the run's
// inventory as a spare: from here on it is an ordinary replacement.
// A named or pooled replacement: nothing to launch.

import { ProvisioningError } from '../errors.ts';
import type { Host } from '../ports.ts';
import { inventoryOf } from '../cluster/need.ts';
import type { Step } from '../workflow/step.ts';

export const ProvisionReplacement: Step = async (context, deps) => {
  if (context.replacementChoice !== 'launched') {
    const host = context.replacement;
    return {
      output: {},
      detail: `nothing to launch: the replacement is ${host?.name ?? 'unknown'} (${context.replacementChoice === 'spare' ? 'from the spare pool' : 'named'})`,
      skipped: true,
    };
  }
  const inventory = inventoryOf(context);
  const { host, id } = await deps.provisioning.provision({
    runId: context.runId,
    cluster: inventory.cluster,
    ...(context.failedHost ? { failedHost: context.failedHost } : {}),
  });
  const clash = inventory.hosts.find((h) => h.name !== host.name && (h.hostname === host.hostname || h.ip === host.ip));
  if (clash)
    throw new ProvisioningError(
      `the launched host ${host.name} (${id}) has the hostname or IP of ${clash.name} (${clash.hostname}, ${clash.ip}): it cannot be told apart from that host`,
    );
  const replacement: Host = { ...host, roles: ['spare'] };
  const again = context.replacementLaunched === id && context.replacement?.name === host.name;
  return {
    output: {
      replacement,
      replacementLaunched: id,
      inventory: { ...inventory, hosts: [...inventory.hosts.filter((h) => h.name !== host.name), replacement] },
    },
    detail: `${again ? 'found' : 'launched'} ${host.name} (${host.hostname}, ${host.ip}${host.instanceId ? `, ${host.instanceId}` : ''}) for this run`,
    ...(again ? { skipped: true } : {}),
  };
};
