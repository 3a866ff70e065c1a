// AwaitSnapshot: the snapshot SnapshotCluster started has been saved, checked and stored, before the
// new member votes (PromoteNewMember). The job is started again if its host no longer knows it.

import { need } from './cluster.ts';
import { awaitSnapshot, describeSnapshot, SNAPSHOT_WAIT_SECONDS } from './snapshot.ts';
import type { Step } from './stepResult.ts';

export const AwaitSnapshot: Step = async (context, deps) => {
  need(context.snapshotKey, 'snapshotKey');
  const done = await awaitSnapshot(context, deps, SNAPSHOT_WAIT_SECONDS);
  return { output: {}, detail: describeSnapshot(context, done) };
};
