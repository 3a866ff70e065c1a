// StopFailedMember: on the failed host, when it answers, stop etcd by moving the static pod manifests
// to pods-stopped (runbook 37.1 step 2). A host that is powered off is recorded as unreachable.

import { HostUnreachableError } from '../errors.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';

export const StopFailedMember: Step = async (context, deps) => {
  const host = context.failedHost;
  if (!host) return { output: { failedHostReachable: false }, detail: 'the failed member has no known host', skipped: true };
  try {
    const result = await runScript<{ movedManifests: number; stoppedUnit: boolean }>(deps.runner, { host, script: 'StopFailedMember', timeoutSeconds: 60 });
    return {
      output: { failedHostReachable: true },
      detail: `${host.name}: moved ${result.movedManifests} manifest(s) to pods-stopped${result.stoppedUnit ? ', stopped the etcd unit' : ''}; etcd is down`,
      ...(result.movedManifests === 0 && !result.stoppedUnit ? { skipped: true } : {}),
    };
  } catch (error) {
    if (!(error instanceof HostUnreachableError)) throw error;
    return { output: { failedHostReachable: false }, detail: `${host.name} is unreachable (${error.message}); its data cannot be backed up`, skipped: true };
  }
};
