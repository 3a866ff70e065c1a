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
  /** What reported the failure, when a signal started the run (the EC2 signal function, the alarm rule). */
  evidence?: FailureEvidence;
  /** Explicit hosts; when absent the target discovers them. */
  inventory?: Inventory;
  /**
   * The other failed members of the same run, each with its replacement (absent: the spare pool's next
   * free host). ValidateInput writes it from a console or alarm input whose `failed` (and `replacement`)
   * is a list: `failed` and `replacement` above are then the list's first entries.
   */
  also?: Array<{ failed: string; replacement?: string }>;
}

/** A signal's report of the failure, as it started the run. */
export interface FailureEvidence {
  /** What reported it: EC2's state-change event of the member's instance, or a member alarm. */
  signal: 'ec2-state-change' | 'alarm';
  /** What it said: the instance's state (`terminated`, `stopped`, …), the alarm's (`ALARM`). */
  state: string;
  /** When it said so (ISO time). */
  at: string;
  /** The instance it named. */
  instanceId?: string;
  /**
   * Final: the member will never answer again (by default EC2 `terminated`; the deployment's
   * finalSignals): the first observation confirms the failure, and the second follows without the
   * grace window's wait.
   */
  final?: boolean;
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
  /** How the new member is added (absent: `manual`). */
  addMethod?: AddMethod;
  /** openshift-ansible's directory on the installer host, for `ansible` (absent: OPENSHIFT_ANSIBLE_DIR). */
  openshiftAnsibleDir?: string;
  /** The deployment's installer instance (AWS): for `ansible`, the installer host must be this instance. */
  installerInstanceId?: string;
  /**
   * How long a run waits for its cluster's lock while another run holds it and does not cover its failed
   * members (seconds from ValidateInput; absent: LOCK_WAIT_SECONDS). Past it, the run is refused naming the holder.
   */
  lockWaitSeconds?: number;
}

/** How long a run waits for its cluster's lock unless its options say otherwise (RunOptions.lockWaitSeconds). */
export const LOCK_WAIT_SECONDS = 600;

/**
 * How the new member is added once the failed one is removed: `manual`, the runbook's openssl, `member add`
 * and etcd.conf steps (37.2.2); `ansible`, openshift-ansible's scaleup playbook on the installer host (37.2.1).
 */
export type AddMethod = 'manual' | 'ansible';
export const ADD_METHODS: readonly AddMethod[] = ['manual', 'ansible'];
/** Where openshift-ansible is installed on the installer host, unless the options name another place. */
export const OPENSHIFT_ANSIBLE_DIR = '/usr/share/ansible/openshift-ansible';

/** One host's line of the playbook's PLAY RECAP. */
export interface RecapCounts {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  rescued: number;
  ignored: number;
}

/** The scaleup playbook's run as RunScaleupPlaybook found it (the full output is in the artifact store). */
export interface ScaleupResult {
  exitCode: number;
  recap: Record<string, RecapCounts>;
  /** The task and host Ansible reported as failed, when it failed. */
  failedTask?: string;
  failedHost?: string;
  /** The artifact key of the playbook's full output; absent when the installer host could not store it. */
  outputKey?: string;
  seconds: number;
}

/** A member as the member list shows it (no keys, nothing but what etcd lists). */
export interface ListedMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export type ReplacementChoice = 'named' | 'spare' | 'launched';

export interface MemberRef {
  id: string;
  name: string;
  peerURL: string;
  clientURL: string;
}

/**
 * One failed member of a run that replaces several, with its replacement and what the run did for it.
 * The fields are the context's own per-member fields (MEMBER_FIELDS in statemachine/members.ts): the
 * member being worked on is in the context itself, the others wait here.
 */
export interface MemberSlot {
  /** The failed member as the request named it. */
  failed: string;
  /** The replacement as the request named it (absent: the spare pool's next free host). */
  asked?: string;
  failedHost?: Host;
  replacement?: Host;
  replacementChoice?: ReplacementChoice;
  failedMember?: MemberRef | null;
  failureConfirmation?: FailureConfirmation;
  failedMemberRemoved?: boolean;
  failedHostReachable?: boolean;
  backupKey?: string;
  newMemberVersion?: string;
  initialCluster?: string;
  bundleKey?: string;
  newMemberId?: string;
  addedAsLearner?: boolean;
  memberAdded?: boolean;
  memberAddedAt?: string;
  newMemberStartedAt?: string;
}

/**
 * The parts of a run that replaces several members: each loop runs its body once per member, in order.
 * `readd`: the restore-quorum workflow's one loop, each former member added back (statemachine/restoreSpec.ts).
 */
export type MemberPhase = 'prepare' | 'remove' | 'add' | 'readd';

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

  /** Written by ValidateInput: when the request was validated; AcquireLock measures its wait for the lock from it. */
  validatedAt?: string;
  /**
   * Written by AcquireLock: another run that holds the lock replaces every failed member this run asks for.
   * The run ends Covered (a success) naming it, and changes nothing (IsCoveredByAnotherRun reads `covered`).
   */
  covered?: boolean;
  coveredBy?: string;

  /** Written by ValidateInput: the scaleup playbook adds the new member (addMethod `ansible`); read by the add method's choices. */
  addByPlaybook?: boolean;
  /**
   * Written by CheckScaleupPlaybook: the playbook's variables the new member must share with the members,
   * read from a member's etcd.conf (`etcd_quota_backend_bytes`); RunScaleupPlaybook passes them with -e.
   */
  scaleupVars?: Record<string, string>;
  /** Written by RunScaleupPlaybook. */
  scaleup?: ScaleupResult;

  // Written by CheckClusterHealth / ConfirmMemberFailed.
  failedMember?: MemberRef | null;
  survivors?: MemberRef[];
  learnerSupported?: boolean;
  peerUrlsOnLocalhost?: boolean;
  failureObservedAt?: string[];
  /**
   * Written by CheckClusterHealth: the other voting members that did not answer at the first observation
   * (member IDs). The run goes on, so that a signal for them may still join it; the second observation
   * refuses any of them it has not taken in.
   */
  silentVoters?: string[];
  /**
   * Written by ConfirmMemberFailed: it took failed members of waiting runs' join requests into the run
   * (new slots in `members`). Their replacements are prepared, then the failure is observed again
   * (IsMemberTakenIn).
   */
  takenIn?: boolean;
  /** ISO time of the first observation plus the grace window: the second observation waits for it. */
  confirmFailureAfter?: string;
  /**
   * Written by CheckClusterHealth: the evidence the failure is confirmed on. A final signal (request.evidence
   * with final) confirms it at the first observation; anything else (a signal that is not final, a manual
   * start: `signal: 'manual'`) by the two observations a grace window apart.
   */
  failureEvidence?: { signal: FailureEvidence['signal'] | 'manual'; state?: string; at: string; instanceId?: string; final: boolean };
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
  /** The snapshot as its job checked and stored it (AwaitSnapshot). */
  snapshotVerified?: { location: string; bytes: number; sha256: string; revision: number };
  /**
   * The new member's certificates as IssueCertificates checked them, with the answer of the command that
   * issued them (the checks of VerifyCertificates): the replacement they were checked for.
   */
  certificatesVerified?: { hostname: string; ip: string };
  /** Written by IssueCertificates, for each replacement: whether it checked the certificates itself (AreCertificatesChecked routes around VerifyCertificates). */
  certificatesChecked?: boolean;
  /**
   * Written by IssueCertificates: the etcd.conf it copied beside the replacement's certificates on the CA
   * host (no secret in it), for ConfigureNewMember to rewrite without reading it again; ConfigureNewMember
   * writes only over that content and drops the field.
   */
  copiedEtcdConf?: { hostname: string; text: string };
  /** ETCD_INITIAL_CLUSTER in the new member's etcd.conf (ConfigureNewMember); StartNewMember checks it after the add. */
  initialCluster?: string;
  failedHostReachable?: boolean;
  backupKey?: string;
  bundleKey?: string;
  newMemberId?: string;
  addedAsLearner?: boolean;
  memberAdded?: boolean;
  /**
   * Written by AddMember when its guarded add read the member list right after the add: that list, for
   * the member it added (`newMemberId`). StartNewMember checks it instead of reading the list again.
   */
  membersAfterAdd?: { newMemberId: string; members: ListedMember[] };
  /**
   * Written by RemoveFailedMember: the member list as it stands after the removal (the list it observed,
   * without the removed member), until the next add (AddMember clears it). ConfigureNewMember builds
   * ETCD_INITIAL_CLUSTER from it instead of reading the list again; StartNewMember checks what the add made.
   */
  membersAfterRemoval?: ListedMember[];
  /**
   * Written by VerifyClusterHealth: the members' hostnames on the list it verified (every member started
   * and voting), with the new member that list was verified for. RollMasters and UpdateFlannel use it
   * instead of asking etcd again while `newMemberId` is still that member (cluster/liveEndpoints.ts).
   */
  verifiedMembers?: { newMemberId: string; hostnames: string[] };
  remaining?: string[];

  /**
   * Written by ValidateInput when the run replaces more than one member: every member, in the order the
   * run works on them. The member being worked on is also in the context's own fields; `memberIndex` says
   * which, `memberPhase` in which loop (statemachine/members.ts).
   */
  members?: MemberSlot[];
  memberIndex?: number;
  memberPhase?: MemberPhase;
  /** Written by the first step of a loop's body: another member follows this one in the loop (the loops' choices read it). */
  anotherMember?: boolean;

  /**
   * One-time keys hosts made ahead for later commands' secrets (SSM), carried from step to step
   * (functions/hosts/keysAhead.ts): public material only, never a private key or a secret.
   */
  keysAhead?: Array<{ keyId: string; publicKey: string; instanceId: string; madeAt: string; for: string }>;

  /** Set by a Catch: the error that sent the run down its failure path. */
  error?: RecordedError;
  /** Set when compensation or releasing the lock itself failed; `error` keeps the first cause. */
  cleanupError?: RecordedError;
}

export const DEFAULT_OPTIONS: RunOptions = { graceSeconds: 10, learner: 'auto' };

/** Whether AddMember adds the new member as a learner: asked for (auto) and every member runs etcd 3.4+. */
export function joinsAsLearner(context: Pick<WorkflowContext, 'options' | 'learnerSupported'>): boolean {
  // The scaleup playbook adds a voting member: it knows no learners.
  return context.options.learner === 'auto' && context.options.addMethod !== 'ansible' && context.learnerSupported === true;
}
