// BackUpFailedMemberData: copy the failed host's /var/lib/etcd off the host, check the copy arrived
// whole, and only then empty the directory (runbook 37.1 step 3). A host that answers but cannot send
// the backup anywhere (cut off from the store) keeps its data; the run goes on and says what remains.
// A run that finishes an earlier run's replacement (IsAlreadyReplaced) removed nothing itself: it first
// checks, under the lock, that no member of the cluster is on the host before anything is emptied there.

import { ArtifactStoreError, WorkflowError } from '../errors.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { refuseIfMemberOnHost } from '../hosts/etcdHost.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';

/** Exit 5 of BackUpFailedMemberData.sh: the upload could not leave the host. */
class BackupNotUploaded extends WorkflowError {
  override readonly name: string = 'BackupNotUploaded';
}

export const BackUpFailedMemberData: Step = async (context, deps) => {
  const host = need(context.failedHost, 'failedHost');
  if (context.alreadyReplaced === true) refuseIfMemberOnHost(await etcdOf(context, deps).memberList(), host, undefined, 'BackUpFailedMemberData');
  const key = artifactKey.failedData(context.runId, host.hostname);
  const url = await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds);
  let backup: { empty: boolean; bytes?: number; sha256?: string; manifest?: string };
  try {
    backup = await runScript(deps.runner, {
      host,
      script: 'BackUpFailedMemberData',
      args: ['backup'],
      secrets: { UPLOAD_URL: url },
      timeoutSeconds: 600,
      // The step's own meaning of "the upload cannot leave the host": the run goes on, the data stays.
      exits: { [SCRIPT_EXIT.uploadCannotLeaveHost]: (message) => new BackupNotUploaded(message) },
    });
  } catch (error) {
    if (!(error instanceof BackupNotUploaded)) throw error;
    return {
      output: {
        remaining: [
          ...(context.remaining ?? []),
          `${host.name}: /var/lib/etcd was not backed up (the host could not reach the artifact store) and is left untouched; back it up off the host, then empty it, before that host runs etcd again`,
        ],
      },
      detail: `${host.name} cannot send its backup anywhere; its data directory is left as it is`,
      skipped: true,
    };
  }
  if (backup.empty) {
    const earlier = await deps.artifacts.head(key);
    return { output: earlier ? { backupKey: key } : {}, detail: `${host.name}: /var/lib/etcd is already empty`, skipped: true };
  }
  const stored = await deps.artifacts.head(key);
  if (!stored || stored.size !== backup.bytes) {
    throw new ArtifactStoreError(`backup of ${host.name} incomplete: host wrote ${backup.bytes} bytes, store holds ${stored?.size ?? 'nothing'}; not wiping`);
  }
  await runScript(deps.runner, { host, script: 'BackUpFailedMemberData', args: ['wipe', need(backup.manifest, 'backup manifest')] });
  return {
    output: { backupKey: key },
    detail: `${host.name}: /var/lib/etcd backed up (${backup.bytes} bytes, sha256 ${backup.sha256?.slice(0, 12)}…) to ${stored.location}, then emptied`,
  };
};
