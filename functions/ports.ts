// The small ports every step is written against. Each has a sandbox adapter (sandbox/adapters)
// and an AWS adapter (functions/adapters/aws). Nothing here knows which one it is talking to.

export type { EtcdMember, Host, Inventory, Role } from '../statemachine/cluster.ts';
import type { EtcdMember, Host } from '../statemachine/cluster.ts';

// ---------------------------------------------------------------------------------------------
// Host runner: run one of functions/scripts/<script>.sh on a host. SSM Run Command on AWS,
// nsenter into the host's namespaces in the sandbox. Arguments are validated before they get here
// and passed as separate argv entries (sandbox) or single-quoted positional parameters (SSM).
// Secrets (the artifact store's signed URLs) never travel as arguments or in SSM's command text:
// the script reads them on stdin (functions/scripts/lib/secrets.sh).

export interface ScriptRequest {
  host: Host;
  /** File name without `.sh` under functions/scripts/, e.g. `StopFailedMember`. */
  script: string;
  args: string[];
  /**
   * Values other processes and command histories must not see, by name (`UPLOAD_URL`): the script
   * gets them as NAME=value lines on stdin. The sandbox writes them to the script's stdin; SSM seals
   * them to a one-time key the host makes for this one command (functions/adapters/aws/secretSeal.ts).
   */
  secrets?: Record<string, string>;
  /** Bounded run time; the runner kills the script after it. */
  timeoutSeconds: number;
  /**
   * Cancels the script: the runner stops it on its host (the sandbox kills its process group, SSM gets
   * CancelCommand) and rejects with the signal's reason. Default: the signal of the step that runs it
   * (functions/workflow/stepSignal.ts), so a step that timed out leaves nothing running.
   */
  signal?: AbortSignal;
}

export interface ScriptOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface HostRunner {
  /**
   * Resolves with the output when the script ran, whatever its exit code.
   * Throws HostUnreachableError when the host cannot run anything (powered off, agent offline),
   * ScriptTimedOutError when it ran out of time.
   */
  run(request: ScriptRequest): Promise<ScriptOutput>;
  /**
   * A command with secrets to `host` (of `script`) follows in this step: a runner that needs a round trip of its own
   * before such a command (SSM's one-time key, functions/adapters/aws/secretSeal.ts) starts it now, beside
   * the step's other work, and the command takes it. Optional; nothing to do where secrets need no key.
   */
  prepareSecrets?(host: Host, script: string): void;
}

// ---------------------------------------------------------------------------------------------
// etcd membership and health. Two adapters pass the same tests: etcdctl v3 (-w json) on a surviving
// member through the host runner, and the etcd3 client over TLS.

/** The leaderId an endpoint reports while it knows of no leader. */
export const NO_LEADER = '0000000000000000';

export interface EndpointStatus {
  endpoint: string;
  /** The cluster the member belongs to: 16 lowercase hex digits. */
  clusterId: string;
  memberId: string;
  leaderId: string;
  version: string;
  dbSize: number;
  raftIndex: number;
  raftTerm: number;
  isLearner: boolean;
}

export interface EndpointHealth {
  endpoint: string;
  healthy: boolean;
  error?: string;
}

/** An endpoint's status, or why it gave none. */
export type EndpointStatusResult = EndpointStatus | { endpoint: string; error: string };

/** The member list and the status of some endpoints, taken together. */
export interface ClusterView {
  members: EtcdMember[];
  /** One entry per endpoint asked, in the order asked. */
  statuses: EndpointStatusResult[];
  /** The release of the etcdctl that took the view, where one did ("3.2.22"): it has the learner verbs from 3.4. */
  etcdctlVersion?: string;
}

/**
 * The view a membership change is predicted safe for: every member (by ID, voter or learner) and, for
 * each member the prediction counts as answering, the client URL where it must answer as itself, a
 * member of `clusterId` (statemachine/viewFingerprint.ts).
 */
export interface ViewGuard {
  clusterId: string;
  members: Array<{ id: string; isLearner: boolean; answersAt: string | null }>;
}

/** One membership change: remove a member by ID, or add a member (a learner or a voter) by peer URL. */
export type MembershipChange = { remove: string } | { add: string; learner: boolean };

/** What a guarded change saw and did. */
export interface GuardedChangeResult {
  /** The observation taken before the change, as view() takes it. */
  view: ClusterView;
  /** The host saw the predicted view and made the change; false: it changed nothing. */
  accepted: boolean;
  /** The fingerprints the host compared (statemachine/viewFingerprint.ts). */
  expected: string;
  seen: string;
  /** An add: the new member, as addMember() returns it. */
  added?: EtcdMember;
  /** An add: the member list read right after it, where that read answered. */
  membersAfter?: EtcdMember[];
}

export interface ViewOptions {
  /**
   * Endpoints (of statusEndpoints) of a member final evidence reports gone: asked within a short timeout
   * where the adapter has one (etcdctl.sh's QUICK_COMMAND), others within the usual one.
   */
  quick?: string[];
}

export interface EtcdClusterPort {
  memberList(): Promise<EtcdMember[]>;
  /** One entry per endpoint; an endpoint that does not answer gets `error`. */
  status(endpoints: string[]): Promise<EndpointStatusResult[]>;
  /**
   * memberList() and status(statusEndpoints) at once: one host command where etcdctl runs on a member
   * host. Fails as memberList() fails; an endpoint that does not answer gets `error`, as in status().
   */
  view(statusEndpoints: string[], options?: ViewOptions): Promise<ClusterView>;
  health(endpoints: string[]): Promise<EndpointHealth[]>;
  /** Returns the new member (name empty until it starts). */
  addMember(peerURL: string, options: { learner: boolean }): Promise<EtcdMember>;
  removeMember(memberId: string): Promise<void>;
  /** Throws LearnerNotReadyError while the learner has not caught up. */
  promoteMember(memberId: string): Promise<void>;
  updateMember(memberId: string, peerURLs: string[]): Promise<void>;
  /**
   * view(statusEndpoints), then the change only when the view equals the guard's, in one host command
   * where etcdctl runs on a member host. Fails as view() fails and, once accepted, as the change fails.
   * Optional: a port without it (the etcd3 client) gets the observation and the change as two calls.
   */
  guardedChange?(statusEndpoints: string[], guard: ViewGuard, change: MembershipChange): Promise<GuardedChangeResult>;
}

/** Builds a port that talks to the given client endpoints (the members believed alive). */
export type EtcdClusterFactory = (endpoints: string[]) => EtcdClusterPort;

// ---------------------------------------------------------------------------------------------
// Security groups: EC2 in AWS, an nftables table in front of each sandbox host.

/**
 * What a fence replaced, for unfence to put back exactly: on EC2 the security groups each network
 * interface of the instance had (interface ID → group IDs, in order). JSON-safe and secret-free, so the
 * run record keeps it. The sandbox's fence replaces nothing (it is a table of its own beside the
 * security group) and returns none.
 */
export interface FencePrevious {
  groups: Record<string, string[]>;
}

export interface FenceState {
  /** TCP 2379 and 2380 closed to and from the host by its security group. */
  fenced: boolean;
  /** EC2: the security groups each network interface has now (interface ID → group IDs). */
  groups?: Record<string, string[]>;
  /** Why the answer is what it is, where it is not plain (an instance that is terminated, an interface not fenced). */
  reason?: string;
}

export interface SecurityGroupPort {
  /** Ports (of 2379, 2380) the host accepts from the cluster's etcd members. */
  describeEtcdPorts(host: Host): Promise<number[]>;
  /** Opens 2379 and 2380 to the cluster's etcd security group. Idempotent; returns whether it changed anything. */
  allowEtcdPorts(host: Host): Promise<{ changed: boolean }>;
  /**
   * Fences the host: TCP 2379 and 2380 closed to and from it, held outside the host (its security group),
   * so the fence holds whatever the host does when it boots again, until unfence. Works on a host that
   * is down. Idempotent: a fenced host is left as it is (`changed: false`, no `previous`: the caller kept
   * the first call's). `previous` is what unfence needs to put back; keep it before anything else.
   */
  fence(host: Host): Promise<{ changed: boolean; previous?: FencePrevious }>;
  /** Lifts the fence, putting back `previous` where the fence replaced something. Idempotent. */
  unfence(host: Host, previous?: FencePrevious): Promise<{ changed: boolean }>;
  describeFence(host: Host): Promise<FenceState>;
  /** Powers the host off (EC2 StopInstances; the sandbox's power off) and leaves it off. Idempotent. */
  stopHost(host: Host): Promise<{ changed: boolean }>;
}

// ---------------------------------------------------------------------------------------------
// Instance states: what EC2 reports of the instances the hosts run on (DescribeInstances), for the
// restore's approval waivers. The sandbox's hosts are no instances (no instanceId): there is nothing to ask.

export interface InstanceStatePort {
  /**
   * EC2's state of each instance asked (`pending`, `running`, `stopping`, `stopped`, `shutting-down`,
   * `terminated`), by instance ID. An instance EC2 does not list (gone an hour or so after it terminated,
   * or never in this account and region) is left out: its state is not known.
   */
  states(instanceIds: readonly string[]): Promise<Map<string, string>>;
}

// ---------------------------------------------------------------------------------------------
// Artifact store: snapshots, data backups, certificate bundles. Hosts read and write through
// short-lived URLs, so no artifact passes through the workflow's state, logs or history.

export interface ArtifactInfo {
  key: string;
  size: number;
  /** Where an operator finds it: `s3://bucket/key` or a file path. */
  location: string;
}

export interface ArtifactStore {
  uploadUrl(key: string, ttlSeconds: number): Promise<string>;
  downloadUrl(key: string, ttlSeconds: number): Promise<string>;
  head(key: string): Promise<ArtifactInfo | null>;
  /** Deletes the object and, where the store keeps versions (S3), every version of it. */
  delete(key: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Provisioning: a replacement host launched for the run when no spare is at hand (or `--replacement
// new`). On AWS an EC2 instance from the config's launch template, in the failed member's subnet and
// Availability Zone unless the config names others, tagged with the run; in the sandbox a new host
// built exactly as `sandbox up` builds a spare (`etcd-new-<n>`). Every call is idempotent: the host a
// run launched is found again by its run tag, never launched twice, and only a host the run launched
// is ever terminated.

export interface ProvisionRequest {
  runId: string;
  cluster: string;
  /** The failed member's host: AWS launches beside it (its subnet and Availability Zone). */
  failedHost?: Host;
}

export interface ProvisionedHost {
  /** The host as the workflow sees it, once it is ready (roles: spare). */
  host: Host;
  /** The provider's handle: the EC2 instance ID, or the sandbox host's name. */
  id: string;
}

export interface ProvisioningPort {
  /** The host this run launched and that still exists (found by its run tag), or null. */
  find(runId: string, cluster: string): Promise<ProvisionedHost | null>;
  /**
   * Launches one host for the run, or finds the one it launched already, and returns it once it is
   * ready: running, registered with SSM, its hostname and IP reported. ReplacementNotReadyError (retried)
   * when it is launched but not ready yet; ProvisioningError when it cannot be launched.
   */
  provision(request: ProvisionRequest): Promise<ProvisionedHost>;
  /** Terminates (removes) the host this run launched: `absent` when there is none. Never touches another host. */
  release(runId: string, cluster: string): Promise<'released' | 'absent'>;
}

// ---------------------------------------------------------------------------------------------
// Run record and lock: a file store in the sandbox, DynamoDB on AWS.

export type RunOutcome = 'running' | 'succeeded' | 'failed' | 'refused';
export type StepStatus = 'running' | 'succeeded' | 'failed' | 'skipped';

export interface StepRecord {
  name: string;
  status: StepStatus;
  startedAt: string;
  endedAt?: string;
  attempts: number;
  error?: { name: string; message: string };
  /** Short, secret-free facts the step reported (what it changed, what it found). */
  detail?: string;
  /** In a run that replaces several members, the member a per-member step worked on: `master-3 → etcd-spare-0 (1 of 2)`. */
  member?: string;
}

export interface RunRecord {
  runId: string;
  cluster: string;
  target: 'sandbox' | 'aws';
  /** The workflow it runs, by its spec's id (statemachine/restoreSpec.ts RestoreEtcdQuorum); absent: the replacement. */
  workflow?: string;
  startedBy: string;
  request: Record<string, unknown>;
  outcome: RunOutcome;
  reason?: string;
  /** When the run's own cleanup (compensation, releasing the lock) failed too: that second error, as `reason` gives the first. */
  cleanupError?: string;
  startedAt: string;
  endedAt?: string;
  /** The state the run is in (or ended in). */
  state: string;
  /** The workflow context after the last completed step: what a resume starts from. */
  context: Record<string, unknown>;
  steps: StepRecord[];
  /** What is left for an operator to do, when the run could not finish the job. */
  remaining?: string[];
  /** The process (sandbox) or execution (AWS) that runs the run now: a run has one owner at a time. */
  owner?: RunOwner;
  /** What happened to the run besides its steps: a takeover from an owner that had died. */
  events?: RunEvent[];
}

/** Who runs a run now: a process on this machine (pid and its start time), or an execution. */
export interface RunOwner {
  pid?: number;
  /** Start time of `pid` (clock ticks since boot, /proc/<pid>/stat), so a reused pid is not taken for the owner. */
  pidStartTime?: string;
  host?: string;
  execution?: string;
  since: string;
}

export interface RunEvent {
  at: string;
  type: 'takeover';
  /** Secret-free: whose run was taken over and why. */
  detail: string;
}

export interface RunStore {
  save(record: RunRecord): Promise<void>;
  get(runId: string): Promise<RunRecord | null>;
  /** Newest first. */
  list(options?: { cluster?: string; limit?: number }): Promise<RunRecord[]>;
}

export interface LockOwner {
  runId: string;
  startedBy: string;
  /** Process that holds it, where that means something (the sandbox CLI). */
  pid?: number;
  host?: string;
  /** What runs the run now, e.g. `sfn:<execution name>`: a contender asks whether it still runs (DynamoLock). */
  execution?: string;
  /**
   * The failed members the run replaces, by every identity it knows (host name, hostname, IP, member ID;
   * lower case): a signal for one of them while the run holds the lock is covered by it (AcquireLock).
   * Written from the context each time the run takes its lock (every step), so it follows a member taken in.
   */
  covers?: string[];
}

/**
 * A signal for failed members the lock's holder does not cover yet, left on its lock while the holder is
 * before its second observation: the holder may take them in there (ConfirmMemberFailed), and the signal's
 * own run, waiting for the lock, then ends covered by it.
 */
export interface JoinRequest {
  /** The waiting run. */
  runId: string;
  /** Its failed members, as its request named them, with the replacement asked for each (absent: a spare). */
  failed: Array<{ failed: string; replacement?: string }>;
  startedBy: string;
  /** When it asked (ISO time). */
  at: string;
}

/** What became of a join request: left on the holder's lock, too late (the holder has closed joins), or the holder no longer holds it. */
export type JoinAnswer = 'requested' | 'closed' | 'not-held';

export interface LockInfo extends LockOwner {
  cluster: string;
  acquiredAt: string;
  expiresAt: string;
  /** Join requests left for the holder (requestJoin), one per waiting run. */
  joins?: JoinRequest[];
  /** Set once the holder has taken in what it will (closeJoins): later requests are `closed`. */
  joinsClosed?: boolean;
}

export interface LockPort {
  /** Throws LockHeldError naming the holder when another live, unexpired owner holds it. Re-entrant for the same runId. */
  acquire(cluster: string, owner: LockOwner, ttlSeconds: number): Promise<LockInfo>;
  renew(cluster: string, runId: string, ttlSeconds: number): Promise<void>;
  /**
   * Releases the lock of `runId`; a no-op when another run holds it, and when `owner` is given (or, for
   * a lock of processes, by default the calling process) and another live process or running execution
   * of the same run holds it: only the run's owner releases its lock.
   */
  release(cluster: string, runId: string, owner?: LockOwner): Promise<void>;
  current(cluster: string): Promise<LockInfo | null>;
  /**
   * The lock, when it names `owner.runId` but another owner that is alive (another live process, another
   * running execution) holds it; null otherwise. Every step asks this first (lockRenewal.ts).
   */
  heldElsewhere?(cluster: string, owner: LockOwner): Promise<LockInfo | null>;
  /**
   * One conditional write in place of heldElsewhere, current and a re-entrant acquire, for the common
   * case: the lock names `owner.runId` and `owner`'s own execution (or no execution), and is extended as
   * acquire would extend it. Null when it names anything else (another run, another execution, nobody):
   * nothing was written, and the caller judges the lock as it stands (lockRenewal.ts).
   */
  extendOwn?(cluster: string, owner: LockOwner, ttlSeconds: number): Promise<LockInfo | null>;
  /**
   * Leaves `join` on the lock `holderRunId` holds, once per waiting run (asking again changes nothing):
   * `closed` once the holder has closed joins, `not-held` when it no longer holds the lock.
   */
  requestJoin(cluster: string, holderRunId: string, join: JoinRequest): Promise<JoinAnswer>;
  /** The holder closes joins (idempotent) and gets every request left before; no request is taken after. */
  closeJoins(cluster: string, runId: string): Promise<JoinRequest[]>;
  /**
   * Keeps, beside the lock, the run that held it last and what it replaced (ReleaseLock, before it releases):
   * a run that waited for the lock and gets it only after its holder took its members in and finished ends
   * covered all the same (AcquireLock). One record per cluster, the latest wins.
   */
  recordLastHolder(cluster: string, last: LastHolder): Promise<void>;
  /** The last holder recorded for `cluster`, or null. */
  lastHolder(cluster: string): Promise<LastHolder | null>;
}

/** The run that held a cluster's lock last (LockPort.recordLastHolder). */
export interface LastHolder {
  runId: string;
  /** The failed members it replaced, by every identity (LockOwner.covers). */
  covers: string[];
  /** It ended on its success path: the members it covers are replaced. */
  succeeded: boolean;
  /** When it released the lock (ISO time). */
  releasedAt: string;
}
