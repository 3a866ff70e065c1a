// BackUpFailedMemberData: copy the failed host's /var/lib/etcd off the host, check the copy arrived
// whole, and only then empty the directory (runbook 37.1 step 3).

import { ArtifactStoreError, RefusedError } from '../errors.ts';
import { artifactKey, need } from './cluster.ts';
import { runScript } from './hostScript.ts';
import type { Step } from './stepResult.ts';

const refuse = { 3: (message: string) => new RefusedError(message) };

export const BackUpFailedMemberData: Step = async (context, deps) => {
  const host = need(context.failedHost, 'failedHost');
  const key = artifactKey.failedData(context.runId, host.hostname);
  const url = await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds);
  const backup = await runScript<{ empty: boolean; bytes?: number; sha256?: string; manifest?: string }>(deps.runner, {
    host,
    script: 'BackUpFailedMemberData',
    args: ['backup', url],
    timeoutSeconds: 600,
    exits: refuse,
  });
  if (backup.empty) {
    const earlier = await deps.artifacts.head(key);
    return { output: earlier ? { backupKey: key } : {}, detail: `${host.name}: /var/lib/etcd is already empty`, skipped: true };
  }
  const stored = await deps.artifacts.head(key);
  if (!stored || stored.size !== backup.bytes) {
    throw new ArtifactStoreError(`backup of ${host.name} incomplete: host wrote ${backup.bytes} bytes, store holds ${stored?.size ?? 'nothing'}; not wiping`);
  }
  await runScript(deps.runner, { host, script: 'BackUpFailedMemberData', args: ['wipe', need(backup.manifest, 'backup manifest')], exits: refuse });
  return {
    output: { backupKey: key },
    detail: `${host.name}: /var/lib/etcd backed up (${backup.bytes} bytes, sha256 ${backup.sha256?.slice(0, 12)}…) to ${stored.location}, then emptied`,
  };
};
