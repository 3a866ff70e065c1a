// The workflow's state payload: plain JSON, identical in the XState run and in Step Functions.
// It never holds key material: certificates and keys move host to host through the artifact store.

import type { Host, Inventory } from './cluster.ts';
import type { FailureConfirmation } from './confirmation.ts';
import type { EarlierReplacement } from './earlierRun.ts';
import type { RecordedError } from './recordedError.ts';

export interface ReplaceRequest {
  /** The cluster: a sandbox name, or the value of the cluster tag on AWS. */
  cluster: string;
  /** The failed member: host name, hostname, IP, member ID or peer URL (matched exactly). */
  failed: string;
  /**
   * The host that takes its place: host name or hostname; `new` to launch one (ProvisionReplacement);
   * absent, the first host of the spare pool, or a launched one when the pool is empty.
   */
  replacement?: string;
  /** Who or what started the run: `cli:<user>`, `alarm:<name>`, `console`. */
  startedBy: string;
  options?: Partial<RunOptions>;
  /** Explicit hosts; when absent the target discovers them. */
  inventory?: Inventory;
}

export interface RunOptions {
  /** Seconds between the two observations that confirm the member has failed. */
  graceSeconds: number;
  /** `auto`: add as learner where every member runs etcd 3.4 or later; `never`: plain member add. */
  learner: 'auto' | 'never';
  /** Artifact key of a backup of the etcd CA directory, used when the CA host itself failed. */
  caBackupKey?: string;
  /**
   * The etcd version InstallEtcd installs on the new host. Absent: exactly the version the members run.
   * A version of another minor release than the members' is installed only when named here.
   */
  etcdVersion?: string;
}

export type ReplacementChoice = 'named' | 'spare' | 'launched';

export interface MemberRef {
  id: string;
  name: string;
  peerURL: string;
  clientURL: string;
}

export interface WorkflowContext {
  runId: string;
  request: ReplaceRequest;
  options: RunOptions;

  // Written by ValidateInput.
  inventory?: Inventory;
  failedHost?: Host;
  replacement?: Host;
  /**
   * How the replacement was chosen (ValidateInput): named in the request, taken from the spare pool, or
   * to be launched for this run (ProvisionReplacement then writes `replacement` and `replacementLaunched`).
   */
  replacementChoice?: ReplacementChoice;
  /** Written by ProvisionReplacement: the provider's handle of the host this run launched (instance ID, sandbox host). */
  replacementLaunched?: string;
  caHost?: Host;
  installerHost?: Host;
  /**
   * Written by ValidateInput: an earlier succeeded run already replaced the failed member with the
   * replacement asked for (statemachine/earlierRun.ts). The run takes the short path (IsAlreadyReplaced):
   * under the lock, what that run could not finish, then Succeeded naming it.
   */
  alreadyReplaced?: boolean;
  replacedBy?: EarlierReplacement;

  // Written by CheckClusterHealth / ConfirmMemberFailed.
  failedMember?: MemberRef | null;
  survivors?: MemberRef[];
  learnerSupported?: boolean;
  peerUrlsOnLocalhost?: boolean;
  failureObservedAt?: string[];
  /** ISO time of the first observation plus the grace window: the second observation waits for it. */
  confirmFailureAfter?: string;
  /** Written by ConfirmMemberFailed (and RemoveFailedMember when it observes again): who confirmed the failure, and when. */
  failureConfirmation?: FailureConfirmation;
  /** Written by RemoveFailedMember: this run removed the failed member (AddMember requires it). */
  failedMemberRemoved?: boolean;
  /** The earlier run whose RemoveFailedMember removed the failed member, when this run finishes its replacement. */
  removedByRun?: string;

  /** The cluster's ID and its members' (oldest) etcd version, from the observations. */
  clusterId?: string;
  clusterVersion?: string;
  /** Written by InstallEtcd: the etcd version the new host runs. */
  newMemberVersion?: string;
  /** When `member add` returned (AddMember), and when the new member had started and, without a learner, caught up (StartNewMember). */
  memberAddedAt?: string;
  newMemberStartedAt?: string;

  // Written by later steps.
  /** Where the snapshot is stored, and the host whose job takes it (SnapshotCluster). */
  snapshotKey?: string;
  snapshotHost?: string;
  /** The snapshot as its job checked and stored it (SnapshotCluster when it waits, or AwaitSnapshot). */
  snapshotVerified?: { location: string; bytes: number; sha256: string; revision: number };
  /** ETCD_INITIAL_CLUSTER in the new member's etcd.conf (ConfigureNewMember); StartNewMember checks it after the add. */
  initialCluster?: string;
  failedHostReachable?: boolean;
  backupKey?: string;
  bundleKey?: string;
  newMemberId?: string;
  addedAsLearner?: boolean;
  memberAdded?: boolean;
  remaining?: string[];

  /** Set by a Catch: the error that sent the run down its failure path. */
  error?: RecordedError;
  /** Set when compensation or releasing the lock itself failed; `error` keeps the first cause. */
  cleanupError?: RecordedError;
}

export const DEFAULT_OPTIONS: RunOptions = { graceSeconds: 10, learner: 'auto' };

/** Whether AddMember adds the new member as a learner: asked for (auto) and every member runs etcd 3.4+. */
export function joinsAsLearner(context: Pick<WorkflowContext, 'options' | 'learnerSupported'>): boolean {
  return context.options.learner === 'auto' && context.learnerSupported === true;
}
