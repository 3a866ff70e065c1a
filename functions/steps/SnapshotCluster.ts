// SnapshotCluster: before any membership change that costs quorum, a snapshot from a healthy member,
// checked with `etcdctl snapshot status` on the host and by size in the artifact store. The job runs in
// the background on that member: when the new member joins as a learner (which does not vote) the
// workflow goes on and AwaitSnapshot waits for it before the promotion; otherwise this step waits for
// it at once, before AddMember, in the same host command that starts it.

import { joinsAsLearner } from '../../statemachine/context.ts';
import { describeSnapshot, SNAPSHOT_WAIT_SECONDS, snapshotInForeground, snapshotSource, startSnapshot, verifiedSnapshot } from '../cluster/snapshot.ts';
import type { Step } from '../workflow/step.ts';

export const SnapshotCluster: Step = async (context, deps) => {
  const { host, key } = snapshotSource(context);
  const output = { snapshotKey: key, snapshotHost: host.name };
  if (joinsAsLearner(context)) {
    const job = await startSnapshot(context, deps);
    return {
      output: { ...output, snapshotStored: false },
      detail: `snapshot job ${job} on ${host.name}; AwaitSnapshot waits for it before the new member votes`,
      skipped: job === 'done',
    };
  }
  // Started and waited for in one host command (SnapshotCluster.sh with the wait's seconds).
  const done = await snapshotInForeground({ ...context, ...output }, deps, SNAPSHOT_WAIT_SECONDS);
  return { output: { ...output, snapshotVerified: verifiedSnapshot(done), snapshotStored: true }, detail: describeSnapshot({ ...context, ...output }, done) };
};
