// RecordClusterState: a run that did not succeed ends with a record that describes the cluster as it
// left it, observed now: every member (voter or learner, started or not, answering or not, the one this
// run added named), and quorum. When quorum is lost it names the run's snapshot (store location, size,
// and the sha256 the snapshot job checked) and the restore procedure. It changes nothing, never
// throws for what it cannot see, and replaces its own lines when a resumed run passes here again.

import { errorMessage } from '../errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { DISASTER_RECOVERY_GUIDANCE, quorumNow } from '../../statemachine/quorum.ts';
import { observeWithoutFailed } from '../cluster/observe.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { runScript } from '../hosts/hostScript.ts';
import { snapshotSource, type SnapshotResult } from '../cluster/snapshot.ts';
import type { Step } from '../workflow/step.ts';

/** Every line this step writes starts so, and is replaced when it runs again. */
export const CLUSTER_STATE_PREFIX = 'cluster now: ';

export const RecordClusterState: Step = async (context, deps) => {
  if (!context.error && !context.cleanupError) return { output: {}, detail: 'the run succeeded: nothing to add', skipped: true };
  const lines = await describe(context, deps);
  const kept = (context.remaining ?? []).filter((line) => !line.startsWith(CLUSTER_STATE_PREFIX));
  return { output: { remaining: [...kept, ...lines.map((line) => `${CLUSTER_STATE_PREFIX}${line}`)] }, detail: lines[0] ?? '' };
};

async function describe(context: WorkflowContext, deps: StepDeps): Promise<string[]> {
  let observation;
  try {
    observation = await observeWithoutFailed(context, deps);
  } catch (error) {
    return [`the cluster could not be observed (${errorMessage(error)}): check it by hand (etcdctl member list, endpoint status) before anything else`];
  }
  const quorum = quorumNow(observation.health);
  const members = observation.members.map((m) => {
    const health = observation.health.find((h) => h.id === m.id);
    const role = m.isLearner ? 'learner' : 'voter';
    const started = m.name === '' ? 'never started' : m.name;
    const added = m.id === context.newMemberId ? ', added by this run' : '';
    return `${m.id} (${started}, ${role}${added}) ${health?.healthy ? 'answers' : 'does not answer'}`;
  });
  const lines = [`${quorum.text}; ${observation.members.length} members: ${members.join('; ')}`];
  const added = observation.members.find((m) => m.id === context.newMemberId);
  if (added && observation.health.find((h) => h.id === added.id)?.healthy && !added.isLearner) {
    lines.push(`member ${added.id} that this run added runs and votes: keep it; run the replacement again to finish what is left`);
  } else if (added) {
    lines.push(`member ${added.id} that this run added is still in the member list${added.isLearner ? ' as a learner' : ''}${added.name === '' ? ', never started' : ''}: remove it (etcdctl member remove ${added.id}) once quorum holds, or run the replacement again to finish it`);
  }
  if (!quorum.has) {
    lines.push(await snapshotLine(context, deps));
    lines.push(...DISASTER_RECOVERY_GUIDANCE.split('\n'));
  }
  return lines;
}

/** Where the run's snapshot is, and whether its job verified it. */
async function snapshotLine(context: WorkflowContext, deps: StepDeps): Promise<string> {
  if (!context.snapshotKey) return 'this run took no snapshot: take one from a surviving member first (ETCDCTL_API=3 etcdctl snapshot save)';
  const verified = context.snapshotVerified;
  if (verified) return `this run's verified snapshot: ${verified.location}, ${verified.bytes} bytes, sha256 ${verified.sha256}, revision ${verified.revision}, checked with snapshot status and stored whole`;
  const { host, key } = snapshotSource(context);
  const stored = await deps.artifacts.head(key).catch(() => null);
  if (!stored) return `this run's snapshot ${key} is not in the artifact store (its job on ${host.name} did not finish): take one from a surviving member`;
  try {
    const done = await runScript<SnapshotResult>(deps.runner, { host, script: 'AwaitSnapshot', args: [context.runId, '5'], timeoutSeconds: 30 });
    const whole = done.bytes === stored.size ? 'checked with snapshot status and stored whole' : `but the store holds ${stored.size} of its ${done.bytes} bytes`;
    return `this run's verified snapshot: ${stored.location}, ${done.bytes} bytes, sha256 ${done.sha256}, revision ${done.status.revision}, ${whole}`;
  } catch (error) {
    return `this run's snapshot: ${stored.location}, ${stored.size} bytes; its job on ${host.name} could not confirm its check (${errorMessage(error)}): run etcdctl snapshot status on it before restoring`;
  }
}
