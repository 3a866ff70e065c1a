// RecordClusterState: a run that did not succeed ends with a record that describes the cluster as it
// left it, observed now: every member asked, the failed one included, within etcdctl's short deadline
// (voter or learner, started or not, answers or does not, or "not asked" where its client URL is not
// known; the one this run added named), and quorum. Lines of `remaining` about a host this run launched
// and has terminated since are dropped: nothing is left to do on a host that is gone. When quorum is lost it names the run's snapshot (store location, size,
// and the sha256 the snapshot job checked) and the restore procedure. It changes nothing, never
// throws for what it cannot see, and replaces its own lines when a resumed run passes here again.

import { errorMessage } from '../errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { DISASTER_RECOVERY_GUIDANCE, quorumNow } from '../../statemachine/quorum.ts';
import { inventoryOf } from '../cluster/need.ts';
import { type Observation, observe } from '../cluster/observe.ts';
import { clientUrlOfMember } from '../../statemachine/cluster.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { runScript } from '../hosts/hostScript.ts';
import { snapshotSource, type SnapshotResult } from '../cluster/snapshot.ts';
import type { Step } from '../workflow/step.ts';

/** Every line this step writes starts so, and is replaced when it runs again. */
export const CLUSTER_STATE_PREFIX = 'cluster now: ';

export const RecordClusterState: Step = async (context, deps) => {
  if (!context.error && !context.cleanupError) return { output: {}, detail: 'the run succeeded: nothing to add', skipped: true };
  const lines = await describe(context, deps);
  const gone = await terminatedHost(context, deps);
  const aboutGone = (line: string) => gone !== null && (line.startsWith(`${gone}:`) || line.startsWith(`${gone} `));
  const kept = (context.remaining ?? []).filter((line) => !line.startsWith(CLUSTER_STATE_PREFIX) && !aboutGone(line));
  return { output: { remaining: [...kept, ...lines.map((line) => `${CLUSTER_STATE_PREFIX}${line}`)] }, detail: lines[0] ?? '' };
};

async function describe(context: WorkflowContext, deps: StepDeps): Promise<string[]> {
  let observation: Observation;
  try {
    // Every member is asked, the failed one too: it may answer again, and the record says what is seen.
    observation = await observe(context, deps);
  } catch (error) {
    return [`the cluster could not be observed (${errorMessage(error)}): check it by hand (etcdctl member list, endpoint status) before anything else`];
  }
  const quorum = quorumNow(observation.health);
  const inventory = inventoryOf(context);
  const earlier = context.replacedBy;
  const members = observation.members.map((m) => {
    const health = observation.health.find((h) => h.id === m.id);
    const role = m.isLearner ? 'learner' : 'voter';
    const started = m.name === '' ? 'never started' : m.name;
    const added = earlier && m.id === earlier.newMemberId ? `, added by run ${earlier.runId}` : m.id === context.newMemberId ? ', added by this run' : '';
    const endpoint = clientUrlOfMember(inventory, m);
    const asked = endpoint !== null && observation.statuses.has(endpoint);
    const answer = health?.healthy ? 'answers' : asked ? 'does not answer' : 'not asked (its client URL is not known)';
    return `${m.id} (${started}, ${role}${added}) ${answer}`;
  });
  const lines = [`${quorum.text}; ${observation.members.length} members: ${members.join('; ')}`];
  // A run that only finished an earlier run's replacement added no member.
  const added = earlier ? undefined : observation.members.find((m) => m.id === context.newMemberId);
  if (added && observation.health.find((h) => h.id === added.id)?.healthy && !added.isLearner) {
    lines.push(`member ${added.id} that this run added runs and votes: keep it; run the replacement again to finish what is left`);
  } else if (added) {
    lines.push(
      `member ${added.id} that this run added is still in the member list${added.isLearner ? ' as a learner' : ''}${added.name === '' ? ', never started' : ''}: remove it (etcdctl member remove ${added.id}) once quorum holds, or run the replacement again to finish it`,
    );
  }
  if (!quorum.has) {
    lines.push(await snapshotLine(context, deps));
    lines.push(...DISASTER_RECOVERY_GUIDANCE.split('\n'));
  }
  return lines;
}

/**
 * The name of the host this run launched when the provider no longer has it (TerminateLaunchedHost
 * terminated it), else null: a host the provider still has, or cannot tell about, keeps its lines.
 */
async function terminatedHost(context: WorkflowContext, deps: StepDeps): Promise<string | null> {
  const host = context.replacement;
  if (!context.replacementLaunched || !host) return null;
  try {
    const found = await deps.provisioning.find(context.runId, context.inventory?.cluster ?? context.request.cluster);
    return found === null ? host.name : null;
  } catch {
    return null;
  }
}

/** Where the run's snapshot is, and whether its job verified it. */
async function snapshotLine(context: WorkflowContext, deps: StepDeps): Promise<string> {
  if (!context.snapshotKey) return 'this run took no snapshot: take one from a surviving member first (ETCDCTL_API=3 etcdctl snapshot save)';
  const verified = context.snapshotVerified;
  if (verified)
    return `this run's verified snapshot: ${verified.location}, ${verified.bytes} bytes, sha256 ${verified.sha256}, revision ${verified.revision}, checked with snapshot status and stored whole`;
  const { host, key } = snapshotSource(context);
  const stored = await deps.artifacts.head(key).catch(() => null);
  if (!stored) return `this run's snapshot ${key} is not in the artifact store (its job on ${host.name} did not finish): take one from a surviving member`;
  try {
    const done = await runScript<SnapshotResult>(deps.runner, { host, script: 'AwaitSnapshot', args: [context.runId, '5'], timeoutSeconds: 30 });
    const whole =
      done.bytes === stored.size ? 'checked with snapshot status and stored whole' : `but the store holds ${stored.size} of its ${done.bytes} bytes`;
    return `this run's verified snapshot: ${stored.location}, ${done.bytes} bytes, sha256 ${done.sha256}, revision ${done.status.revision}, ${whole}`;
  } catch (error) {
    return `this run's snapshot: ${stored.location}, ${stored.size} bytes; its job on ${host.name} could not confirm its check (${errorMessage(error)}): run etcdctl snapshot status on it before restoring`;
  }
}
