// A membership change in one host command: the step predicts the view of the cluster the change is
// safe for, from what the run already knows, judges that prediction with the same verdict it would give
// an observation, and sends the change guarded by it (EtcdClusterPort.guardedChange). The host observes
// exactly as observe() does and changes nothing unless it sees the predicted members (IDs, voter or
// learner) and every member the prediction counts as answering answers as itself, a member of this
// cluster. A host that sees anything else changes nothing: the step then observes and judges the real
// view as it always has.

import type { EtcdMember, GuardedChangeResult, MembershipChange, ViewGuard } from '../ports.ts';
import type { ListedMember, MemberRef, WorkflowContext } from '../../statemachine/context.ts';
import { allSlots } from '../../statemachine/members.ts';
import type { MemberHealth } from '../../statemachine/quorum.ts';
import { viewFingerprint } from '../../statemachine/viewFingerprint.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { etcdOf } from './etcdPort.ts';
import { endpointsKnownBefore, observationOf, type Observation } from './observe.ts';

/** The view a change is predicted safe for, as its verdict reads it and as the host checks it. */
export interface PredictedView {
  health: MemberHealth[];
  guard: ViewGuard;
  /** The endpoints observe() would ask, with the members assumed down left out. */
  statusEndpoints: string[];
  down: ReadonlySet<string>;
  fingerprint: string;
}

/**
 * The view the run expects now: its survivors, each a voter answering at its client URL (the first
 * observations found them answering and recorded them so), and each failed member this run has not
 * removed yet, a voter not answering. Null when the run does not know enough to predict: no survivors,
 * no cluster ID, a survivor without a client URL, or a member that is both.
 */
export function predictView(context: WorkflowContext, down: readonly string[]): PredictedView | null {
  const survivors = context.survivors ?? [];
  if (!context.clusterId || survivors.length === 0 || survivors.some((s) => s.clientURL === '')) return null;
  const notRemoved = allSlots(context).flatMap((s) => (s.failedMember && s.failedMemberRemoved !== true ? [s.failedMember] : []));
  const members: Array<{ ref: MemberRef; answersAt: string | null }> = [
    ...survivors.map((ref) => ({ ref, answersAt: ref.clientURL })),
    ...notRemoved.map((ref) => ({ ref, answersAt: null })),
  ];
  const ids = new Set(members.map((m) => m.ref.id));
  if (ids.size !== members.length) return null;
  const downSet = new Set(down);
  if (survivors.some((s) => downSet.has(s.id))) return null;
  const known = endpointsKnownBefore(context, downSet);
  const answering = survivors.map((s) => s.clientURL);
  const guard: ViewGuard = {
    clusterId: context.clusterId,
    members: members.map((m) => ({ id: m.ref.id, isLearner: false, answersAt: m.answersAt })),
  };
  return {
    health: members.map((m) => ({ id: m.ref.id, name: m.ref.name, isLearner: false, healthy: m.answersAt !== null })),
    guard,
    statusEndpoints: [...new Set([...known, ...answering])],
    down: downSet,
    fingerprint: viewFingerprint(guard.members, new Set(survivors.map((s) => s.id))),
  };
}

/** What the host saw and did once it found the predicted view; null when it changed nothing. */
export interface GuardedOutcome {
  /** The observation the host took before the change, read as observe() reads one. */
  observation: Observation;
  result: GuardedChangeResult;
}

/**
 * Sends the change guarded by the prediction. Null when the port has no guarded change, or when the host
 * saw another view and changed nothing: the caller then observes and judges the real view.
 */
export async function changeIfPredicted(
  context: WorkflowContext,
  deps: StepDeps,
  predicted: PredictedView,
  change: MembershipChange,
): Promise<GuardedOutcome | null> {
  const etcd = etcdOf(context, deps);
  if (!etcd.guardedChange) return null;
  const result = await etcd.guardedChange(predicted.statusEndpoints, predicted.guard, change);
  if (!result.accepted) {
    deps.log(`the cluster is not as predicted (expected ${result.expected}, seen ${result.seen}): nothing was changed; observing it again`);
    return null;
  }
  return { observation: await observationOf(context, result.view, predicted.down), result };
}

/** A member as the run keeps it (membersAfterRemoval, membersAfterAdd): no more than the member list says of it. */
export function listedMember(m: EtcdMember): ListedMember {
  return { id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}
