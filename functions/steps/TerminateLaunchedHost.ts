// TerminateLaunchedHost: on every ending but success, the host this run launched (ProvisionReplacement)
// goes again, so a failed or refused run leaves no instance running at the user's cost. Only that
// host (the provisioning port finds it by its run tag and never touches another), and only while no
// member of the cluster is on it: a new member that joined, or that compensation could not remove,
// keeps its host. When the member list cannot be read the host is kept and named in `remaining`.

import { errorMessage } from '../errors.ts';
import { membersOfHost } from '../../statemachine/memberIdentity.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import type { Step } from '../workflow/step.ts';

export const TerminateLaunchedHost: Step = async (context, deps) => {
  const launched = context.replacementLaunched;
  const host = context.replacement;
  if (!launched || !host) return { output: {}, detail: 'this run launched no host', skipped: true };
  if (!context.error) return { output: {}, detail: `${host.name} (${launched}), launched by this run, is the new member's host: kept`, skipped: true };
  const remaining = context.remaining ?? [];
  let onHost;
  try {
    onHost = membersOfHost(await etcdOf(context, deps).memberList(), host);
  } catch (error) {
    const message = `${host.name} (${launched}) was launched by this run and is kept: the member list could not be read (${errorMessage(error)}); terminate it once no member of the cluster is on it`;
    return { output: { remaining: [...remaining, message] }, detail: `kept ${host.name}: ${errorMessage(error)}` };
  }
  if (onHost.length > 0) {
    const member = onHost[0]!.member;
    return { output: {}, detail: `kept ${host.name} (${launched}): member ${member.id} of the cluster is on it`, skipped: true };
  }
  try {
    const released = await deps.provisioning.release(context.runId, context.inventory?.cluster ?? context.request.cluster);
    return {
      output: {},
      detail:
        released === 'released'
          ? `terminated ${host.name} (${launched}), launched by this run for a replacement that did not join`
          : `${host.name} (${launched}) is gone already`,
      ...(released === 'absent' ? { skipped: true } : {}),
    };
  } catch (error) {
    const message = `${host.name} (${launched}) was launched by this run for a replacement that did not join and could not be terminated (${errorMessage(error)}): terminate it by hand`;
    return { output: { remaining: [...remaining, message] }, detail: `could not terminate ${host.name}: ${errorMessage(error)}` };
  }
};
