// FenceFormerMember.sh on one host, the half of the fence that happens on the host: its etcd stopped (the
// static pod to pods-stopped, the unit disabled), /var/lib/etcd uploaded to the artifact store, the upload
// checked there, then confirmed on the host (the marker of RUN_ID). Shared by the restore's
// FenceFormerMembers step and the observation that finds a former member powered on again
// (returnedHosts.ts). A host already marked for RUN_ID says so and uploads nothing.

import { ArtifactStoreError, HostUnreachableError, WorkflowError } from '../errors.ts';
import { backupArgs, restoreKey, type HostBackup } from './restoreFacts.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import type { ArtifactStore, Host, HostRunner, SecurityGroupPort } from '../ports.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { FencedHost } from '../../statemachine/restoreContext.ts';

/** Exit 5 of FenceFormerMember.sh: etcd is stopped, but the data could not leave the host. */
class FenceBackupNotUploaded extends WorkflowError {
  override readonly name: string = 'FenceBackupNotUploaded';
}

/** How the host side went: `on-host` or `stopped-instance` for the model's `how`, and what `how` does not say. */
export type HostFence = Pick<FencedHost, 'notOnHost' | 'notOnHostReason' | 'backupKey' | 'backupBytes' | 'backupSha256' | 'stoppedAlready'> & {
  how: Array<'on-host' | 'stopped-instance'>;
};

/** What the fence on the host needs: the host runner, the store, and (to power off a host that does not answer) stopHost. */
export interface FenceOnHostDeps {
  runner: HostRunner;
  artifacts: ArtifactStore;
  securityGroups: Pick<SecurityGroupPort, 'stopHost'>;
  waits: Pick<StepDeps['waits'], 'urlTtlSeconds'>;
}

/** FenceFormerMember.sh on the host: stop, upload, check the upload in the store, confirm. */
export async function fenceOnHost(
  context: { runId: string; powerOffUnreachable: boolean },
  deps: FenceOnHostDeps,
  host: Host,
): Promise<{ fence: HostFence; changed: boolean }> {
  const key = restoreKey.fence(context.runId, host.hostname);
  let out: { stopped: boolean; kind: string; backup: HostBackup };
  try {
    out = await runScript(deps.runner, {
      host,
      script: 'FenceFormerMember',
      args: ['fence', context.runId],
      secrets: { UPLOAD_URL: await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds) },
      timeoutSeconds: 600,
      exits: { [SCRIPT_EXIT.uploadCannotLeaveHost]: (message) => new FenceBackupNotUploaded(message) },
    });
  } catch (error) {
    // Not the script's words: curl's may name where it tried to upload to.
    if (error instanceof FenceBackupNotUploaded)
      return { fence: { how: [], notOnHost: 'not-backed-up', notOnHostReason: 'the host could not upload its data to the artifact store' }, changed: true };
    if (!(error instanceof HostUnreachableError)) throw error;
    if (!context.powerOffUnreachable) return { fence: { how: [], notOnHost: 'unreachable', notOnHostReason: error.message }, changed: false };
    const off = await deps.securityGroups.stopHost(host);
    return {
      fence: { how: ['stopped-instance'], notOnHost: 'unreachable', notOnHostReason: error.message, ...(off.changed ? {} : { stoppedAlready: true }) },
      changed: off.changed,
    };
  }
  const backup = out.backup;
  const args = backupArgs(host, 'FenceFormerMember', backup);
  if (!backup.marked) {
    if (backup.empty !== true) {
      const stored = await deps.artifacts.head(key);
      if (!stored || stored.size !== backup.bytes) {
        throw new ArtifactStoreError(
          `${host.name}: the upload of its data is not whole: the host wrote ${backup.bytes} bytes, the store holds ${stored?.size ?? 'nothing'}`,
        );
      }
    }
    await runScript(deps.runner, { host, script: 'FenceFormerMember', args: ['confirm', context.runId, ...args], timeoutSeconds: 60 });
  }
  return {
    fence: { how: ['on-host'], ...(backup.empty === true ? {} : { backupKey: key, backupBytes: Number(args[0]), backupSha256: args[1] }) },
    changed: out.stopped || !backup.marked,
  };
}
