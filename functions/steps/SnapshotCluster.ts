// SnapshotCluster: before any membership change, a snapshot from a healthy member, checked with
// `etcdctl snapshot status` on the host and by size in the artifact store.

import { ArtifactStoreError } from '../errors.ts';
import { artifactKey, hostOfMember, inventoryOf, need } from './cluster.ts';
import { runScript } from './hostScript.ts';
import type { Step } from './stepResult.ts';

interface SnapshotOutput {
  bytes: number;
  sha256: string;
  status: { hash: number; revision: number; totalKey: number; totalSize: number };
}

export const SnapshotCluster: Step = async (context, deps) => {
  const inventory = inventoryOf(context);
  const source = need(context.survivors, 'survivors')[0];
  const host = source ? hostOfMember(inventory, source) : undefined;
  if (!source || !host) throw new ArtifactStoreError('no healthy member with a known host to take a snapshot from');
  const key = artifactKey.snapshot(context.runId, host.hostname);

  const existing = await deps.artifacts.head(key);
  if (existing && existing.size > 0) {
    return { output: { snapshotKey: key }, detail: `snapshot already stored at ${existing.location}`, skipped: true };
  }
  const url = await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds);
  const result = await runScript<SnapshotOutput>(deps.runner, { host, script: 'SnapshotCluster', args: [source.clientURL, url], timeoutSeconds: 600 });
  const stored = await deps.artifacts.head(key);
  if (!stored || stored.size !== result.bytes) {
    throw new ArtifactStoreError(`snapshot upload incomplete: host wrote ${result.bytes} bytes, store holds ${stored?.size ?? 'nothing'}`);
  }
  return {
    output: { snapshotKey: key },
    detail: `snapshot of ${source.name} at revision ${result.status.revision}, ${result.status.totalKey} keys, ${result.bytes} bytes, sha256 ${result.sha256.slice(0, 12)}…, stored at ${stored.location}`,
  };
};
