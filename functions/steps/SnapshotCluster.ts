// SnapshotCluster: before any membership change that costs quorum, a snapshot from a healthy member,
// checked with `etcdctl snapshot status` on the host and by size in the artifact store. The job runs in
// the background on that member: when the new member joins as a learner (which does not vote) the
// workflow goes on and AwaitSnapshot waits for it before the promotion; otherwise this step waits for
// it at once, before AddMember, in the same host command that starts it.

import { joinsAsLearner, type WorkflowContext } from '../../statemachine/context.ts';
import { hostOfMember } from '../../statemachine/cluster.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { inventoryOf } from '../cluster/need.ts';
import {
  describeSnapshot,
  SNAPSHOT_WAIT_SECONDS,
  snapshotInForeground,
  snapshotMember,
  snapshotSource,
  startSnapshot,
  verifiedSnapshot,
} from '../cluster/snapshot.ts';
import { holdsKeyAhead } from '../hosts/keysAhead.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { Step } from '../workflow/step.ts';

/**
 * The member the snapshot is taken from: snapshotMember's choice (a survivor that is not the CA host,
 * followers first, the leader last), or another of the same standing whose host holds a one-time key
 * made ahead for the upload's URL (SSM: no command of its own for the key, functions/hosts/keysAhead.ts).
 * Of the same standing: not the CA host, and not the last survivor (the leader, where it answered) when
 * the choice is not; so the choice is never weakened, only one of equals preferred. Where the runner
 * needs no keys (the sandbox), snapshotMember's choice.
 */
export function keyedSnapshotSource(context: WorkflowContext, deps: Pick<StepDeps, 'runner'>): WorkflowContext {
  const chosen = snapshotMember(context);
  const survivors = context.survivors ?? [];
  const inventory = inventoryOf(context);
  const host = (m: NonNullable<typeof chosen>) => hostOfMember(inventory, m);
  if (context.snapshotHost || !chosen || survivors.length < 2) return context;
  const chosenHost = host(chosen);
  if (!chosenHost || chosenHost.name === context.caHost?.name || chosen === survivors.at(-1) || holdsKeyAhead(deps.runner, chosenHost)) return context;
  const equal = survivors.slice(0, -1).filter((s) => {
    const h = host(s);
    return h !== undefined && h.name !== context.caHost?.name;
  });
  const keyed = equal.find((s) => holdsKeyAhead(deps.runner, host(s)!));
  if (!keyed) return context;
  const keyedHost = host(keyed)!;
  return { ...context, snapshotHost: keyedHost.name, snapshotKey: artifactKey.snapshot(context.runId, keyedHost.hostname) };
}

export const SnapshotCluster: Step = async (context, deps) => {
  const from = keyedSnapshotSource(context, deps);
  const { host, key } = snapshotSource(from);
  const output = { snapshotKey: key, snapshotHost: host.name };
  if (joinsAsLearner(context)) {
    const job = await startSnapshot({ ...context, ...output }, deps);
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
