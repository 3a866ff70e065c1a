// SnapshotCluster: a snapshot from a healthy member, checked with `etcdctl snapshot status` on the host
// and by size in the artifact store. The job runs in the background on that member, at low priority,
// while the failed member is removed and the new one joins; AwaitSnapshot waits for it once the new
// member has joined (before a learner is promoted, before a voter is counted at full strength). No
// membership change before then lowers the margin (statemachine/spec.ts).

import type { WorkflowContext } from '../../statemachine/context.ts';
import { hostOfMember } from '../../statemachine/cluster.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { inventoryOf } from '../cluster/need.ts';
import { snapshotMember, snapshotSource, startSnapshot } from '../cluster/snapshot.ts';
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
  const job = await startSnapshot({ ...context, ...output }, deps);
  return { output, detail: `snapshot job ${job} on ${host.name}; AwaitSnapshot waits for it once the new member has joined`, skipped: job === 'done' };
};
