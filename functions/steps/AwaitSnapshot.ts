// AwaitSnapshot: the snapshot SnapshotCluster started has been saved, checked and stored, once the new
// member has joined: before a learner votes (PromoteNewMember), before a voter is counted at full
// strength (VerifyClusterHealth). The job is started again if its host no longer knows it. A snapshot
// already verified (an earlier member of the same run) is not asked for again: its host may be gone by
// now, and the snapshot is safe in the store.

import { need } from '../cluster/need.ts';
import { awaitSnapshot, describeSnapshot, SNAPSHOT_WAIT_SECONDS, verifiedSnapshot } from '../cluster/snapshot.ts';
import type { Step } from '../workflow/step.ts';

export const AwaitSnapshot: Step = async (context, deps) => {
  need(context.snapshotKey, 'snapshotKey');
  if (context.snapshotVerified) {
    return { output: {}, detail: `the snapshot was verified before the membership changed: ${context.snapshotVerified.location}`, skipped: true };
  }
  const done = await awaitSnapshot(context, deps, SNAPSHOT_WAIT_SECONDS);
  return { output: { snapshotVerified: verifiedSnapshot(done) }, detail: describeSnapshot(context, done) };
};
