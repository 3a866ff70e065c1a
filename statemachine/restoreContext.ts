// The restore-quorum workflow's context (restoreSpec.ts): the replacement's WorkflowContext, whose
// per-member fields and loop (statemachine/members.ts) the re-add of the former members reuses, plus the
// fields the restore's own states read and write. Plain JSON, secret-free, identical in the XState run and
// in Step Functions. A RestoreContext is a WorkflowContext, so the steps both workflows share (certificates,
// ports, package, configure, add, start, promote, verify, masters, flannel, lock, key bundle) run on it
// unchanged; the steps' own facts of the restore (the restore points, the survivor, the fences, the forced
// member) are functions/cluster/restoreFacts.ts's.

import type { RunOptions, WorkflowContext } from './context.ts';
import type { WaiverCondition } from './restorePolicy.ts';

/**
 * The longest a restore waits for a person's approval (options.approvalTimeoutSeconds may ask for less,
 * never more): AwaitApproval's own bound lies just past it, and the run's bound (restoreSpec.ts) includes it.
 */
export const APPROVAL_TIMEOUT_MAX_SECONDS = 24 * 60 * 60;

/** The replacement's options (`graceSeconds`: here the wait between the two observations that confirm quorum is lost), and the approval's window. */
export interface RestoreRunOptions extends RunOptions {
  /**
   * How long AwaitApproval waits for an answer before the run ends Refused, changing nothing (Step
   * Functions: the task's HeartbeatSecondsPath). At most APPROVAL_TIMEOUT_MAX_SECONDS.
   */
  approvalTimeoutSeconds: number;
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
  /** Revisions after the chosen one up to the highest seen: what the restore lost at least. */
  revisionsLost: number;
  /** Every former member fenced, and how. */
  fenced: HostFenced[];
}

export interface RestoreContext extends WorkflowContext {
  options: RestoreRunOptions;

  /** Written by ObserveQuorumLoss: the first observation plus the grace window; WaitGraceWindow waits until then. */
  confirmQuorumLossAfter?: string;
  /** Written by ConfirmQuorumLost: when the second observation confirmed the loss. */
  quorumLossConfirmedAt?: string;

  /** Written by ChooseRestorePoint: a condition the cluster config names holds, so AwaitApproval is skipped (IsApprovalWaived). */
  approvalWaived?: boolean;
  /** The condition that waived it. */
  approvalWaivedBy?: WaiverCondition;
  /** Written by ChooseRestorePoint: the chosen restore point is a verified snapshot, not a survivor's data (IsFromSnapshot). */
  fromSnapshot?: boolean;
  /** AwaitApproval's answer (its result field): present once a person has approved. */
  approval?: Approval;

  /** Written by RecordRestore. */
  restoreMeasures?: RestoreMeasures;
}
