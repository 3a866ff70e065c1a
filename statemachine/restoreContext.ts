// The restore-quorum workflow's context (restoreSpec.ts): the replacement's WorkflowContext, whose
// per-member fields and loop (statemachine/members.ts) the re-add of the former members reuses, plus the
// fields the restore's own states read and write. Plain JSON, secret-free, identical in the XState run and
// in Step Functions. A RestoreContext is a WorkflowContext, so the steps both workflows share (certificates,
// ports, package, configure, add, start, promote, verify, masters, flannel, lock, key bundle) run on it
// unchanged. The restore's own facts (the observations, the restore points, the survivor, the fences, the
// forced member) are fields of this context too: the one type the restore's model and its steps share.

import type { RunOptions, WorkflowContext } from './context.ts';
import type { ExpectedLoss, FormerMemberState, QuorumLossVerdict, RestorePoint, Survivor, UnreadHost, WaiverCondition } from './restorePolicy.ts';

/**
 * The longest a restore waits for a person's approval (options.approvalTimeoutSeconds may ask for less,
 * never more): AwaitApproval's own bound lies just past it, and the run's bound (restoreSpec.ts) includes it.
 */
export const APPROVAL_TIMEOUT_MAX_SECONDS = 24 * 60 * 60;

/**
 * The replacement's options (`graceSeconds`: here the wait between the two observations that confirm quorum
 * is lost), the approval's window, and what the restore was asked for with (`etcd-replace restore-quorum …`,
 * the cluster config).
 */
export interface RestoreRunOptions extends RunOptions {
  /**
   * How long AwaitApproval waits for an answer before the run ends Refused, changing nothing (Step
   * Functions: the task's HeartbeatSecondsPath). At most APPROVAL_TIMEOUT_MAX_SECONDS.
   */
  approvalTimeoutSeconds: number;
  /** `--from MEMBER`: force the cluster from this member's data (host name, hostname, IP or member ID). */
  from?: string;
  /** `--snapshot KEY`: restore this verified snapshot instead of any member's data. */
  snapshot?: string;
  /** The cluster config's `fenceUnreachable: stop-instance`: a former member that cannot be fenced on the host is powered off too. */
  fenceUnreachable?: 'stop-instance';
  /** The cluster config's approval waivers, by condition (restorePolicy.ts APPROVAL_WAIVERS; any other name is refused when the config is read). */
  approvalWaivers?: WaiverCondition[];
}

/** A person's answer to AwaitApproval (what SendTaskSuccess carries on AWS; `etcd-replace approve RUN_ID` on both targets). */
export interface Approval {
  /** Who approved: `cli:<user>`, `console:<user>`. */
  by: string;
  /** When (ISO). */
  at: string;
}

/** A former member fenced before the force, and how: network (security group), on-host (etcd stopped, pod moved, data stored), stopped-instance. */
export interface HostFenced {
  host: string;
  how: Array<'network' | 'on-host' | 'stopped-instance'>;
}

/** A member of the cluster before the restore, with the inventory host it runs on. */
export interface FormerMember {
  host: string;
  /** Null when no member list could be read and its data names no member. */
  memberId: string | null;
  name: string;
  isLearner: boolean;
}

/**
 * A former member as FenceFormerMembers left it: the model's HostFenced (`how`: always `network`, since the
 * step refuses a fence that does not hold; `on-host` once its etcd is stopped and its data stored and
 * checked; `stopped-instance` once it is powered off), with what `how` does not say.
 */
export interface FencedHost extends HostFenced {
  /** The network fence was in place when the step looked (an earlier attempt, or an instance that is gone): this attempt did not set it. */
  networkAlready?: boolean;
  /** What the fence state said, where it said more than "fenced" (an instance that is terminated). */
  networkReason?: string;
  /** The security groups to put back when the host is unfenced (EC2: interface ID → group IDs; functions/ports.ts FencePrevious), where the fence replaced any. */
  previous?: { groups: Record<string, string[]> };
  /** The fence was in place before this attempt and no earlier attempt recorded what it replaced (see the step's log). */
  previousUnknown?: boolean;
  /**
   * Why `how` has no `on-host`: `not-backed-up`, etcd stopped but the data could not leave the host;
   * `unreachable`, the host runs nothing (the network fence alone holds it, with the power off where asked).
   */
  notOnHost?: 'not-backed-up' | 'unreachable';
  notOnHostReason?: string;
  /** Where its data was uploaded, and what the host reported of it (absent: an empty data directory, or none). */
  backupKey?: string;
  backupBytes?: number;
  backupSha256?: string;
  /** `stopped-instance` in `how`: the host was found powered off already. */
  stoppedAlready?: boolean;
  /**
   * The network fence was lifted again, by the step named, once the host no longer needed it: fenced on the
   * host and restored as the new cluster's first member (RestoreFromSnapshot), or fenced on the host and
   * about to be re-added as a new member (PrepareFormerMember). `how` keeps saying how it was fenced.
   */
  networkLifted?: { at: string; by: 'RestoreFromSnapshot' | 'PrepareFormerMember' };
}

/** Where a former member is added back (PrepareFormerMember): on its own host, or on a host of the spare pool. */
export interface FormerMemberReAdd {
  /** The former member's host. */
  former: string;
  /** The host its new member runs on. */
  on: string;
  /** `same-host`: it was fenced on the host (etcd stopped, data stored off the host), so the host itself is re-added; `spare`: the spare pool's next free host. */
  how: 'same-host' | 'spare';
}

/** The model's view of a fenced host (RestoreMeasures.fenced): derived from the step's record, never kept twice. */
export const hostFenced = ({ host, how }: FencedHost): HostFenced => ({ host, how: [...how] });

/** The survivor as ForceNewCluster left it: a cluster of one, its data backed up off the host first. */
export interface ForcedCluster {
  host: string;
  memberId: string;
  clusterId: string;
  name: string;
  peerUrl: string;
  revision: number;
  raftIndex: number;
  /** What the last call did, in order (setFlag, startForced, stop, removeFlag, start); empty: it only verified. */
  did: string[];
  peerUrlUpdated: boolean;
  /** The survivor's data before the force, in the artifact store. */
  backupKey: string;
  backupBytes: number;
  backupSha256: string;
}

/** One observation of the cluster that lost quorum (ObserveQuorumLoss, ConfirmQuorumLost): when, and the verdict on it. */
export interface QuorumObservation {
  at: string;
  verdict: QuorumLossVerdict;
}

/** The restored member as VerifyRestoredMember found it through itself. */
export interface RestoredMember {
  host: string;
  memberId: string;
  revision: number;
  raftIndex: number;
  /** The revision chosen (the survivor's, or the snapshot's): the restored member holds at least this. */
  chosenRevision: number;
  at: string;
}

/** What RecordRestore adds to the run record and the notification: how long it took and what it lost. */
export interface RestoreMeasures {
  /** When the second observation confirmed the loss of quorum (ConfirmQuorumLost). */
  quorumLossConfirmedAt: string;
  /** When the cluster was verified back at its former size (the last re-added member's VerifyClusterHealth). */
  fullStrengthAt: string;
  secondsToFullStrength: number;
  /** The revision the cluster was forced or restored from. */
  revisionChosen: number;
  /** The highest revision any member's data showed; null when none could be read. */
  highestRevisionSeen: number | null;
  /** Revisions after the chosen one up to the highest seen: what the restore lost at least; null when no member's data showed a revision (not known). */
  revisionsLost: number | null;
  /** Every former member fenced, and how. */
  fenced: HostFenced[];
}

export interface RestoreContext extends WorkflowContext {
  options: RestoreRunOptions;

  /** Written by ObserveQuorumLoss: the first observation (its verdict: quorum lost). */
  quorumLossObserved?: QuorumObservation;
  /** Written by ObserveQuorumLoss: the first observation plus the grace window; WaitGraceWindow waits until then. */
  confirmQuorumLossAfter?: string;
  /** Written by ConfirmQuorumLost: when the second observation confirmed the loss. */
  quorumLossConfirmedAt?: string;

  /** Written by ChooseRestorePoint: the verdict on its own reading of the cluster (the third look: still lost). */
  quorumLoss?: QuorumLossVerdict;
  /** Written by ChooseRestorePoint: every member of the cluster before the restore. */
  formerMembers?: FormerMember[];
  /**
   * Written by ChooseRestorePoint where the config names an approval waiver: each former member's host, its
   * instance and EC2's state of it as read then (AWS); no state where it is not known (the sandbox's hosts
   * are no instances), so no waiver that needs it can hold.
   */
  instanceStates?: FormerMemberState[];
  /** Written by ChooseRestorePoint: what DescribeRestorePoint.sh read on each member host, and the hosts it could not read, and why. */
  restorePoints?: RestorePoint[];
  unread?: UnreadHost[];
  /** Written by ChooseRestorePoint: what the cluster is forced or restored from, and what that loses against the newest data seen. */
  survivor?: Survivor;
  expectedLoss?: ExpectedLoss;

  /** Written by ChooseRestorePoint: a condition the cluster config names holds, so AwaitApproval is skipped (IsApprovalWaived). */
  approvalWaived?: boolean;
  /** The condition that waived it. */
  approvalWaivedBy?: WaiverCondition;
  /** Written by ChooseRestorePoint: the chosen restore point is a verified snapshot, not a survivor's data (IsFromSnapshot). */
  fromSnapshot?: boolean;
  /** AwaitApproval's answer (its result field): present once a person has approved. */
  approval?: Approval;

  /** Written by FenceFormerMembers: every former member but the survivor, and how it was fenced. */
  fenced?: FencedHost[];
  /** Written by ForceNewCluster. */
  forced?: ForcedCluster;
  /** Written by VerifyRestoredMember. */
  restoredMember?: RestoredMember;
  /**
   * Written by PrepareFormerMember on its first visit: every former member but the restored one, in the
   * former member list's order, and where it is added back (each is a member slot, `members`, of the re-add loop).
   */
  reAdds?: FormerMemberReAdd[];

  /**
   * Written by the restore's VerifyClusterHealth (functions/steps/restoreSteps.ts): when the cluster last
   * passed its health checks after a re-add. After the last re-add (anotherMember false) the cluster is at
   * its former strength: RecordRestore's fullStrengthAt.
   */
  clusterVerifiedAt?: string;

  /** Written by RecordRestore. */
  restoreMeasures?: RestoreMeasures;
}
